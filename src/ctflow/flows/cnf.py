"""Continuous normalizing flows on R^D.

Time runs from ``t0`` (the base, a standard normal) to ``t1`` (the data). The log-density obeys
``d log p(x_t)/dt = -div v(t, x_t)``, so ``log p_1(x_1) = log p_0(x_0) - int div v dt``.
"""

from __future__ import annotations

import torch
from torch import Size, Tensor, nn
from torch.distributions import Distribution

from .ode_flow import ODEFlow, ODEFlowDistribution

__all__ = ["CNF", "CNFDistribution"]


class CNF(ODEFlow):
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
        if not isinstance(features, int) or features < 1:
            raise ValueError(f"features must be a positive integer, got {features!r}")
        super().__init__(field, t0=t0, t1=t1, method=method, atol=atol, rtol=rtol,
                         step_size=step_size, divergence=divergence, probe=probe,
                         options=options)  # fmt: skip
        self.features = self.event_size = features
        self.adjoint = adjoint
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

    def _field(self, c: Tensor | None) -> _BoundField:
        return _BoundField(self.field, c)

    def _odeint_kwargs(self, c: Tensor | None) -> dict:
        """The solver options; in adjoint mode the parameters (and a differentiable context)."""
        kwargs = dict(self.solver)
        if self.adjoint:
            params = tuple(self.parameters())
            if c is not None and c.requires_grad:
                params = (*params, c)
            kwargs.update(adjoint=True, adjoint_params=params)
        return kwargs

    def _base_log_prob(self, x0: Tensor) -> Tensor:
        return self.base().log_prob(x0)

    def _base_sample(self, shape: Size) -> Tensor:
        loc = self.base_loc
        return torch.randn(shape + Size((self.features,)), dtype=loc.dtype, device=loc.device)


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


class CNFDistribution(ODEFlowDistribution):
    """The distribution of a :class:`CNF` at one context (see ``CNF.forward``): ``log_prob``,
    ``sample``, ``rsample`` and ``rsample_and_log_prob`` (see
    :class:`~ctflow.flows.ode_flow.ODEFlowDistribution`)."""
