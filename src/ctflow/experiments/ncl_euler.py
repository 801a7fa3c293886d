"""``ncl-euler``: incompressible flow on the 2D torus, a divergence-free network vs a PINN.

Two problems on ``[0, 2 pi)^2``, ``t in [0, t_end]``, each trained twice with the same hidden
layers, batches and pressure network, and by default the same steps (``pinn_steps`` gives the
PINN more, for a comparison at equal compute):

- ``taylor-green``: the viscous Taylor-Green vortex,
  ``v = e^{-2 nu t} (sin x cos y, -cos x sin y)``,
  exact for ``d_t v + (v . grad) v + grad p = nu Lap v``, ``div v = 0``. NCL writes v as the
  divergence of an antisymmetric matrix in x (a periodic stream function, plus the learnable mean
  flow); the PINN outputs v and penalises ``div v``. Both fit the momentum residual and ``v(0)``.
  We report the velocity error against the exact solution over time.
- ``variable-density``: the inviscid variable-density Euler equations
  ``rho (d_t v + (v . grad) v) + grad p = 0``, ``div v = 0``, ``d_t rho + div(rho v) = 0`` from
  ``rho_0 = 2 + sin x sin y`` and the Taylor-Green ``v_0``. NCL writes ``(rho, rho v)`` as a
  divergence-free field on (t, x) with the harmonic constant ``(2, 0, 0)``, so continuity holds
  exactly and the mass ``int rho dx = 2 (2 pi)^2`` at every t; it penalises ``div v``. The PINN
  outputs (rho, v) and penalises continuity and ``div v``. We report the mass drift.

Evaluation runs in float64 (copies of the trained models), on a uniform grid (rectangle rule,
spectrally accurate for periodic functions); residuals on min(512, eval_grid^2) random points.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..device import select_device
from ..fields.euler import EULER_PROBLEMS, EulerModel, taylor_green
from ..fields.euler_training import euler_loss, evaluate_euler, torus_time_points
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_choices, check_fields
from ..harness.registry import Experiment, register
from ..plotting.curves import curves_figure

__all__ = ["NCLEulerConfig", "run", "build_models", "taylor_green"]

PROBLEMS = EULER_PROBLEMS
METHODS = ("ncl", "pinn")


@dataclass
class NCLEulerConfig(ExperimentConfig):
    """Full size by default; ``smoke`` and ``quick`` override fields."""

    problems: tuple[str, ...] = PROBLEMS
    methods: tuple[str, ...] = METHODS
    viscosity: float = 0.1
    t_end: float = 1.0
    steps: int = 1000
    # The PINN's steps; None = ``steps``. An NCL step costs ~2.85x a PINN step on one CPU core
    # (third derivatives of the stream function), so equal compute is pinn_steps ~ 2.85 * steps.
    pinn_steps: int | None = None
    batch_size: int = 192
    lr: float = 3e-3
    hidden: int = 64
    depth: int = 3
    act: str = "tanh"
    ic_weight: float = 10.0
    div_weight: float = 1.0
    continuity_weight: float = 1.0
    eval_grid: int = 32
    eval_times: int = 11

    def __post_init__(self):
        unknown = [p for p in self.problems if p not in PROBLEMS]
        if unknown or not self.problems:
            raise ValueError(f"unknown problem {unknown[:1]}; choose from: {', '.join(PROBLEMS)}")
        check_choices(self, "methods", METHODS, "method")
        check_fields(self, at_least_one="steps batch_size hidden depth eval_grid")
        if self.pinn_steps is not None:
            check_fields(self, at_least_one="pinn_steps")
        if self.eval_times < 2:
            raise ValueError(f"eval_times must be >= 2, got {self.eval_times}")
        check_fields(self, positive="lr t_end ic_weight div_weight continuity_weight")
        if self.viscosity < 0:
            raise ValueError(f"viscosity must be >= 0, got {self.viscosity}")


SIZES = {
    "smoke": dict(steps=6, batch_size=32, hidden=16, depth=2, eval_grid=8, eval_times=3),
    "quick": dict(steps=300, batch_size=128, hidden=48, eval_grid=24, eval_times=6),
}


def build_models(config: NCLEulerConfig) -> dict[str, nn.Module]:
    hidden = (config.hidden,) * config.depth
    # Build every method's model so a run of one method draws the same initial weights as it
    # would beside the other; keep only the chosen ones.
    models = {
        f"{method}_{problem}": EulerModel(problem, method, hidden, config.act)
        for problem in config.problems
        for method in METHODS
    }
    return {k: m for k, m in models.items() if m.method in config.methods}


def _loss(model: EulerModel, config: NCLEulerConfig, gen: torch.Generator, device):
    y = torus_time_points(config.batch_size, config.t_end, gen, device)
    y0 = torus_time_points(config.batch_size, 0.0, gen, device)
    weights = {k: getattr(config, k) for k in ("ic_weight", "div_weight", "continuity_weight")}
    return euler_loss(model, y, y0, config.viscosity, **weights)


def run(config: NCLEulerConfig, ctx: RunContext | None = None) -> Results:
    """Train NCL and the PINN on each problem. Metrics are keyed ``<method>/<problem>/<metric>``."""
    ctx = ctx or RunContext(seed=config.seed)
    device = select_device(config.device)
    torch.manual_seed(config.seed)
    results = Results()
    models = build_models(config)
    ctx.track(models)
    curves: dict[str, dict[str, list[float]]] = {}
    for problem in config.problems:
        for method in config.methods:
            model = models[f"{method}_{problem}"].to(device)
            gen = ctx.generator("data", problem)  # the same draws for both methods
            steps = config.steps
            if method == "pinn" and config.pinn_steps is not None:
                steps = config.pinn_steps
            trained = ctx.fit(
                lambda step, model=model, gen=gen: _loss(model, config, gen, device),
                model,
                tag=f"{method}/{problem}",
                generators=[gen],
                device=device,
                steps=steps,
                lr=config.lr,
                schedule="cosine",
                warmup=min(50, steps // 10),
                grad_clip=10.0,
            )
            prefix = f"{method}/{problem}"
            results.metrics[f"{prefix}/train_seconds"] = trained.seconds
            results.metrics[f"{prefix}/train_steps"] = float(steps)
            results.metrics[f"{prefix}/final_train_loss"] = trained.final_loss
            metrics, curve = evaluate_euler(
                model, config.t_end, config.viscosity, config.eval_grid, config.eval_times,
                min(512, config.eval_grid**2), ctx.common_seed_of("eval", problem), device,
            )  # fmt: skip
            results.metrics.update({f"{prefix}/{k}": v for k, v in metrics.items()})
            curves[prefix] = curve
            for k in range(len(curve["t"])):
                row = {"tag": f"eval/{prefix}", "step": k}
                row.update({name: values[k] for name, values in curve.items()})
                ctx.logger.log(row)
    results.models = models
    if "taylor-green" in config.problems:
        results.figures["ncl-euler_taylor-green"] = _figure(
            curves, "taylor-green", "rel_error", "relative L2 velocity error"
        )
    if "variable-density" in config.problems:
        results.figures["ncl-euler_mass"] = _figure(
            curves, "variable-density", "mass_drift", "|M(t) - M(0)| / M(0)"
        )
    results.notes.append(
        "Velocity errors are relative L2 errors against the exact Taylor-Green solution on a "
        "uniform grid; mass M(t) = int rho(t, x) dx by the rectangle rule on that grid, all in "
        "float64; residual RMS values are on uniform random points in space-time."
    )
    return results


def _figure(curves, problem: str, key: str, ylabel: str):
    """One problem's ``key`` over time per method, on a log axis (an exact 0 drawn at 1e-17)."""
    lines = {
        method.upper(): (curve["t"], [max(v, 1e-17) for v in curve[key]])
        for method in METHODS
        if (curve := curves.get(f"{method}/{problem}")) is not None
    }
    styles = {"NCL": {"fmt": "o-", "markersize": 3}, "PINN": {"fmt": "s--", "markersize": 3}}
    return curves_figure(
        lines, figsize=(4.2, 3.2), dpi=100, styles=styles, xlabel="t", ylabel=ylabel,
        title=problem, yscale="log", legend_fontsize=8,
    )  # fmt: skip


register(
    Experiment(
        name="ncl-euler",
        config_cls=NCLEulerConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="incompressible Euler on the torus: Taylor-Green error and mass, NCL vs PINN",
    )
)
