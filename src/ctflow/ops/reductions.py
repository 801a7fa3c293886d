"""Reductions that several layers share."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["log_mean_exp", "map_chunks"]


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


def map_chunks(fn: Callable[[Tensor], Tensor], x: Tensor, size: int) -> Tensor:
    """``fn`` over ``x`` in chunks of ``size`` rows, joined: ``fn(x)`` at bounded memory.

    Args:
        fn: maps ``(n, ...)`` rows to ``(n, ...)`` results (a log-density, a bound, an NLL).
        x: ``(N, ...)`` inputs.
        size: rows per call, at least 1.

    Returns:
        ``torch.cat([fn(chunk) for chunk in x.split(size)])``, shape ``(N, ...)``.

    Examples:
        >>> map_chunks(lambda c: c.sum(-1), torch.ones(5, 2), size=2)
        tensor([2., 2., 2., 2., 2.])
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    if len(x) == 0:
        raise ValueError("x has no rows")
    return torch.cat([fn(chunk) for chunk in x.split(size)])
