"""Kernel densities on manifolds: von Mises-Fisher on spheres, wrapped normals on flat tori.

Both come as pairwise log-densities (every point against every centre, ``(*batch, N)``), the
form the kernel-mixture paths need, and as samplers. Densities are w.r.t. the Riemannian volume.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special
from torch import Tensor

from ctflow._validate import check_finite, finite_check_applies

__all__ = [
    "vmf_log_normalizer",
    "vmf_log_prob",
    "vmf_sample",
    "vmf_mean_resultant_length",
    "wrapped_normal_log_prob",
    "wrapped_normal_sample",
]

_LOG_2PI = math.log(2 * math.pi)


def _check_kernel_args(name: str, scale: Tensor, **points: Tensor) -> None:
    """Refuse non-finite points and a scale (``kappa`` or ``sigma``) that is not positive."""
    for what, x in points.items():
        check_finite(x, what)
    if finite_check_applies(scale) and not bool((torch.isfinite(scale) & (scale > 0)).all()):
        raise ValueError(
            f"{name} must be finite and > 0, "
            f"got values in [{float(scale.min())}, {float(scale.max())}]"
        )


class _LogBesselI(torch.autograd.Function):
    """``log I_v(k)`` for ``k > 0`` (scipy's exponentially scaled ``ive``), with its derivative
    ``I_{v+1}(k) / I_v(k) + v / k`` (first order only: the paths need no second derivative)."""

    @staticmethod
    def forward(ctx, kappa: Tensor, order: float) -> Tensor:
        k = kappa.detach().cpu().double().numpy()
        value = np.log(special.ive(order, k)) + k
        ratio = special.ive(order + 1, k) / special.ive(order, k) + order / k
        ctx.save_for_backward(torch.as_tensor(ratio, dtype=kappa.dtype, device=kappa.device))
        return torch.as_tensor(value, dtype=kappa.dtype, device=kappa.device)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (ratio,) = ctx.saved_tensors
        return grad * ratio, None


def vmf_log_normalizer(kappa: Tensor, dim: int) -> Tensor:
    """``log C(kappa)`` of the von Mises-Fisher density ``C(kappa) exp(kappa <mu, x>)`` on
    ``S^dim`` (w.r.t. surface measure), for ``kappa > 0``.

    ``S^2`` uses the closed form ``kappa / (4 pi sinh kappa)`` in torch (any derivative order);
    other dimensions use ``(p/2 - 1) log kappa - p/2 log 2 pi - log I_{p/2-1}(kappa)``,
    ``p = dim + 1``, through scipy (first derivatives only).

    Args:
        kappa: concentrations, any shape, positive.
        dim: intrinsic dimension of the sphere.

    Returns:
        ``log C``, shape of ``kappa``.

    Examples:
        >>> float(vmf_log_normalizer(torch.tensor(1e-6), 2))  # ~ -log(4 pi)
        -2.531...
    """
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    if dim == 2:
        # log(kappa / (4 pi sinh kappa)) = log kappa - log 2 pi - kappa - log(1 - e^{-2 kappa})
        small = kappa < 1e-3
        k = torch.where(small, torch.ones_like(kappa), kappa)
        exact = torch.log(k) - _LOG_2PI - k - torch.log(-torch.expm1(-2 * k))
        # kappa / sinh kappa = 1 - kappa^2 / 6 + ...: log = -kappa^2 / 6 + kappa^4 / 180
        series = -math.log(4 * math.pi) - kappa**2 / 6 + kappa**4 / 180
        return torch.where(small, series, exact)
    p = dim + 1
    order = p / 2 - 1
    return order * torch.log(kappa) - (p / 2) * _LOG_2PI - _LogBesselI.apply(kappa, order)


def vmf_log_prob(x: Tensor, mu: Tensor, kappa: Tensor | float) -> Tensor:
    """Pairwise von Mises-Fisher log-densities on ``S^dim``.

    Args:
        x: points, shape ``(*batch, dim + 1)`` (used as given: pass unit vectors).
        mu: unit mean directions (centres), shape ``(N, dim + 1)``.
        kappa: concentration, a float or a tensor broadcastable to ``(*batch, 1)``.

    Returns:
        ``log vMF(x | mu_i, kappa)`` for every centre, shape ``(*batch, N)``.

    Examples:
        >>> x = torch.tensor([[0.0, 0.0, 1.0]])
        >>> vmf_log_prob(x, x, 5.0).shape
        torch.Size([1, 1])
    """
    kappa = torch.as_tensor(kappa, dtype=x.dtype, device=x.device)
    _check_kernel_args("kappa", kappa, x=x, mu=mu)
    return _vmf_log_prob(x, mu, kappa)


def _vmf_log_prob(x: Tensor, mu: Tensor, kappa: Tensor | float) -> Tensor:
    kappa = torch.as_tensor(kappa, dtype=x.dtype, device=x.device)
    if kappa.dim() > 0 and kappa.shape[-1] != 1:
        kappa = kappa.unsqueeze(-1)
    dim = x.shape[-1] - 1
    # kappa (<mu, x> - 1) + log(C(kappa) e^kappa) keeps every term O(1) for large kappa
    scaled = vmf_log_normalizer(kappa, dim) + kappa
    return kappa * (x @ mu.transpose(-1, -2) - 1) + scaled


def vmf_mean_resultant_length(kappa: float, dim: int) -> float:
    """``E <mu, x>`` under ``vMF(mu, kappa)`` on ``S^dim``: ``I_{p/2} / I_{p/2-1}`` at kappa."""
    p = dim + 1
    return float(special.ive(p / 2, kappa) / special.ive(p / 2 - 1, kappa))


def vmf_sample(
    mu: Tensor, kappa: Tensor | float, generator: torch.Generator | None = None
) -> Tensor:
    """One von Mises-Fisher sample per row of ``mu``.

    The cosine ``w = <mu, x>`` comes from Wood's (1994) rejection sampler (inverse CDF in closed
    form on ``S^2``), the rest of ``x`` is a uniform direction orthogonal to ``mu``.

    Args:
        mu: unit mean directions, shape ``(n, dim + 1)``.
        kappa: concentration, a float or a tensor of shape ``(n,)``.
        generator: optional random generator.

    Returns:
        Samples, shape ``(n, dim + 1)``.
    """
    kappa = torch.as_tensor(kappa, dtype=mu.dtype, device=mu.device).expand(len(mu))
    _check_kernel_args("kappa", kappa, mu=mu)
    return _vmf_sample(mu, kappa, generator)


def _vmf_sample(
    mu: Tensor, kappa: Tensor | float, generator: torch.Generator | None = None
) -> Tensor:
    n, p = mu.shape
    kappa = torch.as_tensor(kappa, dtype=mu.dtype, device=mu.device).expand(n)
    opts = dict(generator=generator, dtype=mu.dtype, device=mu.device)
    if p == 3:
        u = torch.rand(n, **opts)
        w = 1 + torch.log(u + (1 - u) * torch.exp(-2 * kappa)) / kappa
    else:
        w = _wood_cosines(kappa, p, opts)
    w = w.clamp(-1.0, 1.0)
    g = torch.randn(n, p, **opts)
    v = g - (g * mu).sum(-1, keepdim=True) * mu
    v = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    x = w.unsqueeze(-1) * mu + torch.sqrt((1 - w * w).clamp_min(0)).unsqueeze(-1) * v
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)


def _wood_cosines(kappa: Tensor, p: int, opts: dict) -> Tensor:
    """Wood's rejection sampler for ``w = <mu, x>`` on ``S^(p-1)``, vectorised over ``kappa``."""
    b = (p - 1) / (2 * kappa + torch.sqrt(4 * kappa**2 + (p - 1) ** 2))
    x0 = (1 - b) / (1 + b)
    c = kappa * x0 + (p - 1) * torch.log(1 - x0**2)
    w = torch.empty_like(kappa)
    todo = torch.ones_like(kappa, dtype=torch.bool)
    while bool(todo.any()):
        m = int(todo.sum())
        # Beta((p-1)/2, (p-1)/2) is (1 + s) / 2, s the first coordinate of a uniform point
        # on S^(p-1)
        g = torch.randn(m, p, **opts)
        z = (1 + g[:, 0] / torch.linalg.vector_norm(g, dim=-1)) / 2
        bb, xx, cc, kk = b[todo], x0[todo], c[todo], kappa[todo]
        cand = (1 - (1 + bb) * z) / (1 - (1 - bb) * z)
        u = torch.rand(m, **opts)
        ok = kk * cand + (p - 1) * torch.log(1 - xx * cand) - cc >= torch.log(u)
        idx = todo.nonzero().squeeze(-1)
        w[idx[ok]] = cand[ok]
        todo[idx[ok]] = False
    return w


