"""``smac-entropy``: the K-particle marginal entropy bound on a latent Gaussian with known entropy.

``z ~ N(0, 1)``, ``a | z ~ N(2 z, 0.5^2)``, so ``a ~ N(0, 4.25)`` and ``H[a] = 0.5 log(2 pi e
4.25) = 2.142`` nats, while the conditional entropy (latent SAC, ``K = 0``) is ``H[a | z] =
0.726``. SMAC's estimate ``-E log (1/(K+1)) sum_k pi(a | z_k)`` lower-bounds ``H[a]`` and rises
to it with ``K``. Each ``K`` is estimated by Monte Carlo with ``samples`` draws of
``(z_0, a, z_1..z_K)``; the metric is the bound and its standard error.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.registry import Experiment, register
from ..plotting.curves import curves_figure
from ..rl.latent_gaussian import (
    linear_gaussian_conditional_entropy,
    linear_gaussian_entropy,
    particle_entropy_bound,
)

__all__ = ["SMACEntropyConfig", "run", "build_models", "exact_entropy", "entropy_bound"]

SLOPE, NOISE = 2.0, 0.5  # a | z ~ N(SLOPE z, NOISE^2), z ~ N(0, 1)
PAPER_BOUNDS = {0: 0.727, 1: 1.215, 4: 1.674, 8: 1.853, 32: 2.050, 128: 2.116}


@dataclass
class SMACEntropyConfig(ExperimentConfig):
    particles: tuple[int, ...] = (0, 1, 2, 4, 8, 16, 32, 64, 128)
    samples: int = 400_000
    chunk: int = 20_000

    def __post_init__(self):
        if not self.particles or any(k < 0 for k in self.particles):
            raise ValueError(f"particles must be non-negative counts, got {self.particles}")
        if self.samples < 2 or self.chunk < 1:
            raise ValueError(f"need samples >= 2 and chunk >= 1, got {self.samples}, {self.chunk}")


SIZES = {
    "smoke": dict(particles=(0, 1, 8, 128), samples=4000),
    "quick": dict(samples=100_000),
}


def exact_entropy() -> float:
    """``H[a]`` for ``a ~ N(0, SLOPE^2 + NOISE^2)``."""
    return linear_gaussian_entropy(SLOPE, NOISE)


def conditional_entropy() -> float:
    """``H[a | z] = 0.5 log(2 pi e NOISE^2)``: what ``K = 0`` estimates, exactly."""
    return linear_gaussian_conditional_entropy(NOISE)


def entropy_bound(
    particles: int, samples: int, generator: torch.Generator, chunk: int = 20_000
) -> tuple[float, float]:
    """Monte Carlo ``(mean, stderr)`` of ``-log pi_hat(a)`` with ``particles`` extra latents."""
    return particle_entropy_bound(particles, samples, generator, SLOPE, NOISE, chunk)


def build_models(config: SMACEntropyConfig) -> dict[str, torch.nn.Module]:
    return {}


def run(config: SMACEntropyConfig, ctx: RunContext | None = None) -> Results:
    ctx = ctx or RunContext(seed=config.seed)
    results = Results()
    truth = exact_entropy()
    gen = torch.Generator().manual_seed(config.seed)
    bounds, errors = [], []
    for k in config.particles:
        mean, err = entropy_bound(k, config.samples, gen, config.chunk)
        bounds.append(mean)
        errors.append(err)
        ctx.logger.log({"tag": "entropy-bound", "step": k, "bound": mean, "stderr": err})
        results.metrics[f"smac/latent-gaussian/bound_k{k}"] = mean
        results.metrics[f"smac/latent-gaussian/stderr_k{k}"] = err
        results.metrics[f"smac/latent-gaussian/gap_k{k}"] = truth - mean
    ks = list(config.particles)
    order = sorted(range(len(ks)), key=lambda i: ks[i])
    rises = all(bounds[j] > bounds[i] for i, j in zip(order[:-1], order[1:]))
    results.metrics["smac/latent-gaussian/monotone"] = float(rises)
    results.metrics["exact/latent-gaussian/entropy"] = truth
    results.metrics["exact/latent-gaussian/conditional_entropy"] = conditional_entropy()
    for k, value in PAPER_BOUNDS.items():
        results.metrics[f"paper/latent-gaussian/bound_k{k}"] = value
    bound_label, paper_label = "SMAC bound (ours)", "paper note"
    results.figures["smac_entropy_bound"] = curves_figure(
        {
            bound_label: ([k + 1 for k in ks], bounds),
            paper_label: ([k + 1 for k in PAPER_BOUNDS], list(PAPER_BOUNDS.values())),
        },
        errors={bound_label: [2 * e for e in errors]},
        hlines={f"true H[a] = {truth:.3f}": truth, "H[a | z] (K = 0)": conditional_entropy()},
        styles={
            bound_label: {"fmt": "o-", "ms": 4},
            paper_label: {"fmt": "s", "mfc": "none", "color": "C1"},
            f"true H[a] = {truth:.3f}": {"color": "k", "lw": 1},
            "H[a | z] (K = 0)": {"ls": ":", "lw": 1},
        },
        xscale=("log", {"base": 2}),
        xlabel="K + 1 particles",
        ylabel="entropy estimate (nats)",
        legend_loc="lower right",
        figsize=(4.6, 3.2),
    )
    results.notes.append(
        "bound_kK: Monte Carlo -E log (1/(K+1)) sum_k N(a; 2 z_k, 0.5^2), a drawn with z_0; "
        f"the true entropy is {truth:.4f} nats, K = 0 is the conditional entropy "
        f"{conditional_entropy():.4f}."
    )
    return results


register(
    Experiment(
        name="smac-entropy",
        config_cls=SMACEntropyConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="SMAC: the K-particle marginal entropy bound vs K on a latent Gaussian",
    )
)
