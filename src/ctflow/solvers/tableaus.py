"""Explicit Runge-Kutta tableaus as plain data.

A tableau fixes a method: stage times ``c``, stage coefficients ``a`` (lower triangular) and the
output weights ``b``. The native fixed-step stepper in :mod:`ctflow.solvers.fixed_grid` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ButcherTableau", "FIXED_STEP_TABLEAUS", "EULER", "MIDPOINT", "HEUN", "RK4"]


@dataclass(frozen=True)
class ButcherTableau:
    """An explicit Runge-Kutta method.

    Attributes:
        name: the method's name, as passed to ``odeint(method=...)``.
        order: its global order of accuracy.
        c: stage times, as fractions of the step, length ``s``.
        a: row ``i`` holds the coefficients of stages ``0..i-1`` used by stage ``i``.
        b: weights of the ``s`` stages in the update.
    """

    name: str
    order: int
    c: tuple[float, ...]
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]

    @property
    def stages(self) -> int:
        """Function evaluations per step."""
        return len(self.b)


EULER = ButcherTableau("euler", 1, c=(0.0,), a=((),), b=(1.0,))
MIDPOINT = ButcherTableau("midpoint", 2, c=(0.0, 0.5), a=((), (0.5,)), b=(0.0, 1.0))
# Heun's method: the explicit trapezoidal rule.
HEUN = ButcherTableau("heun", 2, c=(0.0, 1.0), a=((), (1.0,)), b=(0.5, 0.5))
RK4 = ButcherTableau(
    "rk4",
    4,
    c=(0.0, 0.5, 0.5, 1.0),
    a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
    b=(1 / 6, 1 / 3, 1 / 3, 1 / 6),
)

FIXED_STEP_TABLEAUS: dict[str, ButcherTableau] = {t.name: t for t in (EULER, MIDPOINT, HEUN, RK4)}
