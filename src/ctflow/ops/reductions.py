"""Reductions that several layers share."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["log_mean_exp"]


def log_mean_exp(x: Tensor, dim: int, keepdim: bool = False) -> Tensor:
    """Numerically stable ``log(mean(exp(x), dim))``: importance-weighted bounds, particle
    marginals and log-mean-exp critics all reduce this way.

    Args:
        x: floating-point tensor of any shape with a non-empty dimension ``dim``.
        dim: the dimension to average over.
        keepdim: keep ``dim`` as a size-1 dimension.

    Returns:
        ``x`` reduced over ``dim``.

    Examples:
        >>> log_mean_exp(torch.log(torch.tensor([1.0, 3.0])), 0)
        tensor(0.6931)
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    size = x.shape[dim]
    if size == 0:
        raise ValueError(f"cannot average over dimension {dim} of x, which has size 0")
    return torch.logsumexp(x, dim=dim, keepdim=keepdim) - math.log(size)
