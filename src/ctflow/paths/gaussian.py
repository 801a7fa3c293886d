"""Affine Gaussian probability paths ``x_t = alpha(t) x1 + sigma(t) eps`` (Flow Matching, Sec. 4).

Time runs from ``t = 0`` (the source, noise) to ``t = 1`` (the data). A path fixes the conditional
``p_t(x | x1) = N(alpha(t) x1, sigma(t)^2 I)``; its conditional velocity is
``u_t(x_t | x1) = alpha'(t) x1 + sigma'(t) eps``, the regression target of flow matching.

``x0`` always denotes a draw from the *source* distribution ``N(0, source_scale^2 I)`` and
``eps = x0 / source_scale`` the standard noise; ``source_scale`` is 1 except for the VE path
(:mod:`.diffusion`).

Time arguments: a float, a 0-d tensor, or a tensor whose shape is a prefix of ``x``'s shape (the
batch shape, one time per example, e.g. ``(B,)`` for ``x`` of shape ``(B, D)`` or ``(B, C, H, W)``).
It is padded with trailing singleton dims to broadcast against ``x``'s event dims.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
from torch import Tensor

from ctflow._validate import check_finite, check_in_range, check_real

__all__ = ["PathSample", "AffineGaussianPath", "CondOTPath"]

TimeLike = Tensor | float


@dataclass
class PathSample:
    """One draw from a path: the point ``x_t``, its conditional velocity, and what made it.

    Attributes:
        x_t: ``alpha(t) x1 + sigma(t) eps``, shape ``(*batch, *event)``.
        dx_t: the conditional target velocity ``alpha'(t) x1 + sigma'(t) eps``, same shape.
        t: the times as given (0-d or of batch shape), in ``x1``'s dtype.
        x0: the source draw, shape ``(*batch, *event)``.
        x1: the data, shape ``(*batch, *event)``.
    """

    x_t: Tensor
    dx_t: Tensor
    t: Tensor
    x0: Tensor
    x1: Tensor


class AffineGaussianPath:
    """Base class of the paths ``x_t = alpha(t) x1 + sigma(t) eps``, ``eps = x0 / source_scale``.

    Subclasses define ``_alpha``, ``_sigma``, ``_d_alpha``, ``_d_sigma`` on tensors. The base gives
    sampling and the conversions between what a model at ``(x_t, t)`` may predict: the velocity
    ``v``, the noise ``eps``, the data ``x1`` and the score ``grad log p_t``. With ``a = alpha(t)``,
    ``s = sigma(t)`` and ``det = a s' - a' s`` (never 0 on the paths here):

    - ``v = (a' x + det * eps) / a`` (needs ``a > 0``),
    - ``v = (s' x - det * x1) / s`` (needs ``s > 0``),
    - ``v = (a' x - s det * score) / a``, i.e. ``(a'/a) x + (a' s^2 / a - s s') score``,
    - ``eps = (a v - a' x) / det`` and ``x1 = (s' x - s v) / det`` (no division by a or s).

    Applied to a model's marginal prediction (``E[eps | x_t]``, ``E[x1 | x_t]``, the marginal
    score) they give the marginal velocity, the field whose flow carries ``p_0`` to ``p_1``.

    Examples:
        >>> path = CondOTPath()
        >>> x0, x1 = torch.randn(8, 2), torch.randn(8, 2)
        >>> s = path.sample(x0, x1, torch.rand(8))
        >>> torch.allclose(s.dx_t, x1 - x0)
        True
    """

    #: standard deviation of the source ``N(0, source_scale^2 I)`` that ``x0`` is drawn from
    source_scale: float = 1.0

    @property
    def t_range(self) -> tuple[float, float]:
        """``(t_min, t_max)``: the interval a trainer samples ``t`` from and a sampler spans."""
        return (0.0, 1.0)

    def alpha(self, t: TimeLike) -> Tensor:
        """The data coefficient ``alpha(t)``, elementwise, of ``t``'s shape."""
        return self._alpha(_as_time(t))

    def sigma(self, t: TimeLike) -> Tensor:
        """The noise standard deviation ``sigma(t)``, elementwise, of ``t``'s shape."""
        return self._sigma(_as_time(t))

    def d_alpha(self, t: TimeLike) -> Tensor:
        """The exact derivative ``d alpha / dt``, elementwise, of ``t``'s shape."""
        return self._d_alpha(_as_time(t))

    def d_sigma(self, t: TimeLike) -> Tensor:
        """The exact derivative ``d sigma / dt``, elementwise, of ``t``'s shape."""
        return self._d_sigma(_as_time(t))

    def sample(self, x0: Tensor, x1: Tensor, t: TimeLike) -> PathSample:
        """Points on the conditional paths from ``x0`` to ``x1`` at time ``t``, and their velocity.

        Args:
            x0: source draws, shape ``(*batch, *event)``, from ``N(0, source_scale^2 I)``.
            x1: data, shape ``(*batch, *event)``.
            t: a float, a 0-d tensor, or a tensor of shape ``batch`` (any prefix of ``x1.shape``).

        Returns:
            A :class:`PathSample` with ``x_t`` and ``dx_t`` of shape ``x1.shape``.

        Examples:
            >>> from ctflow.paths import VPPath
            >>> path = VPPath()
            >>> s = path.sample(torch.randn(4, 3), torch.randn(4, 3), torch.rand(4) * 0.9)
            >>> s.x_t.shape, s.dx_t.shape
            (torch.Size([4, 3]), torch.Size([4, 3]))
        """
        return self._sample(x0, x1, _check_sample_inputs(x0, x1, t))

    def _sample(self, x0: Tensor, x1: Tensor, t: Tensor) -> PathSample:
        """:meth:`sample` on inputs already checked (losses check once, not on every step);
        ``t`` is a tensor in ``x1``'s dtype. Subclasses with a cheaper formula override this."""
        a, s, da, ds = self._coefficients(t, x1)
        eps = x0 / self.source_scale if self.source_scale != 1.0 else x0
        return PathSample(x_t=a * x1 + s * eps, dx_t=da * x1 + ds * eps, t=t, x0=x0, x1=x1)

    def velocity_from_eps(self, x_t: Tensor, eps: Tensor, t: TimeLike) -> Tensor:
        """The velocity from a noise prediction: ``(a' x_t + det * eps) / a``.

        Args:
            x_t: points, shape ``(*batch, *event)``.
            eps: predicted standard noise ``E[eps | x_t]``, same shape.
            t: time(s), see the module docstring; needs ``alpha(t) > 0``.

        Returns:
            The velocity, shape ``x_t.shape``.

        Examples:
            >>> from ctflow.paths import VPPath
            >>> path, x, e = VPPath(), torch.randn(5, 2), torch.randn(5, 2)
            >>> v = path.velocity_from_eps(x, e, 0.5)
            >>> torch.allclose(path.eps_from_velocity(x, v, 0.5), e, atol=1e-5)
            True
        """
        _check_pair(x_t, "x_t", eps, "eps")
        a, s, da, ds = self._coefficients(t, x_t)
        return (da * x_t + (a * ds - da * s) * eps) / a

    def velocity_from_x1(self, x_t: Tensor, x1_hat: Tensor, t: TimeLike) -> Tensor:
        """The velocity from a data prediction: ``(s' x_t - det * x1_hat) / s``.

        Args:
            x_t: points, shape ``(*batch, *event)``.
            x1_hat: predicted data ``E[x1 | x_t]``, same shape.
            t: time(s), see the module docstring; needs ``sigma(t) > 0``.

        Returns:
            The velocity, shape ``x_t.shape``.

        Examples:
            >>> path, x, y = CondOTPath(), torch.randn(5, 2), torch.randn(5, 2)
            >>> v = path.velocity_from_x1(x, y, 0.3)
            >>> torch.allclose(path.x1_from_velocity(x, v, 0.3), y, atol=1e-5)
            True
        """
        _check_pair(x_t, "x_t", x1_hat, "x1_hat")
        a, s, da, ds = self._coefficients(t, x_t)
        return (ds * x_t - (a * ds - da * s) * x1_hat) / s

    def velocity_from_score(self, x_t: Tensor, score: Tensor, t: TimeLike) -> Tensor:
        """The probability-flow velocity from a score: ``(a'/a) x_t + (a' s^2 / a - s s') score``.

        Args:
            x_t: points, shape ``(*batch, *event)``.
            score: ``grad_x log p_t(x_t)``, same shape.
            t: time(s), see the module docstring; needs ``alpha(t) > 0``.

        Returns:
            The velocity, shape ``x_t.shape``.

        Examples:
            >>> from ctflow.paths import VEPath
            >>> path, x1, x = VEPath(), torch.zeros(5, 2), torch.randn(5, 2)
            >>> score = -x / path.sigma(0.5) ** 2  # exact score for the data point 0
            >>> path.velocity_from_score(x, score, 0.5).shape
            torch.Size([5, 2])
        """
        _check_pair(x_t, "x_t", score, "score")
        a, s, da, ds = self._coefficients(t, x_t)
        # s * det written out so that s * s' stays finite where s -> 0 and s' -> -inf (VP, t -> 1)
        return (da * x_t - (a * (s * ds) - da * s * s) * score) / a

    def eps_from_velocity(self, x_t: Tensor, v: Tensor, t: TimeLike) -> Tensor:
        """The noise implied by a velocity: ``(a v - a' x_t) / det``.

        Args:
            x_t: points, shape ``(*batch, *event)``.
            v: velocity at ``(x_t, t)``, same shape.
            t: time(s), see the module docstring.

        Returns:
            ``E[eps | x_t]`` if ``v`` is the marginal velocity, shape ``x_t.shape``.

        Examples:
            >>> path, x0, x1 = CondOTPath(), torch.randn(5, 2), torch.randn(5, 2)
            >>> s = path.sample(x0, x1, 0.4)
            >>> torch.allclose(path.eps_from_velocity(s.x_t, s.dx_t, 0.4), x0, atol=1e-5)
            True
        """
        _check_pair(x_t, "x_t", v, "v")
        a, s, da, ds = self._coefficients(t, x_t)
        return (a * v - da * x_t) / (a * ds - da * s)

    def x1_from_velocity(self, x_t: Tensor, v: Tensor, t: TimeLike) -> Tensor:
        """The data implied by a velocity: ``(s' x_t - s v) / det``.

        Args:
            x_t: points, shape ``(*batch, *event)``.
            v: velocity at ``(x_t, t)``, same shape.
            t: time(s), see the module docstring.

        Returns:
            ``E[x1 | x_t]`` if ``v`` is the marginal velocity, shape ``x_t.shape``.

        Examples:
            >>> path, x0, x1 = CondOTPath(), torch.randn(5, 2), torch.randn(5, 2)
            >>> s = path.sample(x0, x1, 0.4)
            >>> torch.allclose(path.x1_from_velocity(s.x_t, s.dx_t, 0.4), x1, atol=1e-5)
            True
        """
        _check_pair(x_t, "x_t", v, "v")
        a, s, da, ds = self._coefficients(t, x_t)
        return (ds * x_t - s * v) / (a * ds - da * s)

    def score_from_eps(self, eps: Tensor, t: TimeLike) -> Tensor:
        """The score implied by a noise prediction: ``-eps / sigma(t)``.

        Args:
            eps: predicted standard noise, shape ``(*batch, *event)``.
            t: time(s), see the module docstring; needs ``sigma(t) > 0``.

        Returns:
            The score, shape ``eps.shape``.

        Examples:
            >>> CondOTPath().score_from_eps(torch.ones(3, 2), 0.5)[0]
            tensor([-2., -2.])
        """
        _check_tensor(eps, "eps")
        return -eps / self._sigma(_broadcast_time(_as_time(t, like=eps), eps))

    def score_from_velocity(self, x_t: Tensor, v: Tensor, t: TimeLike) -> Tensor:
        """The score implied by a velocity: ``-eps_from_velocity(x_t, v, t) / sigma(t)``.

        Args:
            x_t: points, shape ``(*batch, *event)``.
            v: velocity at ``(x_t, t)``, same shape.
            t: time(s), see the module docstring; needs ``sigma(t) > 0``.

        Returns:
            The score, shape ``x_t.shape``.

        Examples:
            >>> path, x = CondOTPath(), torch.randn(5, 2)
            >>> v = path.velocity_from_score(x, -x, 0.5)
            >>> torch.allclose(path.score_from_velocity(x, v, 0.5), -x, atol=1e-5)
            True
        """
        return self.score_from_eps(self.eps_from_velocity(x_t, v, t), t)

    def _coefficients(self, t: TimeLike, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(alpha, sigma, alpha', sigma')`` at ``t``, shaped to broadcast against ``x``."""
        t = _broadcast_time(_as_time(t, like=x), x)
        return self._alpha(t), self._sigma(t), self._d_alpha(t), self._d_sigma(t)

    def _alpha(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def _sigma(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def _d_alpha(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def _d_sigma(self, t: Tensor) -> Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class CondOTPath(AffineGaussianPath):
    """The paper's optimal-transport path: ``alpha = t``, ``sigma = 1 - (1 - sigma_min) t``.

    The conditional target ``x1 - (1 - sigma_min) x0`` does not depend on ``t``; at ``t = 1``,
    ``x_1 = x1 + sigma_min x0``. The eps and score parameterisations divide by ``alpha`` and are
    singular at ``t = 0``; the x1 one is singular at ``t = 1`` when ``sigma_min = 0``.

    Args:
        sigma_min: the width of the conditional at ``t = 1``, in ``[0, 1)``. The paper gives no
            value; 0 is the reference library's default, 1e-4 is common.

    Examples:
        >>> path = CondOTPath(sigma_min=1e-4)
        >>> path.alpha(0.25), path.sigma(1.0)
        (tensor(0.2500), tensor(0.0001))
    """

    sigma_min: float = 0.0

    def __post_init__(self) -> None:
        value = check_real(self.sigma_min, "sigma_min")
        if not 0.0 <= value < 1.0:
            raise ValueError(f"sigma_min must lie in [0, 1), got {value}")
        object.__setattr__(self, "sigma_min", value)

    def _sample(self, x0: Tensor, x1: Tensor, t: Tensor) -> PathSample:
        # the general formula costs four coefficient tensors; this path needs three ops:
        # dx_t = x1 - (1 - sigma_min) x0 and x_t = x0 + t dx_t
        dx_t = x1 - x0 if self.sigma_min == 0.0 else x1 - (1.0 - self.sigma_min) * x0
        x_t = torch.addcmul(x0, _broadcast_time(t, x1), dx_t)
        return PathSample(x_t=x_t, dx_t=dx_t, t=t, x0=x0, x1=x1)

    def _alpha(self, t: Tensor) -> Tensor:
        return t

    def _sigma(self, t: Tensor) -> Tensor:
        return 1.0 - (1.0 - self.sigma_min) * t

    def _d_alpha(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def _d_sigma(self, t: Tensor) -> Tensor:
        return torch.full_like(t, -(1.0 - self.sigma_min))


def _check_tensor(x: object, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")


def _check_pair(x: Tensor, x_name: str, y: Tensor, y_name: str) -> None:
    _check_tensor(x, x_name)
    _check_tensor(y, y_name)
    if x.shape != y.shape:
        raise ValueError(
            f"{x_name} and {y_name} must have the same shape, got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
    if x.dtype != y.dtype:
        raise TypeError(f"{x_name} and {y_name} must share a dtype, got {x.dtype} and {y.dtype}")


def _check_sample_inputs(x0: Tensor, x1: Tensor, t: object) -> Tensor:
    """Validate the arguments of ``sample`` and return ``t`` as a tensor in ``x1``'s dtype."""
    _check_pair(x0, "x0", x1, "x1")
    check_finite(x0, "x0")
    check_finite(x1, "x1")
    t = _as_time(t, like=x1)
    check_in_range(t, 0.0, 1.0, "t")
    return t


def _as_time(t: object, like: Tensor | None = None) -> Tensor:
    """``t`` as a floating tensor (in ``like``'s dtype and device when given)."""
    if isinstance(t, Tensor):
        if t.dtype == torch.bool or t.is_complex():
            raise TypeError(f"t must be a real tensor, got dtype {t.dtype}")
        if like is not None:
            return t.to(dtype=like.dtype, device=like.device)
        return t if t.is_floating_point() else t.to(torch.get_default_dtype())
    if isinstance(t, bool) or not isinstance(t, numbers.Real):
        raise TypeError(f"t must be a float or a tensor, got {type(t).__name__}")
    if like is not None:
        return torch.tensor(float(t), dtype=like.dtype, device=like.device)
    return torch.tensor(float(t))


def _broadcast_time(t: Tensor, x: Tensor) -> Tensor:
    """Pad ``t`` (0-d or of a batch shape that prefixes ``x.shape``) to broadcast against ``x``."""
    ok = t.dim() <= x.dim() and all(n in (1, m) for n, m in zip(t.shape, x.shape))
    if not ok:
        raise ValueError(
            f"t must be 0-d or have a batch shape that prefixes x's shape {tuple(x.shape)}, "
            f"got t of shape {tuple(t.shape)}"
        )
    return t.reshape(*t.shape, *([1] * (x.dim() - t.dim())))
