"""The Lindblad superoperator in column-stacking vectorisation.

Convention (QuTiP's): ``vec`` stacks the columns of a matrix, so ``vec(rho)[j * n + i] =
rho[i, j]`` and ``vec(A @ rho @ B) = kron(B.T, A) @ vec(rho)``. With it the master equation

    d rho/dt = -i [H, rho] + sum_k (c_k rho c_k^H - 1/2 {c_k^H c_k, rho})

becomes ``d vec(rho)/dt = L @ vec(rho)`` with the ``n^2 x n^2`` Liouvillian ``L`` built here from
plain torch ops, so it is differentiable with respect to ``H`` and the collapse operators.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["lindblad_rhs", "liouvillian", "unvec", "vec"]

# Relative tolerance for accepting H as Hermitian (round-off from building H numerically).
_HERMITIAN_RTOL = 1e-10


def vec(rho: Tensor) -> Tensor:
    """Stack the columns of a (batch of) matrices into vectors.

    Args:
        rho: matrices of shape ``(*batch, n, n)``.

    Returns:
        Tensor of shape ``(*batch, n * n)`` with ``out[..., j * n + i] = rho[..., i, j]``.

    Example:
        >>> vec(torch.tensor([[1, 2], [3, 4]]))
        tensor([1, 3, 2, 4])
    """
    if not isinstance(rho, Tensor):
        raise TypeError(f"rho must be a tensor, got {type(rho).__name__}")
    if rho.dim() < 2 or rho.shape[-1] != rho.shape[-2]:
        raise ValueError(f"rho must have shape (*batch, n, n), got {tuple(rho.shape)}")
    return rho.transpose(-1, -2).reshape(*rho.shape[:-2], -1)


def unvec(v: Tensor, n: int | None = None) -> Tensor:
    """Invert :func:`vec`: reshape column-stacked vectors back into matrices.

    Args:
        v: vectors of shape ``(*batch, n * n)``.
        n: matrix size; inferred from ``v.shape[-1]`` when ``None``.

    Returns:
        Tensor of shape ``(*batch, n, n)``.

    Example:
        >>> unvec(torch.tensor([1, 3, 2, 4]))
        tensor([[1, 2],
                [3, 4]])
    """
    if not isinstance(v, Tensor):
        raise TypeError(f"v must be a tensor, got {type(v).__name__}")
    if v.dim() < 1:
        raise ValueError("v must have shape (*batch, n * n), got a 0-d tensor")
    size = v.shape[-1]
    if n is None:
        n = _isqrt_exact(size, "v.shape[-1]")
    elif n * n != size:
        raise ValueError(f"v.shape[-1] = {size} is not n * n for n = {n}")
    return v.reshape(*v.shape[:-1], n, n).transpose(-1, -2)


def _isqrt_exact(size: int, what: str) -> int:
    n = int(round(size**0.5))
    if n * n != size:
        raise ValueError(f"{what} = {size} is not a perfect square n * n")
    return n


def _as_complex(x: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")
    # Integer matrices are accepted (e.g. Pauli matrices typed as ints); booleans are not.
    if x.dtype == torch.bool:
        raise TypeError(f"{name} must be numeric, got dtype {x.dtype}")
    return x.to(torch.complex128)


def _check_hamiltonian(H: Tensor) -> Tensor:
    H = _as_complex(H, "H")
    if H.dim() < 2 or H.shape[-1] != H.shape[-2]:
        raise ValueError(f"H must have shape (*batch, n, n), got {tuple(H.shape)}")
    if H.numel():
        Hd = H.detach()  # a check, not part of the graph
        err = float((Hd - Hd.mH).abs().amax())
        if err > _HERMITIAN_RTOL * max(1.0, float(Hd.abs().amax())):
            raise ValueError(f"H must be Hermitian; max |H - H^H| = {err:.3g}")
    return H


def _stack_c_ops(c_ops: Tensor | Sequence[Tensor], n: int) -> Tensor:
    """Collapse operators as one ``(*batch, k, n, n)`` complex tensor (``k`` may be 0)."""
    if isinstance(c_ops, Tensor):
        c = _as_complex(c_ops, "c_ops")
        if c.dim() < 3:
            raise ValueError(
                f"c_ops tensor must have shape (*batch, k, n, n), got {tuple(c.shape)}"
            )
    elif isinstance(c_ops, Sequence) and not isinstance(c_ops, str):
        ops = [_as_complex(c, f"c_ops[{i}]") for i, c in enumerate(c_ops)]
        if not ops:
            return torch.zeros(0, n, n, dtype=torch.complex128)
        for i, c in enumerate(ops):
            if c.dim() < 2:
                raise ValueError(f"c_ops[{i}] must have shape (*batch, n, n), got {tuple(c.shape)}")
        try:
            ops = torch.broadcast_tensors(*ops)
        except RuntimeError as exc:
            raise ValueError(f"c_ops have incompatible batch shapes: {exc}") from exc
        c = torch.stack(ops, dim=-3)
    else:
        raise TypeError(
            f"c_ops must be a tensor or a sequence of tensors, got {type(c_ops).__name__}"
        )
    if c.shape[-1] != n or c.shape[-2] != n:
        raise ValueError(f"collapse operators must be {n} x {n} like H, got {tuple(c.shape[-2:])}")
    return c


def liouvillian(H: Tensor, c_ops: Tensor | Sequence[Tensor] = ()) -> Tensor:
    """Build the Lindblad superoperator in column-stacking vectorisation.

    Args:
        H: Hermitian Hamiltonian, shape ``(*batch, n, n)``; real inputs are cast to complex128.
        c_ops: collapse operators, a tensor of shape ``(*batch, k, n, n)`` or a sequence of
            ``(n, n)`` / ``(*batch, n, n)`` tensors (possibly empty). Batch shapes broadcast.

    Returns:
        complex128 tensor ``L`` of shape ``(*batch, n^2, n^2)`` with
        ``d vec(rho)/dt = L @ vec(rho)``; equal to ``qutip.liouvillian(H, c_ops).full()``.

    Raises:
        ValueError: non-square or mismatched shapes, or a non-Hermitian ``H``.
        TypeError: non-tensor inputs.

    Example:
        >>> sm = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
        >>> liouvillian(torch.diag(torch.tensor([0.0, 1.0])), [sm]).shape
        torch.Size([4, 4])
    """
    H = _check_hamiltonian(H)
    n = H.shape[-1]
    c = _stack_c_ops(c_ops, n)
    # L = I (x) K + conj(K) (x) I + sum_m conj(c_m) (x) c_m with K = -i H - 1/2 sum_m c_m^H c_m
    # (conj(K) = K's transpose terms because H and c^H c are Hermitian). Built as one
    # (..., n, n, n, n) tensor indexed [i, k, j, l] = row (i, k), column (j, l): no per-term
    # Kronecker temporaries, and the jump sum is one contraction over m.
    K = -1j * H
    if c.shape[-3] > 0:
        K = K - 0.5 * (c.mH @ c).sum(dim=-3)
    eye = torch.eye(n, dtype=torch.complex128, device=H.device)
    L = (
        eye[:, None, :, None] * K[..., None, :, None, :]
        + K.conj()[..., :, None, :, None] * eye[None, :, None, :]
    )
    if c.shape[-3] > 0:
        L = L + torch.einsum("...mij,...mkl->...ikjl", c.conj(), c)
    L = L.reshape(*L.shape[:-4], n * n, n * n)
    return L


def lindblad_rhs(
    H: Tensor, c_ops: Tensor | Sequence[Tensor] = ()
) -> Callable[[Tensor, Tensor], Tensor]:
    """Vector field of the vectorised master equation, for ODE solvers.

    Args:
        H: Hamiltonian, shape ``(*batch, n, n)``.
        c_ops: collapse operators as in :func:`liouvillian`.

    Returns:
        ``f(t, rho_vec) -> L @ rho_vec`` with ``rho_vec`` of shape ``(*batch, n^2)`` (complex128).

    Example:
        >>> f = lindblad_rhs(torch.eye(2), [])
        >>> f(torch.tensor(0.0), vec(torch.eye(2, dtype=torch.complex128))).abs().max()
        tensor(0., dtype=torch.float64)
    """
    L = liouvillian(H, c_ops)

    def f(t: Tensor, rho_vec: Tensor) -> Tensor:
        return (L @ rho_vec.to(L.dtype).unsqueeze(-1)).squeeze(-1)

    return f
