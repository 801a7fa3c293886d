"""``steady-state-heat``: inverse design of a V-system heat-transfer device through its steady
state (arXiv 2103.12604): maximise the heat current, then the rectification coefficient, by
gradient ascent with implicit steady-state gradients; then a sensitivity sweep of the steady state
over the hot bath's pumping rate with batched implicit Jacobians.

The design variables are how each bath couples to the two excited levels: unit coupling vectors
``(a0, a1) = (cos phi_h, sin phi_h)`` and ``(b0, b1) = (cos phi_c, sin phi_c)`` (a fixed coupling
strength per bath, so the question is *how* to couple, not how strongly). A brute-force grid over
``(phi_h, phi_c)``, the approach the paper argues against, is the baseline: it gives the global
maximum that gradient ascent is measured against, and its cost in steady-state solves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.registry import Experiment, register
from ..ops import map_chunks
from ..quantum import METHODS, steady_state, steady_state_jacobian
from ..quantum.heat_transfer import HeatTransferVSystem

__all__ = ["SteadyStateHeatConfig", "run"]


@dataclass
class SteadyStateHeatConfig(ExperimentConfig):
    """``starts`` random designs (angles uniform in ``[0, pi)``, J and log gamma_d uniform in
    their boxes, from the seed) ascend together with Adam, projected back onto the box."""

    iterations: int = 200
    starts: int = 8
    lr: float = 0.03
    tunnelling_min: float = 0.01
    tunnelling_max: float = 0.2
    dephasing_min: float = 1e-3
    dephasing_max: float = 1e-1
    grid: int = 90
    sweep_points: int = 40

    def __post_init__(self):
        if self.iterations < 1 or self.starts < 1 or not self.lr > 0:
            raise ValueError(
                f"need iterations >= 1, starts >= 1 and lr > 0, got {self.iterations}, "
                f"{self.starts}, {self.lr}"
            )
        if not 0 < self.tunnelling_min < self.tunnelling_max:
            raise ValueError(
                "need 0 < tunnelling_min < tunnelling_max (J = 0 with aligned "
                "couplings leaves a dark state: no unique steady state)"
            )
        if not 0 < self.dephasing_min < self.dephasing_max:
            raise ValueError("need 0 < dephasing_min < dephasing_max")
        if self.grid < 4 or self.sweep_points < 4:
            raise ValueError("grid and sweep_points must be >= 4")


SIZES = {
    "smoke": dict(iterations=8, starts=2, grid=10, sweep_points=6),
    "quick": dict(iterations=120, starts=4, grid=50, sweep_points=30),
}

OBJECTIVES = ("heat_current", "rectification")
DESIGN_NAMES = ("phi_h", "phi_c", "J", "log_gamma_d")


def device_params(design: Tensor) -> Tensor:
    """Design ``(*batch, 4) = (phi_h, phi_c, J, log gamma_d)`` -> the device's ``(*batch, 6)``."""
    phi_h, phi_c, J, log_gamma_d = design.unbind(-1)
    return torch.stack([phi_h.cos(), phi_h.sin(), phi_c.cos(), phi_c.sin(), J, log_gamma_d], -1)


def _bounds(config: SteadyStateHeatConfig) -> tuple[Tensor, Tensor]:
    lo = [-math.inf, -math.inf, config.tunnelling_min, math.log(config.dephasing_min)]
    hi = [math.inf, math.inf, config.tunnelling_max, math.log(config.dephasing_max)]
    return torch.tensor(lo, dtype=torch.float64), torch.tensor(hi, dtype=torch.float64)


def _objective(device: HeatTransferVSystem, name: str, design: Tensor, **kw) -> Tensor:
    return getattr(device, name)(device_params(design), **kw)


def _initial(config: SteadyStateHeatConfig) -> Tensor:
    gen = torch.Generator().manual_seed(config.seed)
    u = torch.rand(config.starts, 4, generator=gen, dtype=torch.float64)
    lo, hi = _bounds(config)
    lo, hi = lo.clone(), hi.clone()
    lo[:2], hi[:2] = 0.0, math.pi
    return lo + u * (hi - lo)


