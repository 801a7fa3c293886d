"""A hidden-state vector field ``f(t, h, w)`` whose weights ``w`` arrive as one flat vector.

The SDE-BNN and its baselines share this trunk: the weights are an input, not parameters, so they
can follow an SDE (a path per example or one shared by the batch), be sampled from a mean-field
Gaussian, or be a plain parameter vector (the ODE net).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..nn import activation

__all__ = ["WeightedMLPField"]


class WeightedMLPField(nn.Module):
    """``f(t, h, w) = W_2 act(W_1 [h, t] + b_1) + b_2`` with ``w = [W_1, b_1, W_2, b_2]`` flattened.

    The module has no parameters of its own. The weights may be shared, ``w`` of shape ``(P,)``,
    or given per example, ``w`` of shape ``(*batch, P)`` matching ``h``'s batch dims; both go
    through the same batched ``matmul``.

    Args:
        features: size ``d`` of the hidden state ``h``.
        hidden: width ``H`` of the field's hidden layer.
        act: activation name (see :data:`ctflow.nn.ACTIVATIONS`).

    Attributes:
        n_weights: ``P = H (d + 1) + H + d H + d``.

    Examples:
        >>> field = WeightedMLPField(4, hidden=8)
        >>> w = field.initial_weights()
        >>> field(torch.tensor(0.5), torch.randn(10, 4), w).shape
        torch.Size([10, 4])
    """

    def __init__(self, features: int, hidden: int = 16, act: str = "tanh") -> None:
        super().__init__()
        for name, value in (("features", features), ("hidden", hidden)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.features, self.hidden = features, hidden
        self.act = activation(act)
        d, h = features, hidden
        self._shapes = ((h, d + 1), (h,), (d, h), (d,))
        self._sizes = tuple(math.prod(s) for s in self._shapes)
        self.n_weights = sum(self._sizes)

    def unflatten(self, w: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Split ``w`` of shape ``(*batch, P)`` into ``W_1, b_1, W_2, b_2`` with batch dims kept."""
        if w.shape[-1] != self.n_weights:
            raise ValueError(
                f"w must end in P = {self.n_weights} weights, got shape {tuple(w.shape)}"
            )
        parts = torch.split(w, self._sizes, dim=-1)
        return tuple(p.reshape(*w.shape[:-1], *s) for p, s in zip(parts, self._shapes))

    def initial_weights(self, generator: torch.Generator | None = None) -> Tensor:
        """A flat weight vector of shape ``(P,)`` drawn like ``nn.Linear``'s default init."""
        chunks = []
        for shape, fan_in in zip(self._shapes, (self.features + 1,) * 2 + (self.hidden,) * 2):
            bound = 1.0 / math.sqrt(fan_in)
            chunks.append((2 * torch.rand(math.prod(shape), generator=generator) - 1) * bound)
        return torch.cat(chunks)

    def forward(self, t: Tensor, h: Tensor, w: Tensor) -> Tensor:
        """``dh/dt``. Shapes: ``h`` ``(*batch, d)``; ``w`` ``(P,)`` or ``(*batch, P)``; ``t`` 0-d
        or broadcastable to ``batch``. Returns ``(*batch, d)``."""
        if h.shape[-1] != self.features:
            raise ValueError(f"h must end in {self.features} features, got {tuple(h.shape)}")
        if w.dim() > 1 and w.shape[:-1] != h.shape[:-1]:
            raise ValueError(
                f"per-example weights need w.shape[:-1] == h.shape[:-1], got {tuple(w.shape)} "
                f"and {tuple(h.shape)}"
            )
        w1, b1, w2, b2 = self.unflatten(w)
        t = torch.as_tensor(t, dtype=h.dtype, device=h.device).expand(h.shape[:-1])
        z = torch.cat([h, t.unsqueeze(-1)], dim=-1)
        a = self.act(torch.matmul(w1, z.unsqueeze(-1)).squeeze(-1) + b1)
        return torch.matmul(w2, a.unsqueeze(-1)).squeeze(-1) + b2
