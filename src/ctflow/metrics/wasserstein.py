"""Exact 2-Wasserstein distance between two equal-size empirical samples."""

from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

__all__ = ["wasserstein2"]


def _check_sample(value: Tensor, name: str) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a tensor of shape (n, d), got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if value.dim() != 2 or value.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n, d) with n >= 1, got {tuple(value.shape)}")
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or inf values")


def wasserstein2(x: Tensor, y: Tensor) -> Tensor:
    """Exact W2 distance between the uniform empirical measures on ``x`` and ``y``.

    With equal sample sizes the optimal coupling is a permutation, found by
    ``scipy.optimize.linear_sum_assignment`` on the squared Euclidean costs (in float64). Cost is
    ``O(n^3)``, so keep ``n`` to a few thousand. Gradients flow to ``x`` and ``y`` through the
    matched pairs (the optimal matching is locally constant).

    Args:
        x: samples of shape ``(n, d)``.
        y: samples of shape ``(n, d)``.

    Returns:
        A 0-d tensor ``sqrt(mean_i |x_i - y_sigma(i)|^2)`` in the promoted dtype of ``x`` and
        ``y``, on ``x``'s device.
    """
    _check_sample(x, "x")
    _check_sample(y, "y")
    if x.shape != y.shape:
        raise ValueError(
            f"x and y must have the same shape (n, d), got x {tuple(x.shape)} and "
            f"y {tuple(y.shape)}; subsample the larger set to equal size"
        )
    if x.device != y.device:
        raise ValueError(f"x and y must be on one device, got {x.device} and {y.device}")
    x64, y64 = x.to(torch.float64), y.to(torch.float64)
    # exact differences rather than the |a|^2 + |b|^2 - 2ab shortcut, to avoid cancellation
    cost = torch.cdist(x64.detach(), y64.detach(), compute_mode="donot_use_mm_for_euclid_dist")
    rows, cols = linear_sum_assignment(cost.square().cpu().numpy())
    rows_t = torch.as_tensor(rows, device=x.device)
    cols_t = torch.as_tensor(cols, device=x.device)
    sq = (x64[rows_t] - y64[cols_t]).square().sum(dim=-1)
    return sq.mean().sqrt().to(torch.promote_types(x.dtype, y.dtype))
