"""The flat torus ``T^dim = R^dim / (2 pi Z)^dim`` in angle coordinates."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ctflow.manifolds.base import Manifold, _expand_to_batch

__all__ = ["FlatTorus"]

_TWO_PI = 2 * math.pi


def _wrap(x: Tensor) -> Tensor:
    """Reduce angles to ``[0, 2 pi)``."""
    r = torch.remainder(x, _TWO_PI)
    # remainder(-1e-18, 2 pi) rounds to exactly 2 pi, which is outside the half-open range
    return torch.where(r >= _TWO_PI, r - _TWO_PI, r)


def _wrap_centered(d: Tensor) -> Tensor:
    """Reduce angle differences to ``(-pi, pi]``, the shortest signed displacement."""
    return math.pi - _wrap(math.pi - d)


class FlatTorus(Manifold):
    """The flat torus ``T^dim``: points are angles in ``[0, 2 pi)^dim``, the metric is Euclidean.

    The ambient coordinates are the intrinsic angles, so ``ambient_dim == dim``, every vector is
    tangent, and :meth:`proju` returns ``u`` (a view, broadcast against ``x``). Any real angles
    are accepted as input (modulo 2 pi); outputs of :meth:`projx` and :meth:`expmap` are wrapped.
    :meth:`logmap` returns the shortest displacement, each coordinate in ``(-pi, pi]``; it is
    the exact inverse of :meth:`expmap` for ``u`` with every coordinate in ``(-pi, pi)``.

    Args:
        dim: number of angles.

    Examples:
        >>> M = FlatTorus(2)
        >>> M.logmap(torch.tensor([0.1, 3.0]), torch.tensor([6.2, 3.5]))
        tensor([-0.1832,  0.5000])
    """

    def __init__(self, dim: int) -> None:
        super().__init__(dim, dim)

    def _projx(self, x: Tensor) -> Tensor:
        return _wrap(x)

    def _proju(self, x: Tensor, u: Tensor) -> Tensor:
        return _expand_to_batch(u, x)

    def _expmap(self, x: Tensor, u: Tensor) -> Tensor:
        return _wrap(x + u)

    def _logmap(self, x: Tensor, y: Tensor) -> Tensor:
        return _wrap_centered(y - x)

    def _check_point(self, x: Tensor, atol: float) -> Tensor:
        return ((x >= -atol) & (x < _TWO_PI + atol)).all(-1)

    def _random_uniform(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator | None,
        dtype: torch.dtype,
        device: torch.device | str | None,
    ) -> Tensor:
        u = torch.rand((*shape, self.dim), generator=generator, dtype=dtype, device=device)
        return _wrap(u * _TWO_PI)  # rounding can push u * 2 pi up to exactly 2 pi

    def log_volume(self) -> float:
        """Log of the volume of ``T^dim``: ``dim * log(2 pi)``.

        Returns:
            The log-volume as a Python float.

        Examples:
            >>> round(math.exp(FlatTorus(2).log_volume()), 4)  # (2 pi)^2
            39.4784
        """
        return self.dim * math.log(_TWO_PI)
