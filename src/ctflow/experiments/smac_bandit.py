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
from ..rl import ActorCritic, AgentConfig, ReplayBuffer
from ..seeding import set_rng_state

__all__ = ["SMACBanditConfig", "run", "build_models", "reward", "optimal_policy"]

MODES = (-0.7, 0.7)
RADIUS = 0.2  # "near a mode": within this distance
METHODS = ("sac", "latent-sac", "smac")


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
    grid = torch.linspace(-1, 1, n, dtype=torch.float64)
    logits = reward(grid, width) / alpha
    density = torch.exp(logits - logits.max())
    density = density / torch.trapezoid(density, grid)
    return grid, density


def _agent_config(method: str, config: SMACBanditConfig) -> AgentConfig:
    latent = method != "sac"
    return AgentConfig(
        hidden=(config.hidden, config.hidden),
        latent_dim=config.latent_dim if latent else 0,
        particles=config.particles if method == "smac" else 0,
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


def _histogram_entropy(a: torch.Tensor, bins: int = 400) -> float:
    counts = torch.histc(a.double(), bins=bins, min=-1.0, max=1.0)
    p = counts / counts.sum()
    p = p[p > 0]
    return float(-(p * (p * bins / 2.0).log()).sum())


def _mode_masses(a: torch.Tensor) -> list[float]:
    return [float(((a - m).abs() < RADIUS).double().mean()) for m in MODES]


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
                neg, pos = _mode_masses(sample)
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
        neg, pos = _mode_masses(a)
        metrics = {
            "mass_neg": neg,
            "mass_pos": pos,
            "mode_balance": min(neg, pos) / max(neg, pos, 1e-12),
            "modes_covered": float(sum(m >= config.min_mode_mass for m in (neg, pos))),
            "expected_reward": float(reward(a, config.width).mean()),
            "entropy": _histogram_entropy(a),
        }
        results.metrics.update({f"{method}/bandit/{k}": v for k, v in metrics.items()})
    near = [((grid - m).abs() < RADIUS).double() for m in MODES]
    exact = {
        "mass_neg": float(torch.trapezoid(density * near[0], grid)),
        "mass_pos": float(torch.trapezoid(density * near[1], grid)),
        "expected_reward": float(torch.trapezoid(density * reward(grid, config.width), grid)),
        "entropy": float(-torch.trapezoid(density * density.clamp_min(1e-300).log(), grid)),
    }
    results.metrics.update({f"optimum/bandit/{k}": v for k, v in exact.items()})
    results.figures["smac_bandit_actions"] = _figure(samples, grid, density, results.metrics)
    results.notes.append(
        f"mass_*: fraction of {config.eval_samples} policy actions within {RADIUS} of a = -0.7 / "
        f"+0.7; modes_covered counts modes with mass >= {config.min_mode_mass}; entropy is a "
        "400-bin histogram estimate; optimum/*: pi* ~ exp(r / alpha) by quadrature."
    )
    return results


def _figure(samples, grid, density, metrics):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(samples), figsize=(3.2 * len(samples), 2.8), dpi=80, sharey=True
    )
    for ax, (method, a) in zip(axes, samples.items()):
        ax.hist(a.numpy(), bins=100, range=(-1, 1), density=True, color="C0", alpha=0.7)
        ax.plot(grid.numpy(), density.numpy(), "k-", lw=0.8, label="optimum exp(r/alpha)")
        cov = metrics[f"{method}/bandit/modes_covered"]
        ax.set_title(f"{method}: {cov:.0f} mode(s)", fontsize=9)
        ax.set_xlabel("action a")
        ax.set_yscale("symlog", linthresh=0.1)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


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
