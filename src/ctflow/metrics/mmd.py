"""Maximum mean discrepancy with a sum of Gaussian (RBF) kernels."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["DEFAULT_BANDWIDTHS", "mmd", "mmd2"]

DEFAULT_BANDWIDTHS: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def _check_sample(value: Tensor, name: str) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a tensor of shape (n, d), got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if value.dim() != 2 or value.shape[0] < 2:
        raise ValueError(
            f"{name} must have shape (n, d) with n >= 2 (the unbiased estimator needs two "
            f"samples), got {tuple(value.shape)}"
        )
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or inf values")


def _check_bandwidths(bandwidths: float | Sequence[float]) -> tuple[float, ...]:
    values = (bandwidths,) if isinstance(bandwidths, (int, float)) else tuple(bandwidths)
    if not values:
        raise ValueError("bandwidths must hold at least one kernel bandwidth")
    for h in values:
        if isinstance(h, bool) or not isinstance(h, (int, float)):
            raise TypeError(f"bandwidths must be numbers, got {h!r}")
        if not (math.isfinite(h) and h > 0):
            raise ValueError(f"bandwidths must be finite and positive, got {h!r}")
    return tuple(float(h) for h in values)


def _kernel(a: Tensor, b: Tensor, bandwidths: tuple[float, ...]) -> Tensor:
    # the |a|^2 + |b|^2 - 2ab form needs O(n m) memory (not O(n m d)) and is smooth at a == b
    sq = a.square().sum(-1, keepdim=True) + b.square().sum(-1) - 2.0 * a @ b.T
    sq = sq.clamp_min(0.0)
    return sum(torch.exp(-sq / (2.0 * h * h)) for h in bandwidths)


def mmd2(x: Tensor, y: Tensor, bandwidths: float | Sequence[float] = DEFAULT_BANDWIDTHS) -> Tensor:
    """Unbiased estimate of the squared MMD between the distributions of ``x`` and ``y``.

    The kernel is ``k(a, b) = sum_h exp(-|a - b|^2 / (2 h^2))`` over ``bandwidths``. The
    within-sample averages skip the ``i == j`` terms, which makes the estimate unbiased (it can
    be slightly negative when the distributions agree).

    Args:
        x: samples of shape ``(n, d)``, ``n >= 2``.
        y: samples of shape ``(m, d)``, ``m >= 2``.
        bandwidths: one kernel bandwidth or a sequence of them, all positive.

    Returns:
        A 0-d tensor in the promoted dtype of ``x`` and ``y``.
    """
    _check_sample(x, "x")
    _check_sample(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must have the same number of features, got x {tuple(x.shape)} and "
            f"y {tuple(y.shape)}"
        )
    if x.device != y.device:
        raise ValueError(f"x and y must be on one device, got {x.device} and {y.device}")
    hs = _check_bandwidths(bandwidths)
    dtype = torch.promote_types(x.dtype, y.dtype)
    x, y = x.to(dtype), y.to(dtype)
    n, m = x.shape[0], y.shape[0]
    k_xx, k_yy = _kernel(x, x, hs), _kernel(y, y, hs)
    term_xx = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
    term_yy = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return term_xx + term_yy - 2.0 * _kernel(x, y, hs).mean()


def mmd(x: Tensor, y: Tensor, bandwidths: float | Sequence[float] = DEFAULT_BANDWIDTHS) -> Tensor:
    """MMD as ``sqrt(max(mmd2(x, y), 0))``; see ``mmd2`` for the arguments and shapes."""
    return mmd2(x, y, bandwidths).clamp_min(0.0).sqrt()
