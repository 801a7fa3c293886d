"""Guidance as field wrappers: classifier-free guidance, and guidance by a differentiable reward.

A field trained with its context sometimes replaced by a null context learns both
``v(t, x | c)`` and ``v(t, x | null)``. Guidance with scale ``w`` samples with

    v_w(t, x | c) = v(t, x | null) + w (v(t, x | c) - v(t, x | null)),

``w = 1`` the conditional field, ``w = 0`` the unconditional one, ``w > 1`` sharper classes.
The wrapper is itself a conditional field, so the solvers and :class:`ctflow.flows.CNF` take it
as they take the field.

Reward guidance aims at the tilted target ``q(x1) ~ p(x1) exp(lambda r(x1))``. Its marginal
score is ``grad log p_t + grad_x log E[exp(lambda r(x1)) | x_t = x]``; replacing the expectation by
``exp(lambda r(x1_hat))`` at the posterior mean ``x1_hat = E[x1 | x_t]`` (read off the velocity)
gives the guided velocity

    v_lambda(t, x) = v(t, x) + lambda b(t) grad_x r(x1_hat(t, x)),

with ``b(t)`` the score's coefficient in the velocity of an affine path. For Gaussian data and a
linear reward this is exact (the posterior of ``x1`` is Gaussian with a covariance that does not
depend on ``x``); for anything else it is an approximation, measured in
``docs/results/flow-matching.md``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch  # noqa: F401  (the doctests' namespace)
from torch import Tensor, nn

from .._validate import check_real
from ..paths import AffineGaussianPath

__all__ = [
    "ClassifierFreeGuidance",
    "DiscreteClassifierFreeGuidance",
    "RewardGuidance",
    "cfg_field",
]


class ClassifierFreeGuidance(nn.Module):
    """``v(t, x | null) + scale * (v(t, x | c) - v(t, x | null))`` for a conditional field.

    Args:
        field: ``field(t, x, c)``, trained with the null context among its contexts.
        scale: the guidance scale ``w`` (finite).
        null: the null context, shape ``(k,)``; it is broadcast to every row of ``c``.

    Shapes: ``forward(t, x, c)`` takes ``x (*batch, D)`` and ``c (*batch, k)`` and returns
    ``(*batch, D)``; ``t`` is whatever the wrapped field accepts.

    Examples:
        >>> from ctflow.flows import CNF
        >>> from ctflow.nn import TimeMLP
        >>> null = torch.tensor([0.0, 0.0, 1.0])                  # labels 0, 1 and the null class
        >>> guided = ClassifierFreeGuidance(TimeMLP(2, context=3), 2.0, null)
        >>> c = torch.tensor([[1.0, 0.0, 0.0]]).expand(5, 3)      # five samples of class 0
        >>> CNF(guided, 2, method="rk4", step_size=0.25)(c).sample().shape
        torch.Size([5, 2])
    """

    def __init__(self, field: nn.Module, scale: float, null: Tensor):
        super().__init__()
        _init_guidance(self, field, scale, null)
        self.field = field

    def forward(self, t: Tensor | float, x: Tensor, c: Tensor) -> Tensor:
        _check_context(c, self.null)
        if self.scale == 1.0:
            return self.field(t, x, c)
        null = self.null.to(c).expand(c.shape)
        v_null = self.field(t, x, null)
        if self.scale == 0.0:
            return v_null
        return v_null + self.scale * (self.field(t, x, c) - v_null)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class DiscreteClassifierFreeGuidance(nn.Module):
    """``scale * log p(. | x_t, c) + (1 - scale) * log p(. | x_t, null)`` for a conditional model.

    The result is a geometric mixture of the two posteriors;
    :func:`ctflow.flows.discrete_sample` normalises it per position. ``scale = 1`` is the
    conditional model, ``0`` the unconditional one, and ``scale > 1`` sharpens the condition.
    It aims at ``p(x | c)^w p(x)^(1-w)``; the factorised posteriors make that an approximation,
    measured in ``docs/results/conditional.md``.

    Args:
        model: ``model(t, x_t, c) -> (batch, L, V)``, trained with the null context among its
            contexts.
        scale: the guidance scale ``w``.
        null: the null context, shape ``(k,)``.

    Shapes: ``forward(t, x_t, c)`` with ``x_t (batch, L)`` and ``c (batch, k)`` returns
    ``(batch, L, V)`` log-weights.
    """

    def __init__(self, model: nn.Module, scale: float, null: Tensor):
        super().__init__()
        _init_guidance(self, model, scale, null)
        self.model = model

    def forward(self, t: Tensor, x_t: Tensor, c: Tensor) -> Tensor:
        _check_context(c, self.null)
        cond = torch.log_softmax(self.model(t, x_t, c), -1)
        if self.scale == 1.0:
            return cond
        null = torch.log_softmax(self.model(t, x_t, self.null.to(c).expand(c.shape)), -1)
        return self.scale * cond + (1 - self.scale) * null

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


def _init_guidance(wrapper: nn.Module, model: object, scale: float, null: Tensor) -> None:
    """The checks and state both classifier-free wrappers share: scale and null context."""
    if not callable(model):
        raise TypeError(
            f"the wrapped model must be callable as model(t, x, c), got {type(model).__name__}"
        )
    if not isinstance(null, Tensor) or null.dim() != 1:
        raise ValueError("null must be a context vector of shape (k,)")
    wrapper.scale = check_real(scale, "scale")
    wrapper.register_buffer("null", null.detach().clone())


def _check_context(c: object, null: Tensor) -> None:
    if not isinstance(c, Tensor) or c.shape[-1:] != null.shape:
        shape = tuple(c.shape) if isinstance(c, Tensor) else type(c).__name__
        raise ValueError(f"c must have shape (*batch, {len(null)}), got {shape}")


class RewardGuidance(nn.Module):
    """``v(t, x) + scale * b(t) * grad_x r(x1_hat(t, x))``: steer a field towards high reward.

    Args:
        field: the velocity ``field(t, x)`` (or ``field(t, x, c)``), trained on ``path``.
        path: the affine path the field was trained on; it gives ``x1_hat`` from the velocity
            and the score coefficient ``b(t)``.
        reward: a differentiable ``r(x1)`` returning one value per row, shape ``(*batch,)``.
        scale: ``lambda`` of the tilt ``exp(lambda r)`` (finite).
        t_min: below this time ``b(t)`` is infinite at ``t = 0`` for paths with ``alpha(0) = 0``;
            the guidance term is evaluated at ``max(t, t_min)`` there (its limit is finite).

    Shapes: ``forward(t, x[, c])`` takes ``x (*batch, D)`` and returns ``(*batch, D)``. The
    guidance term is computed with its own autograd pass (also under ``torch.no_grad``) and
    carries no gradient to the field's parameters.

    Examples:
        >>> from ctflow.nn import TimeMLP
        >>> from ctflow.paths import CondOTPath
        >>> guided = RewardGuidance(TimeMLP(2), CondOTPath(), lambda x: x[..., 0], scale=1.0)
        >>> guided(torch.tensor(0.5), torch.zeros(4, 2)).shape
        torch.Size([4, 2])
    """

    def __init__(
        self,
        field: nn.Module,
        path: AffineGaussianPath,
        reward,
        scale: float,
        t_min: float = 1e-3,
    ):
        super().__init__()
        if not callable(field) or not callable(reward):
            raise TypeError("field and reward must be callable")
        if not isinstance(path, AffineGaussianPath):
            raise TypeError(f"path must be an affine Gaussian path, got {type(path).__name__}")
        if not 0.0 < t_min < 1.0:
            raise ValueError(f"t_min must lie in (0, 1), got {t_min}")
        self.field, self.path, self.reward = field, path, reward
        self.scale, self.t_min = check_real(scale, "scale"), t_min

    def forward(self, t: Tensor | float, x: Tensor, *context: Tensor) -> Tensor:
        v = self.field(t, x, *context)
        if self.scale == 0.0:
            return v
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        t_eff = t.clamp_min(self.t_min)
        with torch.enable_grad():
            x_ = x.detach().requires_grad_(True)
            v_ = self.field(t_eff, x_, *context)
            x1_hat = self.path.x1_from_velocity(x_, v_, t_eff)
            r = self.reward(x1_hat)
            if r.shape != x.shape[:-1]:
                raise ValueError(
                    f"reward must return one value per row, shape {tuple(x.shape[:-1])}, "
                    f"got {tuple(r.shape)}"
                )
            (grad,) = torch.autograd.grad(r.sum(), x_)
        # b(t) grad: the velocity that a score of `grad` adds at x = 0
        push = self.path.velocity_from_score(torch.zeros_like(x), grad, t_eff)
        return v + self.scale * push

    def extra_repr(self) -> str:
        return f"scale={self.scale}, t_min={self.t_min}"


def cfg_field(
    field: nn.Module, scale: float, null: Tensor, context: Tensor
) -> Callable[[Tensor, Tensor], Tensor]:
    """``v(t, x | null) + scale (v(t, x | c) - v(t, x | null))`` with ``c`` fixed, as ``f(t, x)``.

    Args:
        field: conditional field ``field(t, x, c)`` trained with the null context.
        scale: guidance scale ``w`` (0: unconditional, 1: conditional).
        null: the null context ``(k,)``.
        context: the contexts ``(N, k)``, one per row of the states to integrate.

    Returns:
        ``f(t, x)`` for ``x (N, D)``, returning ``(N, D)``, for :func:`ctflow.solvers.odeint`.
    """
    guided = ClassifierFreeGuidance(field, scale, null)
    return lambda t, x: guided(t, x, context)
