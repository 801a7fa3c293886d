"""Density and velocity from a divergence-free field in space-time: exact continuity.

With ``y = (t, x)`` in R^{1+d} and ``u(y)`` divergence-free, ``rho = u_0`` and ``v = u_{1:} / u_0``
satisfy ``d_t rho + div_x(rho v) = 0`` identically, since that is ``div_y u = 0``.
"""

from __future__ import annotations

from torch import Tensor, nn

from ._checks import pack_time
from .matrix_field import MatrixField
from .vector_field import VectorField

__all__ = ["SpaceTimeFlow", "space_time_points"]


def space_time_points(t: Tensor | float, x: Tensor) -> Tensor:
    """Stack ``t`` (a number, 0-d, or shape ``batch``) and ``x: (*batch, d)`` into
    ``y: (*batch, 1 + d)``."""
    return pack_time(t, x)


class SpaceTimeFlow(nn.Module):
    """A density and velocity on R^d (or a torus) that satisfy the continuity equation exactly.

    Args:
        field: a divergence-free field on ``y = (t, x)``, dimension ``n = 1 + d`` (a
            :class:`MatrixField`, :class:`VectorField` or anything with ``n`` and ``single``).

    ``rho = u_0`` must stay positive for the velocity to exist; nothing here forces it (give the
    field a positive constant ``u_0`` part, or a positive construction, and check ``density``).

    Shapes:
        ``density(t, x)``: ``(*batch,)``; ``flux(t, x)``, ``velocity(t, x)``: ``(*batch, d)``;
        ``forward(t, x)`` is ``velocity``, so the module is an ODE vector field ``f(t, x)``.
    """

    def __init__(self, field: MatrixField | VectorField | nn.Module):
        super().__init__()
        n = getattr(field, "n", None)
        if not isinstance(n, int) or n < 2 or not callable(getattr(field, "single", None)):
            raise ValueError("field must be a divergence-free field with attributes n and single")
        self.field = field
        self.d = n - 1

    def _check(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.ndim < 1 or x.shape[-1] != self.d:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must have shape (*batch, {self.d}), got {shape}")

    def space_time(self, t: Tensor | float, x: Tensor) -> Tensor:
        """The full field ``u = (rho, rho v)``: ``(*batch, 1 + d)``."""
        self._check(x)
        return self.field(space_time_points(t, x))

    def density(self, t: Tensor | float, x: Tensor) -> Tensor:
        return self.space_time(t, x)[..., 0]

    def flux(self, t: Tensor | float, x: Tensor) -> Tensor:
        return self.space_time(t, x)[..., 1:]

    def density_and_velocity(self, t: Tensor | float, x: Tensor) -> tuple[Tensor, Tensor]:
        u = self.space_time(t, x)
        return u[..., 0], u[..., 1:] / u[..., :1]

    def velocity(self, t: Tensor | float, x: Tensor) -> Tensor:
        return self.density_and_velocity(t, x)[1]

    def forward(self, t: Tensor | float, x: Tensor) -> Tensor:
        return self.velocity(t, x)
