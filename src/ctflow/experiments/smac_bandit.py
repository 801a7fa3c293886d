"""``smac-bandit``: does the policy keep both modes of a bimodal reward?

A one-step continuous bandit: the action ``a`` in ``[-1, 1]`` earns ``r(a) = exp(-(a - 0.7)^2 /
(2 w^2)) + exp(-(a + 0.7)^2 / (2 w^2))``. The maximum-entropy optimum at temperature ``alpha``
is ``pi*(a) ~ exp(r(a) / alpha)``: both bumps, half the mass on each. SAC's squashed Gaussian is
unimodal, so it can only settle on one bump or spread over both and the valley between; latent
SAC (``K = 0``) rewards only the conditional entropy ``H[a | z]``, so nothing drives its latent
to split the two; SMAC's marginal entropy does. Each
agent is the library's :class:`~ctflow.rl.ActorCritic` trained off-policy (discount 0, fixed
``alpha``) from a replay buffer of its own actions. Metrics: the mass within 0.2 of each mode,
the number of modes holding at least ``min_mode_mass`` (0.48 at the optimum, 0.2 for
a uniform policy), the expected reward and the marginal
entropy (a histogram of policy samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from ..plotting.curves import histogram_panels_figure
from ..rl import ActorCritic, AgentConfig, ReplayBuffer
from ..rl.action_stats import histogram_entropy, mode_masses
from ..rl.max_entropy import boltzmann_policy, grid_entropy, grid_expectation, grid_mode_masses
from ..rl.variants import AGENT_VARIANTS, agent_variant
from ..seeding import set_rng_state

__all__ = ["SMACBanditConfig", "run", "build_models", "reward", "optimal_policy"]

MODES = (-0.7, 0.7)
RADIUS = 0.2  # "near a mode": within this distance
METHODS = AGENT_VARIANTS


@dataclass
class SMACBanditConfig(ExperimentConfig):
    steps: int = 2000
    actions_per_step: int = 32
    batch_size: int = 256
    width: float = 0.2
    alpha: float = 0.15
    particles: int = 32
    latent_dim: int = 4
    hidden: int = 64
    lr: float = 3e-3
    eval_samples: int = 100_000
    min_mode_mass: float = 0.3

    def __post_init__(self):
        check_fields(self, at_least_one="steps actions_per_step batch_size hidden eval_samples")
        if self.particles < 1 or self.latent_dim < 1:
            raise ValueError("smac needs particles >= 1 and latent_dim >= 1")
        check_fields(self, positive="width alpha lr")
        if not 0 < self.min_mode_mass < 0.5:
            raise ValueError(f"min_mode_mass must be in (0, 0.5), got {self.min_mode_mass}")


SIZES = {
    "smoke": dict(steps=25, eval_samples=2000, particles=8),
    "quick": dict(steps=1200, eval_samples=20_000),
}


def reward(a: torch.Tensor, width: float) -> torch.Tensor:
    """Two Gaussian bumps of height 1 at ``a = -0.7`` and ``+0.7``."""
    return sum(torch.exp(-0.5 * ((a - m) / width) ** 2) for m in MODES)


def optimal_policy(
    width: float, alpha: float, n: int = 200_001
) -> tuple[torch.Tensor, torch.Tensor]:
    """The maximum-entropy optimum ``pi*(a) ~ exp(r(a) / alpha)`` on a grid of ``[-1, 1]``:
    ``(grid, density)`` in float64."""
    return boltzmann_policy(lambda a: reward(a, width), alpha, -1.0, 1.0, n)


def _agent_config(method: str, config: SMACBanditConfig) -> AgentConfig:
    return agent_variant(
        method,
        config.latent_dim,
        config.particles,
        hidden=(config.hidden, config.hidden),
        inject="last",
        gamma=0.0,
        lr=config.lr,
        init_alpha=config.alpha,
        learn_alpha=False,
        critic_latent=False,  # the reward depends on a alone: Q(s, a) is the exact critic
        encoder="prior",  # z ~ N(0, I): pi(a) = E_z pi(a | z), as with a given belief state
    )


def build_models(config: SMACBanditConfig) -> dict[str, torch.nn.Module]:
    torch.manual_seed(config.seed)
    return {m: ActorCritic(1, 1, _agent_config(m, config)) for m in METHODS}


def run(config: SMACBanditConfig, ctx: RunContext | None = None) -> Results:
    ctx = ctx or RunContext(seed=config.seed)
    models = build_models(config)
    ctx.track(models)
    ckpt = ctx.checkpointer
    results = Results(models=models)
    obs1 = torch.zeros(1, 1)
    for method, agent in models.items():
        tag = f"{method}/bandit"
        saved = ckpt.phase(tag) if ckpt is not None else None
        if saved is not None and saved["done"]:
            set_rng_state(saved["rng"])
            continue
        gen = ctx.generator("data", method)  # replay batches
        buffer = ReplayBuffer(1, 1, capacity=config.steps * config.actions_per_step)
        obs = torch.zeros(config.actions_per_step, 1)
        for step in range(config.steps):
            a = agent.act(obs)
            r = reward(a[:, 0], config.width)
            buffer.add_batch(
                obs=obs, action=a, reward=r, next_obs=obs, terminated=torch.ones_like(r)
            )
            losses = agent.update(buffer.sample(config.batch_size, gen))
            if step % 50 == 0 or step == config.steps - 1:
                sample = agent.act(obs1.expand(2000, 1))[:, 0]
                neg, pos = mode_masses(sample, MODES, RADIUS)
                ctx.logger.log(
                    {"tag": tag, "step": step, "mass_neg": neg, "mass_pos": pos, **losses}
                )
        if ckpt is not None:
            ckpt.save(tag, step=config.steps, done=True)
    torch.manual_seed(ctx.seed_of("eval"))  # evaluation draws the same on a resumed run
    grid, density = optimal_policy(config.width, config.alpha)
    samples = {}
    for method, agent in models.items():
        a = agent.act(obs1.expand(config.eval_samples, 1))[:, 0]
        samples[method] = a
        neg, pos = mode_masses(a, MODES, RADIUS)
        metrics = {
            "mass_neg": neg,
            "mass_pos": pos,
            "mode_balance": min(neg, pos) / max(neg, pos, 1e-12),
            "modes_covered": float(sum(m >= config.min_mode_mass for m in (neg, pos))),
            "expected_reward": float(reward(a, config.width).mean()),
            "entropy": histogram_entropy(a, bins=400, low=-1.0, high=1.0),
        }
        results.metrics.update({f"{method}/bandit/{k}": v for k, v in metrics.items()})
    neg, pos = grid_mode_masses(grid, density, MODES, RADIUS)
    exact = {
        "mass_neg": neg,
        "mass_pos": pos,
        "expected_reward": grid_expectation(grid, density, reward(grid, config.width)),
        "entropy": grid_entropy(grid, density),
    }
    results.metrics.update({f"optimum/bandit/{k}": v for k, v in exact.items()})
    results.figures["smac_bandit_actions"] = histogram_panels_figure(
        samples,
        bins=100,
        range=(-1, 1),
        reference=(grid, density),
        reference_label="optimum exp(r/alpha)",
        titles={
            m: f"{m}: {results.metrics[f'{m}/bandit/modes_covered']:.0f} mode(s)" for m in samples
        },
        xlabel="action a",
        yscale=("symlog", {"linthresh": 0.1}),
    )
    results.notes.append(
        f"mass_*: fraction of {config.eval_samples} policy actions within {RADIUS} of a = -0.7 / "
        f"+0.7; modes_covered counts modes with mass >= {config.min_mode_mass}; entropy is a "
        "400-bin histogram estimate; optimum/*: pi* ~ exp(r / alpha) by quadrature."
    )
    return results


register(
    Experiment(
        name="smac-bandit",
        config_cls=SMACBanditConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="SMAC: mode coverage on a bimodal bandit (SAC vs latent SAC vs SMAC)",
    )
)
