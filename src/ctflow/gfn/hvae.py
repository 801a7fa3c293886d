"""A hierarchical VAE as a GFlowNet: ``P_F`` the prior and decoder chain, ``P_B`` the encoder.

States ``s_1 = z_L, ..., s_L = z_1, s_{L+1} = x``. ``P_F(z_L) = N(0, I)``, ``P_F(z_{l-1} | z_l)``
and ``P_F(x | z_1)`` are diagonal Gaussians; ``P_B(z_1 | x)`` and ``P_B(z_{l+1} | z_l)`` are the
bottom-up (Markov) encoder. ``log P_F(tau) - log P_B(tau | x)`` is the VAE's ELBO summand.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from ..nn import MLP
from .chain import MarkovChainGFN

__all__ = ["GaussianLayer", "HierarchicalVAEGFN"]


class GaussianLayer(nn.Module):
    """``s -> N(mean(s), diag(exp(2 log_std(s))))``; ``hidden=()`` makes both maps affine."""

    def __init__(self, in_features: int, out_features: int, hidden: Sequence[int] = (64,)):
        super().__init__()
        self.out_features = out_features
        self.net = MLP(in_features, 2 * out_features, tuple(hidden), "silu")

    def forward(self, s: Tensor) -> Independent:
        mean, log_std = self.net(s).chunk(2, -1)
        return Independent(Normal(mean, log_std.exp()), 1)


class HierarchicalVAEGFN(MarkovChainGFN):
    """A hierarchical VAE with latents of sizes ``latents = (d_L, ..., d_1)`` over ``x`` in
    ``R^features``.

    Args:
        features: data size.
        latents: latent sizes from the top (``z_L``) down to ``z_1``.
        hidden: hidden widths of every Gaussian layer; ``()`` for a linear-Gaussian model.
    """

    def __init__(self, features: int, latents: Sequence[int], hidden: Sequence[int] = (64,)):
        super().__init__()
        latents = tuple(latents)
        if not latents or min(latents) < 1 or features < 1:
            raise ValueError(f"need features >= 1 and latent sizes >= 1, got {latents}")
        self.features, self.latents = features, latents
        sizes = latents + (features,)
        self.n_transitions = len(latents)
        self.decoders = nn.ModuleList(
            GaussianLayer(a, b, hidden) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.encoders = nn.ModuleList(
            GaussianLayer(b, a, hidden) for a, b in zip(sizes[:-1], sizes[1:])
        )

    def initial(self):
        weight = self.decoders[0].net[0].weight
        zero = torch.zeros(self.latents[0], device=weight.device, dtype=weight.dtype)
        return Independent(Normal(zero, torch.ones_like(zero)), 1)

    def forward_kernel(self, i: int, s: Tensor):
        return self.decoders[i - 1](s)

    def backward_kernel(self, i: int, s_next: Tensor):
        return self.encoders[i - 1](s_next)
