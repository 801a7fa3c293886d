"""GFlowNets: environments and objectives against exact enumeration, and the cast models'
bounds against independent torch.distributions computations and closed forms."""

import math

import pytest
import torch
from torch.distributions import Categorical, Normal

from ctflow.gfn import (
    AutoregressiveGFN,
    DiffusionGFN,
    GFlowNetPolicy,
    HierarchicalVAEGFN,
    HyperGrid,
    MarkovChainGFN,
    SequenceEnv,
    detailed_balance,
    flow_matching,
    l1_distance,
    linear_betas,
    mle_gfn_loss,
    sample_trajectories,
    subtrajectory_balance,
    subtrajectory_residuals,
    terminal_distribution,
    trajectory_balance,
)
from ctflow.gfn.env import masked_log_softmax
from ctflow.nn import TimeMLP

# ---------------------------------------------------------------- environments


def test_hypergrid_enumeration_and_reward():
    env = HyperGrid(ndim=2, height=8)
    states = env.all_states()
    assert states.shape == (64, 2)
    assert torch.equal(env.state_index(states), torch.arange(64))
    assert (env.depth(states).diff() >= 0).all()  # parents come first
    r = env.reward(torch.tensor([[1, 1], [0, 0], [3, 3], [1, 3], [6, 1]]))
    # |1/7 - .5| = .357 is in the band and the outer ring, |0 - .5| only in the ring
    torch.testing.assert_close(r, torch.tensor([2.6, 0.6, 0.1, 0.1, 2.6], dtype=torch.float64))
    x, p = env.reward_distribution()
    assert len(x) == 64 and math.isclose(float(p.sum()), 1.0)
    assert math.isclose(env.log_partition(), math.log(float(env.reward(x).sum())))


def _random_policy(env, seed=0, hidden=(16,)):
    torch.manual_seed(seed)
    policy = GFlowNetPolicy.for_env(env, hidden=hidden).double()
    with torch.no_grad():
        for p in policy.parameters():
            p.normal_(0, 1)
    return policy


@torch.no_grad()
def _path_enumeration(env, policy):
    """P_T(x) by summing over every complete trajectory, one state at a time."""
    out = {}

    def visit(state, logp):
        log_pf = policy.log_probs(env, state.unsqueeze(0))[0][0]
        mask = env.forward_mask(state.unsqueeze(0))[0]
        key = tuple(state.tolist())
        if mask[env.exit_action]:
            out[key] = out.get(key, 0.0) + math.exp(logp + float(log_pf[env.exit_action]))
        for a in range(env.n_actions - 1):
            if mask[a]:
                child = env.step(state.unsqueeze(0), torch.tensor([a]))[0]
                visit(child, logp + float(log_pf[a]))

    visit(env.initial(1)[0], 0.0)
    return out


@pytest.mark.parametrize(
    "env", [HyperGrid(2, 3), HyperGrid(3, 2), SequenceEnv(2, 3)], ids=["grid2x3", "grid3x2", "seq"]
)
def test_terminal_distribution_equals_path_enumeration(env):
    policy = _random_policy(env)
    x, p = terminal_distribution(env, policy)
    brute = _path_enumeration(env, policy)
    assert len(brute) == len(x)
    for xi, pi in zip(x, p):
        assert math.isclose(float(pi), brute[tuple(xi.tolist())], rel_tol=1e-9)
    assert math.isclose(float(p.sum()), 1.0, rel_tol=1e-12)


@pytest.mark.parametrize("env", [HyperGrid(2, 5), SequenceEnv(3, 3)], ids=["grid", "seq"])
@torch.no_grad()
def test_sampled_trajectories_are_scored_like_a_state_by_state_recomputation(env):
    policy = _random_policy(env, seed=1)
    traj = sample_trajectories(
        env, policy, 12, epsilon=0.3, generator=torch.Generator().manual_seed(0)
    )
    for b in range(12):
        n = int(traj.lengths[b])
        log_pf, log_pb = 0.0, 0.0
        for t in range(n):
            s = traj.states[t, b : b + 1]
            a = int(traj.actions[t, b])
            lpf, _, lflow = policy.log_probs(env, s)
            log_pf += float(lpf[0, a])
            expected_flow = float(policy.log_z.detach()) if t == 0 else float(lflow[0])
            assert math.isclose(float(traj.log_flow[t, b]), expected_flow, rel_tol=1e-9)
            if a != env.exit_action:
                nxt = env.step(s, torch.tensor([a]))
                assert torch.equal(nxt, traj.states[t + 1, b : b + 1])
                _, lpb, _ = policy.log_probs(env, nxt)
                log_pb += float(lpb[0, int(env.backward_action(torch.tensor([a]))[0])])
            else:
                assert t == n - 1
        assert math.isclose(float(traj.log_pf[:, b].sum()), log_pf, rel_tol=1e-9, abs_tol=1e-9)
        assert math.isclose(float(traj.log_pb[:, b].sum()), log_pb, rel_tol=1e-9, abs_tol=1e-9)
        assert float(traj.log_flow[n, b]) == float(env.log_reward(traj.terminal[b : b + 1])[0])
    if isinstance(env, SequenceEnv):  # one parent per state: P_B = 1
        assert (traj.log_pb == 0).all()


