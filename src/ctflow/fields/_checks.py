"""Input checks and the per-sample batching shared by the divergence-free constructions."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def check_dim(n: int) -> int:
    """``n`` as an int, or a ValueError when it is not an integer >= 2."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"a divergence-free field needs dimension n >= 2 (an int), got {n!r}")
    return n


def check_points(y: Tensor, n: int, name: str = "y") -> None:
    """A ValueError unless ``y`` is a floating tensor of shape ``(*batch, n)``."""
    if not isinstance(y, Tensor):
        raise ValueError(f"{name} must be a tensor, got {type(y).__name__}")
    if y.ndim < 1 or y.shape[-1] != n:
        raise ValueError(f"{name} must have shape (*batch, {n}), got {tuple(y.shape)}")
    if not y.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {y.dtype}")


def batched(fn: Callable[[Tensor], Tensor], y: Tensor) -> Tensor:
    """Apply a per-point function ``fn: (n,) -> (*out)`` to ``y: (*batch, n)`` with ``vmap``."""
    batch = y.shape[:-1]
    flat = y.reshape(-1, y.shape[-1])
    out = torch.func.vmap(fn)(flat)
    return out.reshape(*batch, *out.shape[1:])
