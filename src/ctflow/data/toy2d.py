"""Two-dimensional toy densities for training and checking 2-D generative models.

Every sampler draws its randomness only from the ``generator`` it is given, so a seeded generator
reproduces a run exactly. Samples are computed in float64 and cast to ``dtype`` at the end, so the
same seed gives the same points (up to rounding) whatever ``dtype`` is asked for.

Two datasets have an analytic log-density (``checkerboard`` and ``8gaussians``); only
``checkerboard`` has a closed-form differential entropy.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .._validate import check_finite

__all__ = [
    "TOY_DATASETS",
    "has_log_prob",
    "sample_8gaussians",
    "sample_checkerboard",
    "sample_moons",
    "sample_pinwheel",
    "sample_spirals",
    "sample_toy",
    "toy_entropy",
    "toy_entropy_mc",
    "toy_log_prob",
]

# checkerboard: 8 unit squares of a 4x4 board on [-2, 2)^2, then divided by this scale
_CHECKER_SCALE = 0.45
_CHECKER_AREA = 8.0 / _CHECKER_SCALE**2

# 8gaussians: FFJORD's centres at radius 4 with std 0.5, both divided by sqrt(2)
_GAUSS_COUNT = 8
_GAUSS_RADIUS = 4.0 / math.sqrt(2.0)
_GAUSS_STD = 0.5 / math.sqrt(2.0)

# moons: half circles as in scikit-learn's make_moons, with Gaussian noise of this std
_MOONS_NOISE = 0.1
_MOONS_MEAN = (0.5, 0.25)
# exact per-axis variances of the noisy two-moon mixture (angle uniform on [0, pi])
_MOONS_VAR_X = 0.75 + _MOONS_NOISE**2
_MOONS_VAR_Y = 0.5 - 4.0 / math.pi**2 + (2.0 / math.pi - 0.25) ** 2 + _MOONS_NOISE**2
# one isotropic scale keeps the moons' shape; the per-axis variances then average to 1
_MOONS_SCALE = math.sqrt((_MOONS_VAR_X + _MOONS_VAR_Y) / 2.0)


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int (the number of samples), got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")


def _check_dtype(dtype: torch.dtype) -> None:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")


def _device(generator: torch.Generator | None) -> torch.device:
    if generator is None:
        return torch.device("cpu")
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    return generator.device


def _rand(shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    return torch.rand(shape, generator=generator, dtype=torch.float64, device=_device(generator))


def _randn(shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    return torch.randn(shape, generator=generator, dtype=torch.float64, device=_device(generator))


def _randint(high: int, n: int, generator: torch.Generator | None) -> Tensor:
    return torch.randint(high, (n,), generator=generator, device=_device(generator))


def sample_checkerboard(
    n: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Uniform samples on 8 squares of a 4x4 checkerboard, scaled by ``1 / 0.45``.

    ``u1 ~ U[-2, 2)``, ``u2 = U[0, 1) - 2k + (floor(u1) mod 2)`` with ``k`` uniform on ``{0, 1}``,
    and the returned point is ``(u1, u2) / 0.45``.

    Args:
        n: number of samples.
        generator: the only source of randomness; ``None`` uses torch's global generator.
        dtype: floating dtype of the result.

    Returns:
        Samples of shape ``(n, 2)``.
    """
    _check_n(n)
    _check_dtype(dtype)
    u1 = 4.0 * _rand((n,), generator) - 2.0
    k = _randint(2, n, generator).to(torch.float64)
    u2 = _rand((n,), generator) - 2.0 * k + torch.remainder(torch.floor(u1), 2.0)
    return (torch.stack([u1, u2], dim=-1) / _CHECKER_SCALE).to(dtype)


def _gauss_centres(dtype: torch.dtype, device: torch.device) -> Tensor:
    angles = torch.arange(_GAUSS_COUNT, dtype=dtype, device=device) * (math.pi / 4.0)
    return _GAUSS_RADIUS * torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)