def _exact_table_policy(env):
    """A tabular policy (linear on one-hot states) holding the exact flows for uniform P_B:
    F(s) = R(s) + sum_children F(c) P_B(s | c), forward logits = log edge flows."""
    states = env.all_states()
    N = len(states)
    fmask, bmask = env.forward_mask(states), env.backward_mask(states)
    log_pb = masked_log_softmax(torch.zeros(N, env.n_backward, dtype=torch.float64), bmask)
    log_r = env.log_reward(states)
    log_f = torch.zeros(N, dtype=torch.float64)
    edges = torch.full((N, env.n_actions), float("-inf"), dtype=torch.float64)
    for i in reversed(range(N)):  # children come after their parents
        edges[i, env.exit_action] = log_r[i]
        for a in range(env.n_actions - 1):
            if fmask[i, a]:
                c = int(env.state_index(env.step(states[i : i + 1], torch.tensor([a])))[0])
                edges[i, a] = log_f[c] + log_pb[c, int(env.backward_action(torch.tensor([a]))[0])]
        log_f[i] = edges[i].logsumexp(0)
    policy = GFlowNetPolicy.for_env(env, hidden=(), uniform_backward=True).double()
    with torch.no_grad():
        table = torch.cat(
            [edges.clamp(min=-1e4), torch.zeros(N, env.n_backward), log_f[:, None]], 1
        )
        policy.net[0].weight.copy_(table.T)
        policy.net[0].bias.zero_()
        policy.set_log_z(log_f[0])
    return policy


@torch.no_grad()
def test_every_objective_vanishes_at_the_exact_flows_and_not_elsewhere():
    env = HyperGrid(ndim=2, height=4, encoding="onehot")
    policy = _exact_table_policy(env)
    assert math.isclose(float(policy.log_z.detach()), env.log_partition(), rel_tol=1e-12)
    assert l1_distance(env, policy) < 1e-12  # the exact flows sample R / Z
    traj = sample_trajectories(env, policy, 64, generator=torch.Generator().manual_seed(0))
    losses = {
        "tb": trajectory_balance(traj),
        "db": detailed_balance(traj),
        "subtb": subtrajectory_balance(traj, 0.9),
        "fm": flow_matching(env, policy, traj),
    }
    for name, value in losses.items():
        assert float(value) < 1e-20, name
    with torch.no_grad():
        policy.net[0].weight[: env.n_actions - 1, 5] += 0.3  # one state's forward policy
        policy.net[0].weight[-1, 7] += 0.3  # one state's flow
    policy.set_log_z(float(policy.log_z.detach()) + 0.1)
    traj = sample_trajectories(env, policy, 64, generator=torch.Generator().manual_seed(0))
    assert float(trajectory_balance(traj)) > 1e-4
    assert float(detailed_balance(traj)) > 1e-4
    assert float(subtrajectory_balance(traj)) > 1e-4
    assert float(flow_matching(env, policy, traj)) > 1e-4


@torch.no_grad()
def test_subtrajectory_residuals_contain_tb_and_db():
    env = HyperGrid(2, 5)
    policy = _random_policy(env, seed=2)
    traj = sample_trajectories(env, policy, 8, generator=torch.Generator().manual_seed(1))
    residual, valid = subtrajectory_residuals(traj)
    for b in range(8):
        n = int(traj.lengths[b])
        tb = float(policy.log_z.detach()) + float((traj.log_pf - traj.log_pb)[:, b].sum())
        assert math.isclose(float(residual[0, n, b]), tb - float(traj.log_reward[b]), abs_tol=1e-9)
        for i in range(n):  # one step: F(s_i) P_F / (F(s_i+1) P_B)
            db = (
                traj.log_flow[i, b]
                + traj.log_pf[i, b]
                - traj.log_flow[i + 1, b]
                - traj.log_pb[i, b]
            )
            assert math.isclose(float(residual[i, i + 1, b]), float(db), abs_tol=1e-9)
        assert int(valid[:, :, b].sum()) == (n + 1) * n // 2
    # lambda -> 0 weights only single steps, per trajectory (not per step like DB)
    per_traj = [
        residual[torch.arange(n), torch.arange(1, n + 1), b].pow(2).mean()
        for b, n in enumerate(traj.lengths.tolist())
    ]
    torch.testing.assert_close(subtrajectory_balance(traj, 1e-12), torch.stack(per_traj).mean())


