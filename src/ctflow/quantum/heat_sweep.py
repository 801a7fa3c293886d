"""Sensitivity of the V-system heat device's steady state to the hot bath's pumping rate: a
sweep with batched implicit Jacobians, checked against central differences, and its figure."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..plotting.curves import figure_grid, plot_curves
from .heat_transfer import HeatTransferVSystem
from .steady_state import steady_state, steady_state_jacobian

__all__ = ["pump_sweep", "pump_sweep_figure"]


def pump_sweep(
    device: HeatTransferVSystem,
    params: Tensor,
    log_occupation: Tensor,
    *,
    jacobian: Callable[..., Tensor] = steady_state_jacobian,
    h: float = 1e-5,
) -> tuple[dict[str, Any], dict[str, float]]:
    """``rho_ss`` and ``d rho_ss / d log r`` over the hot pumping rate ``r = gamma n_h``.

    Args:
        device: The heat-transfer device.
        params: ``(6,)`` device parameters (couplings, ``J``, ``log gamma_d``).
        log_occupation: ``(S,)`` values of ``log n_h`` to sweep (float64).
        jacobian: The implicit steady-state Jacobian (``steady_state_jacobian``'s signature).
        h: Central-difference step in ``log n_h`` for the check.

    Returns:
        ``(sweep, metrics)``: ``sweep`` holds ``pump_rate`` (list of ``S``), ``rho``, ``jac`` and
        ``fd`` (``(S, 3, 3)``), ``current`` and ``d_current`` (``(S,)``, the heat current and
        its derivative in ``log r``) and ``cold_pump_rate``; ``metrics`` holds
        ``jacobian_vs_fd_max_rel_err`` and ``sensitivity_peak_pump_rate``.
    """
    log_n = log_occupation

    def build(log_occ: Tensor) -> Tensor:
        return device.liouvillian(params, hot_occupation=log_occ[..., 0].exp())

    rho = steady_state(build(log_n[:, None]))
    jac = jacobian(build, log_n[:, None])[..., 0]  # (S, 3, 3)
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


@torch.no_grad()
def pump_sweep_figure(sweep: dict[str, Any]):
    """Populations and coherence (left) and their sensitivities (right) over the pump rate.

    Args:
        sweep: The first output of :func:`pump_sweep`.

    Returns:
        A matplotlib figure: Jacobians as lines, differences as dots of the same colour, the
        heat current (scaled to its largest magnitude) dashed, the cold bath's rate dotted.
    """
    r = sweep["pump_rate"]
    rho, jac, fd = sweep["rho"], sweep["jac"], sweep["fd"]
    scale = sweep["current"].abs().max()
    levels, derivatives, styles = {}, {}, {}
    series = {
        "rho_11": (rho[:, 1, 1].real, jac[:, 1, 1].real, fd[:, 1, 1].real),
        "rho_22": (rho[:, 2, 2].real, jac[:, 2, 2].real, fd[:, 2, 2].real),
        "|rho_12|": (rho[:, 1, 2].abs(), None, None),
        "Re rho_12": (rho[:, 1, 2].real, jac[:, 1, 2].real, fd[:, 1, 2].real),
    }
    for k, (label, (value, d, d_fd)) in enumerate(series.items()):
        levels[label] = (r, value)
        styles[label] = styles[f"d {label} / d log r"] = {"color": f"C{k}"}
        if d is not None:
            derivatives[f"d {label} / d log r"] = (r, d)
            derivatives[f"_fd {label}"] = (r, d_fd)
            styles[f"_fd {label}"] = {"fmt": ".", "color": f"C{k}", "ms": 4}
    levels["J_h (scaled)"] = (r, sweep["current"] / scale)
    derivatives["d J_h (scaled)"] = (r, sweep["d_current"] / scale)
    styles["J_h (scaled)"] = styles["d J_h (scaled)"] = {"fmt": "k--"}
    fig, axes = figure_grid(1, 2, (9, 3.6))
    for ax, curves, title in (
        (axes[0, 0], levels, "steady state vs pumping rate (dotted: the cold bath's rate)"),
        (axes[0, 1], derivatives, "sensitivities: implicit Jacobian (lines), differences (dots)"),
    ):
        plot_curves(
            ax,
            curves,
            styles=styles,
            vlines={"_cold": sweep["cold_pump_rate"]},
            xscale="log",
            xlabel="hot-bath pumping rate r = gamma n_h",
            title=title,
        )
    fig.tight_layout()
    return fig
