"""Steady states of large systems: a sparse Liouvillian, sparse LU, and the same implicit backward.

A dense Liouvillian of ``n`` levels has ``n^4`` entries (8 GB at ``n = 150``), and its dense LU
costs ``n^6``. Cavities, spins and chains have sparse ``H`` and collapse operators, so their
Liouvillian has ``O(n^2)`` to ``O(n^3)`` nonzeros. Here it is built from ``H`` and the ``c_m`` as a
SciPy sparse matrix, bordered with the trace row as in :mod:`ctflow.quantum.steady_state`, and
factored once by SuperLU. The backward reuses that factorisation for its one adjoint solve and
maps the rank-one gradient of the Liouvillian, ``-lam x^H``, straight to ``H`` and the ``c_m``,
so no ``n^2 x n^2`` matrix is ever formed.

With ``U = -unvec(lam)`` (its first entry zeroed: that row of the bordered system is the constant
trace row) and ``V = rho``, the real inner product ``Re tr(G^H dX)`` gives

    grad_H   = i (U V^H + U^H V)
    grad_c_m = U c_m V^H + U^H c_m V - (c_m / 2) (V U^H + U V^H + U^H V + V^H U)

(tested against autograd through the dense path). As there, ``rho H`` enters as ``rho H^H``, so
the gradient's Hermitian part, the only one a Hermitian ``H`` can use, is what both agree on and
the rest follows the same convention.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import splu
from torch import Tensor

from .._validate import check_finite
from .liouvillian import _check_hamiltonian, _stack_c_ops, liouvillian, unvec, vec
from .steady_state import _SINGULAR_RTOL, steady_state

__all__ = ["DENSE_MAX_LEVELS", "sparse_liouvillian", "steady_state_of"]

#: ``steady_state_of(method="auto")`` solves densely up to this many levels, sparsely above
DENSE_MAX_LEVELS = 12


def _operators(H: Tensor, c_ops: Tensor | Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """``H`` as ``(n, n)`` and the collapse operators as ``(k, n, n)``, complex128, checked as
    :func:`liouvillian` checks them; the sparse path takes one system, not a batch."""
    if not isinstance(H, Tensor) or H.dim() != 2 or H.shape[0] == 0:
        shape = tuple(H.shape) if isinstance(H, Tensor) else type(H).__name__
        raise ValueError(f"H must be one (n, n) matrix with n >= 1, got {shape}")
    H = _check_hamiltonian(H)
    c = _stack_c_ops(c_ops, H.shape[0])
    if c.dim() != 3:
        raise ValueError(f"collapse operators must be (k, n, n), got {tuple(c.shape)}")
    check_finite(c, "c_ops")
    return H, c


def _to_scipy(a: Tensor) -> sp.csr_matrix:
    return sp.csr_matrix(a.detach().cpu().numpy())


def sparse_liouvillian(H: Tensor, c_ops: Tensor | Sequence[Tensor] = ()) -> sp.csr_matrix:
    """The Liouvillian as a SciPy sparse matrix, in :func:`liouvillian`'s convention.

    Args:
        H: Hermitian Hamiltonian ``(n, n)``.
        c_ops: collapse operators, ``(k, n, n)`` or a sequence of ``(n, n)``.

    Returns:
        A complex128 ``csr_matrix`` of shape ``(n^2, n^2)``; ``sparse_liouvillian(H, c).toarray()``
        equals ``liouvillian(H, c)``.

    Examples:
        >>> a = torch.diag(torch.ones(2), 1)  # annihilation operator, 3 levels
        >>> L = sparse_liouvillian(a.T @ a, [a])
        >>> L.shape, L.nnz < 81
        ((9, 9), True)
    """
    H, c = _operators(H, c_ops)
    n = H.shape[0]
    eye = sp.identity(n, dtype=np.complex128, format="csr")
    h = _to_scipy(H)
    L = -1j * (sp.kron(eye, h) - sp.kron(h.T, eye))
    for op in c:
        cs = _to_scipy(op)
        cdc = (cs.conj().T @ cs).tocsr()
        L = L + sp.kron(cs.conj(), cs) - 0.5 * (sp.kron(eye, cdc) + sp.kron(cdc.T, eye))
    return L.tocsr()


def _bordered(L: sp.csr_matrix, n: int) -> sp.csc_matrix:
    """``L`` with its first row replaced by ``vec(I)^T`` (the trace), for SuperLU."""
    keep = np.ones(n * n)
    keep[0] = 0.0
    trace = sp.csr_matrix(
        (np.ones(n, dtype=np.complex128), (np.zeros(n, dtype=int), np.arange(n) * (n + 1))),
        shape=(n * n, n * n),
    )
    return (sp.diags(keep) @ L + trace).tocsc()


class _SparseSteadyState(torch.autograd.Function):
    """``rho`` from ``(H, c)``; the backward reuses the forward's sparse LU."""

    @staticmethod
    def forward(ctx: Any, H: Tensor, c: Tensor) -> Tensor:
        n = H.shape[0]
        M = _bordered(sparse_liouvillian(H, c), n)
        try:
            # The bordered Liouvillian is structurally symmetric but for its first row: an
            # ordering on A^T + A with pivots kept on the diagonal where they are not too small
            # halves the fill-in of SuperLU's default (COLAMD), and its time, at n = 150.
            lu = splu(
                M,
                permc_spec="MMD_AT_PLUS_A",
                diag_pivot_thresh=0.1,
                options={"SymmetricMode": True},
            )
        except RuntimeError:  # SuperLU stops at an exactly zero pivot
            raise ValueError(
                "the bordered Liouvillian is singular: the steady state is not unique"
            ) from None
        diag = np.abs(lu.U.diagonal())
        if diag.min() <= _SINGULAR_RTOL * max(diag.max(), 1e-300):
            raise ValueError(
                "the bordered Liouvillian is singular: the steady state is not unique "
                f"(smallest relative LU pivot {diag.min() / diag.max():.3g})"
            )
        e0 = np.zeros(n * n, dtype=np.complex128)
        e0[0] = 1.0
        x = torch.from_numpy(lu.solve(e0))
        ctx.lu, ctx.n = lu, n
        ctx.nnz = M.nnz, lu.L.nnz + lu.U.nnz
        rho = unvec(x, n)
        ctx.save_for_backward(c, rho)
        return rho

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_rho: Tensor) -> tuple[Tensor, Tensor]:
        c, V = ctx.saved_tensors
        grad_x = vec(grad_rho.to(torch.complex128)).numpy()
        # torch's complex convention: the adjoint of a solve uses M^H
        lam = ctx.lu.solve(np.ascontiguousarray(grad_x), trans="H")
        lam[0] = 0.0  # the trace row of the bordered system is constant
        U = -unvec(torch.from_numpy(lam), ctx.n)
        Vh, Uh = V.mH, U.mH
        grad_H = 1j * (U @ Vh + Uh @ V)
        mix = V @ Uh + U @ Vh + Uh @ V + Vh @ U
        grad_c = U @ c @ Vh + Uh @ c @ V - 0.5 * c @ mix
        return grad_H, grad_c