def test_trajectory_balance_training_learns_the_reward_distribution():
    torch.manual_seed(0)
    env = HyperGrid(ndim=2, height=4)
    policy = GFlowNetPolicy.for_env(env, hidden=(32,))
    opt = torch.optim.Adam(
        [{"params": policy.net.parameters(), "lr": 3e-3}, {"params": [policy.raw_log_z], "lr": 0.1}]
    )
    start = l1_distance(env, policy)
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        loss = trajectory_balance(sample_trajectories(env, policy, 16, generator=gen))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert l1_distance(env, policy) < min(0.1, start / 4)
    assert abs(float(policy.log_z.detach()) - env.log_partition()) < 0.1


# ---------------------------------------------------------------- cast models


class _LinearEps(torch.nn.Module):
    """eps(t, x) = a_t x + b_t (per step): makes every DDPM bound term Gaussian in closed form."""

    def __init__(self, T, d):
        super().__init__()
        self.T = T
        self.a = torch.nn.Parameter(0.3 * torch.randn(T, dtype=torch.float64))
        self.b = torch.nn.Parameter(0.3 * torch.randn(T, d, dtype=torch.float64))

    def forward(self, t, x):
        idx = (torch.as_tensor(t) * self.T).round().long() - 1
        a, b = self.a[idx], self.b[idx]
        if idx.dim() > 0:
            a = a.unsqueeze(-1)
        return a * x + b


def _ddpm_bound_by_distributions(model, path):
    """log p(x_T) + sum_t log p(x_{t-1}|x_t) - sum_t log q(x_t|x_{t-1}), each a torch Normal,
    with mu written from the DDPM formula (Ho et al. eq. 11)."""
    T = model.T
    betas = linear_betas(T).to(path[0].dtype)
    abar = torch.cumprod(1 - betas, 0)
    out = Normal(0.0, 1.0).log_prob(path[0]).sum(-1)
    for i, t in enumerate(range(T, 0, -1)):  # path[i] = x_t, path[i + 1] = x_{t-1}
        x_t, x_prev = path[i], path[i + 1]
        eps = model.eps_net(torch.tensor(t / T, dtype=x_t.dtype), x_t)
        mu = (x_t - betas[t - 1] / (1 - abar[t - 1]).sqrt() * eps) / (1 - betas[t - 1]).sqrt()
        std = model.std(t).to(x_t.dtype)
        out = out + Normal(mu, std).log_prob(x_prev).sum(-1)
        out = out - Normal((1 - betas[t - 1]).sqrt() * x_prev, betas[t - 1].sqrt()).log_prob(
            x_t
        ).sum(-1)
    return out


@pytest.mark.parametrize("linear", [True, False], ids=["linear-eps", "mlp-eps"])
def test_diffusion_log_ratio_is_the_ddpm_bound_summand(linear):
    torch.manual_seed(0)
    T, d = 8, 2
    net = _LinearEps(T, d) if linear else TimeMLP(d, hidden=(16, 16)).double()
    model = DiffusionGFN(net, d, linear_betas(T), variance="posterior").double()
    x = torch.randn(5, d, dtype=torch.float64)
    path = model.sample_backward(x, 3)  # shared noise: one path, scored two ways
    gfn = model.log_pf(path) - model.log_pb(path)
    torch.testing.assert_close(gfn, _ddpm_bound_by_distributions(model, path))
    torch.testing.assert_close(model.log_pf(path), MarkovChainGFN.log_pf(model, path))


