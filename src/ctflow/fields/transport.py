"""Transport by a velocity field: carry samples along it and measure each path's kinetic cost.

For a velocity ``v(t, x)`` whose flow pushes ``p0`` onto ``p1``, the mean over paths of
``int_0^1 |v(t, x_t)|^2 dt`` is the Benamou-Brenier cost of that transport, ``>= W2^2(p0, p1)``,
with equality for the optimal one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..solvers import odeint

__all__ = ["transport_with_cost"]


@torch.no_grad()
def transport_with_cost(
    velocity: Callable[[Tensor, Tensor], Tensor], x0: Tensor, steps: int
) -> tuple[Tensor, Tensor]:
    """Integrate ``dx/dt = v(t, x)`` on ``[0, 1]`` with fixed-step RK4; return the paths and
    each path's kinetic cost ``int_0^1 |v|^2 dt`` by the trapezoid rule on the same grid.

    Args:
        velocity: ``v(t, x)`` with ``t`` 0-d and ``x`` ``(N, d)``, returning ``(N, d)``.
        x0: starting points of shape ``(N, d)``; the grid of times takes its dtype.
        steps: RK4 steps, ``>= 1`` (``steps + 1`` grid times).

    Returns:
        ``(paths, cost)``: positions ``(steps + 1, N, d)`` (``paths[-1]`` the transported
        points) and costs ``(N,)``.

    Examples:
        >>> paths, cost = transport_with_cost(lambda t, x: torch.ones_like(x), torch.zeros(2, 2), 4)
        >>> paths[-1].tolist(), cost.tolist()
        ([[1.0, 1.0], [1.0, 1.0]], [2.0, 2.0])
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if x0.dim() != 2:
        raise ValueError(f"x0 must have shape (N, d), got {tuple(x0.shape)}")
    times = torch.linspace(0.0, 1.0, steps + 1, dtype=x0.dtype)
    paths = odeint(velocity, x0, times, method="rk4", step_size=1.0 / steps)
    speed = torch.stack([velocity(t, x).pow(2).sum(-1) for t, x in zip(times, paths)])
    h = 1.0 / steps
    return paths, h * (speed[1:] + speed[:-1]).sum(0) / 2
