"""``cpflow-ot``: is a CP-Flow trained by maximum likelihood the optimal-transport map?

Source ``N(m, C)`` with ``m = (1.5, 1)``, ``C = [[.9, -.75], [-.75, .9]]``; target (the base)
``N(0, I)``. The optimal map is ``T(x) = C^-1/2 (x - m)`` (W2^2 = 3.706). A one-block CP-Flow
without ActNorm is a single gradient map of a convex function, so if it pushes the source onto
the base it *is* ``T`` (Brenier). zuko's affine autoregressive (MAF) and spline (NSF) flows of
about the same size also push the source onto the base, by other maps. Metric: mean squared
distance between each learned map and ``T`` on held-out source samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..device import select_device
from ..flows import CPFlow
from ..flows.baselines import BASELINES, matched_baseline
from ..flows.mle import fit_density
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from ..metrics import gaussian_brenier_map, gaussian_w2_squared
from ..nn import parameter_count
from ..plotting.maps import map_comparison_figure

__all__ = ["CPFlowOTConfig", "run", "build_models", "brenier_map"]

MEAN = torch.tensor([1.5, 1.0], dtype=torch.float64)
COV = torch.tensor([[0.9, -0.75], [-0.75, 0.9]], dtype=torch.float64)


@dataclass
class CPFlowOTConfig(ExperimentConfig):
    steps: int = 1500
    batch_size: int = 256
    lr: float = 1e-2
    hidden: int = 32
    depth: int = 2
    baseline_transforms: int = 3
    n_test: int = 4096

    def __post_init__(self):
        check_fields(
            self,
            at_least_one="steps batch_size hidden depth baseline_transforms n_test",
            positive="lr",
        )


SIZES = {
    "smoke": dict(steps=15, batch_size=64, hidden=8, n_test=256),
    "quick": dict(steps=500, n_test=2048),
}


def brenier_map(x: torch.Tensor) -> torch.Tensor:
    """The optimal map from ``N(MEAN, COV)`` to ``N(0, I)``: ``C^-1/2 (x - m)``."""
    return gaussian_brenier_map(x, MEAN, COV)


def sample_source(n: int, generator: torch.Generator) -> torch.Tensor:
    z = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return MEAN + z @ torch.linalg.cholesky(COV).T


def build_models(config: CPFlowOTConfig) -> dict[str, torch.nn.Module]:
    torch.manual_seed(config.seed)
    cp = CPFlow(2, blocks=1, hidden=(config.hidden,) * config.depth, actnorm=False)
    models = {"cpflow": cp}
    for kind in BASELINES:
        models[kind] = matched_baseline(kind, 2, parameter_count(cp), config.baseline_transforms)
    return {k: m.double() for k, m in models.items()}


def run(config: CPFlowOTConfig, ctx: RunContext | None = None) -> Results:
    ctx = ctx or RunContext(seed=config.seed)
    device = select_device(config.device)
    models = build_models(config)
    ctx.track(models)
    results = Results()
    test_gen = ctx.generator("test")
    x_test = sample_source(config.n_test, test_gen).to(device)
    target = brenier_map(x_test)
    maps = {}
    for name, model in models.items():
        model.to(device)
        gen = ctx.generator("data", name)
        if name == "cpflow":  # data-dependent initialisation of the ICNN's normalisations
            model.initialize(sample_source(1024, gen).to(device))
        trained = fit_density(
            model,
            lambda step, gen=gen: sample_source(config.batch_size, gen),
            steps=config.steps,
            lr=config.lr,
            device=device,
            fit_fn=ctx.fit,
            tag=f"{name}/gaussian-ot",
            generators=[gen],
        )
        with torch.no_grad():
            dist = model()
            learned = dist.transform(x_test)
            nll = float(-dist.log_prob(x_test).mean())
        maps[name] = learned
        err = (learned - target).pow(2).sum(-1)
        metrics = {
            "map_mse": float(err.mean()),
            "map_mse_stderr": float(err.std() / math.sqrt(len(err))),
            "test_nll": nll,
            # the transport cost of the learned map vs the optimal cost W2^2
            "transport_cost": float((learned - x_test).pow(2).sum(-1).mean()),
            "parameters": parameter_count(model),
            "train_seconds": trained.seconds,
        }
        results.metrics.update({f"{name}/gaussian-ot/{k}": float(v) for k, v in metrics.items()})
    results.metrics["exact/gaussian-ot/w2_squared"] = float(gaussian_w2_squared(MEAN, COV))
    # the entropy of the source: the best test NLL any model can reach
    results.metrics["exact/gaussian-ot/entropy"] = float(
        0.5 * torch.logdet(2 * math.pi * math.e * COV)
    )
    for name in BASELINES:
        results.metrics[f"ratio/gaussian-ot/{name}_over_cpflow_map_mse"] = (
            results.metrics[f"{name}/gaussian-ot/map_mse"]
            / results.metrics["cpflow/gaussian-ot/map_mse"]
        )
    results.models = models
    results.figures["cpflow_ot_maps"] = map_comparison_figure(target[:400].cpu(), maps)
    results.notes.append(
        "map_mse: E||f(x) - T(x)||^2 over held-out source samples, T the closed-form optimal map; "
        "transport_cost: E||f(x) - x||^2 (W2^2 is the least possible)."
    )
    return results


register(
    Experiment(
        name="cpflow-ot",
        config_cls=CPFlowOTConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="CP-Flow: is the max-likelihood map the optimal-transport map? (vs zuko)",
    )
)
