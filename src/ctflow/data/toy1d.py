"""A 1-D regression toy with a gap in its inputs, for judging predictive uncertainty."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["toy_regression_data"]


def toy_regression_data(
    n: int, noise_std: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """``x`` uniform on ``[-2, -0.5] U [0.5, 2]``, ``y = sin(2x) + noise_std * eps``.

    A Bayesian model should be sure near the two clusters and unsure in the gap and beyond.

    Args:
        n: number of points.
        noise_std: standard deviation of the Gaussian noise on ``y``.
        generator: draws the magnitudes, then the signs, then the noise.

    Returns:
        ``(x, y)`` of shapes ``(n, 1)`` and ``(n,)``.

    Examples:
        >>> x, y = toy_regression_data(100, 0.0, torch.Generator().manual_seed(0))
        >>> bool((x.abs() >= 0.5).all() and (x.abs() <= 2).all())
        True
        >>> torch.allclose(y, (2 * x[:, 0]).sin())
        True
    """
    u = torch.rand(n, generator=generator) * 1.5 + 0.5
    sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    x = (sign * u).unsqueeze(-1)
    y = torch.sin(2 * x[:, 0]) + noise_std * torch.randn(n, generator=generator)
    return x, y