def _ddpm_kl_sum(model, x0):
    """The DDPM bound as -L_T - sum_{t>1} L_{t-1} + E log p(x_0|x_1), each in closed form for
    a linear eps (so mu = c_t x_t + e_t)."""
    T, D = model.T, x0.shape[-1]
    betas = linear_betas(T)
    alphas, abar = 1 - betas, torch.cumprod(1 - betas, 0)
    net = model.eps_net

    def mean_coeffs(t):
        k = betas[t - 1] / (1 - abar[t - 1]).sqrt()
        c = (1 - k * net.a[t - 1]) / alphas[t - 1].sqrt()
        e = -k * net.b[t - 1] / alphas[t - 1].sqrt()
        return c, e

    total = -0.5 * ((1 - abar[-1]) + abar[-1] * x0.pow(2) - 1 - (1 - abar[-1]).log()).sum(-1)
    for t in range(2, T + 1):
        A = abar[t - 2].sqrt() * betas[t - 1] / (1 - abar[t - 1])
        B = alphas[t - 1].sqrt() * (1 - abar[t - 2]) / (1 - abar[t - 1])
        v = betas[t - 1] * (1 - abar[t - 2]) / (1 - abar[t - 1])
        c, e = mean_coeffs(t)
        s2 = model.std(t).double() ** 2
        diff_mean = A * x0 - e + (B - c) * abar[t - 1].sqrt() * x0
        sq = diff_mean.pow(2).sum(-1) + (B - c) ** 2 * (1 - abar[t - 1]) * D
        total = total - 0.5 * (D * (v / s2 - 1 + (s2 / v).log()) + sq / s2)
    c, e = mean_coeffs(1)
    s2 = model.std(1).double() ** 2
    sq = (x0 - c * abar[0].sqrt() * x0 - e).pow(2).sum(-1) + c**2 * (1 - abar[0]) * D
    return total - 0.5 * D * (2 * math.pi * s2).log() - 0.5 * sq / s2


def test_diffusion_monte_carlo_elbo_matches_the_analytic_kl_sum():
    torch.manual_seed(0)
    T, d = 6, 2
    model = DiffusionGFN(_LinearEps(T, d), d, linear_betas(T)).double()
    with torch.no_grad():  # near the optimal eps for N(0, I) data, so the bound is tight-ish
        model.eps_net.a.copy_((1 - model.abar).sqrt() + 0.05 * torch.randn(T, dtype=torch.float64))
        model.eps_net.b.mul_(0.2)
    x = torch.tensor([[0.5, -1.0], [1.5, 0.3]], dtype=torch.float64)
    with torch.no_grad():
        samples = model.log_ratio(x, 40000)  # (k, 2)
        exact = _ddpm_kl_sum(model, x)
    mean, stderr = samples.mean(0), samples.std(0) / math.sqrt(samples.shape[0])
    assert ((mean - exact).abs() < 4 * stderr).all(), (mean, exact, stderr)


def _gaussian_chain_elbo(model, x):
    """E_q[log p(x, z) - log q(z | x)] of a linear-Gaussian HVAE in closed form: propagate the
    encoder's means and covariances up the chain, then take expectations of each quadratic."""

    def affine(layer):
        lin = layer.net[0]
        W, b = lin.weight, lin.bias
        n = layer.out_features
        return W[:n], b[:n], W[n:], b[n:]  # mean map, log-std map

    total = torch.zeros(x.shape[0], dtype=torch.float64)
    for row in range(x.shape[0]):
        # q chain: x -> z_1 -> ... -> z_L (encoders indexed from the top)
        mean, cov = x[row], torch.zeros(len(x[row]), len(x[row]), dtype=torch.float64)
        levels = [(mean, cov)]
        elbo = 0.0
        for enc in reversed(model.encoders):
            Wm, bm, Ws, bs = affine(enc)
            assert Ws.abs().max() == 0, "closed form needs a constant encoder std"
            var = (2 * bs).exp()
            mean, cov = Wm @ mean + bm, Wm @ cov @ Wm.T + torch.diag(var)
            levels.append((mean, cov, Wm))
            elbo += 0.5 * torch.log(2 * math.pi * math.e * var).sum()  # entropy of q(z_l | .)
        # levels: [x, z_1, ..., z_L]; the cross-covariance of z_{l+1} with z_l is Wm cov_l
        top_mean, top_cov = levels[-1][0], levels[-1][1]
        elbo += -0.5 * (
            top_mean.pow(2).sum() + torch.trace(top_cov) + len(top_mean) * math.log(2 * math.pi)
        )
        for l, dec in enumerate(reversed(model.decoders)):  # p(level l | level l+1)
            Wm, bm, Ws, bs = affine(dec)
            assert Ws.abs().max() == 0
            var = (2 * bs).exp()
            m_lo, c_lo = levels[l][0], levels[l][1]
            m_hi, c_hi, W_up = levels[l + 1]
            cross = W_up @ c_lo  # Cov(z_hi, z_lo)
            r_mean = m_lo - Wm @ m_hi - bm
            r_cov = c_lo - Wm @ cross - cross.T @ Wm.T + Wm @ c_hi @ Wm.T
            quad = (r_mean.pow(2) / var).sum() + (torch.diagonal(r_cov) / var).sum()
            elbo += -0.5 * (quad + torch.log(2 * math.pi * var).sum())
        total[row] = elbo
    return total


