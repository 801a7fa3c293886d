"""Riemannian flow matching along geodesics: the simulation-free baseline for PPD.

``x_0 ~ U``, ``x_1 ~ data``, ``x_t = exp_{x_0}(t log_{x_0} x_1)``; the conditional velocity is
``u_t = log_{x_t}(x_1) / (1 - t)``, and the loss is ``E |v(t, x_t) - u_t|_g^2``.

References:
    Chen and Lipman, "Flow Matching on General Geometries", ICLR 2024 (arXiv 2302.03660).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..manifolds import Manifold

__all__ = ["geodesic_path", "geodesic_fm_loss"]


def geodesic_path(manifold: Manifold, x0: Tensor, x1: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """Points and velocities of the geodesic interpolation between ``x0`` and ``x1``.

    Args:
        manifold: the manifold.
        x0, x1: end points, shape ``(n, ambient_dim)``.
        t: times in ``[0, 1)``, shape ``(n,)``.

    Returns:
        ``x_t`` and ``u_t = log_{x_t}(x1) / (1 - t)``, both ``(n, ambient_dim)``.
    """
    ts = t.unsqueeze(-1)
    x_t = manifold.expmap(x0, ts * manifold.logmap(x0, x1))
    u_t = manifold.logmap(x_t, x1) / (1 - ts).clamp_min(1e-6)
    return x_t, u_t


def geodesic_fm_loss(
    field: Callable[[Tensor, Tensor], Tensor],
    manifold: Manifold,
    x1: Tensor,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Riemannian (geodesic) conditional flow matching loss on a minibatch of data ``x1``.

    Args:
        field: tangent field ``v(t, x)``.
        manifold: a compact manifold (the noise is its uniform law).
        x1: data, shape ``(n, ambient_dim)``.
        generator: random generator for the noise and the times.

    Returns:
        The scalar loss ``mean |v(t, x_t) - u_t|^2``.
    """
    if x1.dim() != 2 or x1.shape[-1] != manifold.ambient_dim:
        raise ValueError(f"x1 must have shape (n, {manifold.ambient_dim}), got {tuple(x1.shape)}")
    n = len(x1)
    x0 = manifold.random_uniform(n, generator=generator, dtype=x1.dtype, device=x1.device)
    t = torch.rand(n, generator=generator, dtype=x1.dtype, device=x1.device)
    x_t, u_t = geodesic_path(manifold, x0, x1, t)
    v = field(t, x_t)
    return manifold.inner(x_t, v - u_t, v - u_t).mean()
