"""Pairs of Gaussian-mixture densities to transport between, seeded sampling from them, and
their reference squared 2-Wasserstein distance (closed form for two Gaussians, otherwise the
exact assignment between two large samples).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from ..metrics import gaussian_w2_squared, wasserstein2

__all__ = [
    "OT_PAIRS",
    "gaussian_mixture",
    "endpoint_pair",
    "sample_mixture",
    "reference_w2_squared",
]

OT_PAIRS = ("gauss-iso", "gauss-aniso", "two-blobs")


def gaussian_mixture(
    means: Sequence[Sequence[float]],
    stds: Sequence[Sequence[float]],
    weights: Tensor | None = None,
) -> MixtureSameFamily:
    """A float64 mixture of axis-aligned Gaussians.

    Args:
        means: component means, ``K`` rows of length ``d``.
        stds: per-axis standard deviations, ``K`` rows of length ``d``.
        weights: unnormalised component weights ``(K,)``; None for equal weights.

    Returns:
        A ``MixtureSameFamily`` over ``R^d``.

    Examples:
        >>> p = gaussian_mixture([[0.0, 0.0]], [[1.0, 2.0]])
        >>> p.component_distribution.covariance_matrix[0].diagonal().tolist()
        [1.0, 4.0]
    """
    means = torch.tensor(means, dtype=torch.float64)
    stds = torch.tensor(stds, dtype=torch.float64)
    if means.dim() != 2 or means.shape != stds.shape:
        raise ValueError(
            f"means and stds must both be (K, d), got {tuple(means.shape)} and {tuple(stds.shape)}"
        )
    cov = torch.diag_embed(stds**2)
    weights = torch.ones(len(means), dtype=torch.float64) if weights is None else weights
    return MixtureSameFamily(Categorical(weights), MultivariateNormal(means, cov))


def endpoint_pair(name: str) -> tuple[MixtureSameFamily, MixtureSameFamily]:
    """The source and target densities of a named 2-D pair (see ``OT_PAIRS``).

    ``gauss-iso``: ``N(0, I)`` to ``N((3, 0), 0.4^2 I)``; ``gauss-aniso``: two axis-aligned
    Gaussians of swapped shapes; ``two-blobs``: two blobs on the y axis to two on the x axis.

    Args:
        name: one of ``OT_PAIRS``.

    Returns:
        ``(p0, p1)``, float64 Gaussian mixtures on ``R^2``.
    """
    if name == "gauss-iso":
        return gaussian_mixture([[0.0, 0.0]], [[1.0, 1.0]]), gaussian_mixture(
            [[3.0, 0.0]], [[0.4, 0.4]]
        )
    if name == "gauss-aniso":
        return gaussian_mixture([[-1.5, 0.0]], [[1.0, 0.5]]), gaussian_mixture(
            [[1.5, 0.5]], [[0.5, 1.0]]
        )
    if name == "two-blobs":
        return (
            gaussian_mixture([[0.0, 2.0], [0.0, -2.0]], [[0.5, 0.5]] * 2),
            gaussian_mixture([[2.0, 0.0], [-2.0, 0.0]], [[0.5, 0.5]] * 2),
        )
    raise ValueError(f"unknown pair {name!r}; choose from: {', '.join(OT_PAIRS)}")


def sample_mixture(dist: MixtureSameFamily, n: int, generator: torch.Generator) -> Tensor:
    """Seeded samples of a Gaussian mixture (``torch.distributions`` draws from the global RNG).

    Args:
        dist: a mixture with ``MultivariateNormal`` components over ``R^d``.
        n: number of samples.
        generator: a CPU generator; draws the component indices, then the noise.

    Returns:
        ``(n, d)`` in the mixture's dtype.
    """
    comp = dist.component_distribution
    index = torch.multinomial(
        dist.mixture_distribution.probs, n, replacement=True, generator=generator
    )
    noise = torch.randn(n, comp.loc.shape[-1], generator=generator, dtype=comp.loc.dtype)
    chol = comp.scale_tril[index]
    return comp.loc[index] + (chol @ noise[..., None])[..., 0]


def reference_w2_squared(
    p0: MixtureSameFamily, p1: MixtureSameFamily, n: int, generator: torch.Generator
) -> tuple[float, str]:
    """The squared W2 distance between two Gaussian mixtures, as a reference.

    Two single Gaussians: the closed form. Otherwise the exact discrete W2^2 between ``n``
    seeded samples of each (an assignment problem, ``ctflow.metrics.wasserstein2``; it equals
    POT's ``emd2`` without needing POT), which is biased upwards by the sampling.

    Args:
        p0: source mixture.
        p1: target mixture.
        n: sample size for the discrete estimate (unused for two Gaussians).
        generator: generator of those samples (``p0``'s first).

    Returns:
        ``(w2_squared, how)`` where ``how`` is ``"closed form"`` or names the assignment.
    """
    c0, c1 = p0.component_distribution, p1.component_distribution
    if c0.loc.shape[0] == 1 and c1.loc.shape[0] == 1:
        w2 = gaussian_w2_squared(
            c0.loc[0], c0.covariance_matrix[0], c1.loc[0], c1.covariance_matrix[0]
        )
        return float(w2), "closed form"
    x, y = sample_mixture(p0, n, generator), sample_mixture(p1, n, generator)
    return float(wasserstein2(x.double(), y.double()) ** 2), f"exact assignment, {n} vs {n}"
