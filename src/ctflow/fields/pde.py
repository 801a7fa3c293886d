"""Derivatives of fields for PDE losses: value and Jacobian in one pass, curl, Euler residuals."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .._validate import check_finite
from ._checks import batched

__all__ = [
    "value_and_jacobian",
    "value_jacobian_hessian",
    "curl_components",
    "euler_residuals",
    "divergence_of",
]


def value_and_jacobian(fn: Callable[[Tensor], Tensor], y: Tensor) -> tuple[Tensor, Tensor]:
    """``fn`` and its Jacobian at every point, by forward mode under ``vmap``.

    Args:
        fn: a per-point function ``(n,) -> (m,)`` (e.g. ``field.single``).
        y: points, ``(*batch, n)``.

    Returns:
        ``(value, jac)`` of shapes ``(*batch, m)`` and ``(*batch, m, n)``,
        ``jac[..., i, j] = d fn_i / d y_j``. Differentiable (create-graph) in the parameters.
    """

    def both(p: Tensor) -> tuple[Tensor, Tensor]:
        def twice(q: Tensor) -> tuple[Tensor, Tensor]:
            out = fn(q)
            return out, out

        jac, value = torch.func.jacfwd(twice, has_aux=True)(p)
        return torch.cat([value[:, None], jac], dim=-1)

    out = batched(both, y)
    return out[..., 0], out[..., 1:]


def value_jacobian_hessian(
    fn: Callable[[Tensor], Tensor], y: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """``fn``, its Jacobian and its Hessian at every point (forward over forward mode).

    Args:
        fn: a per-point function ``(n,) -> (m,)``.
        y: points, ``(*batch, n)``.

    Returns:
        ``(value (*batch, m), jac (*batch, m, n), hess (*batch, m, n, n))`` with
        ``hess[..., i, j, k] = d_j d_k fn_i``.
    """
    n = y.shape[-1]

    def first(q: Tensor) -> tuple[Tensor, Tensor]:
        out = fn(q)
        return out, out

    def second(q: Tensor) -> tuple[Tensor, Tensor]:
        jac, value = torch.func.jacfwd(first, has_aux=True)(q)
        packed = torch.cat([value[:, None], jac], dim=-1)
        return jac, packed

    def all_three(p: Tensor) -> Tensor:
        hess, packed = torch.func.jacfwd(second, has_aux=True)(p)
        return torch.cat([packed, hess.reshape(hess.shape[0], n * n)], dim=-1)

    out = batched(all_three, y)
    value, jac = out[..., 0], out[..., 1 : 1 + n]
    return value, jac, out[..., 1 + n :].reshape(*out.shape[:-1], n, n)


def divergence_of(fn: Callable[[Tensor], Tensor], y: Tensor) -> Tensor:
    """The divergence (Jacobian trace) of a per-point function ``(n,) -> (n,)`` at ``y``."""
    check_finite(y, "y")
    _, jac = value_and_jacobian(fn, y)
    return torch.diagonal(jac, dim1=-2, dim2=-1).sum(-1)


def curl_components(jac: Tensor) -> Tensor:
    """The n(n-1)/2 independent entries ``J_ij - J_ji`` (i < j) of a Jacobian ``(*batch, n, n)``;
    they all vanish exactly for a gradient field."""
    n = jac.shape[-1]
    rows, cols = torch.triu_indices(n, n, 1)
    return jac[..., rows, cols] - jac[..., cols, rows]


def euler_residuals(
    rho: Tensor,
    v: Tensor,
    grad_rho: Tensor,
    grad_v: Tensor,
    grad_p: Tensor,
    viscosity: float = 0.0,
    laplacian_v: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Residuals of the incompressible (variable-density, optionally viscous) Euler equations
    ``rho (d_t v + (v . grad) v) + grad p = nu rho Lap v``, ``div v = 0``,
    ``d_t rho + v . grad rho = 0``.

    Args:
        rho: density ``(*batch,)``.
        v: velocity ``(*batch, d)``.
        grad_rho: space-time gradient of rho, ``(*batch, 1 + d)`` (``[..., 0]`` is ``d_t``).
        grad_v: space-time Jacobian of v, ``(*batch, d, 1 + d)``.
        grad_p: spatial pressure gradient, ``(*batch, d)``.
        viscosity: kinematic viscosity nu (then ``laplacian_v``, ``(*batch, d)``, is needed).

    Returns:
        ``(momentum (*batch, d), divergence (*batch,), continuity (*batch,))``. The continuity
        residual uses ``div v = 0`` (advection form); with the divergence residual it is the
        conservative form ``d_t rho + div(rho v)``.
    """
    dv_dt, dv_dx = grad_v[..., 0], grad_v[..., 1:]
    advection = torch.einsum("...ij,...j->...i", dv_dx, v)
    momentum = rho[..., None] * (dv_dt + advection) + grad_p
    if viscosity:
        if laplacian_v is None:
            raise ValueError("a viscous residual needs laplacian_v")
        momentum = momentum - viscosity * rho[..., None] * laplacian_v
    divergence = torch.diagonal(dv_dx, dim1=-2, dim2=-1).sum(-1)
    continuity = grad_rho[..., 0] + (grad_rho[..., 1:] * v).sum(-1)
    return momentum, divergence, continuity