def _linear_hvae(seed=0):
    torch.manual_seed(seed)
    model = HierarchicalVAEGFN(3, (2, 2), hidden=()).double()
    with torch.no_grad():
        for layer in list(model.decoders) + list(model.encoders):
            lin = layer.net[0]
            lin.weight.normal_(0, 0.5)
            lin.bias.normal_(0, 0.3)
            lin.weight[layer.out_features :] = 0  # constant std
    return model


def test_hvae_log_ratio_is_the_vae_bound_summand():
    model = _linear_hvae()
    x = torch.randn(4, 3, dtype=torch.float64)
    path = model.sample_backward(x, 5)  # [z_2, z_1, x]

    def gauss(layer, s):
        out = layer.net(s)
        n = layer.out_features
        return Normal(out[..., :n], out[..., n:].exp())

    z2, z1 = path[0], path[1]
    log_joint = Normal(0.0, 1.0).log_prob(z2).sum(-1)
    log_joint = log_joint + gauss(model.decoders[0], z2).log_prob(z1).sum(-1)
    log_joint = log_joint + gauss(model.decoders[1], z1).log_prob(path[2]).sum(-1)
    log_q = gauss(model.encoders[1], path[2]).log_prob(z1).sum(-1)
    log_q = log_q + gauss(model.encoders[0], z1).log_prob(z2).sum(-1)
    torch.testing.assert_close(model.log_pf(path) - model.log_pb(path), log_joint - log_q)


def test_hvae_monte_carlo_elbo_matches_the_closed_form():
    model = _linear_hvae(seed=3)
    x = torch.randn(3, 3, dtype=torch.float64)
    with torch.no_grad():
        samples = model.log_ratio(x, 40000)
        exact = _gaussian_chain_elbo(model, x)
    mean, stderr = samples.mean(0), samples.std(0) / math.sqrt(samples.shape[0])
    assert ((mean - exact).abs() < 4 * stderr).all(), (mean, exact, stderr)


def test_exact_posterior_makes_every_bound_exact_and_consistency_zero():
    """p(z) = N(0, 1), p(x | z) = N(w z + b, s^2): with q(z | x) the exact posterior every
    backward path has log P_F - log P_B = log p(x), so ELBO = IWAE = log p(x)."""
    w, b, s = 1.7, 0.4, 0.6
    model = HierarchicalVAEGFN(1, (1,), hidden=()).double()
    post_var = 1 / (1 + w**2 / s**2)
    with torch.no_grad():
        dec, enc = model.decoders[0].net[0], model.encoders[0].net[0]
        dec.weight.copy_(torch.tensor([[w], [0.0]], dtype=torch.float64))
        dec.bias.copy_(torch.tensor([b, math.log(s)], dtype=torch.float64))
        enc.weight.copy_(torch.tensor([[post_var * w / s**2], [0.0]], dtype=torch.float64))
        enc.bias.copy_(
            torch.tensor([-post_var * w * b / s**2, 0.5 * math.log(post_var)], dtype=torch.float64)
        )
    x = torch.tensor([[-1.0], [0.3], [2.2]], dtype=torch.float64)
    exact = Normal(b, math.sqrt(w**2 + s**2)).log_prob(x[:, 0])
    torch.testing.assert_close(model.log_ratio(x, 7), exact.expand(7, 3))
    torch.testing.assert_close(model.elbo(x), exact)
    torch.testing.assert_close(model.iwae(x, 4), exact)
    _, stats = mle_gfn_loss(model, x, k=4)
    assert stats["consistency"] < 1e-20
    with torch.no_grad():
        enc.bias[0] += 0.5  # a wrong posterior: a gap, and paths that disagree
    _, stats = mle_gfn_loss(model, x, k=64)
    assert stats["consistency"] > 1e-3
    assert stats["elbo"] < float(exact.mean())