def _ascend(device, name, config, design, ctx):
    """Projected Adam ascent of one objective from every start at once (the steady states are
    solved as one batch); returns final designs and values and the per-iteration history."""
    lo, hi = _bounds(config)
    design = design.clone().requires_grad_(True)
    opt = torch.optim.Adam([design], lr=config.lr)
    history = []
    for step in range(config.iterations):
        values = _objective(device, name, design)
        opt.zero_grad()
        (-values.sum()).backward()  # the starts are independent: one summed backward
        best = int(values.detach().argmax())
        row = {"best": float(values[best].detach()), "mean": float(values.detach().mean())}
        row.update({k: float(v) for k, v in zip(DESIGN_NAMES, design[best].detach())})
        history.append(
            {**row, "values": values.detach().clone(), "design": design.detach().clone()}
        )
        ctx.logger.log({"tag": f"heat/{name}", "step": step, **row})
        opt.step()
        with torch.no_grad():
            design.copy_(torch.maximum(torch.minimum(design, hi), lo))
    with torch.no_grad():
        final = _objective(device, name, design)
    return design.detach(), final, history


@torch.no_grad()
def _grid_search(device, name, config, budget: int):
    """Best value on the densest regular grid over the box that costs at most ``budget``
    steady-state solves (one per point, two for the rectification's two biases)."""
    per_point = 1 if name == "heat_current" else 2
    n = max(2, int((budget / per_point) ** 0.25 + 1e-9))
    lo, hi = _bounds(config)
    axes = [
        torch.arange(n, dtype=torch.float64) * (math.pi / n),
        torch.arange(n, dtype=torch.float64) * (math.pi / n),
        torch.linspace(float(lo[2]), float(hi[2]), n, dtype=torch.float64),
        torch.linspace(float(lo[3]), float(hi[3]), n, dtype=torch.float64),
    ]
    mesh = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 4)
    values = map_chunks(lambda chunk: _objective(device, name, chunk), mesh, 4096)
    return float(values.max()), n, per_point * n**4


@torch.no_grad()
def _angle_landscape(device, name, design: Tensor, n: int):
    """The objective over both angles with J and gamma_d held at ``design``'s values."""
    axis = torch.arange(n, dtype=torch.float64) * (math.pi / n)
    mesh = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1)
    full = torch.cat([mesh, design[2:].expand(n, n, 2)], dim=-1)
    return axis, _objective(device, name, full)


def _gradient_checks(device, design: Tensor) -> dict[str, float]:
    """Implicit gradients vs central differences in the design variables, and across forward
    methods in all six device parameters."""
    out = {}
    h = 1e-6
    for name in OBJECTIVES:
        d = design.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(_objective(device, name, d), d)
        eye = torch.eye(4, dtype=torch.float64)
        fd = torch.stack(
            [
                (
                    _objective(device, name, design + h * e)
                    - _objective(device, name, design - h * e)
                )
                / (2 * h)
                for e in eye
            ]
        )
        out[f"{name}_grad_vs_fd_rel_err"] = float((grad - fd).norm() / fd.norm())
        grads = {}
        for method in METHODS:
            p = device_params(design).requires_grad_(True)
            (grads[method],) = torch.autograd.grad(getattr(device, name)(p, method=method), p)
        ref = grads["direct"]
        out[f"{name}_grad_methods_rel_diff"] = max(
            float((g - ref).norm() / ref.norm()) for g in grads.values()
        )
    return out


