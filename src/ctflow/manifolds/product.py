"""Cartesian products of manifolds, with points concatenated along the last axis."""

from __future__ import annotations

import torch
from torch import Tensor

from ctflow.manifolds.base import Manifold

__all__ = ["Product"]


class Product(Manifold):
    """The product ``M_1 x ... x M_k`` with the product metric.

    A point is the concatenation of one point per factor along the last axis; every operation
    acts on each factor's slice. Distances combine as ``sqrt(sum_i dist_i^2)``, inner products
    and log-volumes add, and it is compact exactly when every factor is.

    Args:
        *manifolds: the factors, at least one.

    Examples:
        >>> from ctflow.manifolds import FlatTorus, Product, Sphere
        >>> M = Product(Sphere(2), FlatTorus(1))
        >>> (M.dim, M.ambient_dim)
        (3, 4)
        >>> M.random_uniform(5).shape
        torch.Size([5, 4])
    """

    def __init__(self, *manifolds: Manifold) -> None:
        if not manifolds:
            raise ValueError("Product needs at least one factor manifold")
        for i, m in enumerate(manifolds):
            if not isinstance(m, Manifold):
                raise TypeError(f"Product factor {i} must be a Manifold, got {type(m).__name__}")
        self.manifolds: tuple[Manifold, ...] = tuple(manifolds)
        self.sizes: tuple[int, ...] = tuple(m.ambient_dim for m in manifolds)
        super().__init__(sum(m.dim for m in manifolds), sum(self.sizes))

    def split(self, x: Tensor) -> tuple[Tensor, ...]:
        """Split points (or vectors) into one view per factor.

        Args:
            x: tensor of shape ``(*batch, ambient_dim)``.

        Returns:
            A tuple of views, the ``i``-th of shape ``(*batch, manifolds[i].ambient_dim)``.

        Examples:
            >>> import torch
            >>> from ctflow.manifolds import FlatTorus, Product, Sphere
            >>> [p.shape[-1] for p in Product(Sphere(2), FlatTorus(1)).split(torch.zeros(4))]
            [3, 1]
        """
        self._check_all("split", x=x)
        return x.split(self.sizes, dim=-1)

    def _split(self, *tensors: Tensor) -> list[tuple[Tensor, ...]]:
        """Per factor, the slices of each of ``tensors`` (broadcast to a common shape first)."""
        # broadcasting up front keeps every factor's output the same batch shape, so cat works
        # even when e.g. Euclidean's proju returns an un-broadcast ``u``
        tensors = torch.broadcast_tensors(*tensors)
        parts = [t.split(self.sizes, dim=-1) for t in tensors]
        return list(zip(*parts))

    def _combine(self, method: str, *tensors: Tensor) -> Tensor:
        outs = [getattr(m, method)(*p) for m, p in zip(self.manifolds, self._split(*tensors))]
        return torch.cat(outs, dim=-1)

    def _per_factor(self, method: str, *tensors: Tensor) -> Tensor:
        """Stack a per-factor scalar result on a new last axis, shape ``(*batch, k)``."""
        outs = [getattr(m, method)(*p) for m, p in zip(self.manifolds, self._split(*tensors))]
        return torch.stack(outs, dim=-1)

    def _projx(self, x: Tensor) -> Tensor:
        return self._combine("_projx", x)

    def _proju(self, x: Tensor, u: Tensor) -> Tensor:
        return self._combine("_proju", x, u)

    def _expmap(self, x: Tensor, u: Tensor) -> Tensor:
        return self._combine("_expmap", x, u)

    def _logmap(self, x: Tensor, y: Tensor) -> Tensor:
        return self._combine("_logmap", x, y)

    def _inner(self, x: Tensor, u: Tensor, v: Tensor) -> Tensor:
        return self._per_factor("_inner", x, u, v).sum(-1)

    def _norm(self, x: Tensor, u: Tensor) -> Tensor:
        # vector_norm rather than sqrt(sum of squares): zero gradient, not NaN, at u = 0
        return torch.linalg.vector_norm(self._per_factor("_norm", x, u), dim=-1)

    def _dist(self, x: Tensor, y: Tensor) -> Tensor:
        return torch.linalg.vector_norm(self._per_factor("_dist", x, y), dim=-1)

    def _check_point(self, x: Tensor, atol: float) -> Tensor:
        return torch.stack(
            [m._check_point(p, atol) for m, (p,) in zip(self.manifolds, self._split(x))], dim=-1
        ).all(-1)

    def _random_uniform(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator | None,
        dtype: torch.dtype,
        device: torch.device | str | None,
    ) -> Tensor:
        parts = [m._random_uniform(shape, generator, dtype, device) for m in self.manifolds]
        return torch.cat(parts, dim=-1)

    def log_volume(self) -> float:
        """Sum of the factors' log-volumes; raises ``ValueError`` if any factor is not compact.

        Returns:
            The log-volume as a Python float.

        Examples:
            >>> from ctflow.manifolds import FlatTorus, Product
            >>> round(Product(FlatTorus(1), FlatTorus(1)).log_volume(), 4)  # 2 log(2 pi)
            3.6758
        """
        return sum(m.log_volume() for m in self.manifolds)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.manifolds))})"
