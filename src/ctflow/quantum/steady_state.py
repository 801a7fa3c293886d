"""Differentiable steady states of Lindblad master equations (arXiv 2103.12604).

The steady state solves ``L x = 0`` with ``Tr rho = 1``. ``L`` is singular, so it is *bordered*:
``M`` is ``L`` with its first row replaced by ``vec(I)^T`` (the trace functional) and
``M x = e_0``. Whatever forward method finds ``x``, the gradient comes from the implicit function
theorem on that bordered system, so it needs one adjoint solve and no stored solver steps:

    M^H lam = grad_x,    grad_L = -lam x^H  (first row zeroed: that row of M is constant).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .liouvillian import unvec

__all__ = ["METHODS", "steady_state", "steady_state_jacobian"]

METHODS = ("direct", "eigen", "evolution")

# A pivot (singular value) this small relative to the largest means no unique steady state.
_SINGULAR_RTOL = 1e-13
# Repeated squaring doubles the time; 2**80 steps of 1/||L|| outlasts any physical relaxation.
_MAX_SQUARINGS = 80


def _check_L(L: Tensor) -> tuple[Tensor, int]:
    if not isinstance(L, Tensor):
        raise TypeError(f"L must be a tensor, got {type(L).__name__}")
    if L.dim() < 2 or L.shape[-1] != L.shape[-2]:
        raise ValueError(f"L must have shape (*batch, n^2, n^2), got {tuple(L.shape)}")
    size = L.shape[-1]
    n = int(round(size**0.5))
    if n * n != size or n == 0:
        raise ValueError(f"L must be n^2 x n^2 for some n >= 1, got {size} x {size}")
    if not bool(torch.isfinite(L).all()):
        raise ValueError("L contains NaN or inf entries")
    return L.to(torch.complex128), n


def _trace_row(n: int, device: torch.device) -> Tensor:
    """``vec(I)``: the row vector with ``vec(I) @ vec(rho) = Tr rho``."""
    row = torch.zeros(n * n, dtype=torch.complex128, device=device)
    row[:: n + 1] = 1.0
    return row


def _bordered(L: Tensor, n: int) -> Tensor:
    M = L.clone()
    M[..., 0, :] = _trace_row(n, L.device)
    return M


def _e0(L: Tensor) -> Tensor:
    e0 = torch.zeros(L.shape[:-1], dtype=L.dtype, device=L.device)
    e0[..., 0] = 1.0
    return e0


def _factor(M: Tensor) -> tuple[Tensor, Tensor]:
    """LU of the bordered matrix, refusing a (numerically) singular one."""
    LU, pivots, info = torch.linalg.lu_factor_ex(M)
    diag = LU.diagonal(dim1=-2, dim2=-1).abs()
    ratio = diag.amin(dim=-1) / diag.amax(dim=-1).clamp_min(torch.finfo(torch.float64).tiny)
    if bool((info != 0).any()) or bool((ratio < _SINGULAR_RTOL).any()):
        raise ValueError(
            "the bordered Liouvillian is singular: the steady state is not unique "
            f"(smallest relative LU pivot {float(ratio.amin()):.3g})"
        )
    return LU, pivots


def _solve_direct(L: Tensor, n: int) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    LU, pivots = _factor(_bordered(L, n))
    x = torch.linalg.lu_solve(LU, pivots, _e0(L).unsqueeze(-1)).squeeze(-1)
    return x, (LU, pivots)


def _solve_eigen(L: Tensor, n: int) -> Tensor:
    # The right-singular vector of the smallest singular value spans the null space of L.
    _, s, Vh = torch.linalg.svd(L)
    if n > 1:
        gap = s[..., -2] / s[..., 0].clamp_min(torch.finfo(torch.float64).tiny)
        if bool((gap < _SINGULAR_RTOL).any()):
            raise ValueError(
                "L has a null space of dimension > 1: the steady state is not unique "
                f"(second-smallest relative singular value {float(gap.amin()):.3g})"
            )
    v = Vh[..., -1, :].conj()
    return v / (v @ _trace_row(n, L.device)).unsqueeze(-1)


def _solve_evolution(L: Tensor, n: int, t_max: float | None, tol: float) -> Tensor:
    norm = torch.linalg.matrix_norm(L).amax().clamp_min(1e-300)
    dt = 1.0 / float(norm)
    P = torch.linalg.matrix_exp(L * dt)  # propagator over time t
    t = dt
    x0 = torch.zeros(L.shape[:-1], dtype=L.dtype, device=L.device)
    x0[..., :: n + 1] = 1.0 / n  # the maximally mixed state
    row = _trace_row(n, L.device)
    residual = float("inf")
    for _ in range(_MAX_SQUARINGS):
        x = (P @ x0.unsqueeze(-1)).squeeze(-1)
        x = x / (x @ row).unsqueeze(-1)  # undo trace drift from round-off
        residual = float(_relative_residual(L, x).amax())
        if residual < tol:
            _check_unique_limit(P, x, row)
            return x
        if t_max is not None and 2 * t > t_max:
            break
        P = P @ P
        t *= 2
    raise ValueError(
        f"time evolution did not reach the steady state: relative residual {residual:.3g} >= "
        f"tol={tol:g} at t={t:.3g}; raise t_max or tol, or use method='direct'"
    )


def _relative_residual(L: Tensor, x: Tensor) -> Tensor:
    Lx = (L @ x.unsqueeze(-1)).squeeze(-1)
    scale = torch.linalg.matrix_norm(L) * torch.linalg.vector_norm(x, dim=-1)
    return torch.linalg.vector_norm(Lx, dim=-1) / scale.clamp_min(1e-300)


def _check_unique_limit(P: Tensor, x: Tensor, row: Tensor) -> None:
    # With a unique steady state every initial state relaxes to x: P(t) -> x vec(I)^T.
    limit = x.unsqueeze(-1) * row
    err = float((P - limit).abs().amax())
    if err > 1e-6:
        raise ValueError(
            "time evolution does not forget the initial state: the steady state is not unique "
            f"(max |P(t) - x vec(I)^T| = {err:.3g})"
        )


class _SteadyState(torch.autograd.Function):
    """``x = vec(rho_ss)`` from ``L``; implicit backward through the bordered system."""

    @staticmethod
    def forward(ctx: Any, L: Tensor, n: int, method: str, t_max: Any, tol: float) -> Tensor:
        factors = None
        if method == "direct":
            x, factors = _solve_direct(L, n)
        elif method == "eigen":
            x = _solve_eigen(L, n)
        else:
            x = _solve_evolution(L, n, t_max, tol)
        ctx.n = n
        ctx.factors = factors
        # Only L (needed to factor M when the forward did not) and x are kept: O(1) in steps.
        ctx.save_for_backward(x, L if factors is None else None)
        return x

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_x: Tensor) -> tuple[Tensor | None, ...]:
        x, L = ctx.saved_tensors
        if ctx.factors is None:
            LU, pivots = _factor(_bordered(L, ctx.n))
        else:
            LU, pivots = ctx.factors
        # PyTorch's complex convention: the adjoint of a solve uses M^H.
        lam = torch.linalg.lu_solve(LU, pivots, grad_x.unsqueeze(-1), adjoint=True)
        grad_L = -lam * x.conj().unsqueeze(-2)
        grad_L[..., 0, :] = 0.0
        return grad_L, None, None, None, None


def _hermitise(rho: Tensor) -> Tensor:
    return 0.5 * (rho + rho.mH)


def steady_state(
    L: Tensor, *, method: str = "direct", t_max: float | None = None, tol: float = 1e-12
) -> Tensor:
    """Steady state ``rho_ss`` of ``d vec(rho)/dt = L vec(rho)``, differentiable in ``L``.

    The gradient always comes from the implicit function theorem on the bordered system (one
    adjoint solve, no stored solver steps), so it does not depend on ``method``.

    Args:
        L: Liouvillian of shape ``(*batch, n^2, n^2)`` in column-stacking convention (see
            :func:`~ctflow.quantum.liouvillian`); cast to complex128.
        method: ``"direct"`` (LU of the bordered system, reused by the backward), ``"eigen"``
            (null vector of ``L`` by SVD, normalised to trace 1) or ``"evolution"`` (propagate
            the maximally mixed state by repeated squaring of ``exp(L dt)`` until converged).
        t_max: ``"evolution"`` only: the longest time to propagate (``None``: no limit beyond
            about ``2**80 / ||L||``).
        tol: ``"evolution"`` only: stop when ``||L x|| / (||L|| ||x||) < tol``.

    Returns:
        complex128 density matrices of shape ``(*batch, n, n)``: Hermitian, trace 1.

    Raises:
        ValueError: ``L`` not ``n^2 x n^2``, an unknown method, a non-unique steady state, or an
            evolution that does not converge.

    Examples:
        >>> from ctflow.quantum import liouvillian
        >>> sm = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
        >>> rho = steady_state(liouvillian(torch.zeros(2, 2), [sm]))  # decay to |0>
        >>> round(float(rho[0, 0].real), 12), round(abs(float(rho[1, 1].real)), 12)
        (1.0, 0.0)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol!r}")
    if t_max is not None and not t_max > 0:
        raise ValueError(f"t_max must be positive or None, got {t_max!r}")
    L, n = _check_L(L)
    x = _SteadyState.apply(L, n, method, t_max, tol)
    return _hermitise(unvec(x, n))


