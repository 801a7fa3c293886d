"""The unit sphere ``S^dim`` embedded in ``R^(dim+1)`` with the induced (round) metric."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ctflow.manifolds.base import Manifold, _check_dim

__all__ = ["Sphere"]


def _series_threshold(dtype: torch.dtype) -> float:
    """Squared-norm cut-off below which the Taylor branches are used.

    Below it the truncated series is exact to rounding, while the closed forms would lose most
    digits of their *gradients* to cancellation (e.g. ``d/ds sin(sqrt(s))/sqrt(s)``).
    """
    return torch.finfo(dtype).eps ** 0.25


def _cos_sinc_sq(s: Tensor) -> tuple[Tensor, Tensor]:
    """``cos(sqrt(s))`` and ``sin(sqrt(s)) / sqrt(s)`` for ``s >= 0``, with finite gradients at 0.

    The double ``where`` keeps the unused branch from ever seeing ``s = 0``, which would put NaN
    into the backward pass even though its forward value is discarded.
    """
    small = s < _series_threshold(s.dtype)
    n = torch.sqrt(torch.where(small, torch.ones_like(s), s))
    cos_series = 1 - s / 2 + s**2 / 24 - s**3 / 720
    sinc_series = 1 - s / 6 + s**2 / 120 - s**3 / 5040
    return (
        torch.where(small, cos_series, torch.cos(n)),
        torch.where(small, sinc_series, torch.sin(n) / n),
    )


class Sphere(Manifold):
    """The unit sphere ``S^dim = {x in R^(dim+1) : |x| = 1}``.

    Tangent vectors at ``x`` are ambient vectors orthogonal to ``x``; the metric is the ambient dot
    product. Conventions at the edges of the domain:

    * ``projx(0)`` returns 0, which is not on the sphere (``check_point`` flags it).
    * ``proju(x, u)`` removes the component of ``u`` along ``x / |x|``, so it is exact also for
      slightly off-sphere ``x`` such as intermediate Runge-Kutta stages.
    * ``logmap(x, y)`` is not unique at the antipode ``y = -x`` (every direction of length pi
      reaches it). Exactly there it returns the zero vector; just next to it the direction is
      whatever residual ``y`` has orthogonal to ``x``, with length close to pi. ``dist`` is pi
      there either way.

    Args:
        dim: intrinsic dimension; points have ``dim + 1`` coordinates.

    Examples:
        >>> M = Sphere(2)
        >>> x = torch.tensor([0.0, 0.0, 1.0])
        >>> y = M.expmap(x, torch.tensor([math.pi / 2, 0.0, 0.0]))  # a quarter turn
        >>> bool(M.check_point(y))
        True
        >>> M.dist(x, y)
        tensor(1.5708)
    """

    def __init__(self, dim: int) -> None:
        super().__init__(_check_dim(dim), dim + 1)  # validate before computing dim + 1

    def _projx(self, x: Tensor) -> Tensor:
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
        return x / norm.clamp_min(torch.finfo(x.dtype).tiny)

    def _proju(self, x: Tensor, u: Tensor) -> Tensor:
        sq = (x * x).sum(-1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
        return u - ((x * u).sum(-1, keepdim=True) / sq) * x

    def _expmap(self, x: Tensor, u: Tensor) -> Tensor:
        cos, sinc = _cos_sinc_sq((u * u).sum(-1, keepdim=True))
        return cos * x + sinc * u

    def _logmap(self, x: Tensor, y: Tensor) -> Tensor:
        c = (x * y).sum(-1, keepdim=True)
        v = y - c * x  # the part of y orthogonal to x; |v| = sin(theta) on the sphere
        s = (v * v).sum(-1, keepdim=True)
        theta = self._angle(x, y).unsqueeze(-1)
        # theta / |v| -> 1 as y -> x: use asin(n)/n = 1 + s/6 + 3s^2/40 + 5s^3/112 there. Near the
        # antipode (c < 0) the ratio blows up instead, so the series must not be used.
        series = (s < _series_threshold(s.dtype)) & (c > 0)
        safe_s = torch.where(series | (s == 0), torch.ones_like(s), s)
        ratio_series = 1 + s / 6 + 3 * s**2 / 40 + 5 * s**3 / 112
        ratio = torch.where(series, ratio_series, theta / torch.sqrt(safe_s))
        return ratio * v

    def _dist(self, x: Tensor, y: Tensor) -> Tensor:
        return self._angle(x, y)

    @staticmethod
    def _angle(x: Tensor, y: Tensor) -> Tensor:
        # |x - y| = 2 sin(t/2) and |x + y| = 2 cos(t/2) on the sphere: accurate at t ~ 0 and
        # t ~ pi, where arccos(<x, y>) loses half the digits.
        diff = torch.linalg.vector_norm(x - y, dim=-1)
        summ = torch.linalg.vector_norm(x + y, dim=-1)
        return 2 * torch.atan2(diff, summ)

    def _check_point(self, x: Tensor, atol: float) -> Tensor:
        return (torch.linalg.vector_norm(x, dim=-1) - 1).abs() <= atol

    def _random_uniform(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator | None,
        dtype: torch.dtype,
        device: torch.device | str | None,
    ) -> Tensor:
        # a standard Gaussian is rotation invariant, so its direction is uniform on the sphere
        g = torch.randn((*shape, self.ambient_dim), generator=generator, dtype=dtype, device=device)
        return self._projx(g)

    def log_volume(self) -> float:
        """Log of the surface area of ``S^dim``: ``log 2 + (d+1)/2 log pi - lgamma((d+1)/2)``.

        Returns:
            The log-area as a Python float.

        Examples:
            >>> round(math.exp(Sphere(2).log_volume()), 4)  # 4 pi
            12.5664
        """
        half = (self.dim + 1) / 2
        return math.log(2.0) + half * math.log(math.pi) - math.lgamma(half)