def _wraps(sigma_max: float) -> int:
    """How many 2 pi shifts each side keep every term within ~8 standard deviations."""
    return 1 + math.ceil(8 * sigma_max / (2 * math.pi))


def wrapped_normal_log_prob(
    x: Tensor, mu: Tensor, sigma: Tensor | float, wraps: int | None = None
) -> Tensor:
    """Pairwise log-densities of isotropic wrapped normals on the flat torus ``T^d``.

    Each coordinate is ``sum_k N(x - mu + 2 pi k; 0, sigma^2)``, summed over ``|k| <= wraps``.

    Args:
        x: angles, shape ``(*batch, d)``.
        mu: centres, shape ``(N, d)``.
        sigma: standard deviation, a float or a tensor broadcastable to ``(*batch, 1)``.
        wraps: shifts each side (default: enough for ``max(sigma)``, at least 1).

    Returns:
        Log-densities for every centre, shape ``(*batch, N)``.
    """
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    _check_kernel_args("sigma", sigma, x=x, mu=mu)
    return _wrapped_normal_log_prob(x, mu, sigma, wraps)


def _wrapped_normal_log_prob(
    x: Tensor, mu: Tensor, sigma: Tensor | float, wraps: int | None = None
) -> Tensor:
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if sigma.dim() > 0 and sigma.shape[-1] != 1:
        sigma = sigma.unsqueeze(-1)
    if wraps is None:
        wraps = _wraps(float(sigma.detach().max()))
    # shortest signed displacement in (-pi, pi], smooth in x away from the cut
    d = x.unsqueeze(-2) - mu  # (*batch, N, d)
    d = d - 2 * math.pi * torch.round(d / (2 * math.pi))
    k = torch.arange(-wraps, wraps + 1, dtype=x.dtype, device=x.device) * (2 * math.pi)
    s = sigma.unsqueeze(-1).unsqueeze(-1)  # (*batch, 1, 1, 1)
    terms = -((d.unsqueeze(-1) + k) ** 2) / (2 * s**2)
    per_coord = torch.logsumexp(terms, dim=-1) - torch.log(s.squeeze(-1)) - 0.5 * _LOG_2PI
    return per_coord.sum(-1)


def wrapped_normal_sample(
    mu: Tensor, sigma: Tensor | float, generator: torch.Generator | None = None
) -> Tensor:
    """One wrapped-normal sample per row of ``mu`` (shape ``(n, d)``), wrapped to ``[0, 2 pi)``."""
    sigma = torch.as_tensor(sigma, dtype=mu.dtype, device=mu.device)
    _check_kernel_args("sigma", sigma, mu=mu)
    return _wrapped_normal_sample(mu, sigma, generator)


def _wrapped_normal_sample(
    mu: Tensor, sigma: Tensor | float, generator: torch.Generator | None = None
) -> Tensor:
    sigma = torch.as_tensor(sigma, dtype=mu.dtype, device=mu.device)
    if sigma.dim() == 1:
        sigma = sigma.unsqueeze(-1)
    z = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    return torch.remainder(mu + sigma * z, 2 * math.pi)
