"""``ncl-ot``: dynamical optimal transport (Benamou-Brenier) between 2D densities with NCL.

The density path is a Gaussian mixture at every t written as a divergence-free field on (t, x)
(:class:`ctflow.fields.GaussianMixtureFlux` inside a ``MatrixField(3)``), so ``rho`` and
``v = u_{1:} / rho`` satisfy the continuity equation exactly and ``rho`` is positive with mass one.
Loss: ``lambda (KL(p_0 || rho_0) + KL(p_1 || rho_1)) + int int rho |v|^2 dx dt``, the kinetic term
estimated by importance sampling from the model's own (detached) ``rho_t``. (The paper fits the
endpoints with an L1 penalty; with a normalised mixture density the KL is the natural fit.)

Evaluation (float64): samples of ``p_0`` are transported with the learned velocity (RK4), giving
the transport cost ``int |v|^2 dt`` along paths (the learned W2^2), the coupling cost
``E |X_1 - X_0|^2``, the exact discrete W2 between the transported samples and fresh ``p_1``
samples (an optimal assignment), and the endpoint KLs. References: the closed-form Gaussian
W2^2, and for the non-Gaussian pair the exact discrete W2^2 between large samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..device import select_device
from ..fields import GaussianMixtureFlux, MatrixField
from ..fields.mixture_transport import evaluate_mixture_transport, mixture_transport_loss
from ..fields.ot_pairs import OT_PAIRS, endpoint_pair
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from ..plotting.fields import transport_paths_figure

__all__ = ["NCLOTConfig", "run", "build_models", "endpoint_pair", "PAIRS"]

PAIRS = OT_PAIRS


@dataclass
class NCLOTConfig(ExperimentConfig):
    """Full size by default; ``smoke`` and ``quick`` override fields."""

    pairs: tuple[str, ...] = PAIRS
    components: int = 8
    hidden: int = 64
    depth: int = 2
    steps: int = 1000
    batch_size: int = 256
    lr: float = 3e-3
    endpoint_weight: float = 200.0
    rotation: bool = False
    ode_steps: int = 50
    n_eval: int = 2000
    n_reference: int = 3000

    def __post_init__(self):
        unknown = [p for p in self.pairs if p not in PAIRS]
        if unknown or not self.pairs:
            raise ValueError(f"unknown pair {unknown[:1]}; choose from: {', '.join(PAIRS)}")
        check_fields(self, at_least_one="components hidden depth steps batch_size ode_steps")
        if self.n_eval < 2 or self.n_reference < 2:
            raise ValueError("n_eval and n_reference must be >= 2")
        if not (self.lr > 0 and self.endpoint_weight > 0):
            raise ValueError("lr and endpoint_weight must be > 0")


SIZES = {
    "smoke": dict(
        pairs=("gauss-iso",),  # the discrete reference of the other pairs takes seconds
        components=2,
        hidden=16,
        steps=8,
        batch_size=64,
        ode_steps=5,
        n_eval=100,
        n_reference=100,
    ),
    "quick": dict(steps=400, n_eval=1000, n_reference=1500),
}


def build_models(config: NCLOTConfig) -> dict[str, nn.Module]:
    """One divergence-free space-time field per pair."""
    hidden = (config.hidden,) * config.depth
    return {
        pair: MatrixField(
            3, net=GaussianMixtureFlux(config.components, hidden, rotation=config.rotation)
        )
        for pair in config.pairs
    }


def run(config: NCLOTConfig, ctx: RunContext | None = None) -> Results:
    """Fit one transport per pair. Metrics are keyed ``ncl/<pair>/<metric>``."""
    ctx = ctx or RunContext(seed=config.seed)
    device = select_device(config.device)
    torch.manual_seed(config.seed)
    results = Results()
    models = build_models(config)
    ctx.track(models)
    paths = {}
    for pair in config.pairs:
        p0, p1 = endpoint_pair(pair)
        field = models[pair].to(device)
        gen = ctx.generator("data", pair)
        trained = ctx.fit(
            lambda step, field=field, p0=p0, p1=p1, gen=gen: mixture_transport_loss(
                field, p0, p1, config.batch_size, config.endpoint_weight, gen, device
            ),
            field,
            tag=f"ncl/{pair}",
            generators=[gen],
            device=device,
            steps=config.steps,
            lr=config.lr,
            schedule="cosine",
            warmup=min(50, config.steps // 10),
            grad_clip=100.0,
        )
        metrics, paths[pair] = evaluate_mixture_transport(
            field,
            p0,
            p1,
            config.n_eval,
            config.n_reference,
            config.ode_steps,
            ctx.common_seed_of("eval", pair),
        )
        metrics["train_seconds"] = trained.seconds
        metrics["final_train_loss"] = trained.final_loss
        results.metrics.update({f"ncl/{pair}/{k}": float(v) for k, v in metrics.items()})
    results.models = models
    results.figures["ncl-ot_paths"] = transport_paths_figure(paths, lim=4.5)
    results.notes.append(
        "w2sq_transport = mean over paths of int_0^1 |v|^2 dt (the learned transport cost, >= W2^2 "
        "when the endpoints match); w2sq_coupling = E|X_1 - X_0|^2; w2_endpoint = exact "
        "discrete W2 "
        "between transported samples and fresh target samples (w2_floor: target vs target); KLs "
        "are Monte Carlo estimates of KL(p || rho) at t = 0 and t = 1."
    )
    return results


register(
    Experiment(
        name="ncl-ot",
        config_cls=NCLOTConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="dynamical OT between 2D densities with an exact-continuity mixture flow",
    )
)
