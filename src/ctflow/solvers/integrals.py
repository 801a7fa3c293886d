"""A state ODE with running integrals that never feed back, for the fixed-step solvers to exploit.

A CNF's log-density is such an integral: ``l(t) = l(0) + int div v(s, x(s)) ds`` along the state's
path, and ``l`` never enters ``v``. An explicit Runge-Kutta step then needs the integrand only at
stages with a non-zero output weight ``b_i``; the midpoint method's first stage has ``b_1 = 0``, so
its divergence (the expensive part) is never used. Wrapped in :class:`IntegralDynamics`, the
fixed-step solvers evaluate the cheaper field there and return the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

__all__ = ["IntegralDynamics"]


class IntegralDynamics:
    """``dy/dt = field(t, y)`` with integrals ``dq_k/dt = g_k(t, y)`` that do not act on ``y``.

    Args:
        field: ``field(t, y) -> dy/dt``, shape of ``y``.
        field_and_integrands: ``(t, y) -> (dy/dt, g_1, ..., g_m)``: the field and the integrands
            at ``(t, y)``, each integrand of its integral's shape.

    Called on the tuple state ``(y, q_1, ..., q_m)`` it returns ``(dy/dt, g_1, ..., g_m)``, so every
    solver of :func:`ctflow.solvers.odeint` accepts it; the fixed-step methods (without adjoint or
    compile) also skip the integrands at stages whose weight is zero.

    Examples:
        >>> import torch
        >>> from ctflow.solvers import odeint
        >>> decay = IntegralDynamics(lambda t, y: -y, lambda t, y: (-y, y.square().sum(-1)))
        >>> y, energy = odeint(decay, (torch.ones(3, 2), torch.zeros(3)), [0.0, 1.0],
        ...                    method="midpoint", step_size=0.01)
        >>> round(float(energy[-1, 0]), 3)  # int_0^1 2 exp(-2s) ds = 1 - exp(-2)
        0.865
    """

    def __init__(
        self,
        field: Callable[[Tensor, Tensor], Tensor],
        field_and_integrands: Callable[[Tensor, Tensor], tuple[Tensor, ...]],
    ):
        if not callable(field) or not callable(field_and_integrands):
            raise TypeError("IntegralDynamics takes two callables: field and field_and_integrands")
        self.field, self.field_and_integrands = field, field_and_integrands

    def __call__(self, t: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        return tuple(self.field_and_integrands(t, state[0]))
