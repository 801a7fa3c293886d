"""ctflow.rl: the marginal estimator, squashed log-densities, agents, replay, exact resume."""

import math
import subprocess
import sys

import pytest
import torch

from ctflow.checkpoint import Checkpointer, load_checkpoint
from ctflow.experiments.smac_entropy import conditional_entropy, entropy_bound, exact_entropy
from ctflow.rl import (
    SAC,
    SMAC,
    InjectMLP,
    ReplayBuffer,
    TrainConfig,
    marginal_log_prob,
    squashed_log_prob,
    train_agent,
)
from ctflow.seeding import seed_everything


def test_marginal_log_prob_is_log_mean_exp():
    lp = torch.randn(5, 7, 9, dtype=torch.float64) * 30  # large values: must not overflow
    got = marginal_log_prob(lp, dim=1)
    shift = lp.amax(1, keepdim=True)
    want = (lp - shift).exp().mean(1).log() + shift.squeeze(1)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(marginal_log_prob(lp[:, :1], dim=1), lp[:, 0])  # K = 0
    with pytest.raises(ValueError, match="at least one particle"):
        marginal_log_prob(lp[:, :0], dim=1)


def test_squashed_log_prob_matches_change_of_variables():
    torch.manual_seed(0)
    u = torch.randn(50, 3, dtype=torch.float64) * 2
    mean = torch.randn(3, dtype=torch.float64)
    log_std = torch.randn(3, dtype=torch.float64) * 0.5
    a = torch.tanh(u)
    # density of a = tanh(u): N(atanh(a)) * |d atanh / da|, derivative by autograd
    a_leaf = a.clone().requires_grad_(True)
    inv = torch.atanh(a_leaf)
    (grad,) = torch.autograd.grad(inv.sum(), a_leaf)
    gauss = torch.distributions.Normal(mean, log_std.exp()).log_prob(u).sum(-1)
    want = gauss + grad.log().sum(-1)
    torch.testing.assert_close(squashed_log_prob(u, mean, log_std), want, rtol=1e-10, atol=1e-8)


def test_entropy_bound_rises_to_the_truth():
    gen = torch.Generator().manual_seed(0)
    bounds = {k: entropy_bound(k, 40_000, gen) for k in (0, 4, 32, 128)}
    # K = 0 estimates the conditional entropy H[a | z] (unbiased)
    assert abs(bounds[0][0] - conditional_entropy()) < 4 * bounds[0][1]
    values = [bounds[k][0] for k in (0, 4, 32, 128)]
    assert all(b > a for a, b in zip(values, values[1:]))
    assert all(v < exact_entropy() + 4 * bounds[128][1] for v in values)  # a lower bound
    assert exact_entropy() - bounds[128][0] < 0.05


@pytest.mark.parametrize("inject", [0, 1, 2])
def test_inject_mlp_shares_the_trunk_exactly(inject):
    torch.manual_seed(0)
    net = InjectMLP(5, 3, 2, hidden=(8, 8, 8), inject=inject).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    e = torch.randn(4, 6, 3, dtype=torch.float64)
    out = net(x, e)
    assert out.shape == (4, 6, 2)
    # independent implementation: an MLP of cat(x, e) per particle, with e's weights placed in
    # the injected layer's columns (zero elsewhere)
    for p in range(6):
        h = x
        for i, layer in enumerate(net.layers):
            pre = layer(h)
            if i == inject:
                pre = pre + e[:, p] @ net.extra.weight.T
            h = torch.relu(pre)
        torch.testing.assert_close(out[:, p], net.out(h), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="inject"):
        InjectMLP(5, 3, 2, hidden=(8,), inject=1)


