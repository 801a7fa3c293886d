"""Flat Euclidean space ``R^dim``: every operation is the obvious vector one."""

from __future__ import annotations

import torch
from torch import Tensor

from ctflow.manifolds.base import Manifold, _expand_to_batch

__all__ = ["Euclidean"]


class Euclidean(Manifold):
    """Euclidean space ``R^dim`` with the standard metric.

    Projections are the identity (they return views of their input, not copies). It is not
    compact, so :meth:`random_uniform` and :meth:`uniform_logprob` raise ``ValueError``.

    Args:
        dim: dimension (intrinsic and ambient).

    Examples:
        >>> M = Euclidean(2)
        >>> M.expmap(torch.zeros(2), torch.tensor([1.0, 2.0]))
        tensor([1., 2.])
    """

    def __init__(self, dim: int) -> None:
        super().__init__(dim, dim)

    def _projx(self, x: Tensor) -> Tensor:
        return x

    def _proju(self, x: Tensor, u: Tensor) -> Tensor:
        return _expand_to_batch(u, x)

    def _expmap(self, x: Tensor, u: Tensor) -> Tensor:
        return x + u

    def _logmap(self, x: Tensor, y: Tensor) -> Tensor:
        return y - x

    def _check_point(self, x: Tensor, atol: float) -> Tensor:
        return torch.isfinite(x).all(-1)