def test_mle_gfn_gradients_split_between_forward_and_backward():
    model = _linear_hvae(seed=1)
    x = torch.randn(6, 3, dtype=torch.float64)
    torch.manual_seed(0)
    loss, _ = mle_gfn_loss(model, x, k=4)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    torch.manual_seed(0)  # the same backward paths
    path = model.sample_backward(x, 4)
    (-model.log_pf(path).mean()).backward()
    for name, p in model.named_parameters():
        if name.startswith("decoders"):  # P_F: only the ELBO's -log P_F term
            torch.testing.assert_close(grads[name], p.grad)
        else:  # P_B: only the consistency term (log P_F detached)
            assert p.grad is None or p.grad.abs().max() == 0
            assert grads[name].abs().max() > 0


def test_autoregressive_bound_is_the_exact_log_likelihood():
    torch.manual_seed(0)
    V, L = 3, 4
    model = AutoregressiveGFN(V, L, hidden=(16,)).double()
    env = SequenceEnv(V, L)
    x = env.terminal_states()  # every sequence, tokens 1..V
    assert len(x) == V**L
    logp = torch.zeros(len(x), dtype=torch.float64)
    for i in range(L):  # the chain rule, one categorical per position
        prefix = x.clone()
        prefix[:, i:] = 0
        logits = model.net(torch.nn.functional.one_hot(prefix, V + 1).double().flatten(-2))
        logp = logp + Categorical(logits=logits).log_prob(x[:, i] - 1)
    torch.testing.assert_close(model.elbo(x), logp)
    torch.testing.assert_close(model.iwae(x, 5), logp)
    assert math.isclose(float(logp.detach().exp().sum()), 1.0, rel_tol=1e-10)
    path = model.sample(4)
    assert torch.equal(path[-1] > 0, torch.ones(4, L, dtype=torch.bool))
    torch.testing.assert_close(
        model.log_pb(model.sample_backward(path[-1])), torch.zeros(4, dtype=torch.float64)
    )


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match="height"):
        HyperGrid(2, 1)
    with pytest.raises(ValueError, match="variance"):
        DiffusionGFN(TimeMLP(2), 2, linear_betas(4), variance="learned")
    with pytest.raises(ValueError, match="k >= 2"):
        mle_gfn_loss(_linear_hvae(), torch.zeros(2, 3, dtype=torch.float64), k=1)
    with pytest.raises(ValueError, match="epsilon"):
        env = HyperGrid(2, 3)
        sample_trajectories(env, GFlowNetPolicy.for_env(env), 2, epsilon=2.0)


def test_mle_gfn_consistency_trains_the_backward_policy_to_the_posterior():
    """From a wrong encoder, MLE-GFN's reward-free consistency loss alone (decoder frozen) moves
    P_B to the exact posterior of a linear-Gaussian model: the ELBO gap closes."""
    torch.manual_seed(0)
    w, b, s = 1.5, 0.2, 0.5
    model = HierarchicalVAEGFN(1, (1,), hidden=()).double()
    with torch.no_grad():
        dec = model.decoders[0].net[0]
        dec.weight.copy_(torch.tensor([[w], [0.0]], dtype=torch.float64))
        dec.bias.copy_(torch.tensor([b, math.log(s)], dtype=torch.float64))
    model.decoders.requires_grad_(False)
    x = b + math.sqrt(w**2 + s**2) * torch.randn(256, 1, dtype=torch.float64)
    exact = Normal(b, math.sqrt(w**2 + s**2)).log_prob(x[:, 0])
    gap_before = float((exact - model.elbo(x)).mean().detach())
    opt = torch.optim.Adam(model.encoders.parameters(), lr=0.05)
    for _ in range(300):
        loss, _ = mle_gfn_loss(model, x, k=8)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        gap_after = float((exact - model.log_ratio(x, 64).mean(0)).mean())
    assert gap_before > 0.5
    assert 0 <= gap_after < 0.01


def test_hypergrid_refuses_actions_that_leave_the_grid():
    env = HyperGrid(ndim=2, height=3)
    top = torch.tensor([[2, 0]])
    with pytest.raises(ValueError, match="leaves the grid"):
        env.step(top, torch.tensor([0]))
    with pytest.raises(ValueError, match="leaves the grid"):
        env.backward_step(torch.tensor([[0, 1]]), torch.tensor([0]))
    with pytest.raises(ValueError, match="actions in 0..1"):
        env.step(top, torch.tensor([2]))  # the exit action is not a step
    with pytest.raises(TypeError, match="integer actions"):
        env.step(top, torch.tensor([0.0]))
    assert env.step(top, torch.tensor([1])).tolist() == [[2, 1]]