def test_policy_sample_scores_every_action_under_every_particle():
    torch.manual_seed(1)
    agent = SMAC(3, 2, particles=5, latent_dim=4, hidden=(16, 16)).double()
    obs = torch.randn(7, 3, dtype=torch.float64)
    out = agent.policy_sample(obs)
    mean, log_std = agent.action_params(obs, out["z"])
    for k in range(6):
        for j in range(6):
            want = squashed_log_prob(out["u"][:, k], mean[:, j], log_std[:, j])
            torch.testing.assert_close(out["cond_log_prob"][:, k, j], want)
    torch.testing.assert_close(
        out["log_prob"], torch.logsumexp(out["cond_log_prob"], -1) - math.log(6)
    )
    torch.testing.assert_close(out["action"], torch.tanh(out["u"]))
    # scoring only the first action (the actor's) gives that row, from the same draws
    torch.manual_seed(2)
    full = agent.policy_sample(obs)
    torch.manual_seed(2)
    first = agent.policy_sample(obs, scored=1)
    torch.testing.assert_close(first["cond_log_prob"], full["cond_log_prob"][:, :1])
    torch.testing.assert_close(first["log_prob"], full["log_prob"][:, :1])


def _batch(n=64, obs_dim=3, act_dim=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "obs": torch.randn(n, obs_dim, generator=g),
        "action": torch.rand(n, act_dim, generator=g) * 2 - 1,
        "reward": torch.randn(n, generator=g),
        "next_obs": torch.randn(n, obs_dim, generator=g),
        "terminated": (torch.rand(n, generator=g) < 0.1).float(),
    }


@pytest.mark.parametrize(
    "make",
    [
        lambda: SAC(3, 1, hidden=(16, 16)),
        lambda: SMAC(3, 1, particles=4, hidden=(16, 16)),
        lambda: SMAC(3, 1, particles=4, hidden=(16, 16), critic_latent=False),
    ],
)
def test_update_moves_targets_by_polyak_and_keeps_alpha_positive(make):
    torch.manual_seed(0)
    agent = make()
    old_target = [p.clone() for p in agent.q1_target.parameters()]
    losses = agent.update(_batch())
    new = list(agent.q1.parameters())
    tau = agent.config.tau
    for t, o, n in zip(agent.q1_target.parameters(), old_target, new):
        torch.testing.assert_close(t, o + tau * (n.detach() - o), rtol=0, atol=1e-7)
    assert all(math.isfinite(v) for v in losses.values()) and losses["alpha"] > 0
    assert agent.updates == 1


def test_sac_critic_loss_matches_its_definition():
    """Re-derive the SAC critic loss from its definition with the same random draws."""
    torch.manual_seed(3)
    agent = SAC(3, 1, hidden=(16, 16), gamma=0.9, init_alpha=0.3, learn_alpha=False).double()
    batch = {k: v.double() for k, v in _batch(32).items()}
    state = torch.get_rng_state()
    losses = agent.update(batch)
    torch.manual_seed(3)
    fresh = SAC(3, 1, hidden=(16, 16), gamma=0.9, init_alpha=0.3, learn_alpha=False).double()
    torch.set_rng_state(state)
    fresh.policy_sample(batch["obs"])  # the actor's draw comes first
    with torch.no_grad():
        mean, log_std = fresh.action_params(
            batch["next_obs"], batch["next_obs"].new_zeros(32, 1, 0)
        )
        u = mean + log_std.exp() * torch.randn_like(mean)
        logp = torch.distributions.Normal(mean, log_std.exp()).log_prob(u).sum(-1)
        logp = logp - torch.log1p(-torch.tanh(u).pow(2)).sum(-1)
        e = torch.tanh(u)
        q_next = torch.minimum(
            fresh.q1_target(batch["next_obs"], e), fresh.q2_target(batch["next_obs"], e)
        )
        y = batch["reward"] + 0.9 * (1 - batch["terminated"]) * (q_next[:, 0, 0] - 0.3 * logp[:, 0])
        a = batch["action"][:, None]
        q1 = fresh.q1(batch["obs"], a)[:, 0, 0]
        q2 = fresh.q2(batch["obs"], a)[:, 0, 0]
        want = 0.5 * ((q1 - y).pow(2).mean() + (q2 - y).pow(2).mean())
    assert math.isclose(losses["critic_loss"], float(want), rel_tol=1e-9)
    assert losses["alpha"] == pytest.approx(0.3)


def test_replay_buffer_wraps_and_round_trips():
    buf = ReplayBuffer(2, 1, capacity=5)
    for i in range(7):
        buf.add([i, i], [0.1 * i], float(i), [i + 1, i + 1], i == 6)
    assert len(buf) == 5 and buf.position == 2
    assert sorted(buf.data["reward"].tolist()) == [2.0, 3.0, 4.0, 5.0, 6.0]
    other = ReplayBuffer(2, 1, capacity=5)
    other.load_state_dict(buf.state_dict())
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    mine, theirs = buf.sample(16, g1), other.sample(16, g2)
    for key, value in mine.items():
        torch.testing.assert_close(value, theirs[key])
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(2, 1, capacity=3).sample(1)


