"""Time-conditioned networks: vector fields ``v(t, x[, c])``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .jacobian import mlp_value_and_divergence, supports_analytic_divergence
from .mlp import MLP

__all__ = ["SinusoidalTimeEmbedding", "TimeMLP", "FlowMapMLP"]


class SinusoidalTimeEmbedding(nn.Module):
    """``t -> [sin(w_k t), cos(w_k t)]`` with geometric frequencies ``w_k`` from 1 to ``max_freq``.

    Args:
        dim: output size (even).
        max_freq: the largest angular frequency.
    """

    def __init__(self, dim: int = 16, max_freq: float = 100.0):
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"dim must be an even integer >= 2, got {dim}")
        freqs = torch.exp(torch.linspace(0.0, math.log(max_freq), dim // 2))
        self.register_buffer("freqs", freqs)
        self.dim = dim

    def forward(self, t: Tensor) -> Tensor:  # (*batch,) -> (*batch, dim)
        angles = t.unsqueeze(-1) * self.freqs.to(t.dtype)
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


class TimeMLP(nn.Module):
    """A vector field ``v(t, x, c=None)``: an MLP on ``[x, embed(t), c]``.

    Args:
        features: size of ``x`` (and of the output).
        context: size of the context ``c`` (0 for none).
        hidden: hidden widths.
        act: activation name; smooth ones (silu, softplus, tanh) suit likelihood training.
        time_embedding: ``"concat"`` (feed ``t`` itself) or ``"sinusoidal"``.
        embedding_dim: size of the sinusoidal embedding.

    Shapes: ``t`` is 0-d or broadcastable to ``x.shape[:-1]``; ``x`` is ``(*batch, features)``;
    ``c`` is ``(*batch, context)`` or broadcastable to it. Returns ``(*batch, features)``.
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        hidden: Sequence[int] = (64, 64),
        act: str = "silu",
        time_embedding: str = "concat",
        embedding_dim: int = 16,
    ):
        super().__init__()
        if time_embedding == "concat":
            self.embed, t_dim = None, 1
        elif time_embedding == "sinusoidal":
            self.embed, t_dim = SinusoidalTimeEmbedding(embedding_dim), embedding_dim
        else:
            raise ValueError(
                f"unknown time_embedding {time_embedding!r}; choose 'concat' or 'sinusoidal'"
            )
        self.features, self.context = features, context
        self.net = MLP(features + t_dim + context, features, hidden, act)
        self._analytic = supports_analytic_divergence(self.net)

    def forward(self, t: Tensor, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.net(self._inputs(t, x, c))

    def value_and_divergence(
        self, t: Tensor, x: Tensor, c: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """``(v(t, x, c), div_x v)`` in one pass without autograd (see :mod:`ctflow.nn.jacobian`).

        Shapes: ``x`` is ``(*batch, features)``; returns ``(*batch, features)`` and ``batch``.
        """
        if not self._analytic:
            raise NotImplementedError(f"no closed-form derivative for an activation of {self.net}")
        return mlp_value_and_divergence(self.net, self._inputs(t, x, c), self.features)

    def _inputs(self, t: Tensor, x: Tensor, c: Tensor | None) -> Tensor:
        if x.shape[-1] != self.features:
            raise ValueError(f"x must end in {self.features} features, got shape {tuple(x.shape)}")
        batch = x.shape[:-1]
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(batch)
        t_feat = t.unsqueeze(-1) if self.embed is None else self.embed(t)
        parts = [x, t_feat]
        if self.context:
            if c is None:
                raise ValueError(f"this field needs a context c of size {self.context}")
            parts.append(c.expand(*batch, self.context))
        elif c is not None:
            raise ValueError("this field was built with context=0 but got a context c")
        return torch.cat(parts, dim=-1)


class FlowMapMLP(nn.Module):
    """An average-velocity field ``u(s, t, x, c=None)``: an MLP on ``[x, s, t - s, c]``.

    ``x + (t - s) u(s, t, x)`` is the model's jump from time ``s`` to ``t``; ``u(t, t, x)`` is the
    instantaneous velocity. Feeding the gap ``t - s`` rather than ``t`` lets the network tell the
    instantaneous case (gap 0) apart at every ``s``.

    Args:
        features: size of ``x`` (and of the output).
        context: size of the context ``c`` (0 for none), e.g. a one-hot class.
        hidden: hidden widths.
        act: activation name (smooth ones suit the JVPs of MeanFlow training).

    Shapes: ``s`` and ``t`` are 0-d or broadcastable to ``x.shape[:-1]``; ``x`` is
    ``(*batch, features)``; ``c`` is ``(*batch, context)`` or broadcastable to it. Returns
    ``(*batch, features)``.

    Examples:
        >>> u = FlowMapMLP(2, hidden=(16,))
        >>> u(torch.tensor(0.0), torch.tensor(1.0), torch.zeros(5, 2)).shape
        torch.Size([5, 2])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        hidden: Sequence[int] = (64, 64),
        act: str = "silu",
    ):
        super().__init__()
        if isinstance(context, (tuple, list)):
            raise TypeError("context is the context size; pass hidden widths as hidden=(...)")
        self.features, self.context = features, context
        self.net = MLP(features + 2 + context, features, hidden, act)

    def forward(self, s: Tensor, t: Tensor, x: Tensor, c: Tensor | None = None) -> Tensor:
        if x.shape[-1] != self.features:
            raise ValueError(f"x must end in {self.features} features, got shape {tuple(x.shape)}")
        batch = x.shape[:-1]
        s = torch.as_tensor(s, dtype=x.dtype, device=x.device).expand(batch)
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(batch)
        parts = [x, s.unsqueeze(-1), (t - s).unsqueeze(-1)]
        if self.context:
            if c is None:
                raise ValueError(f"this field needs a context c of size {self.context}")
            parts.append(c.expand(*batch, self.context))
        elif c is not None:
            raise ValueError("this field was built with context=0 but got a context c")
        return self.net(torch.cat(parts, dim=-1))