def _pump_sweep(device, config, design: Tensor):
    """rho_ss and d rho_ss / d log r over the hot bath's pumping rate r = gamma n_h (batched
    implicit Jacobian), with the heat current and its sensitivity, checked by differences."""
    params = device_params(design)
    log_n = torch.linspace(math.log(1e-3), math.log(1e2), config.sweep_points, dtype=torch.float64)

    def build(log_occupation: Tensor) -> Tensor:
        return device.liouvillian(params, hot_occupation=log_occupation[..., 0].exp())

    rho = steady_state(build(log_n[:, None]))
    jac = steady_state_jacobian(build, log_n[:, None])[..., 0]  # (S, 3, 3)
    h = 1e-5
    fd = steady_state(build((log_n + h)[:, None])) - steady_state(build((log_n - h)[:, None]))
    fd = fd / (2 * h)
    log_pump = log_n.clone().requires_grad_(True)
    current = device.heat_current(params, hot_occupation=log_pump.exp())
    (d_current,) = torch.autograd.grad(current.sum(), log_pump)
    sweep = {
        "pump_rate": (device.gamma * log_n.exp()).tolist(),
        "rho": rho.detach(),
        "jac": jac.detach(),
        "fd": fd.detach(),
        "current": current.detach(),
        "d_current": d_current,
        "cold_pump_rate": device.gamma / math.expm1(device.frequency / device.t_cold),
    }
    metrics = {
        "jacobian_vs_fd_max_rel_err": float((jac - fd).abs().max() / fd.abs().max()),
        # where the heat current responds most to the pump (the steepest point of the sweep)
        "sensitivity_peak_pump_rate": sweep["pump_rate"][int(d_current.argmax())],
    }
    return sweep, metrics


def run(config: SteadyStateHeatConfig, ctx: RunContext | None = None) -> Results:
    ctx = ctx or RunContext(seed=config.seed)
    device = HeatTransferVSystem()
    starts = _initial(config)
    metrics: dict[str, float] = dict(_gradient_checks(device, starts[0]))
    best_designs, histories = {}, {}
    for name in OBJECTIVES:
        design, final, histories[name] = _ascend(device, name, config, starts, ctx)
        best = int(final.argmax())
        best_designs[name] = design[best]
        with torch.no_grad():
            initial = _objective(device, name, starts)
        per_point = 1 if name == "heat_current" else 2
        budget = 2 * per_point * config.starts * config.iterations  # forward + adjoint solves
        grid_best, grid_n, grid_solves = _grid_search(device, name, config, budget)
        metrics.update(
            {
                f"{name}_initial_best": float(initial.max()),
                f"{name}_final_best": float(final[best]),
                f"{name}_final_mean": float(final.mean()),
                f"{name}_ascent_solves": budget,
                f"{name}_grid_best": grid_best,
                f"{name}_grid_points_per_axis": grid_n,
                f"{name}_grid_solves": grid_solves,
                f"{name}_ascent_over_grid": float(final[best]) / grid_best,
            }
        )
        metrics.update({f"{name}_best_{k}": float(v) for k, v in zip(DESIGN_NAMES, design[best])})

    sweep, sweep_metrics = _pump_sweep(device, config, best_designs["heat_current"])
    metrics.update({f"sweep_{k}": v for k, v in sweep_metrics.items()})

    results = Results(metrics={_metric_key(k): float(v) for k, v in metrics.items()})
    landscapes = {
        name: _angle_landscape(device, name, best_designs[name], config.grid) for name in OBJECTIVES
    }
    results.figures["heat_ascent"] = _ascent_figure(landscapes, histories, _bounds(config))
    results.figures["heat_pump_sweep"] = _sweep_figure(sweep)
    results.notes.append(
        f"Design (phi_h, phi_c, J, log gamma_d) with J in [{config.tunnelling_min}, "
        f"{config.tunnelling_max}], gamma_d in [{config.dephasing_min}, {config.dephasing_max}]; "
        f"projected Adam (lr {config.lr}) from {config.starts} random starts at once, "
        f"{config.iterations} steps per objective. Baseline: the densest regular grid over the "
        "same box within the same number of steady-state solves (an ascent step costs a "
        "forward and an adjoint solve, counted as two). The sweep uses the best heat-current "
        "design."
    )
    return results


def _metric_key(name: str) -> str:
    """``method/system/metric``: grid-search numbers under ``grid``, the pump sweep under
    ``sweep``, everything about the gradient ascent under ``ascent``."""
    if name.startswith("sweep_"):
        return f"sweep/heat/{name[len('sweep_') :]}"
    if "_grid_" in name:
        return f"grid/heat/{name}"
    return f"ascent/heat/{name}"


