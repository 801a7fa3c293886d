"""More schedulers as paths, and a change of variables between any two of them.

Every affine path ``x_t = alpha(t) x1 + sigma(t) eps`` visits the same family of noisy data,
indexed by its signal-to-noise ratio ``snr = alpha / sigma``. So a velocity field trained on one
path serves any other: at time ``r`` of path B, find the time ``t`` of path A with the same SNR
and the scale ``s = sigma_B(r) / sigma_A(t)``; then ``x_B(r) = s x_A(t)`` pathwise and

    v_B(r, x) = (s'/s) x + s t' v_A(t, x / s),

with ``t' = (d log snr_B / dr) / (d log snr_A / dt)`` and
``s'/s = sigma_B'/sigma_B - t' sigma_A'/sigma_A``. :class:`ScheduleTransformedField` is that
field; every path here knows the inverse of its SNR in closed form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .._validate import check_real
from .diffusion import VEPath, VPPath
from .gaussian import AffineGaussianPath, CondOTPath

__all__ = [
    "CosinePath",
    "LinearVPPath",
    "PolynomialPath",
    "ScheduleTransformedField",
    "time_at_snr",
]


@dataclass(frozen=True)
class CosinePath(AffineGaussianPath):
    """The cosine schedule: ``alpha = sin(pi t / 2)``, ``sigma = cos(pi t / 2)``.

    Examples:
        >>> path = CosinePath()
        >>> round(float(path.alpha(0.5) ** 2 + path.sigma(0.5) ** 2), 6)  # variance preserving
        1.0
    """

    def _alpha(self, t: Tensor) -> Tensor:
        return torch.sin(0.5 * math.pi * t)

    def _sigma(self, t: Tensor) -> Tensor:
        return torch.cos(0.5 * math.pi * t)

    def _d_alpha(self, t: Tensor) -> Tensor:
        return 0.5 * math.pi * torch.cos(0.5 * math.pi * t)

    def _d_sigma(self, t: Tensor) -> Tensor:
        return -0.5 * math.pi * torch.sin(0.5 * math.pi * t)


@dataclass(frozen=True)
class PolynomialPath(AffineGaussianPath):
    """The polynomial schedule: ``alpha = t^n``, ``sigma = 1 - t^n`` (``n = 1``: the OT path).

    Args:
        n: the exponent, ``> 0``.

    Examples:
        >>> PolynomialPath(2.0).alpha(0.5), PolynomialPath(2.0).sigma(0.5)
        (tensor(0.2500), tensor(0.7500))
    """

    n: float = 2.0

    def __post_init__(self) -> None:
        n = check_real(self.n, "n")
        if n <= 0:
            raise ValueError(f"n must be > 0, got {n}")
        object.__setattr__(self, "n", n)

    def _alpha(self, t: Tensor) -> Tensor:
        return t**self.n

    def _sigma(self, t: Tensor) -> Tensor:
        return 1.0 - t**self.n

    def _d_alpha(self, t: Tensor) -> Tensor:
        return self.n * t ** (self.n - 1)

    def _d_sigma(self, t: Tensor) -> Tensor:
        return -self.n * t ** (self.n - 1)


@dataclass(frozen=True)
class LinearVPPath(AffineGaussianPath):
    """The linear variance-preserving schedule: ``alpha = t``, ``sigma = sqrt(1 - t^2)``.

    ``sigma'`` is infinite at ``t = 1``, so ``t_range = (0, t_max)``.

    Args:
        t_max: the end of ``t_range``, in ``(0, 1)``.

    Examples:
        >>> path = LinearVPPath()
        >>> round(float(path.alpha(0.6) ** 2 + path.sigma(0.6) ** 2), 6)
        1.0
    """

    t_max: float = 1.0 - 1e-5

    def __post_init__(self) -> None:
        t_max = check_real(self.t_max, "t_max")
        if not 0.0 < t_max < 1.0:
            raise ValueError(f"t_max must lie in (0, 1) (the path is singular at 1), got {t_max}")
        object.__setattr__(self, "t_max", t_max)

    @property
    def t_range(self) -> tuple[float, float]:
        """``(0, t_max)``: ``sigma'`` is infinite at ``t = 1``."""
        return (0.0, self.t_max)

    def _alpha(self, t: Tensor) -> Tensor:
        return t

    def _sigma(self, t: Tensor) -> Tensor:
        return torch.sqrt(1.0 - t * t)

    def _d_alpha(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def _d_sigma(self, t: Tensor) -> Tensor:
        return -t / torch.sqrt(1.0 - t * t)


def time_at_snr(path: AffineGaussianPath, snr: Tensor) -> Tensor:
    """The time ``t`` at which ``alpha(t) / sigma(t) = snr``, in closed form.

    Args:
        path: any path of :mod:`ctflow.paths` (CondOT, VP, VE, cosine, polynomial, linear VP).
        snr: signal-to-noise ratios ``> 0``, any shape.

    Returns:
        Times of ``snr``'s shape.

    Examples:
        >>> path = CosinePath()
        >>> t = torch.tensor([0.2, 0.7], dtype=torch.float64)
        >>> time_at_snr(path, path.alpha(t) / path.sigma(t))
        tensor([0.2000, 0.7000], dtype=torch.float64)
    """
    if isinstance(path, CondOTPath):  # t / (1 - (1 - s_min) t)
        return snr / (1.0 + (1.0 - path.sigma_min) * snr)
    if isinstance(path, CosinePath):
        return torch.atan(snr) * (2.0 / math.pi)
    if isinstance(path, PolynomialPath):
        return (snr / (1.0 + snr)) ** (1.0 / path.n)
    if isinstance(path, LinearVPPath):
        return snr / torch.sqrt(1.0 + snr * snr)
    if isinstance(path, VPPath):  # alpha^2 = snr^2 / (1 + snr^2) = exp(-T(1 - t))
        big_t = torch.log1p(1.0 / (snr * snr))
        a, b = 0.5 * (path.beta_max - path.beta_min), path.beta_min
        return 1.0 - (-b + torch.sqrt(b * b + 4.0 * a * big_t)) / (2.0 * a)
    if isinstance(path, VEPath):  # snr = 1 / sigma, sigma = s_min (s_max / s_min)^(1 - t)
        return 1.0 + torch.log(snr * path.sigma_min) / math.log(path.sigma_max / path.sigma_min)
    raise TypeError(f"no closed-form inverse SNR for {type(path).__name__}")


def _dlog_snr(path: AffineGaussianPath, t: Tensor) -> Tensor:
    return path.d_alpha(t) / path.alpha(t) - path.d_sigma(t) / path.sigma(t)


class ScheduleTransformedField(nn.Module):
    """A velocity field trained on path ``trained_on``, rewritten for path ``sample_with``.

    The map holds for any two paths, as both are written in the same standard noise ``eps``
    (``x0 / source_scale``): sample from ``sample_with``'s source. The times where either path
    has ``alpha = 0`` or ``sigma = 0`` are singular for the map; integrate over the interior,
    e.g. from ``1e-4`` to ``sample_with.t_range[1] - 1e-4``.

    Args:
        field: ``field(t, x[, c])``, a velocity on ``trained_on``.
        trained_on: the path the field was trained on.
        sample_with: the path to sample with.

    Shapes: ``r`` is 0-d or of ``x``'s batch shape; ``x`` is ``(*batch, D)``; returns ``x``'s
    shape.

    Examples:
        >>> from ctflow.nn import TimeMLP
        >>> v = ScheduleTransformedField(TimeMLP(2), CondOTPath(), CosinePath())
        >>> v(torch.tensor(0.3), torch.randn(5, 2)).shape
        torch.Size([5, 2])
    """

    def __init__(
        self, field: nn.Module, trained_on: AffineGaussianPath, sample_with: AffineGaussianPath
    ):
        super().__init__()
        for name, path in (("trained_on", trained_on), ("sample_with", sample_with)):
            if not isinstance(path, AffineGaussianPath):
                raise TypeError(f"{name} must be a path of ctflow.paths, got {path!r}")
        self.field, self.trained_on, self.sample_with = field, trained_on, sample_with

    def forward(self, r: Tensor | float, x: Tensor, c: Tensor | None = None) -> Tensor:
        A, B = self.trained_on, self.sample_with
        r = torch.as_tensor(r, dtype=x.dtype, device=x.device)
        t = time_at_snr(A, B.alpha(r) / B.sigma(r))
        dt_dr = _dlog_snr(B, r) / _dlog_snr(A, t)
        s = B.sigma(r) / A.sigma(t)
        dlog_s = B.d_sigma(r) / B.sigma(r) - dt_dr * A.d_sigma(t) / A.sigma(t)
        pad = (...,) + (None,) * (x.dim() - r.dim())  # broadcast the times over x's features
        y = x / s[pad]
        v = self.field(t, y) if c is None else self.field(t, y, c)
        return dlog_s[pad] * x + (s * dt_dr)[pad] * v