def test_rl_imports_without_gymnasium():
    code = (
        "import sys; sys.modules['gymnasium'] = None\n"
        "import torch, ctflow.rl as rl\n"
        "agent = rl.SMAC(3, 1, particles=2, hidden=(8, 8))\n"
        "z = torch.zeros\n"
        "agent.update({'obs': z(4, 3), 'action': z(4, 1), 'reward': z(4),"
        " 'next_obs': z(4, 3), 'terminated': z(4)})\n"
        "try:\n    rl.make_env\n"
        "except ImportError as err:\n    assert 'pip install ctflow[rl]' in str(err)\n"
        "else:\n    raise SystemExit('no ImportError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


class _Crash(Exception):
    pass


@pytest.mark.parametrize("observe", ["full", pytest.param("flicker", marks=pytest.mark.slow)])
def test_training_resumes_exactly(observe, tmp_path):
    pytest.importorskip("gymnasium")
    from ctflow.rl import make_env

    history = 1 if observe == "full" else 3
    options = dict(hidden=(8, 8), lr=1e-3)
    train = TrainConfig(
        steps=260,
        start_steps=150,
        batch_size=16,
        eval_every=130,
        eval_episodes=1,
        checkpoint_every=150,
    )

    def build():
        seed_everything(0)
        obs_dim = 3 * history
        if observe == "full":
            return SMAC(obs_dim, 1, particles=3, latent_dim=2, **options)
        return SMAC(
            obs_dim, 1, particles=3, latent_dim=2, encoder="gru", history=history, **options
        )

    def envs():
        kw = dict(observe=observe, history=history)
        return make_env("Pendulum-v1", **kw), make_env("Pendulum-v1", **kw)

    # uninterrupted
    agent = build()
    env, eval_env = envs()
    full = train_agent(agent, env, train, seed=5, eval_env=eval_env, tag="a")
    # interrupted after the first checkpoint (taken at the episode boundary, step 200)
    path = tmp_path / "ckpt.pt"
    broken = build()
    ckpt = Checkpointer(path, experiment="test", config={}, every=1)
    ckpt.track({"agent": broken})
    original_save = ckpt.save

    def save_then_crash(*args, **kwargs):
        original_save(*args, **kwargs)
        raise _Crash

    ckpt.save = save_then_crash
    env, eval_env = envs()
    with pytest.raises(_Crash):
        train_agent(broken, env, train, seed=5, eval_env=eval_env, tag="a", checkpointer=ckpt)
    payload = load_checkpoint(path)
    assert payload["extra"]["phases"]["a"]["step"] == 200
    # a fresh process: everything rebuilt, then restored from the checkpoint
    resumed = build()
    torch.manual_seed(123)  # scramble the global RNG: the checkpoint must restore it
    ckpt = Checkpointer(path, experiment="test", config={}, every=1, resume=payload)
    ckpt.track({"agent": resumed})
    env, eval_env = envs()
    log = train_agent(resumed, env, train, seed=5, eval_env=eval_env, tag="a", checkpointer=ckpt)
    assert log.eval_returns == full.eval_returns and log.episode_returns == full.episode_returns
    for (name, p), q in zip(agent.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(p, q), name


def test_random_policy_returns_are_reproducible_and_use_the_whole_action_range():
    pytest.importorskip("gymnasium")
    from ctflow.rl import make_env, random_policy_returns

    env = make_env("Pendulum-v1")
    a = random_policy_returns(env, 3, seed=7)
    b = random_policy_returns(env, 3, seed=7)
    c = random_policy_returns(env, 3, seed=8)
    assert a == b and a != c and len(a) == 3
    # Pendulum pays at most 16.27 per step over its 200 steps; random torques are far from 0
    assert all(-16.3 * 200 < r < -100 for r in a)
    global_state = torch.get_rng_state()
    random_policy_returns(env, 1)
    assert torch.equal(torch.get_rng_state(), global_state)
