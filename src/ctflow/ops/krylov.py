"""Batched Krylov methods on symmetric positive definite operators given only as matvecs:
conjugate gradients for ``H w = v`` and stochastic Lanczos quadrature for ``log det H``.

Each row of a ``(B, D)`` batch is its own ``D x D`` system; ``matvec(V)`` applies every row's
operator to its row of ``V``. Nothing here records an autograd graph (callers decide what to
differentiate).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["conjugate_gradient", "lanczos_logdet"]

Matvec = Callable[[Tensor], Tensor]


def _check_batch(v: Tensor, name: str) -> None:
    if v.dim() != 2:
        raise ValueError(f"{name} must have shape (B, D), got {tuple(v.shape)}")


@torch.no_grad()
def conjugate_gradient(
    matvec: Matvec,
    b: Tensor,
    *,
    max_iter: int | None = None,
    atol: float = 1e-3,
    rtol: float = 0.0,
) -> Tensor:
    """Solve ``H w = b`` row by row for SPD ``H``.

    Args:
        matvec: ``V (B, D) -> H V (B, D)``.
        b: right-hand sides, shape ``(B, D)``.
        max_iter: at most this many iterations (default ``D``, exact in exact arithmetic).
        atol, rtol: a row stops when ``||r|| <= max(atol, rtol ||b||)``.

    Returns:
        ``w`` of shape ``(B, D)``.
    """
    _check_batch(b, "b")
    max_iter = b.shape[-1] if max_iter is None else max_iter
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rs = (r * r).sum(-1)
    threshold = torch.clamp(rtol * b.norm(dim=-1), min=atol) ** 2
    for _ in range(max_iter):
        active = rs > threshold
        if not bool(active.any()):
            break
        Hp = matvec(p)
        pHp = (p * Hp).sum(-1)
        alpha = torch.where(active, rs / pHp.clamp_min(torch.finfo(b.dtype).tiny), 0.0)
        x = x + alpha[:, None] * p
        r = r - alpha[:, None] * Hp
        rs_new = (r * r).sum(-1)
        beta = torch.where(active, rs_new / rs.clamp_min(torch.finfo(b.dtype).tiny), 0.0)
        p = r + beta[:, None] * p
        rs = torch.where(active, rs_new, rs)
    return x


@torch.no_grad()
def lanczos_logdet(
    matvec: Matvec,
    shape: tuple[int, int],
    *,
    steps: int = 10,
    probes: int = 1,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | None = None,
) -> Tensor:
    """Stochastic Lanczos quadrature estimate of ``log det H`` per row, shape ``(B,)``.

    For a Rademacher probe ``v`` (``||v||^2 = D``), ``v^T log(H) v ~ D sum_j U_0j^2 log theta_j``
    with ``(theta, U)`` the eigenpairs of the ``steps x steps`` Lanczos tridiagonal matrix; the
    Lanczos basis is fully re-orthogonalised. Averaged over ``probes``. Unbiased in the probe; the
    quadrature's bias shrinks as ``steps`` grows and vanishes at ``steps = D``.
    """
    B, D = shape
    steps = min(steps, D)
    if steps < 1 or probes < 1:
        raise ValueError(f"need steps >= 1 and probes >= 1, got {steps}, {probes}")
    estimates = []
    for _ in range(probes):
        v = torch.randint(0, 2, (B, D), generator=generator, device=device).to(dtype) * 2 - 1
        q = v / v.norm(dim=-1, keepdim=True)
        basis = [q]
        alphas, betas = [], []
        for j in range(steps):
            w = matvec(basis[-1])
            alpha = (w * basis[-1]).sum(-1)
            alphas.append(alpha)
            if j == steps - 1:
                break
            Q = torch.stack(basis, dim=1)  # (B, j + 1, D)
            # full re-orthogonalisation against every earlier vector (twice is enough)
            for _ in range(2):
                w = w - torch.einsum("bkd,bk->bd", Q, torch.einsum("bkd,bd->bk", Q, w))
            beta = w.norm(dim=-1)
            betas.append(beta)
            basis.append(w / beta.clamp_min(torch.finfo(dtype).tiny)[:, None])
        T = torch.diag_embed(torch.stack(alphas, -1))
        if betas:
            off = torch.diag_embed(torch.stack(betas, -1), offset=1)
            T = T + off + off.transpose(-1, -2)
        theta, U = torch.linalg.eigh(T)
        estimates.append(D * (U[:, 0, :] ** 2 * theta.clamp_min(1e-300).log()).sum(-1))
    return torch.stack(estimates).mean(0)