def sample_8gaussians(
    n: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Equal-weight mixture of 8 isotropic Gaussians on a circle (FFJORD's ``8gaussians``).

    Centres sit at radius ``4 / sqrt(2)`` and angles ``k * pi / 4``; each component has standard
    deviation ``0.5 / sqrt(2)``.

    Args:
        n: number of samples.
        generator: the only source of randomness; ``None`` uses torch's global generator.
        dtype: floating dtype of the result.

    Returns:
        Samples of shape ``(n, 2)``.
    """
    _check_n(n)
    _check_dtype(dtype)
    component = _randint(_GAUSS_COUNT, n, generator)
    centres = _gauss_centres(torch.float64, _device(generator))[component]
    return (centres + _GAUSS_STD * _randn((n, 2), generator)).to(dtype)


def sample_moons(
    n: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Two interleaved half circles with Gaussian noise of std 0.1, centred and rescaled.

    The raw moons are ``(cos t, sin t)`` and ``(1 - cos t, 1/2 - sin t)`` with ``t ~ U[0, pi]``
    and a fair coin choosing the moon. They are shifted by their exact mean and divided by one
    isotropic scale, so the mean is 0 and the two per-axis variances average to 1.

    Args:
        n: number of samples.
        generator: the only source of randomness; ``None`` uses torch's global generator.
        dtype: floating dtype of the result.

    Returns:
        Samples of shape ``(n, 2)``.
    """
    _check_n(n)
    _check_dtype(dtype)
    upper = _randint(2, n, generator).bool()
    t = math.pi * _rand((n,), generator)
    px = torch.where(upper, torch.cos(t), 1.0 - torch.cos(t))
    py = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t))
    points = torch.stack([px, py], dim=-1) + _MOONS_NOISE * _randn((n, 2), generator)
    mean = torch.tensor(_MOONS_MEAN, dtype=torch.float64, device=points.device)
    return ((points - mean) / _MOONS_SCALE).to(dtype)


