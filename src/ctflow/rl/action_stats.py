"""Summaries of a policy's action samples: a histogram entropy and the mass near given modes."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["histogram_entropy", "mode_masses"]


def histogram_entropy(
    samples: Tensor, bins: int = 400, low: float = -1.0, high: float = 1.0
) -> float:
    """Differential entropy (nats) of 1-D samples from a ``bins``-bin histogram on ``[low, high]``.

    The histogram is read as a piecewise-constant density; samples outside the range are
    dropped (``torch.histc``).

    Args:
        samples: ``(N,)`` values.
        bins: Number of equal bins.
        low: Lower end of the range.
        high: Upper end of the range.

    Returns:
        ``-sum_b p_b log(p_b / width)`` over non-empty bins.

    Raises:
        ValueError: If ``bins < 1``, ``high <= low`` or no sample falls in the range.

    Examples:
        >>> x = torch.linspace(-1, 1, 4001)[:-1] + 0.00025  # uniform on [-1, 1]
        >>> round(histogram_entropy(x, bins=10), 6)  # log 2
        0.693147
    """
    if bins < 1 or not high > low:
        raise ValueError(f"need bins >= 1 and high > low, got {bins}, [{low}, {high}]")
    counts = torch.histc(samples.double(), bins=bins, min=low, max=high)
    if counts.sum() == 0:
        raise ValueError(f"no sample in [{low}, {high}]")
    p = counts / counts.sum()
    p = p[p > 0]
    return float(-(p * (p * bins / (high - low)).log()).sum())


def mode_masses(samples: Tensor, modes: Sequence[float], radius: float) -> list[float]:
    """Fraction of 1-D samples strictly within ``radius`` of each mode.

    Args:
        samples: ``(N,)`` values.
        modes: Mode locations.
        radius: Half-width of the window around each mode (``> 0``).

    Returns:
        One fraction per mode.

    Examples:
        >>> mode_masses(torch.tensor([-0.7, -0.6, 0.7, 0.0]), (-0.7, 0.7), 0.2)
        [0.5, 0.25]
    """
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    return [float(((samples - m).abs() < radius).double().mean()) for m in modes]
