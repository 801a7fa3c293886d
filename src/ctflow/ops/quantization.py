"""Uniform dequantization of integer data: each integer becomes a point uniform in its bin."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["dequantize"]

# a redraw is needed only when rounding to ``dtype`` pushes a value out of its bin (rare)
_MAX_REDRAWS = 32


def _outside_bins(y: Tensor, x: Tensor, levels: int) -> Tensor:
    # check bin membership both in float64 and in y's own dtype, since callers may use either
    in_float64 = torch.floor(y.to(torch.float64) * levels) == x
    in_dtype = torch.floor(y * levels) == x.to(y.dtype)
    return ~(in_float64 & in_dtype & (y < 1.0))


def dequantize(
    x_int: Tensor,
    levels: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Uniform dequantization ``y = (x + u) / levels`` with ``u ~ U[0, 1)`` per entry.

    Each integer ``x`` in ``0..levels-1`` becomes a point uniform in its bin
    ``[x / levels, (x + 1) / levels)``, so ``y`` lies in ``[0, 1)`` and ``floor(y * levels)``
    recovers ``x`` (also after rounding to ``dtype``: the rare draws that rounding would push out
    of their bin are redrawn).

    Args:
        x_int: integer tensor of any shape with values in ``[0, levels)``.
        levels: number of quantization levels, e.g. 17 for the digits (``DIGITS_LEVELS``).
        generator: the only source of randomness; ``None`` uses torch's global generator.
        dtype: floating dtype of the result.

    Returns:
        Dequantized values with the shape of ``x_int``.
    """
    if not isinstance(x_int, Tensor):
        raise TypeError(f"x_int must be an integer tensor, got {type(x_int).__name__}")
    if x_int.is_floating_point() or x_int.is_complex() or x_int.dtype == torch.bool:
        raise TypeError(
            f"x_int must have an integer dtype, got {x_int.dtype}; convert with .long() "
            "if the values are whole numbers"
        )
    if isinstance(levels, bool) or not isinstance(levels, int):
        raise TypeError(f"levels must be an int, got {type(levels).__name__}")
    if levels < 1:
        raise ValueError(f"levels must be at least 1, got {levels}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    if x_int.numel() > 0:
        low, high = int(x_int.min()), int(x_int.max())
        if low < 0 or high >= levels:
            raise ValueError(
                f"x_int values must lie in [0, levels) = [0, {levels}), got min {low} and "
                f"max {high}; pass the right levels or clip the data"
            )
    x = x_int.to(torch.float64)
    u = torch.rand(x.shape, generator=generator, dtype=torch.float64, device=x.device)
    y = ((x + u) / levels).to(dtype)
    bad = _outside_bins(y, x, levels)
    for _ in range(_MAX_REDRAWS):
        if not bool(bad.any()):
            return y
        u = torch.rand(int(bad.sum()), generator=generator, dtype=torch.float64, device=x.device)
        y[bad] = ((x[bad] + u) / levels).to(dtype)
        bad = _outside_bins(y, x, levels)
    if bool(bad.any()):
        raise ValueError(
            f"levels={levels} is too many for dtype {dtype}: its values cannot be kept inside "
            "their bins; use a wider dtype such as torch.float64"
        )
    return y