def steady_state_of(
    H: Tensor, c_ops: Tensor | Sequence[Tensor] = (), *, method: str = "auto"
) -> Tensor:
    """Steady state of the Lindblad equation with Hamiltonian ``H`` and collapse operators
    ``c_ops``, differentiable in both, for any number of levels.

    ``"dense"`` builds :func:`liouvillian` and calls :func:`steady_state` (batched, any
    method, fastest for a few levels); ``"sparse"`` builds :func:`sparse_liouvillian` and factors
    it with SuperLU, never forming a dense ``n^2 x n^2`` matrix (cavities and chains of 50 to 200
    levels). ``"auto"`` picks dense up to :data:`DENSE_MAX_LEVELS` levels. Both give the gradient
    by the implicit function theorem, one adjoint solve.

    Args:
        H: Hermitian Hamiltonian ``(n, n)`` (``(*batch, n, n)`` for the dense method).
        c_ops: collapse operators, ``(k, n, n)`` or a sequence of ``(n, n)``.
        method: ``"auto"``, ``"dense"`` or ``"sparse"``.

    Returns:
        complex128 ``rho_ss`` of shape ``(n, n)``: Hermitian, trace 1.

    Examples:
        >>> n = 40
        >>> a = torch.diag(torch.arange(1, n, dtype=torch.float64).sqrt(), 1)  # annihilation
        >>> H = 0.5 * (a + a.T)                                                # a coherent drive
        >>> rho = steady_state_of(H, [a])                                      # sparse: n > 12
        >>> round(float(torch.diagonal(rho).real @ torch.arange(n).double()), 6)  # |alpha|^2
        1.0
    """
    if method not in ("auto", "dense", "sparse"):
        raise ValueError(f"method must be 'auto', 'dense' or 'sparse', got {method!r}")
    n = H.shape[-1] if isinstance(H, Tensor) else 0
    if method == "dense" or (method == "auto" and n <= DENSE_MAX_LEVELS):
        return steady_state(liouvillian(H, c_ops))
    H, c = _operators(H, c_ops)
    rho = _SparseSteadyState.apply(H, c)
    return 0.5 * (rho + rho.mH)
