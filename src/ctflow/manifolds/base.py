"""The abstract :class:`Manifold` interface shared by solvers and Riemannian flows.

Points are ambient tensors of shape ``(*batch, ambient_dim)`` with any number of batch dimensions
(including none). Public methods validate their inputs (shape, dtype and, for CPU tensors,
finiteness) and then call a private ``_method`` that subclasses implement, so every manifold
reports mistakes the same way. Solvers call the private methods on states they have checked.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import torch
from torch import Tensor

from ctflow._validate import check_finite

__all__ = ["Manifold"]


def _expand_to_batch(u: Tensor, *others: Tensor) -> Tensor:
    """A broadcast view of ``u`` against ``others``, so identity maps keep the batch shape."""
    shape = torch.broadcast_shapes(u.shape, *(o.shape for o in others))
    return u if u.shape == shape else u.expand(shape)


def _check_dim(dim: int, what: str = "dim") -> int:
    """Return ``dim`` if it is a positive int, else raise TypeError/ValueError."""
    # bool is an int subclass; Sphere(True) is almost surely a mistake
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"{what} must be an int, got {type(dim).__name__}")
    if dim < 1:
        raise ValueError(f"{what} must be >= 1, got {dim}")
    return dim


class Manifold(abc.ABC):
    """A Riemannian manifold embedded in (or charted by) ``R^ambient_dim``.

    Subclasses implement ``_projx``, ``_proju``, ``_expmap``, ``_logmap`` and ``_check_point``;
    compact ones also override :meth:`log_volume` and ``_random_uniform``; ``_dist``, ``_inner``
    and ``_norm`` may be overridden for accuracy or another metric. The
    default metric is the one induced by the ambient Euclidean inner product, and the default
    distance is the norm of the logarithm.

    Attributes:
        dim: intrinsic dimension.
        ambient_dim: size of the last axis of a point tensor.

    Examples:
        >>> import torch
        >>> from ctflow.manifolds import Sphere
        >>> M = Sphere(2)
        >>> x = M.projx(torch.tensor([3.0, 0.0, 4.0]))
        >>> M.check_point(x)
        tensor(True)
    """

    def __init__(self, dim: int, ambient_dim: int) -> None:
        self.dim = _check_dim(dim, "dim")
        self.ambient_dim = _check_dim(ambient_dim, "ambient_dim")

    # ----------------------------------------------------------------- validation helpers
    def _check_shape(self, x: Tensor, name: str, method: str) -> None:
        """Raise if ``x`` is not a floating tensor of shape ``(*batch, ambient_dim)``."""
        if not isinstance(x, Tensor):
            raise TypeError(f"{self!r}.{method}: {name} must be a tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(
                f"{self!r}.{method}: {name} must be a floating-point tensor, got dtype {x.dtype}"
            )
        if x.dim() == 0 or x.shape[-1] != self.ambient_dim:
            raise ValueError(
                f"{self!r}.{method}: {name} must have shape (*batch, {self.ambient_dim}) "
                f"(expected ambient_dim={self.ambient_dim} on the last axis), "
                f"got shape {tuple(x.shape)}"
            )

    def _check_all(self, method: str, **tensors: Tensor) -> None:
        for name, value in tensors.items():
            self._check_shape(value, name, method)
            # check_point reports non-finite points as off the manifold instead
            if method != "check_point":
                check_finite(value, f"{self!r}.{method}: {name}")

    # ----------------------------------------------------------------- public interface
    def projx(self, x: Tensor) -> Tensor:
        """Project an ambient point onto the manifold.

        Args:
            x: ambient points, shape ``(*batch, ambient_dim)``.

        Returns:
            Points on the manifold, shape ``(*batch, ambient_dim)``.

        Examples:
            >>> import torch
            >>> from ctflow.manifolds import Sphere
            >>> Sphere(2).projx(torch.tensor([0.0, 0.0, 2.0]))
            tensor([0., 0., 1.])
        """
        self._check_all("projx", x=x)
        return self._projx(x)

    def proju(self, x: Tensor, u: Tensor) -> Tensor:
        """Project an ambient vector onto the tangent space at ``x``.

        Args:
            x: points on the manifold, shape ``(*batch, ambient_dim)``.
            u: ambient vectors, shape broadcastable with ``x``.

        Returns:
            Tangent vectors at ``x``, shape ``(*batch, ambient_dim)``.

        Examples:
            >>> import torch
            >>> from ctflow.manifolds import Sphere
            >>> Sphere(2).proju(torch.tensor([0.0, 0.0, 1.0]), torch.tensor([1.0, 2.0, 3.0]))
            tensor([1., 2., 0.])
        """
        self._check_all("proju", x=x, u=u)
        return self._proju(x, u)

    def expmap(self, x: Tensor, u: Tensor) -> Tensor:
        """Follow the geodesic from ``x`` with initial velocity ``u`` for unit time.

        Args:
            x: points on the manifold, shape ``(*batch, ambient_dim)``.
            u: tangent vectors at ``x``, shape broadcastable with ``x``.

        Returns:
            Points on the manifold, shape ``(*batch, ambient_dim)``.

        Examples:
            >>> import torch
            >>> from ctflow.manifolds import FlatTorus
            >>> FlatTorus(1).expmap(torch.tensor([6.0]), torch.tensor([1.0]))  # wraps past 2 pi
            tensor([0.7168])
        """
        self._check_all("expmap", x=x, u=u)
        return self._expmap(x, u)

    def logmap(self, x: Tensor, y: Tensor) -> Tensor:
        """Inverse of :meth:`expmap`: the tangent vector at ``x`` whose geodesic reaches ``y``.

        Args:
            x: base points, shape ``(*batch, ambient_dim)``.
            y: target points, shape broadcastable with ``x``.

        Returns:
            Tangent vectors at ``x``, shape ``(*batch, ambient_dim)``, of norm ``dist(x, y)``.

        Examples:
            >>> import torch
            >>> from ctflow.manifolds import Euclidean
            >>> Euclidean(2).logmap(torch.zeros(2), torch.tensor([1.0, 2.0]))
            tensor([1., 2.])
        """
        self._check_all("logmap", x=x, y=y)
        return self._logmap(x, y)

    def dist(self, x: Tensor, y: Tensor) -> Tensor:
        """Geodesic distance.

        Args:
            x: points, shape ``(*batch, ambient_dim)``.
            y: points, shape broadcastable with ``x``.

        Returns:
            Distances, shape ``(*batch,)``.

        Examples:
            >>> import torch
            >>> from ctflow.manifolds import Sphere
            >>> Sphere(2).dist(torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0]))
            tensor(1.5708)
        """
        self._check_all("dist", x=x, y=y)
        return self._dist(x, y)

    def inner(self, x: Tensor, u: Tensor, v: Tensor) -> Tensor:
        """Riemannian inner product of tangent vectors ``u`` and ``v`` at ``x``.

        Args:
            x: points, shape ``(*batch, ambient_dim)``.
            u: tangent vectors at ``x``, shape broadcastable with ``x``.
            v: tangent vectors at ``x``, shape broadcastable with ``x``.

        Returns:
            Inner products, shape ``(*batch,)``.

        Examples:
            >>> import torch
            >>> from ctflow.manifolds import Euclidean
            >>> Euclidean(2).inner(torch.zeros(2), torch.ones(2), torch.ones(2))
            tensor(2.)
        """
        self._check_all("inner", x=x, u=u, v=v)
        return self._inner(x, u, v)

    def norm(self, x: Tensor, u: Tensor) -> Tensor:
        """Riemannian norm of the tangent vector ``u`` at ``x``.

        Args:
            x: points, shape ``(*batch, ambient_dim)``.
            u: tangent vectors at ``x``, shape broadcastable with ``x``.

        Returns:
            Norms, shape ``(*batch,)``.

        Examples:
            >>> import torch
            >>> from ctflow.manifolds import Euclidean
            >>> Euclidean(2).norm(torch.zeros(2), torch.tensor([3.0, 4.0]))
            tensor(5.)
        """
        self._check_all("norm", x=x, u=u)
        return self._norm(x, u)

    def random_uniform(
        self,
        *size: int | Sequence[int],
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Sample from the uniform distribution (normalised Riemannian volume).

        Only compact manifolds have one; others raise ``ValueError``.

        Args:
            *size: batch shape, as ints or a single tuple (like ``torch.randn``).
            generator: optional random generator; its device is used when ``device`` is None.
            dtype: floating-point dtype of the result.
            device: device of the result.

        Returns:
            Points on the manifold, shape ``(*size, ambient_dim)``.

        Examples:
            >>> import torch
            >>> from ctflow.manifolds import Sphere
            >>> Sphere(2).random_uniform(5).shape
            torch.Size([5, 3])
        """
        shape = _parse_size(size)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
        if device is None and generator is not None:
            # torch refuses to sample on the default device with a generator from another one
            device = generator.device
        return self._random_uniform(shape, generator, dtype, device)

    def uniform_logprob(self, x: Tensor) -> Tensor:
        """Log-density of the uniform distribution w.r.t. the Riemannian volume.

        Args:
            x: points, shape ``(*batch, ambient_dim)``.

        Returns:
            The constant ``-log(volume)``, shape ``(*batch,)``, dtype and device of ``x``.

        Examples:
            >>> import torch
            >>> from ctflow.manifolds import FlatTorus
            >>> FlatTorus(1).uniform_logprob(torch.zeros(1))
            tensor(-1.8379)
        """
        self._check_all("uniform_logprob", x=x)
        return x.new_full(x.shape[:-1], -self.log_volume())

    def log_volume(self) -> float:
        """Log of the total Riemannian volume; only compact manifolds have a finite one.

        Returns:
            The log-volume as a Python float.

        Raises:
            ValueError: if the manifold is not compact.

        Examples:
            >>> from ctflow.manifolds import Sphere
            >>> round(Sphere(2).log_volume(), 3)  # log(4 pi)
            2.531
        """
        raise ValueError(f"{self!r} is not compact, so it has no finite volume")

    def check_point(self, x: Tensor, atol: float = 1e-5) -> Tensor:
        """Whether each ``x`` lies on the manifold up to ``atol``.

        Args:
            x: candidate points, shape ``(*batch, ambient_dim)``.
            atol: absolute tolerance.

        Returns:
            Bool tensor, shape ``(*batch,)``.

        Examples:
            >>> import torch
            >>> from ctflow.manifolds import Sphere
            >>> Sphere(1).check_point(torch.tensor([[1.0, 0.0], [1.0, 1.0]]))
            tensor([ True, False])
        """
        self._check_all("check_point", x=x)
        return self._check_point(x, _check_atol(atol))

    def check_tangent(self, x: Tensor, u: Tensor, atol: float = 1e-5) -> Tensor:
        """Whether each ``u`` lies in the tangent space at ``x`` up to ``atol``.

        Args:
            x: points on the manifold, shape ``(*batch, ambient_dim)``.
            u: candidate vectors, shape broadcastable with ``x``.
            atol: absolute tolerance on the distance between ``u`` and ``proju(x, u)``.

        Returns:
            Bool tensor, shape ``(*batch,)``.

        Examples:
            >>> import torch
            >>> from ctflow.manifolds import Sphere
            >>> Sphere(2).check_tangent(torch.tensor([0.0, 0, 1]), torch.tensor([1.0, 0, 0]))
            tensor(True)
        """
        self._check_all("check_tangent", x=x, u=u)
        atol = _check_atol(atol)
        residual = u - self._proju(x, u)
        return torch.linalg.vector_norm(residual, dim=-1) <= atol

    # ----------------------------------------------------------------- implementation hooks
    @abc.abstractmethod
    def _projx(self, x: Tensor) -> Tensor: ...

    @abc.abstractmethod
    def _proju(self, x: Tensor, u: Tensor) -> Tensor: ...

    @abc.abstractmethod
    def _expmap(self, x: Tensor, u: Tensor) -> Tensor: ...

    @abc.abstractmethod
    def _logmap(self, x: Tensor, y: Tensor) -> Tensor: ...

    @abc.abstractmethod
    def _check_point(self, x: Tensor, atol: float) -> Tensor: ...

    def _inner(self, x: Tensor, u: Tensor, v: Tensor) -> Tensor:
        # broadcast against x so the result always has the batch shape of all three
        return (u * v).sum(-1).expand(torch.broadcast_shapes(x.shape, u.shape, v.shape)[:-1])

    def _norm(self, x: Tensor, u: Tensor) -> Tensor:
        # vector_norm has a zero (not NaN) gradient at u = 0, unlike sqrt(inner)
        n = torch.linalg.vector_norm(u, dim=-1)
        return n.expand(torch.broadcast_shapes(x.shape, u.shape)[:-1])

    def _dist(self, x: Tensor, y: Tensor) -> Tensor:
        return self._norm(x, self._logmap(x, y))

    def _random_uniform(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator | None,
        dtype: torch.dtype,
        device: torch.device | str | None,
    ) -> Tensor:
        raise ValueError(f"{self!r} is not compact, so it has no uniform distribution")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"


def _parse_size(size: tuple[int | Sequence[int], ...]) -> tuple[int, ...]:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` like torch's factory functions."""
    if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)):
        size = tuple(size[0])
    for s in size:
        if isinstance(s, bool) or not isinstance(s, int):
            raise TypeError(f"size entries must be ints, got {size!r}")
        if s < 0:
            raise ValueError(f"size entries must be >= 0, got {size!r}")
    return tuple(size)  # type: ignore[arg-type]


def _check_atol(atol: float) -> float:
    if isinstance(atol, bool) or not isinstance(atol, (int, float)):
        raise TypeError(f"atol must be a number, got {type(atol).__name__}")
    if not atol >= 0:
        raise ValueError(f"atol must be >= 0, got {atol}")
    return float(atol)
