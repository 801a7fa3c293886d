"""2-Wasserstein distances: exact between two equal-size empirical samples, and the closed
forms between Gaussians (the squared distance and the optimal, Brenier, map)."""

from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

__all__ = ["wasserstein2", "gaussian_w2_squared", "gaussian_brenier_map"]


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


def _check_gaussian(mean: Tensor, cov: Tensor, name: str) -> None:
    d = mean.shape[-1] if mean.dim() == 1 else -1
    if mean.dim() != 1 or cov.shape != (d, d):
        raise ValueError(
            f"{name}: mean must be (d,) and cov (d, d), got {tuple(mean.shape)} and "
            f"{tuple(cov.shape)}"
        )


def _psd_sqrt(a: Tensor) -> Tensor:
    """The symmetric square root of a symmetric PSD matrix (negative round-off clamped)."""
    vals, vecs = torch.linalg.eigh(a)
    return vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T


def _inv_sqrt(a: Tensor) -> Tensor:
    """``a^{-1/2}`` of a symmetric positive-definite matrix."""
    vals, vecs = torch.linalg.eigh(a)
    return (vecs / vals.sqrt()) @ vecs.T


def gaussian_w2_squared(
    mean0: Tensor, cov0: Tensor, mean1: Tensor | None = None, cov1: Tensor | None = None
) -> Tensor:
    """Closed-form squared W2 between ``N(mean0, cov0)`` and ``N(mean1, cov1)``.

    ``W2^2 = |m0 - m1|^2 + tr(S0 + S1 - 2 (S1^1/2 S0 S1^1/2)^1/2)``. Without ``mean1`` and
    ``cov1`` the target is ``N(0, I)`` and the trace is ``sum_i (l_i + 1 - 2 sqrt(l_i))`` over
    the eigenvalues ``l_i`` of ``S0``.

    Args:
        mean0: source mean of shape ``(d,)``.
        cov0: source covariance of shape ``(d, d)``, symmetric PSD.
        mean1: target mean of shape ``(d,)``; None for zero.
        cov1: target covariance of shape ``(d, d)``; None for the identity.

    Returns:
        A 0-d tensor in the inputs' dtype.

    Examples:
        >>> gaussian_w2_squared(torch.ones(2), 4 * torch.eye(2)).item()  # 2 + 2 (2 - 1)^2
        4.0
    """
    _check_gaussian(mean0, cov0, "source")
    diff = mean0 if mean1 is None else mean0 - mean1
    if cov1 is None:
        eig = torch.linalg.eigvalsh(cov0)
        return diff.pow(2).sum() + (eig + 1 - 2 * eig.sqrt()).sum()
    _check_gaussian(diff, cov1, "target")
    root = _psd_sqrt(cov1)
    cross = _psd_sqrt(root @ cov0 @ root)
    return diff.pow(2).sum() + torch.trace(cov0 + cov1 - 2 * cross)


def gaussian_brenier_map(
    x: Tensor,
    mean0: Tensor,
    cov0: Tensor,
    mean1: Tensor | None = None,
    cov1: Tensor | None = None,
) -> Tensor:
    """The optimal (Brenier) map pushing ``N(mean0, cov0)`` onto ``N(mean1, cov1)``.

    ``T(x) = m1 + A (x - m0)`` with ``A = S0^-1/2 (S0^1/2 S1 S0^1/2)^1/2 S0^-1/2``, the
    gradient of a convex quadratic. Without ``mean1`` and ``cov1`` the target is ``N(0, I)``
    and ``A = S0^-1/2`` (symmetric whitening).

    Args:
        x: points of shape ``(..., d)``.
        mean0: source mean of shape ``(d,)``.
        cov0: source covariance of shape ``(d, d)``, symmetric positive definite.
        mean1: target mean of shape ``(d,)``; None for zero.
        cov1: target covariance of shape ``(d, d)``; None for the identity.

    Returns:
        ``T(x)`` of shape ``(..., d)`` in ``x``'s dtype and device.

    Examples:
        >>> gaussian_brenier_map(torch.tensor([[3.0, 1.0]]), torch.ones(2), 4 * torch.eye(2))
        tensor([[1., 0.]])
    """
    _check_gaussian(mean0, cov0, "source")
    if cov1 is None:
        a = _inv_sqrt(cov0)
    else:
        _check_gaussian(mean0, cov1, "target")
        root = _psd_sqrt(cov0)
        inv_root = _inv_sqrt(cov0)
        a = inv_root @ _psd_sqrt(root @ cov1 @ root) @ inv_root
    out = (x - mean0.to(x)) @ a.to(x).T
    return out if mean1 is None else out + mean1.to(x)
