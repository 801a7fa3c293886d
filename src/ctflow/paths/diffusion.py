"""The diffusion paths of score-based models, as affine Gaussian paths: variance preserving
(DDPM) and variance exploding. Time runs from noise (``t = 0``) to data (``t = 1``) as in
:mod:`.gaussian`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ctflow._validate import check_real

from .gaussian import AffineGaussianPath

__all__ = ["VPPath", "VEPath"]


@dataclass(frozen=True)
class VPPath(AffineGaussianPath):
    """The variance-preserving (DDPM) path: ``alpha = a_{1-t}``, ``sigma = sqrt(1 - a_{1-t}^2)``.

    ``a_s = exp(-T(s) / 2)`` with ``T(s) = beta_min s + (beta_max - beta_min) s^2 / 2``. At
    ``t = 0`` alpha is small but not 0 (``exp(-5.025) = 6.6e-3`` for the defaults), so
    ``p_0 ~ N(0, I)`` only approximately. At ``t = 1`` sigma is 0 and ``sigma'`` infinite: the
    path (and the velocity of any model on it) is singular there, so ``t_range = (0, t_max)``;
    train on it and integrate samplers to ``t_range[1]``.

    Args:
        beta_min: noise rate at the data end, ``> 0``.
        beta_max: noise rate at the noise end, ``> beta_min``.
        t_max: the end of ``t_range``, in ``(0, 1)``.

    Examples:
        >>> path = VPPath()
        >>> path.t_range
        (0.0, 0.99999)
        >>> bool(path.alpha(0.0) ** 2 + path.sigma(0.0) ** 2 - 1 < 1e-6)
        True
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    t_max: float = 1.0 - 1e-5

    def __post_init__(self) -> None:
        beta_min = check_real(self.beta_min, "beta_min")
        beta_max = check_real(self.beta_max, "beta_max")
        t_max = check_real(self.t_max, "t_max")
        if beta_min <= 0.0:
            raise ValueError(f"beta_min must be > 0, got {beta_min}")
        if beta_max <= beta_min:
            raise ValueError(f"beta_max must be > beta_min={beta_min}, got {beta_max}")
        if not 0.0 < t_max < 1.0:
            raise ValueError(f"t_max must lie in (0, 1) (the path is singular at 1), got {t_max}")
        object.__setattr__(self, "beta_min", beta_min)
        object.__setattr__(self, "beta_max", beta_max)
        object.__setattr__(self, "t_max", t_max)

    @property
    def t_range(self) -> tuple[float, float]:
        """``(0, t_max)``: the path is singular at ``t = 1``."""
        return (0.0, self.t_max)

    def _big_t(self, s: Tensor) -> Tensor:
        return self.beta_min * s + 0.5 * (self.beta_max - self.beta_min) * s * s

    def _d_big_t(self, s: Tensor) -> Tensor:
        return self.beta_min + (self.beta_max - self.beta_min) * s

    def _alpha(self, t: Tensor) -> Tensor:
        return torch.exp(-0.5 * self._big_t(1.0 - t))

    def _sigma(self, t: Tensor) -> Tensor:
        # 1 - exp(-T) via expm1: exact near t = 1 where T -> 0
        return torch.sqrt(-torch.expm1(-self._big_t(1.0 - t)))

    def _d_alpha(self, t: Tensor) -> Tensor:
        s = 1.0 - t  # d/dt = -d/ds, which cancels the minus of d exp(-T/2)/ds
        return 0.5 * self._d_big_t(s) * torch.exp(-0.5 * self._big_t(s))

    def _d_sigma(self, t: Tensor) -> Tensor:
        # sigma^2 = 1 - alpha^2, so sigma' = -alpha alpha' / sigma
        s = 1.0 - t
        alpha_sq = torch.exp(-self._big_t(s))
        return -0.5 * self._d_big_t(s) * alpha_sq / self._sigma(t)


@dataclass(frozen=True)
class VEPath(AffineGaussianPath):
    """The variance-exploding path: ``alpha = 1``, ``sigma = s_min (s_max / s_min)^(1 - t)``.

    Its source is ``N(0, sigma_max^2 I)``, not ``N(0, I)``: ``source_scale = sigma_max``, so draw
    ``x0 = sigma_max * randn`` and start samplers from it. ``x_t = x1 + sigma(t) x0 / sigma_max``,
    hence ``x_0 = x1 + x0`` (``p_0`` is the data blurred by ``sigma_max``, close to the source when
    ``sigma_max`` exceeds the data's spread) and ``x_1 = x1 + sigma_min x0 / sigma_max``.

    Args:
        sigma_min: the noise level at ``t = 1``, ``> 0``.
        sigma_max: the noise level at ``t = 0``, ``> sigma_min``. The default 10 suits 2-D toy
            data of spread up to about 10 (e.g. the checkerboard scaled by 1/0.45, max pairwise
            distance about 12); use about the largest pairwise distance of the data.

    Examples:
        >>> path = VEPath()
        >>> path.source_scale, path.sigma(0.0), path.sigma(1.0)
        (10.0, tensor(10.0000), tensor(0.0100))
    """

    sigma_min: float = 0.01
    sigma_max: float = 10.0

    def __post_init__(self) -> None:
        sigma_min = check_real(self.sigma_min, "sigma_min")
        sigma_max = check_real(self.sigma_max, "sigma_max")
        if sigma_min <= 0.0:
            raise ValueError(f"sigma_min must be > 0 (the schedule is geometric), got {sigma_min}")
        if sigma_max <= sigma_min:
            raise ValueError(f"sigma_max must be > sigma_min={sigma_min}, got {sigma_max}")
        object.__setattr__(self, "sigma_min", sigma_min)
        object.__setattr__(self, "sigma_max", sigma_max)

    @property
    def source_scale(self) -> float:  # type: ignore[override]
        """``sigma_max``: the source distribution is ``N(0, sigma_max^2 I)``."""
        return self.sigma_max

    @property
    def _log_ratio(self) -> float:
        return math.log(self.sigma_max / self.sigma_min)

    def _alpha(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def _sigma(self, t: Tensor) -> Tensor:
        return self.sigma_min * torch.exp((1.0 - t) * self._log_ratio)

    def _d_alpha(self, t: Tensor) -> Tensor:
        return torch.zeros_like(t)

    def _d_sigma(self, t: Tensor) -> Tensor:
        return -self._log_ratio * self._sigma(t)
