"""Training losses and evaluation of Euler-flow models (:class:`ctflow.fields.EulerModel`) on the
2-D torus: collocation points in space-time, the residual loss of either method (divergence-free
NCL network or plain PINN), and float64 scores against the Taylor-Green solution or the exact
mass of the variable-density problem.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor

from .euler import (
    EulerModel,
    taylor_green,
    taylor_green_residuals,
    variable_density_initial,
    variable_density_residuals,
)
from .torus import torus_grid

__all__ = ["torus_time_points", "euler_loss", "evaluate_euler"]

TWO_PI = 2 * math.pi


def torus_time_points(
    n: int,
    t_end: float,
    generator: torch.Generator,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Uniform points ``y = (t, x_1, x_2)`` on ``[0, t_end] x [0, 2 pi)^2``.

    The draw happens on the CPU generator and is then moved, so a seed gives the same points
    on every device.

    Args:
        n: number of points.
        t_end: the final time; ``0`` gives points at ``t = 0`` (for an initial condition).
        generator: a CPU generator.
        device: where the points go.
        dtype: the points' dtype (default: torch's default float).

    Returns:
        ``(n, 3)``.

    Examples:
        >>> y = torus_time_points(4, 0.0, torch.Generator().manual_seed(0))
        >>> y.shape, bool((y[:, 0] == 0).all()), bool((y[:, 1:] < 2 * math.pi).all())
        (torch.Size([4, 3]), True, True)
    """
    y = torch.rand(n, 3, generator=generator, dtype=dtype)
    scale = torch.tensor([t_end, TWO_PI, TWO_PI], dtype=y.dtype)
    if dtype is None:  # scale on the device, as the draw is moved first
        y = y.to(device)
        return y * scale.to(device)
    return (y * scale).to(device)


def euler_loss(
    model: EulerModel,
    y: Tensor,
    y0: Tensor,
    viscosity: float = 0.0,
    ic_weight: float = 1.0,
    div_weight: float = 1.0,
    continuity_weight: float = 1.0,
) -> tuple[Tensor, dict[str, float]]:
    """The squared-residual loss of an Euler model on collocation points.

    Momentum residual plus ``ic_weight`` times the initial-condition error, plus
    ``div_weight`` times the squared divergence of ``v``; for the variable-density PINN also
    ``continuity_weight`` times the continuity residual (NCL satisfies it by construction).
    Taylor-Green initial velocity is the exact solution at ``t = 0``; the variable-density
    initial state is ``rho_0 = 2 + sin x sin y`` with the inviscid Taylor-Green velocity.

    Args:
        model: an :class:`EulerModel` (its ``problem`` and ``method`` pick the terms).
        y: interior points ``(n, 3)``.
        y0: points at ``t = 0``, ``(m, 3)``.
        viscosity: ``nu`` of the Taylor-Green problem (unused for variable density).
        ic_weight: weight of the initial-condition term.
        div_weight: weight of the divergence penalty.
        continuity_weight: weight of the continuity residual (variable-density PINN only).

    Returns:
        ``(loss, extras)``: a 0-d loss and the mean squared divergence (and continuity
        residual) as floats.
    """
    x0 = y0[..., 1:]
    pinn = model.method == "pinn"
    if model.problem == "taylor-green":
        momentum, divergence = taylor_green_residuals(model.single, y, viscosity)
        v0 = torch.func.vmap(model.single)(y0)[..., :2]
        ic = (v0 - taylor_green(y0[..., 0], x0, viscosity)).pow(2).sum(-1).mean()
        extra = {"div": divergence.pow(2).mean()}
        loss = momentum.pow(2).sum(-1).mean() + ic_weight * ic
        if pinn:
            loss = loss + div_weight * extra["div"]
    else:
        momentum, divergence, continuity, _, _ = variable_density_residuals(model.single, y)
        u0 = torch.func.vmap(model.single)(y0)
        rho0, v0 = u0[..., 0], u0[..., 1:3] / u0[..., :1]
        ic = (rho0 - variable_density_initial(x0)).pow(2).mean() + (
            (v0 - taylor_green(y0[..., 0], x0, 0.0)).pow(2).sum(-1).mean()
        )
        extra = {"div": divergence.pow(2).mean(), "continuity": continuity.pow(2).mean()}
        loss = momentum.pow(2).sum(-1).mean() + ic_weight * ic
        loss = loss + div_weight * extra["div"]
        if pinn:
            loss = loss + continuity_weight * extra["continuity"]
    return loss, {k: v.item() for k, v in extra.items()}


