"""Classifier-free guidance as a field wrapper, for any conditional field.

A field trained with its context sometimes replaced by a null context learns both
``v(t, x | c)`` and ``v(t, x | null)``. Guidance with scale ``w`` samples with

    v_w(t, x | c) = v(t, x | null) + w (v(t, x | c) - v(t, x | null)),

``w = 1`` the conditional field, ``w = 0`` the unconditional one, ``w > 1`` sharper classes.
The wrapper is itself a conditional field, so the solvers and :class:`ctflow.flows.CNF` take it
as they take the field.
"""

from __future__ import annotations

import torch  # noqa: F401  (the doctests' namespace)
from torch import Tensor, nn

from .._validate import check_real

__all__ = ["ClassifierFreeGuidance"]


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
        if not callable(field):
            raise TypeError(f"field must be callable as field(t, x, c), got {type(field).__name__}")
        if not isinstance(null, Tensor) or null.dim() != 1:
            raise ValueError("null must be a context vector of shape (k,)")
        self.field, self.scale = field, check_real(scale, "scale")
        self.register_buffer("null", null.detach().clone())

    def forward(self, t: Tensor | float, x: Tensor, c: Tensor) -> Tensor:
        if not isinstance(c, Tensor) or c.shape[-1:] != self.null.shape:
            shape = tuple(c.shape) if isinstance(c, Tensor) else type(c).__name__
            raise ValueError(f"c must have shape (*batch, {len(self.null)}), got {shape}")
        if self.scale == 1.0:
            return self.field(t, x, c)
        null = self.null.to(c).expand(c.shape)
        v_null = self.field(t, x, null)
        if self.scale == 0.0:
            return v_null
        return v_null + self.scale * (self.field(t, x, c) - v_null)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"
