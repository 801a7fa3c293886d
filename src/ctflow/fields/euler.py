"""Incompressible flow on the 2-D torus ``[0, 2 pi)^2``: the Taylor-Green vortex in closed form,
models of the flow as a divergence-free field (NCL) or as a plain network (PINN), and the
residuals of the equations they are trained on.

Points are ``y = (t, x_1, x_2)``. Two problems:

- ``"taylor-green"``: ``d_t v + (v . grad) v + grad p = nu Lap v``, ``div v = 0``; a model's
  ``single(y)`` is ``(v_1, v_2, p)``.
- ``"variable-density"``: ``rho (d_t v + (v . grad) v) + grad p = 0``, ``div v = 0``,
  ``d_t rho + div(rho v) = 0``; ``single(y)`` is ``(rho, rho v_1, rho v_2, p)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..nn import MLP
from .pde import euler_residuals, value_and_jacobian, value_jacobian_hessian
from .torus import PeriodicEmbedding, torus_field

__all__ = [
    "EULER_PROBLEMS",
    "taylor_green",
    "taylor_green_pressure",
    "variable_density_initial",
    "SpaceTimeNet",
    "EulerModel",
    "taylor_green_residuals",
    "variable_density_residuals",
]

EULER_PROBLEMS = ("taylor-green", "variable-density")


def taylor_green(t: Tensor, x: Tensor, viscosity: float) -> Tensor:
    """The Taylor-Green velocity ``e^{-2 nu t} (sin x cos y, -cos x sin y)``.

    Args:
        t: times, ``(*batch,)``.
        x: points, ``(*batch, 2)``.
        viscosity: ``nu``.

    Returns:
        ``(*batch, 2)``.
    """
    decay = torch.exp(-2 * viscosity * t)[..., None]
    sx, cx = torch.sin(x[..., 0]), torch.cos(x[..., 0])
    sy, cy = torch.sin(x[..., 1]), torch.cos(x[..., 1])
    return torch.stack([sx * cy, -cx * sy], dim=-1) * decay


def taylor_green_pressure(t: Tensor, x: Tensor, viscosity: float) -> Tensor:
    """The pressure of the Taylor-Green vortex (unit density), ``(*batch,)``:
    ``e^{-4 nu t} (cos 2x + cos 2y) / 4``."""
    decay = torch.exp(-4 * viscosity * t)
    return decay * (torch.cos(2 * x[..., 0]) + torch.cos(2 * x[..., 1])) / 4


def variable_density_initial(x: Tensor) -> Tensor:
    """The initial density of the variable-density problem, ``2 + sin x sin y``: ``(*batch,)``
    for ``x: (*batch, 2)``; its integral over the torus is ``2 (2 pi)^2``."""
    return 2.0 + torch.sin(x[..., 0]) * torch.sin(x[..., 1])


class SpaceTimeNet(nn.Module):
    """An MLP on ``(t, x)`` with ``x`` periodic: ``(*batch, 3) -> (*batch, out)``."""

    def __init__(self, out: int, hidden: tuple[int, ...], act: str):
        super().__init__()
        embed = PeriodicEmbedding(3, periodic=(False, True, True))
        self.net = nn.Sequential(embed, MLP(embed.out_features, out, hidden=hidden, act=act))
        self.n = 3

    def forward(self, y: Tensor) -> Tensor:
        return self.net(y)


class EulerModel(nn.Module):
    """One method's networks for one problem; ``single(y)`` gives the fields at one point.

    Args:
        problem: ``"taylor-green"`` or ``"variable-density"``.
        method: ``"ncl"``: the flow is a divergence-free field (``torus_field``): the velocity
            for Taylor-Green, ``(rho, rho v)`` on space-time for variable density, with the
            harmonic constant ``(2, 0, 0)``, so continuity holds exactly and the mass is
            ``2 (2 pi)^2`` at every time. ``"pinn"``: a :class:`SpaceTimeNet` outputs the
            velocity, or ``(rho, v)``.
        hidden, act: the hidden widths and activation of every network.

    Both methods have a :class:`SpaceTimeNet` pressure.
    """

    def __init__(self, problem: str, method: str, hidden: tuple[int, ...], act: str):
        super().__init__()
        if problem not in EULER_PROBLEMS or method not in ("ncl", "pinn"):
            raise ValueError(
                f"need problem in {EULER_PROBLEMS} and method 'ncl' or 'pinn', "
                f"got {problem!r}, {method!r}"
            )
        self.problem, self.method = problem, method
        if problem == "taylor-green":
            if method == "ncl":
                self.flow = torus_field(2, "matrix", hidden=hidden, act=act, time_dependent=True)
            else:
                self.flow = SpaceTimeNet(2, hidden, act)
        else:
            if method == "ncl":
                self.flow = torus_field(
                    3,
                    "matrix",
                    periodic=(False, True, True),
                    hidden=hidden,
                    act=act,
                    constant=torch.tensor([2.0, 0.0, 0.0]),
                    learn_constant=False,
                )
            else:
                self.flow = SpaceTimeNet(3, hidden, act)
        self.pressure = SpaceTimeNet(1, hidden, act)

    def single(self, y: Tensor) -> Tensor:
        """The fields at one point ``y = (t, x_1, x_2)``: ``(3,)`` for Taylor-Green, ``(4,)``
        for variable density (see the module docstring)."""
        flow = self.flow.single(y) if self.method == "ncl" else self.flow(y)
        if self.problem == "variable-density" and self.method == "pinn":
            flow = torch.cat([flow[:1], flow[:1] * flow[1:]])  # (rho, v) -> (rho, rho v)
        return torch.cat([flow, self.pressure(y)])


def taylor_green_residuals(single, y: Tensor, viscosity: float) -> tuple[Tensor, Tensor]:
    """Momentum and divergence residuals of ``single(y) = (v_1, v_2, p)`` at points
    ``y: (B, 3)``: shapes ``(B, 2)`` and ``(B,)``. Both vanish for the exact vortex (test)."""
    value, jac, hess = value_jacobian_hessian(single, y)
    v, grad_v, grad_p = value[..., :2], jac[..., :2, :], jac[..., 2, 1:]
    laplacian = torch.diagonal(hess[..., :2, 1:, 1:], dim1=-2, dim2=-1).sum(-1)
    rho = torch.ones_like(value[..., 0])
    momentum, divergence, _ = euler_residuals(
        rho, v, torch.zeros_like(y), grad_v, grad_p, viscosity=viscosity, laplacian_v=laplacian
    )
    return momentum, divergence


def variable_density_residuals(single, y: Tensor):
    """Residuals of ``single(y) = (rho, rho v_1, rho v_2, p)`` at points ``y: (B, 3)``:
    ``(momentum (B, 2), divergence (B,), continuity (B,), rho (B,), v (B, 2))``."""
    value, jac = value_and_jacobian(single, y)
    rho, m, grad_rho, grad_m = value[..., 0], value[..., 1:3], jac[..., 0, :], jac[..., 1:3, :]
    v = m / rho[..., None]
    grad_v = (grad_m - v[..., :, None] * grad_rho[..., None, :]) / rho[..., None, None]
    momentum, divergence, _ = euler_residuals(rho, v, grad_rho, grad_v, jac[..., 3, 1:])
    continuity = grad_rho[..., 0] + torch.diagonal(grad_m[..., 1:], dim1=-2, dim2=-1).sum(-1)
    return momentum, divergence, continuity, rho, v
