"""Exact fields and posteriors of known targets, as oracles for trained models and guidance.

``GaussianMixtureVelocity``: the exact marginal velocity of an isotropic Gaussian mixture on the
CondOT path. ``ExactMaskedPosterior``: the exact posterior of a known law of token sequences on
a mask-source mixture path.

The mixture velocity:

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

__all__ = ["ExactMaskedPosterior", "GaussianMixtureVelocity"]


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


class ExactMaskedPosterior(nn.Module):
    """Exact posterior logits ``log p(x1^i | x_t)`` on a mask-source path, for a known law.

    With a mask source the posterior does not depend on ``t``: it is the law restricted to the
    sequences that agree with every unmasked token of ``x_t``, marginalised per position. This
    enumerates them, so keep the support small (a test oracle for samplers and guidance).

    Args:
        states: ``(n, L)`` long, every sequence of the support.
        laws: ``(n,)`` probabilities, or ``(m, n)`` for ``m`` classes; with classes the model
            reads a context ``c (batch, m)`` and uses the law of ``argmax c``.
        vocab_size: ``V`` (the mask token is ``V``).

    Shapes: ``forward(t, x_t[, c])`` with ``x_t (batch, L)`` returns ``(batch, L, V)`` float64.
    """

    def __init__(self, states: Tensor, laws: Tensor, vocab_size: int):
        super().__init__()
        if states.dim() != 2 or laws.shape[-1] != states.shape[0] or laws.dim() > 2:
            raise ValueError("need states (n, L) and laws (n,) or (m, n)")
        self.vocab_size = vocab_size
        self.register_buffer("states", states.long())
        self.register_buffer("laws", laws.double())

    def forward(self, t: Tensor, x_t: Tensor, c: Tensor | None = None) -> Tensor:
        if self.laws.dim() == 2:
            if c is None:
                raise ValueError("these laws are per class: pass a context c (batch, classes)")
            law = self.laws[c.argmax(-1)]  # (batch, n)
        else:
            law = self.laws.expand(x_t.shape[0], -1)
        agrees = (x_t[:, None, :] == self.states[None]) | (x_t == self.vocab_size)[:, None, :]
        w = law * agrees.all(-1)
        w = w / w.sum(-1, keepdim=True).clamp_min(1e-300)
        onehot = nn.functional.one_hot(self.states, self.vocab_size).double()
        return torch.einsum("bn,nlv->blv", w, onehot).clamp_min(1e-300).log()