def _rms(residual: Tensor, vector: bool = False) -> float:
    sq = residual.detach().pow(2)
    return float((sq.sum(-1) if vector else sq).mean().sqrt())


def evaluate_euler(
    model: EulerModel,
    t_end: float,
    viscosity: float = 0.0,
    grid: int = 32,
    times: int = 11,
    n_residual: int = 512,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Score an Euler model in float64 (on a copy) over ``times`` equally spaced times.

    Fields are read on a uniform ``grid x grid`` torus grid (rectangle rule, spectrally
    accurate for periodic functions); residual RMS values on ``n_residual`` uniform random
    space-time points drawn from a generator seeded with ``seed``.

    Args:
        model: a trained :class:`EulerModel`.
        t_end: final time.
        viscosity: ``nu`` of the Taylor-Green problem.
        grid: points per side of the evaluation grid.
        times: number of evaluation times in ``[0, t_end]``, ``>= 2``.
        n_residual: number of random points for the residual RMS values.
        seed: seed of those points.
        device: where to evaluate.

    Returns:
        ``(metrics, curve)``. Taylor-Green: ``rel_error_mean``, ``rel_error_final`` (relative
        L2 velocity error against the exact solution), ``momentum_rms``, ``div_rms``; the curve
        has ``t`` and ``rel_error``. Variable density: ``mass_drift_max``, ``mass_error_max``
        (against the exact mass ``2 (2 pi)^2``), ``min_density`` and the three residual RMS
        values; the curve has ``t``, ``mass`` and ``mass_drift``.
    """
    if times < 2:
        raise ValueError(f"times must be >= 2, got {times}")
    model = copy.deepcopy(model).double().eval()
    x, cell = torus_grid((TWO_PI, TWO_PI), grid)
    x = x.to(device)
    ts = torch.linspace(0.0, t_end, times, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    y = torus_time_points(n_residual, t_end, gen, device, dtype=torch.float64)
    metrics: dict[str, float] = {}
    curve: dict[str, list[float]] = {"t": ts.tolist()}

    def fields_at(t: Tensor) -> tuple[Tensor, Tensor]:
        yt = torch.cat([torch.full_like(x[:, :1], float(t)), x], -1)
        with torch.no_grad():
            return yt, torch.func.vmap(model.single)(yt)

    if model.problem == "taylor-green":
        errors = []
        for t in ts:
            yt, out = fields_at(t)
            v, exact = out[..., :2], taylor_green(yt[:, 0], x, viscosity)
            errors.append(float((v - exact).pow(2).sum().sqrt() / exact.pow(2).sum().sqrt()))
        curve["rel_error"] = errors
        momentum, divergence = taylor_green_residuals(model.single, y, viscosity)
        metrics["rel_error_mean"] = sum(errors) / len(errors)
        metrics["rel_error_final"] = errors[-1]
        metrics["momentum_rms"] = _rms(momentum, vector=True)
        metrics["div_rms"] = _rms(divergence)
        return metrics, curve
    masses, minimum = [], float("inf")
    for t in ts:
        rho = fields_at(t)[1][..., 0]
        masses.append(float(rho.sum() * cell))
        minimum = min(minimum, float(rho.min()))
    drift = [abs(m - masses[0]) / abs(masses[0]) for m in masses]
    curve["mass"], curve["mass_drift"] = masses, drift
    momentum, divergence, continuity, _, _ = variable_density_residuals(model.single, y)
    exact_mass = 2.0 * TWO_PI**2
    metrics["mass_drift_max"] = max(drift)
    metrics["mass_error_max"] = max(abs(m - exact_mass) / exact_mass for m in masses)
    metrics["min_density"] = minimum
    metrics["momentum_rms"] = _rms(momentum, vector=True)
    metrics["div_rms"] = _rms(divergence)
    metrics["continuity_rms"] = _rms(continuity)
    return metrics, curve
