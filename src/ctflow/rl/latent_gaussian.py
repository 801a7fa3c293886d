"""The latent linear-Gaussian policy ``z ~ N(0, 1)``, ``a | z ~ N(slope z, noise^2)``: a policy
whose marginal entropy is known in closed form, to check SMAC's K-particle entropy bound.

The marginal is ``a ~ N(0, slope^2 + noise^2)``. SMAC estimates ``H[a]`` by
``-E log (1/(K+1)) sum_k pi(a | z_k)`` with ``z_0`` the latent that drew ``a`` and ``z_1..z_K``
fresh; that lower-bounds ``H[a]``, equals ``H[a | z]`` at ``K = 0`` and rises to ``H[a]``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .estimators import marginal_log_prob

__all__ = [
    "linear_gaussian_conditional_entropy",
    "linear_gaussian_entropy",
    "linear_gaussian_log_prob",
    "particle_entropy_bound",
]


def linear_gaussian_entropy(slope: float, noise: float) -> float:
    """Marginal entropy ``H[a] = 0.5 log(2 pi e (slope^2 + noise^2))`` in nats.

    Examples:
        >>> round(linear_gaussian_entropy(0.0, 1.0), 4)  # a standard normal
        1.4189
    """
    return 0.5 * math.log(2 * math.pi * math.e * (slope**2 + noise**2))


def linear_gaussian_conditional_entropy(noise: float) -> float:
    """Conditional entropy ``H[a | z] = 0.5 log(2 pi e noise^2)`` in nats (the ``K = 0`` bound).

    Examples:
        >>> round(linear_gaussian_conditional_entropy(1.0), 4)
        1.4189
    """
    return 0.5 * math.log(2 * math.pi * math.e * noise**2)


def linear_gaussian_log_prob(a: Tensor, z: Tensor, slope: float, noise: float) -> Tensor:
    """``log N(a; slope z, noise^2)``, broadcast over ``a`` and ``z`` (any matching shapes)."""
    return -0.5 * ((a - slope * z) / noise) ** 2 - math.log(noise) - 0.5 * math.log(2 * math.pi)


def particle_entropy_bound(
    particles: int,
    samples: int,
    generator: torch.Generator,
    slope: float,
    noise: float,
    chunk: int = 20_000,
) -> tuple[float, float]:
    """Monte Carlo SMAC entropy bound with ``particles`` extra latents (float64).

    Args:
        particles: ``K >= 0``, the latents beside the one that drew the action.
        samples: Monte Carlo draws of ``(z_0, a, z_1..z_K)`` (``>= 2``).
        generator: Random stream (CPU).
        slope: ``a | z ~ N(slope z, noise^2)``.
        noise: See ``slope`` (``> 0``).
        chunk: Draws per batch (memory ``chunk x (K + 1)``).

    Returns:
        ``(mean, stderr)`` of ``-log (1/(K+1)) sum_k pi(a | z_k)`` over the draws.

    Raises:
        ValueError: On negative ``particles``, ``samples < 2``, ``chunk < 1`` or ``noise <= 0``.
    """
    if particles < 0 or samples < 2 or chunk < 1 or not noise > 0:
        raise ValueError(
            f"need particles >= 0, samples >= 2, chunk >= 1, noise > 0; got {particles}, "
            f"{samples}, {chunk}, {noise}"
        )
    values = []
    for start in range(0, samples, chunk):
        n = min(chunk, samples - start)
        z = torch.randn(n, particles + 1, generator=generator, dtype=torch.float64)
        a = slope * z[:, 0] + noise * torch.randn(n, generator=generator, dtype=torch.float64)
        log_prob = linear_gaussian_log_prob(a[:, None], z, slope, noise)
        values.append(-marginal_log_prob(log_prob, dim=-1))
    v = torch.cat(values)
    return float(v.mean()), float(v.std() / math.sqrt(len(v)))
