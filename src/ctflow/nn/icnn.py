"""Input-convex neural networks (Amos et al. 2017), the potentials of convex potential flows.

``z_1 = s(A_0 x + b_0)``, ``z_{l+1} = s(norm(W_l^+ z_l + A_l x + b_l))``, ``out = W_L^+ z_L + A_L x
+ b_L`` is convex in ``x`` because every ``W^+`` is non-negative, ``s`` is convex and
non-decreasing, and the per-unit normalisation has a positive scale. The partially-input-convex
variant adds ``B_l u`` with ``u = MLP(c)`` to every pre-activation: convex in ``x`` for each
context ``c``, arbitrary in ``c``. With ``context_gating`` the context also rescales what enters
each layer (after Amos et al.'s PICNN): ``A_l (x * (1 + g_l(c)))`` on the direct paths (still
affine in ``x``) and ``W_l^+ (z_l * 2 sigmoid(k_l(c)))`` on the convex ones (a non-negative gate
keeps them convex), so the context shapes the curvature, not only where it sits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .mlp import MLP

__all__ = ["ICNN", "CONVEX_ACTIVATIONS"]


def _softplus(x: Tensor) -> Tensor:
    return F.softplus(x)


def _gaussian_softplus(x: Tensor) -> Tensor:
    # x Phi(x) + phi(x): a smooth convex non-decreasing ramp (its second derivative is phi > 0)
    return x * 0.5 * (1 + torch.erf(x / math.sqrt(2))) + torch.exp(-0.5 * x * x) / math.sqrt(
        2 * math.pi
    )


CONVEX_ACTIVATIONS = {"softplus": _softplus, "gaussian_softplus": _gaussian_softplus}


class _PositiveLinear(nn.Module):
    """``W^+ z`` with ``W^+ = softplus(W) / fan_in`` (non-negative, scale independent of width)."""

    def __init__(self, fan_in: int, fan_out: int):
        super().__init__()
        # softplus(0) / fan_in ~ 0.69 / fan_in per weight: a unit of z passes on at about 0.7
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in) * 0.5)

    def forward(self, z: Tensor) -> Tensor:
        return z @ (F.softplus(self.weight) / self.weight.shape[1]).T


class _PositiveAffineNorm(nn.Module):
    """Per-unit ``exp(log_scale) * h + shift``: a positive scale keeps the layer convex."""

    def __init__(self, width: int):
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(width))
        self.shift = nn.Parameter(torch.zeros(width))

    def forward(self, h: Tensor) -> Tensor:
        return h * self.log_scale.exp() + self.shift


class ICNN(nn.Module):
    """A scalar function convex in ``x``: shape ``(*batch, features) -> (*batch,)``.

    Args:
        features: input dimension D.
        context: context size (0: a plain ICNN; > 0: partially input-convex, convex in ``x``
            for every context).
        hidden: widths of the hidden layers (at least one).
        activation: a convex non-decreasing activation, one of ``CONVEX_ACTIVATIONS``.
        context_hidden: hidden widths of the context network ``u = MLP(c)``.
        context_gating: the context also gates every layer's inputs (see the module docstring).

    Examples:
        >>> f = ICNN(2, hidden=(16, 16))
        >>> f(torch.randn(5, 2)).shape
        torch.Size([5])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        hidden: tuple[int, ...] = (64, 64),
        activation: str = "softplus",
        context_hidden: tuple[int, ...] = (32,),
        context_gating: bool = False,
    ):
        super().__init__()
        if features < 1 or context < 0:
            raise ValueError(f"need features >= 1 and context >= 0, got {features}, {context}")
        hidden = tuple(hidden)
        if not hidden or any(h < 1 for h in hidden):
            raise ValueError(f"hidden must be a non-empty tuple of positive widths, got {hidden}")
        if activation not in CONVEX_ACTIVATIONS:
            raise ValueError(
                f"activation must be convex and non-decreasing, one of "
                f"{sorted(CONVEX_ACTIVATIONS)}; got {activation!r}"
            )
        self.features, self.context = features, context
        self.act = CONVEX_ACTIVATIONS[activation]
        widths = hidden + (1,)
        # A_l x + b_l: direct (unconstrained) paths from the input into every layer
        # (the output layer has no bias: a constant changes no gradient map built on F)
        self.direct = nn.ModuleList(
            [nn.Linear(features, w, bias=i < len(widths) - 1) for i, w in enumerate(widths)]
        )
        self.positive = nn.ModuleList(
            [_PositiveLinear(a, b) for a, b in zip(widths[:-1], widths[1:])]
        )
        self.norms = nn.ModuleList([_PositiveAffineNorm(w) for w in widths[1:-1]])
        self.widths = widths
        self.context_gating = bool(context_gating and context)
        # context outputs: one bias per unit; with gating, a gate per input feature of each
        # direct path and per input unit of each convex path
        self._context_sizes = list(widths)
        if self.context_gating:
            self._context_sizes += [features] * len(widths) + list(widths[:-1])
        if context:
            self.context_net = MLP(
                context, sum(self._context_sizes), hidden=context_hidden, act="softplus"
            )

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self._run(x, c, initialize=False)

    @torch.no_grad()
    def initialize(self, x: Tensor, c: Tensor | None = None) -> None:
        """Data-dependent initialisation: each hidden pre-activation is standardised on ``x``
        (``(N, features)``, N >= 2), so the convex layers start with curvature of order one
        instead of the tiny one that small non-negative weights give."""
        if x.dim() != 2 or len(x) < 2:
            raise ValueError(
                f"initialize needs x of shape (N >= 2, features), got {tuple(x.shape)}"
            )
        self._run(x, c, initialize=True)

    def _run(self, x: Tensor, c: Tensor | None, initialize: bool) -> Tensor:
        if x.shape[-1] != self.features:
            raise ValueError(f"x must end in {self.features} features, got {tuple(x.shape)}")
        if self.context:
            if c is None:
                raise ValueError(f"this ICNN needs a context of size {self.context}")
            u = self.context_net(c).expand(*x.shape[:-1], sum(self._context_sizes))
            parts = u.split(self._context_sizes, dim=-1)
            L = len(self.widths)
            biases = parts[:L]
        else:
            biases = [0.0] * len(self.widths)
        if self.context_gating:
            inputs = [x * (1 + g) for g in parts[L : 2 * L]]
            unit_gates = [2 * torch.sigmoid(k) for k in parts[2 * L :]]
        else:
            inputs = [x] * len(self.widths)
            unit_gates = [1.0] * (len(self.widths) - 1)
        z = self.act(self.direct[0](inputs[0]) + biases[0])
        for i in range(1, len(self.widths)):
            h = self.positive[i - 1](z * unit_gates[i - 1]) + self.direct[i](inputs[i]) + biases[i]
            if i < len(self.widths) - 1:
                norm = self.norms[i - 1]
                if initialize:
                    std = h.std(0).clamp_min(1e-6)
                    norm.log_scale.copy_(-std.log())
                    norm.shift.copy_(-h.mean(0) / std)
                z = self.act(norm(h))
            else:
                z = h
        return z.squeeze(-1)
