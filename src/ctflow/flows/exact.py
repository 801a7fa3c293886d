"""Exact marginal velocity of an isotropic Gaussian mixture on the CondOT path: a test oracle.

For data ``sum_k w_k N(m_k, s_k^2 I)`` and the path ``x_t = t x1 + (1 - t) x0``, ``x0 ~ N(0, I)``,
each component's marginal at time ``t`` is ``N(t m_k, S_k(t)^2 I)`` with
``S_k^2 = (1 - t)^2 + t^2 s_k^2``, carried by the affine velocity
``m_k + (S_k'/S_k)(x - t m_k)``. The mixture's velocity is the responsibility-weighted average of
those. A trained field can be compared with it, and guidance wrappers applied to it show their own
error with no training error on top.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["GaussianMixtureVelocity"]


class GaussianMixtureVelocity(nn.Module):
    """``v(t, x)`` of the CondOT path to ``sum_k w_k N(m_k, s_k^2 I)`` (float64 inside).

    Args:
        weights: ``(K,)`` non-negative, normalised here.
        means: ``(K, D)``.
        stds: ``(K,)`` positive.

    Shapes: ``t`` a float or 0-d, ``x (N, D)``; returns ``(N, D)`` in ``x``'s dtype.

    Examples:
        >>> field = GaussianMixtureVelocity([1.0], [[2.0, 0.0]], [0.5])
        >>> field(0.0, torch.zeros(1, 2)).tolist()      # at t = 0 every point heads to the mean
        [[2.0, 0.0]]
    """

    def __init__(self, weights, means, stds):
        super().__init__()
        w = torch.as_tensor(weights, dtype=torch.float64)
        mu = torch.as_tensor(means, dtype=torch.float64)
        sd = torch.as_tensor(stds, dtype=torch.float64)
        if mu.dim() != 2 or w.shape != mu.shape[:1] or sd.shape != w.shape:
            raise ValueError("need weights (K,), means (K, D) and stds (K,)")
        if (w < 0).any() or w.sum() <= 0 or (sd <= 0).any():
            raise ValueError("weights must be non-negative (not all 0) and stds positive")
        self.register_buffer("w", w / w.sum())
        self.register_buffer("mu", mu)
        self.register_buffer("sd", sd)

    def forward(self, t: Tensor | float, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[-1] != self.mu.shape[-1]:
            raise ValueError(f"x must be (N, {self.mu.shape[-1]}), got {tuple(x.shape)}")
        z = x.double()
        t = torch.as_tensor(t, dtype=torch.float64)
        s = ((1 - t) ** 2 + (t * self.sd) ** 2).sqrt()  # (K,)
        ds = (t * self.sd**2 - (1 - t)) / s
        diff = z[:, None, :] - t * self.mu[None]  # (N, K, D)
        log_r = self.w.log() - z.shape[-1] * s.log() - 0.5 * diff.square().sum(-1) / s**2
        resp = torch.softmax(log_r, dim=-1)
        v_k = self.mu[None] + diff * (ds / s)[None, :, None]
        return (resp[..., None] * v_k).sum(1).to(x.dtype)
