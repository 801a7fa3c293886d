"""Integer-valued data (grey levels, counts) in a continuous model space ``[-1, 1]``.

Level ``g`` of ``L`` occupies the cell ``[2 g / L - 1, 2 (g + 1) / L - 1)``; uniform
dequantization draws a point in that cell, and :func:`to_levels` maps any point back to it.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["dequantized_batch", "level_centres", "to_levels"]


def dequantized_batch(
    x: Tensor, levels: int, batch_size: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """A random minibatch of ``x``, uniformly dequantized into ``[-1, 1]``.

    Draws the row indices, then one uniform offset per value, both from ``generator``.

    Args:
        x: integer-valued data ``(N, D)`` with values in ``0..levels - 1``.
        levels: number of levels.
        batch_size: rows to draw, with replacement.
        generator: the random stream.

    Returns:
        ``(z, idx)``: the batch ``(batch_size, D)`` in ``[-1, 1)`` and its row indices
        ``(batch_size,)`` (to pick the matching labels).
    """
    idx = torch.randint(0, len(x), (batch_size,), generator=generator)
    y = (x[idx] + torch.rand(batch_size, x.shape[-1], generator=generator)) / levels
    return 2 * y - 1, idx


def level_centres(x: Tensor, levels: int) -> Tensor:
    """Levels ``0..levels - 1`` to the centres of their cells in ``[-1, 1]``.

    Args:
        x: integer-valued tensor, any shape.
        levels: number of levels.

    Returns:
        Float tensor of ``x``'s shape.

    Examples:
        >>> level_centres(torch.tensor([0, 1]), 2).tolist()
        [-0.5, 0.5]
    """
    return 2 * (x.float() + 0.5) / levels - 1


def to_levels(z: Tensor, levels: int) -> Tensor:
    """Model-space values back to the level whose cell holds them, clamped to the range.

    Args:
        z: values in (about) ``[-1, 1]``, any shape.
        levels: number of levels.

    Returns:
        Float levels in ``0..levels - 1``, ``z``'s shape.

    Examples:
        >>> to_levels(torch.tensor([-1.0, -0.1, 0.6, 3.0]), 4).tolist()
        [0.0, 1.0, 3.0, 3.0]
    """
    return ((z + 1) / 2 * levels).floor().clamp(0, levels - 1)
