"""The SDE-BNN's approximate posterior drift over the flat weight vector."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..nn import MLP

__all__ = ["WeightPosteriorDrift"]


class WeightPosteriorDrift(nn.Module):
    """``f_q(t, w) = -w + g_phi([w, t])``: the OU prior's drift plus a time-conditioned
    hypernetwork ``g_phi`` over the whole weight vector.

    ``g_phi``'s last layer starts at zero, so the posterior starts equal to the prior and the
    Girsanov KL starts at zero.

    Args:
        n_weights: ``P``, the size of ``w``.
        hidden: hidden widths of ``g_phi``.
        act: its activation.

    Shapes: ``w`` is ``(*batch, P)`` (``batch`` may be empty); ``t`` is 0-d or broadcastable to
    ``batch``. Returns ``(*batch, P)``.

    Examples:
        >>> drift = WeightPosteriorDrift(5)
        >>> w = torch.randn(3, 5)
        >>> torch.equal(drift(torch.tensor(0.3), w), -w)
        True
    """

    def __init__(self, n_weights: int, hidden: tuple[int, ...] = (32,), act: str = "tanh") -> None:
        super().__init__()
        self.n_weights = n_weights
        self.net = MLP(n_weights + 1, n_weights, hidden=hidden, act=act)
        last = self.net[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, t: Tensor, w: Tensor) -> Tensor:
        t = torch.as_tensor(t, dtype=w.dtype, device=w.device).expand(w.shape[:-1])
        return -w + self.net(torch.cat([w, t.unsqueeze(-1)], dim=-1))
