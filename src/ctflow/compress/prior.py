"""The Ornstein-Uhlenbeck prior over kept latents and the keep-decision hazard.

A latent coordinate follows ``dz = -theta z dt + sigma dW``. Its stationary law is
``N(0, sigma^2 / (2 theta))`` (the first kept latent of a sequence is coded under it) and its
transition over a gap ``dt`` is ``N(z e^{-theta dt}, sigma^2 (1 - e^{-2 theta dt}) / (2 theta))``
(every later kept latent is coded given the previous kept one). Latents are in units of the
quantisation bin, so a coded symbol is an integer and its probability is the Gaussian mass of
its unit bin.

The entropy coder and its decoder compute these parameters with :func:`ou_params_numpy`, in
float64 numpy, elementwise: the same inputs give bit-identical parameters on both sides and for
any batch size. Training uses the torch twin :func:`ou_params` and the bin mass
:func:`bin_bits`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["MIN_STD", "ou_params", "ou_params_numpy", "bin_bits", "bernoulli_bits"]

MIN_STD = 0.05  # floor on a coded std (bins), applied identically by coder and decoder


def ou_params(
    z_prev: torch.Tensor | None, dt: torch.Tensor | None, theta: torch.Tensor, sigma: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of the OU law of the next latent (torch, differentiable).

    Args:
        z_prev: previous kept latent ``(..., d)``, or None for the stationary law.
        dt: gap to it ``(...)``, or None.
        theta, sigma: positive rates and noise scales ``(d,)``.

    Returns:
        ``(mean, std)``, broadcast to ``(..., d)``; std is floored at :data:`MIN_STD`.
    """
    if z_prev is None:
        std = sigma / torch.sqrt(2 * theta)
        return torch.zeros_like(std), std.clamp_min(MIN_STD)
    decay = torch.exp(-theta * dt.unsqueeze(-1))
    var = sigma**2 * (-torch.expm1(-2 * theta * dt.unsqueeze(-1))) / (2 * theta)
    return z_prev * decay, var.clamp_min(1e-12).sqrt().clamp_min(MIN_STD)


def ou_params_numpy(
    z_prev: np.ndarray | None, dt: np.ndarray | None, theta: np.ndarray, sigma: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ou_params` in float64 numpy: what the bitstream coder and decoder use."""
    theta = np.asarray(theta, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if z_prev is None:
        std = sigma / np.sqrt(2 * theta)
        return np.zeros_like(std), np.maximum(std, MIN_STD)
    z_prev = np.asarray(z_prev, dtype=np.float64)
    dt = np.asarray(dt, dtype=np.float64)[..., None]
    mean = z_prev * np.exp(-theta * dt)
    var = sigma**2 * (-np.expm1(-2 * theta * dt)) / (2 * theta)
    return mean, np.maximum(np.sqrt(np.maximum(var, 0.0)), MIN_STD)


def bin_bits(y: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """``-log2`` of the Gaussian mass of the unit bin around ``y``, elementwise.

    The mass is floored at ``2^-24``, the least probability the range coder gives any symbol
    (``constriction``'s leaky quantiser at 24-bit precision), so a far-off value costs at most
    24 bits, as it does in the real bitstream.
    """
    upper = (y + 0.5 - mean) / (std * math.sqrt(2))
    lower = (y - 0.5 - mean) / (std * math.sqrt(2))
    # Phi(u) - Phi(l), computed on the side of the mean where the erfc difference is accurate
    right = lower > 0
    mass = torch.where(
        right,
        0.5 * (torch.erfc(lower) - torch.erfc(upper)),
        0.5 * (torch.erfc(-upper) - torch.erfc(-lower)),
    )
    return -torch.log2(mass.clamp_min(2.0**-24))


def bernoulli_bits(keep: torch.Tensor, logit: torch.Tensor) -> torch.Tensor:
    """``-log2 P(keep)`` under ``Bernoulli(sigmoid(logit))``; ``keep`` may be soft."""
    return (
        keep * torch.nn.functional.softplus(-logit)
        + (1 - keep) * torch.nn.functional.softplus(logit)
    ) / math.log(2)