def steady_state_jacobian(build_L: Callable[[Tensor], Tensor], theta: Tensor) -> Tensor:
    """Jacobian ``d rho_ss / d theta`` by the implicit function theorem, batched over ``theta``.

    ``dL/dtheta`` comes from forward-mode autodiff of ``build_L`` (one pass per parameter); then
    one LU solve of ``M X = -(dM x)`` gives all ``P`` columns at once.

    Args:
        build_L: maps real parameters ``(*batch, P)`` to Liouvillians ``(*batch, n^2, n^2)``
            with ops that support forward-mode autodiff (it is called ``P + 1`` times).
        theta: real parameters of shape ``(*batch, P)``.

    Returns:
        complex128 tensor of shape ``(*batch, n, n, P)``; ``out[..., p]`` is Hermitian with
        zero trace (the derivative of a density matrix along a real parameter).

    Raises:
        ValueError: ``theta`` not real with at least one dimension, or a bad/singular ``L``.

    Examples:
        >>> from ctflow.quantum import liouvillian
        >>> sm = torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=torch.complex128)
        >>> def build(th):
        ...     return liouvillian(th[0] * torch.tensor([[1.0, 0], [0, -1]]), [sm, 0.5 * sm.mH])
        >>> steady_state_jacobian(build, torch.tensor([0.3], dtype=torch.float64)).shape
        torch.Size([2, 2, 1])
    """
    if not isinstance(theta, Tensor):
        raise TypeError(f"theta must be a tensor, got {type(theta).__name__}")
    if theta.dim() < 1 or not theta.is_floating_point():
        raise ValueError(
            f"theta must be a real tensor of shape (*batch, P), got {tuple(theta.shape)} "
            f"with dtype {theta.dtype}"
        )
    batch, P = theta.shape[:-1], theta.shape[-1]
    theta = theta.detach()
    L, n = _check_L(build_L(theta))
    # Forward mode: one pass of build_L per parameter gives a column of dL/dtheta for the
    # whole batch (P is usually far smaller than the n^4 entries of L).
    columns = []
    with torch.autograd.forward_ad.dual_level():
        for p in range(P):
            tangent = torch.zeros_like(theta)
            tangent[..., p] = 1.0
            out = build_L(torch.autograd.forward_ad.make_dual(theta, tangent))
            dLp = torch.autograd.forward_ad.unpack_dual(out).tangent
            columns.append(torch.zeros_like(L) if dLp is None else dLp.to(L.dtype).expand_as(L))
    dL = torch.stack(columns, dim=-1).reshape(-1, *L.shape[-2:], P)
    L = L.reshape(-1, *L.shape[-2:])
    x, (LU, pivots) = _solve_direct(L, n)
    dL[:, 0, :, :] = 0.0  # the trace row of M does not depend on theta
    rhs = -torch.einsum("bijp,bj->bip", dL, x)
    X = torch.linalg.lu_solve(LU, pivots, rhs)  # (B, N, P)
    drho = _hermitise(unvec(X.transpose(-1, -2), n))  # (B, P, n, n)
    return drho.permute(0, 2, 3, 1).reshape(*batch, n, n, P)