@torch.no_grad()
def _ascent_figure(landscapes, histories, bounds):
    import matplotlib.pyplot as plt

    lo, hi = bounds

    fig, axes = plt.subplots(2, 3, figsize=(12, 7), dpi=72)
    titles = {"heat_current": "heat current J_h", "rectification": "rectification R"}
    for row, name in enumerate(OBJECTIVES):
        axis, values = landscapes[name]
        designs = torch.stack([h["design"] for h in histories[name]])  # (T, K, 4)
        final = histories[name][-1]["values"]
        best = int(final.argmax())
        ax = axes[row, 0]
        cs = ax.contourf(axis, axis, values.T, levels=30, cmap="viridis")
        fig.colorbar(cs, ax=ax)
        angles = designs[..., :2] % math.pi
        for k in range(designs.shape[1]):
            style = dict(color="r", ms=2) if k == best else dict(color="w", ms=1, alpha=0.6)
            ax.plot(angles[:, k, 0], angles[:, k, 1], ".", **style)
            ax.plot(angles[-1, k, 0], angles[-1, k, 1], "*", color=style["color"], ms=7)
        ax.set_xlabel("phi_h (hot coupling angle)")
        ax.set_ylabel("phi_c (cold coupling angle)")
        ax.set_title(f"{titles[name]}: angles slice at the best J, gamma_d", fontsize=9)
        ax = axes[row, 1]
        trace = torch.stack([h["values"] for h in histories[name]])  # (T, K)
        ax.plot(trace, color="gray", lw=0.6)
        ax.plot(trace[:, best], color="C3", lw=1.2, label="best start")
        ax.set_xlabel("iteration")
        ax.set_ylabel(titles[name])
        ax.legend(fontsize=8)
        ax.set_title(f"{titles[name]} per iteration, every start", fontsize=9)
        ax = axes[row, 2]
        path = designs[:, best]
        ax.plot(path[:, 0], label="phi_h")
        ax.plot(path[:, 1], label="phi_c")
        for i, label in ((2, "J"), (3, "log gamma_d")):
            ax.plot((path[:, i] - lo[i]) / (hi[i] - lo[i]), label=f"{label} (0-1: box position)")
        ax.set_xlabel("iteration")
        ax.set_ylabel("angle (rad) / box position")
        ax.legend(fontsize=7)
        ax.set_title("parameters of the best start", fontsize=9)
    fig.tight_layout()
    return fig


@torch.no_grad()
def _sweep_figure(sweep):
    import matplotlib.pyplot as plt

    r = sweep["pump_rate"]
    rho, jac, fd = sweep["rho"], sweep["jac"], sweep["fd"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=80)
    series = {
        "rho_11": (rho[:, 1, 1].real, jac[:, 1, 1].real, fd[:, 1, 1].real),
        "rho_22": (rho[:, 2, 2].real, jac[:, 2, 2].real, fd[:, 2, 2].real),
        "|rho_12|": (rho[:, 1, 2].abs(), None, None),
        "Re rho_12": (rho[:, 1, 2].real, jac[:, 1, 2].real, fd[:, 1, 2].real),
    }
    for k, (label, (value, d, d_fd)) in enumerate(series.items()):
        axes[0].plot(r, value, f"C{k}", label=label)
        if d is not None:
            axes[1].plot(r, d, f"C{k}", label=f"d {label} / d log r")
            axes[1].plot(r, d_fd, f"C{k}.", ms=4)
    axes[0].plot(r, sweep["current"] / sweep["current"].abs().max(), "k--", label="J_h (scaled)")
    axes[1].plot(
        r, sweep["d_current"] / sweep["current"].abs().max(), "k--", label="d J_h (scaled)"
    )
    for ax in axes:
        ax.axvline(sweep["cold_pump_rate"], color="gray", lw=0.6, ls=":")
        ax.set_xscale("log")
        ax.set_xlabel("hot-bath pumping rate r = gamma n_h")
        ax.legend(fontsize=7)
    axes[0].set_title("steady state vs pumping rate (dotted: the cold bath's rate)", fontsize=9)
    axes[1].set_title("sensitivities: implicit Jacobian (lines), differences (dots)", fontsize=9)
    fig.tight_layout()
    return fig


register(
    Experiment(
        name="steady-state-heat",
        config_cls=SteadyStateHeatConfig,
        run=run,
        build_models=lambda config: {},
        sizes=SIZES,
        description="differentiable steady state: design a V-system heat-transfer device",
    )
)
