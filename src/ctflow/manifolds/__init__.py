"""Riemannian manifolds for solvers (``projx``/``proju``) and Riemannian flows.

Points are tensors of shape ``(*batch, ambient_dim)``. This package depends only on torch.

Example:
    >>> import torch
    >>> from ctflow.manifolds import Product, Sphere, FlatTorus
    >>> M = Product(Sphere(2), FlatTorus(1))
    >>> x = M.random_uniform(8, dtype=torch.float64)
    >>> bool(M.check_point(x).all())
    True
"""

from __future__ import annotations

from ctflow.manifolds.base import Manifold
from ctflow.manifolds.euclidean import Euclidean
from ctflow.manifolds.product import Product
from ctflow.manifolds.sphere import Sphere
from ctflow.manifolds.torus import FlatTorus

__all__ = ["Euclidean", "FlatTorus", "Manifold", "Product", "Sphere"]
