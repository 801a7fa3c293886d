"""What every ODE flow shares: solver options, the joint ``[x, log p]`` solve, input checks, and
the distribution object (``log_prob``, ``sample``, ``rsample``, ``rsample_and_log_prob``).

A flow transports a base distribution at ``t0`` to the data at ``t1`` along ``dx/dt = v(t, x)``;
the log-density obeys ``d log p(x_t)/dt = -div v(t, x_t)``. Subclasses say what the base is,
which field to integrate (with a context bound, for instance) and which extra solver arguments
they need (a manifold to stay on, adjoint parameters): :class:`~ctflow.flows.CNF` on ``R^D``,
:class:`~ctflow.flows.RiemannianCNF` on compact manifolds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Size, Tensor, nn
from torch.distributions import Distribution, constraints

from .._validate import check_positive, check_sample_shape
from ..ops import PROBES, check_divergence_choice, divergence
from ..solvers import METHODS, IntegralDynamics, odeint

__all__ = ["ODEFlow", "ODEFlowDistribution"]


class ODEFlow(nn.Module):
    """The base of ODE flows (see the module docstring). Not used on its own.

    Args:
        field: the vector field.
        t0, t1: base and data times.
        method, atol, rtol, step_size, options: the solver (see :func:`ctflow.solvers.odeint`).
        divergence: ``"exact"`` or ``"hutchinson"`` (unbiased, one probe per solve).
        probe: Hutchinson probe distribution, ``"rademacher"`` or ``"gaussian"``.
    """

    def __init__(
        self,
        field: nn.Module,
        *,
        t0: float,
        t1: float,
        method: str,
        atol: float,
        rtol: float,
        step_size: float | None,
        divergence: str,
        probe: str,
        options: dict | None,
    ):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
        check_divergence_choice(divergence, probe)
        if not t1 > t0:
            raise ValueError(f"need t0 < t1, got t0={t0}, t1={t1}")
        atol, rtol = check_positive(atol, "atol"), check_positive(rtol, "rtol")
        if step_size is not None:
            step_size = check_positive(step_size, "step_size")
        self.field = field
        self.t0, self.t1 = float(t0), float(t1)
        self.solver = dict(method=method, atol=atol, rtol=rtol, step_size=step_size)
        if options:
            self.solver["options"] = dict(options)
        self.divergence, self.probe = divergence, probe

    # ---- what a subclass provides ------------------------------------------------------------
    event_size: int  # the last axis of a point

    def _field(self, c: Tensor | None) -> Callable[[Tensor, Tensor], Tensor]:
        """The field ``(t, x) -> v`` integrated at context ``c``."""
        raise NotImplementedError

    def _odeint_kwargs(self, c: Tensor | None) -> dict:
        """Keyword arguments of :func:`odeint` for a solve at context ``c``."""
        raise NotImplementedError

    def _base_log_prob(self, x0: Tensor) -> Tensor:
        raise NotImplementedError

    def _base_sample(self, shape: Size) -> Tensor:
        """Base draws of shape ``(*shape, event_size)``."""
        raise NotImplementedError

    # ---- shared ------------------------------------------------------------------------------
    def _integrate(
        self,
        state: tuple[Tensor, Tensor],
        c: Tensor | None,
        t_from: float,
        t_to: float,
        sign: float,
    ) -> tuple[Tensor, Tensor]:
        """Solve ``[x, l]`` with ``dl/dt = sign * div v`` from ``t_from`` to ``t_to``."""
        x = state[0]
        if x.dim() == 1:  # one unbatched point: odeint refuses the 0-d ``l``, so add a batch axis
            x_end, l_end = self._integrate(
                (x.unsqueeze(0), state[1].unsqueeze(0)),
                None if c is None else c.reshape(1, -1),
                t_from,
                t_to,
                sign,
            )
            return x_end.squeeze(0), l_end.squeeze(0)
        probe = PROBES[self.probe](x) if self.divergence == "hutchinson" else None
        field = self._field(c)

        def field_and_change(t, x):
            dx, div = divergence(field, t, x, method=self.divergence, probe=probe)
            return dx, sign * div

        # l is an integral along x's path: stages of zero weight skip the divergence
        dynamics = IntegralDynamics(field, field_and_change)
        t = torch.tensor([t_from, t_to], dtype=x.dtype, device=x.device)
        xs, ls = odeint(dynamics, state, t, **self._odeint_kwargs(c))
        return xs[-1], ls[-1]

    def _check_x(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a tensor, got {type(x).__name__}")
        d = self.event_size
        if x.dim() < 1 or x.shape[-1] != d:
            raise ValueError(f"x must have shape (..., {d}), got {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError("x contains NaN or inf values")


class ODEFlowDistribution(Distribution):
    """The distribution of an :class:`ODEFlow` at one context (``None`` for none)."""

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, flow: ODEFlow, c: Tensor | None = None):
        self.flow, self.c = flow, c
        batch_shape = c.shape[:-1] if c is not None else Size()
        super().__init__(batch_shape, Size((flow.event_size,)), validate_args=False)

    def log_prob(self, x: Tensor) -> Tensor:
        """The log-density, shape ``x.shape[:-1]``; ``x`` is ``(..., event_size)``.

        Integrates ``(x, delta)`` from ``t1`` back to ``t0`` with ``d delta/dt = div v``:
        ``log p_1(x) = log p_0(x_0) + delta(t0)``.
        """
        self.flow._check_x(x)
        zeros = torch.zeros(x.shape[:-1], dtype=x.dtype, device=x.device)
        x0, delta = self.flow._integrate((x, zeros), self.c, self.flow.t1, self.flow.t0, 1.0)
        return self.flow._base_log_prob(x0) + delta

    def rsample(self, sample_shape: Sequence[int] = Size()) -> Tensor:
        """Samples ``(*sample_shape, *batch_shape, event_size)``, differentiable in the field."""
        x0 = self._base_sample(sample_shape)
        t = torch.tensor([self.flow.t0, self.flow.t1], dtype=x0.dtype, device=x0.device)
        return odeint(self.flow._field(self.c), x0, t, **self.flow._odeint_kwargs(self.c))[-1]

    def sample(self, sample_shape: Sequence[int] = Size()) -> Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)

    def rsample_and_log_prob(self, sample_shape: Sequence[int] = Size()) -> tuple[Tensor, Tensor]:
        """Samples and their log-density in one forward solve, no inversion needed.

        Returns:
            ``x`` of shape ``(*sample_shape, *batch_shape, event_size)`` and ``log p(x)`` of
            shape ``(*sample_shape, *batch_shape)``.
        """
        x0 = self._base_sample(sample_shape)
        logp0 = self.flow._base_log_prob(x0)
        return self.flow._integrate((x0, logp0), self.c, self.flow.t0, self.flow.t1, -1.0)

    def _base_sample(self, sample_shape: Sequence[int]) -> Tensor:
        return self.flow._base_sample(check_sample_shape(sample_shape) + self.batch_shape)