def sample_spirals(
    n: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Two interleaved spiral arms (FFJORD-like ``2spirals``, radius up to about 3.5).

    Along each arm the angle is ``theta = 3 pi sqrt(U)`` and the radius grows like ``theta / 3``;
    the second arm is the first rotated by pi. Points get uniform jitter and Gaussian noise.

    Args:
        n: number of samples.
        generator: the only source of randomness; ``None`` uses torch's global generator.
        dtype: floating dtype of the result.

    Returns:
        Samples of shape ``(n, 2)``.
    """
    _check_n(n)
    _check_dtype(dtype)
    sign = 1.0 - 2.0 * _randint(2, n, generator).to(torch.float64)
    # sqrt spreads points more evenly along the arm, whose length grows with theta
    theta = 3.0 * math.pi * torch.sqrt(_rand((n,), generator))
    arm = theta.unsqueeze(-1) * torch.stack([-torch.cos(theta), torch.sin(theta)], dim=-1)
    arm = arm + 0.5 * _rand((n, 2), generator)
    return (sign.unsqueeze(-1) * arm / 3.0 + 0.1 * _randn((n, 2), generator)).to(dtype)


def sample_pinwheel(
    n: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Five curved radial arms (FFJORD-like ``pinwheel``).

    Each point starts at ``(1 + 0.3 e1, 0.1 e2)`` with standard normal ``e``, is rotated by
    ``2 pi j / 5 + 0.25 exp(1 + 0.3 e1)`` for a uniformly chosen arm ``j``, and is scaled by 2.

    Args:
        n: number of samples.
        generator: the only source of randomness; ``None`` uses torch's global generator.
        dtype: floating dtype of the result.

    Returns:
        Samples of shape ``(n, 2)``.
    """
    _check_n(n)
    _check_dtype(dtype)
    arm = _randint(5, n, generator).to(torch.float64)
    noise = _randn((n, 2), generator)
    radial = 1.0 + 0.3 * noise[:, 0]
    tangential = 0.1 * noise[:, 1]
    # the rotation grows with the radial position, which is what curls the arms
    angle = 2.0 * math.pi * arm / 5.0 + 0.25 * torch.exp(radial)
    cos, sin = torch.cos(angle), torch.sin(angle)
    points = torch.stack([radial * cos - tangential * sin, radial * sin + tangential * cos], -1)
    return (2.0 * points).to(dtype)


def _checkerboard_log_prob(x: Tensor) -> Tensor:
    u = x.to(torch.float64) * _CHECKER_SCALE
    col = torch.floor(u[..., 0])
    row = torch.floor(u[..., 1])
    parity = torch.remainder(col, 2.0)
    inside = (col >= -2) & (col <= 1) & ((row == parity) | (row == parity - 2.0))
    log_p = torch.full_like(u[..., 0], -math.inf)
    log_p = log_p.masked_fill(inside, -math.log(_CHECKER_AREA))
    log_p = log_p.masked_fill(torch.isnan(u).any(dim=-1), math.nan)
    return log_p.to(x.dtype)


def _eight_gaussians_log_prob(x: Tensor) -> Tensor:
    centres = _gauss_centres(x.dtype, x.device)
    sq_dist = (x.unsqueeze(-2) - centres).square().sum(dim=-1)
    log_norm = math.log(_GAUSS_COUNT) + math.log(2.0 * math.pi * _GAUSS_STD**2)
    return torch.logsumexp(-sq_dist / (2.0 * _GAUSS_STD**2), dim=-1) - log_norm


_SAMPLERS: dict[str, Callable[..., Tensor]] = {
    "checkerboard": sample_checkerboard,
    "8gaussians": sample_8gaussians,
    "moons": sample_moons,
    "spirals": sample_spirals,
    "pinwheel": sample_pinwheel,
}
_LOG_PROBS: dict[str, Callable[[Tensor], Tensor]] = {
    "checkerboard": _checkerboard_log_prob,
    "8gaussians": _eight_gaussians_log_prob,
}
_ENTROPIES: dict[str, float] = {"checkerboard": math.log(_CHECKER_AREA)}

TOY_DATASETS: tuple[str, ...] = tuple(_SAMPLERS)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or name not in _SAMPLERS:
        raise ValueError(f"unknown toy dataset {name!r}; choose one of: {', '.join(TOY_DATASETS)}")


def _require_log_prob(name: str) -> Callable[[Tensor], Tensor]:
    _check_name(name)
    if name not in _LOG_PROBS:
        raise ValueError(
            f"toy dataset {name!r} has no analytic log-density; "
            f"datasets with one: {', '.join(_LOG_PROBS)}"
        )
    return _LOG_PROBS[name]


def sample_toy(
    name: str,
    n: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Draw ``n`` samples from the toy dataset called ``name`` (one of ``TOY_DATASETS``).

    Returns:
        Samples of shape ``(n, 2)``.
    """
    _check_name(name)
    return _SAMPLERS[name](n, generator=generator, dtype=dtype)


def has_log_prob(name: str) -> bool:
    """Whether the toy dataset ``name`` has an analytic log-density (see ``toy_log_prob``)."""
    _check_name(name)
    return name in _LOG_PROBS


def toy_log_prob(name: str, x: Tensor) -> Tensor:
    """Exact log-density of the toy dataset ``name`` at points ``x``.

    Args:
        name: a dataset for which ``has_log_prob(name)`` is true.
        x: points of shape ``(..., 2)``, floating point.

    Returns:
        Log-density of shape ``x.shape[:-1]`` in ``x``'s dtype; ``-inf`` outside the support.
    """
    log_prob = _require_log_prob(name)
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a tensor of shape (..., 2), got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() == 0 or x.shape[-1] != 2:
        raise ValueError(f"x must have shape (..., 2), got {tuple(x.shape)}")
    check_finite(x, "x")
    return log_prob(x)


def toy_entropy(name: str) -> float:
    """Exact differential entropy of the toy dataset ``name``, in nats.

    Only ``checkerboard`` has a closed form: ``ln(8 / 0.45**2)``, the log of its support's area.
    For other datasets with a log-density use ``toy_entropy_mc``.
    """
    _check_name(name)
    if name not in _ENTROPIES:
        raise ValueError(
            f"toy dataset {name!r} has no closed-form entropy (closed forms exist for: "
            f"{', '.join(_ENTROPIES)}); for {', '.join(_LOG_PROBS)} use toy_entropy_mc"
        )
    return _ENTROPIES[name]


def toy_entropy_mc(
    name: str, n: int, generator: torch.Generator | None = None
) -> tuple[float, float]:
    """Monte Carlo estimate of the differential entropy ``E[-log p(x)]``, in nats.

    Args:
        name: a dataset for which ``has_log_prob(name)`` is true.
        n: number of samples, at least 2.
        generator: the only source of randomness; ``None`` uses torch's global generator.

    Returns:
        ``(mean, stderr)``: the sample mean of ``-log p`` over ``n`` float64 samples and its
        standard error.
    """
    log_prob = _require_log_prob(name)
    _check_n(n)
    if n < 2:
        raise ValueError(f"n must be at least 2 to estimate a standard error, got {n}")
    neg_log_p = -log_prob(_SAMPLERS[name](n, generator=generator, dtype=torch.float64))
    return float(neg_log_p.mean()), float(neg_log_p.std() / math.sqrt(n))
