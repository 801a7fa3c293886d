"""Continuous normalizing flows on R^D.

Time runs from ``t0`` (the base, a standard normal) to ``t1`` (the data). The log-density obeys
``d log p(x_t)/dt = -div v(t, x_t)``, so ``log p_1(x_1) = log p_0(x_0) - int div v dt``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Size, Tensor, nn
from torch.distributions import Distribution, constraints

from .._validate import check_positive, check_sample_shape
from ..ops import DIVERGENCE_METHODS, PROBES, divergence
from ..solvers import METHODS, IntegralDynamics, odeint

__all__ = ["CNF", "CNFDistribution"]


class CNF(nn.Module):
    """A continuous normalizing flow ``dx/dt = v(t, x[, c])``: ``N(0, I)`` at t0, data at t1.

    Calling the module with an optional context returns a :class:`CNFDistribution` (zuko's
    convention): ``model(c).log_prob(x)``, ``.sample(shape)``, ``.rsample(shape)`` and
    ``.rsample_and_log_prob(shape)``.

    Args:
        field: the vector field, ``field(t, x)`` or, with a context, ``field(t, x, c)``; ``x`` has
            shape ``(*batch, features)``.
        features: the data dimension ``D``.
        t0, t1: start (base) and end (data) times.
        method, atol, rtol, step_size: the ODE solver (see :func:`ctflow.solvers.odeint`).
        divergence: ``"exact"`` or ``"hutchinson"`` (unbiased, one probe per solve).
        probe: Hutchinson probe distribution, ``"rademacher"`` or ``"gaussian"``.
        adjoint: backpropagate through the solver by the adjoint method.
        options: extra torchdiffeq options for adaptive methods, e.g. ``{"max_num_steps": 10000}``.

    Examples:
        >>> from ctflow.nn import TimeMLP
        >>> flow = CNF(TimeMLP(2, hidden=(32, 32)), features=2, method="rk4", step_size=0.1)
        >>> x = flow().sample((5,))             # (5, 2)
        >>> flow().log_prob(x).shape
        torch.Size([5])
    """

    def __init__(
        self,
        field: nn.Module,
        features: int,
        *,
        t0: float = 0.0,
        t1: float = 1.0,
        method: str = "dopri5",
        atol: float = 1e-5,
        rtol: float = 1e-5,
        step_size: float | None = None,
        divergence: str = "exact",
        probe: str = "rademacher",
        adjoint: bool = False,
        options: dict | None = None,
    ):
        super().__init__()
        if not isinstance(features, int) or features < 1:
            raise ValueError(f"features must be a positive integer, got {features!r}")
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
        if divergence not in DIVERGENCE_METHODS:
            raise ValueError(
                f"unknown divergence {divergence!r}; choose one of: {', '.join(DIVERGENCE_METHODS)}"
            )
        if probe not in PROBES:
            raise ValueError(f"unknown probe {probe!r}; choose one of: {', '.join(PROBES)}")
        if not t1 > t0:
            raise ValueError(f"need t0 < t1, got t0={t0}, t1={t1}")
        atol, rtol = check_positive(atol, "atol"), check_positive(rtol, "rtol")
        if step_size is not None:
            step_size = check_positive(step_size, "step_size")
        self.field, self.features = field, features
        self.t0, self.t1 = float(t0), float(t1)
        self.solver = dict(method=method, atol=atol, rtol=rtol, step_size=step_size)
        if options:
            self.solver["options"] = dict(options)
        self.divergence, self.probe, self.adjoint = divergence, probe, adjoint
        # buffers so the base follows .to(device/dtype)
        self.register_buffer("base_loc", torch.zeros(features))
        self.register_buffer("base_scale", torch.ones(features))

    def forward(self, c: Tensor | None = None) -> CNFDistribution:
        return CNFDistribution(self, c)

    def base(self) -> Distribution:
        """The base distribution ``N(0, I)`` over ``(features,)``."""
        return torch.distributions.Independent(
            torch.distributions.Normal(self.base_loc, self.base_scale), 1
        )

    def velocity(self, t: Tensor, x: Tensor, c: Tensor | None = None) -> Tensor:
        """The field at ``(t, x)``; ``c`` is broadcast to ``x``'s batch shape."""
        return _BoundField(self.field, c)(t, x)

    def _solver_kwargs(self, c: Tensor | None) -> dict:
        """The odeint options; in adjoint mode the parameters (and a differentiable context)."""
        kwargs = dict(self.solver)
        if self.adjoint:
            params = tuple(self.parameters())
            if c is not None and c.requires_grad:
                params = (*params, c)
            kwargs.update(adjoint=True, adjoint_params=params)
        return kwargs

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

        field = _BoundField(self.field, c)

        def field_and_change(t, x):
            dx, div = divergence(field, t, x, method=self.divergence, probe=probe)
            return dx, sign * div

        # l is an integral along x's path: stages of zero weight skip the divergence
        dynamics = IntegralDynamics(field, field_and_change)
        t = torch.tensor([t_from, t_to], dtype=x.dtype, device=x.device)
        xs, ls = odeint(dynamics, state, t, **self._solver_kwargs(c))
        return xs[-1], ls[-1]

    def _check_x(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a tensor, got {type(x).__name__}")
        if x.dim() < 1 or x.shape[-1] != self.features:
            raise ValueError(f"x must have shape (..., {self.features}), got {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError("x contains NaN or inf values")


class _BoundField:
    """``v(t, x)`` with the context bound, and the field's closed-form divergence if it has one."""

    def __init__(self, field: nn.Module, c: Tensor | None):
        self.field, self.c = field, c

    def _context(self, x: Tensor) -> tuple:
        return () if self.c is None else (self.c.expand(*x.shape[:-1], self.c.shape[-1]),)

    def __call__(self, t: Tensor, x: Tensor) -> Tensor:
        return self.field(t, x, *self._context(x))

    def value_and_divergence(self, t: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        closed_form = getattr(self.field, "value_and_divergence", None)
        if closed_form is None:
            raise NotImplementedError
        return closed_form(t, x, *self._context(x))


class CNFDistribution(Distribution):
    """The distribution of a :class:`CNF` at one context (see ``CNF.forward``)."""

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, flow: CNF, c: Tensor | None = None):
        self.flow, self.c = flow, c
        batch_shape = c.shape[:-1] if c is not None else Size()
        super().__init__(batch_shape, Size((flow.features,)), validate_args=False)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact (or Hutchinson) log-density, shape ``x.shape[:-1]``; ``x`` is ``(..., D)``."""
        self.flow._check_x(x)
        zeros = torch.zeros(x.shape[:-1], dtype=x.dtype, device=x.device)
        # Backwards from data to base: a(t0) = -int_{t0}^{t1} div v dt.
        x0, delta = self.flow._integrate((x, zeros), self.c, self.flow.t1, self.flow.t0, 1.0)
        return self.flow.base().log_prob(x0) + delta

    def rsample(self, sample_shape: Sequence[int] = Size()) -> Tensor:
        """Samples ``(*sample_shape, *batch_shape, D)``, differentiable w.r.t. the parameters."""
        x0 = self._base_sample(sample_shape)
        t = torch.tensor([self.flow.t0, self.flow.t1], dtype=x0.dtype, device=x0.device)
        field = _BoundField(self.flow.field, self.c)
        return odeint(field, x0, t, **self.flow._solver_kwargs(self.c))[-1]

    def sample(self, sample_shape: Sequence[int] = Size()) -> Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)

    def rsample_and_log_prob(self, sample_shape: Sequence[int] = Size()) -> tuple[Tensor, Tensor]:
        """Samples and their log-density in one forward solve, no inversion needed.

        Returns:
            ``x`` of shape ``(*sample_shape, *batch_shape, D)`` and ``log p(x)`` of shape
            ``(*sample_shape, *batch_shape)``.
        """
        x0 = self._base_sample(sample_shape)
        logp0 = self.flow.base().log_prob(x0)
        return self.flow._integrate((x0, logp0), self.c, self.flow.t0, self.flow.t1, -1.0)

    def _base_sample(self, sample_shape: Sequence[int]) -> Tensor:
        shape = check_sample_shape(sample_shape) + self.batch_shape + self.event_shape
        loc = self.flow.base_loc
        return torch.randn(shape, dtype=loc.dtype, device=loc.device)
