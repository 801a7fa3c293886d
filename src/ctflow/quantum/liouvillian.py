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

from .._validate import check_finite

__all__ = ["lindblad_rhs", "liouvillian", "unvec", "vec"]

# Relative tolerance for accepting H as Hermitian (round-off from building H numerically).
_HERMITIAN_RTOL = 1e-10


def vec(rho: Tensor) -> Tensor:
    """Stack the columns of a (batch of) matrices into vectors.

    Args:
        rho: matrices of shape ``(*batch, n, n)``.

    Returns:
        Tensor of shape ``(*batch, n * n)`` with ``out[..., j * n + i] = rho[..., i, j]``.

    Examples:
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

    Examples:
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
    check_finite(H, "H")  # NaN would also pass the Hermiticity test below
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

    Examples:
        >>> sm = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
        >>> liouvillian(torch.diag(torch.tensor([0.0, 1.0])), [sm]).shape
        torch.Size([4, 4])
    """
    H = _check_hamiltonian(H)
    n = H.shape[-1]
    c = _stack_c_ops(c_ops, n)
    check_finite(c, "c_ops")
    return _Liouvillian.apply(H, c)


def _assemble(K: Tensor, c: Tensor) -> Tensor:
    """``I (x) K + conj(K) (x) I + sum_m conj(c_m) (x) c_m`` as ``(*batch, n^2, n^2)``.

    Built as one ``(..., n, n, n, n)`` tensor indexed ``[i, k, j, l]`` = row ``(i, k)``, column
    ``(j, l)``: no per-term Kronecker temporaries, and the jump sum is one contraction over m.
    """
    n = K.shape[-1]
    eye = torch.eye(n, dtype=torch.complex128, device=K.device)
    L = (
        eye[:, None, :, None] * K[..., None, :, None, :]
        + K.conj()[..., :, None, :, None] * eye[None, :, None, :]
    )
    if c.shape[-3] > 0:
        L = L + torch.einsum("...mij,...mkl->...ikjl", c.conj(), c)
    return L.reshape(*L.shape[:-4], n * n, n * n)


def _sum_to(grad: Tensor, shape: torch.Size) -> Tensor:
    """Undo broadcasting: sum ``grad`` down to ``shape``."""
    lead = grad.dim() - len(shape)
    if lead:
        grad = grad.sum(dim=tuple(range(lead)))
    dims = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    return grad.sum(dim=dims, keepdim=True) if dims else grad


class _Liouvillian(torch.autograd.Function):
    """``(H, c) -> L`` with hand-written reverse and forward derivatives.

    ``L`` is linear in ``K = -i H - 1/2 sum_m c_m^H c_m`` and quadratic in ``c``, so both
    derivatives are a few contractions; one node instead of the dozen small ones that autograd
    would record (which dominated the gradient's cost for small systems). The backward is built
    from differentiable ops, so higher derivatives still work.
    """

    @staticmethod
    def forward(H: Tensor, c: Tensor) -> Tensor:
        K = -1j * H
        if c.shape[-3] > 0:
            K = K - 0.5 * (c.mH @ c).sum(dim=-3)
        return _assemble(K, c)

    @staticmethod
    def setup_context(ctx, inputs, output):
        H, c = inputs
        ctx.save_for_backward(c)
        ctx.save_for_forward(c)
        ctx.shapes = (H.shape, c.shape)

    @staticmethod
    def backward(ctx, grad_L: Tensor) -> tuple[Tensor, Tensor]:
        (c,) = ctx.saved_tensors
        shape_H, shape_c = ctx.shapes
        n = shape_H[-1]
        G = grad_L.reshape(*grad_L.shape[:-2], n, n, n, n)  # [i, k, j, l]
        # PyTorch's complex convention: grad_z = conj(dy/dz) g + (dy/dconj z) conj(g)
        grad_K = G.diagonal(dim1=-4, dim2=-2).sum(-1) + G.diagonal(dim1=-3, dim2=-1).sum(-1).conj()
        grad_H = 1j * grad_K
        grad_c = None
        if ctx.needs_input_grad[1]:
            if c.shape[-3] > 0:
                # the jump term as matrix products over flattened index pairs: rows (i, j) of
                # G_ij,kl = G[i, k, j, l] pair with conj(c_m)[i, j], columns with c_m[k, l]
                G2 = G.transpose(-3, -2).reshape(*G.shape[:-4], n * n, n * n)
                cf = c.reshape(*c.shape[:-2], n * n)
                jump = cf @ G2 + cf @ G2.mH
                grad_c = jump.reshape(*jump.shape[:-1], n, n) - 0.5 * c @ (
                    grad_K + grad_K.mH
                ).unsqueeze(-3)
                grad_c = _sum_to(grad_c, shape_c)
            else:
                grad_c = torch.zeros(shape_c, dtype=c.dtype, device=c.device)
        return _sum_to(grad_H, shape_H), grad_c

    @staticmethod
    def jvp(ctx, dH: Tensor | None, dc: Tensor | None) -> Tensor:
        (c,) = ctx.saved_tensors
        shape_H, _ = ctx.shapes
        zero = torch.zeros(shape_H, dtype=torch.complex128, device=c.device)
        dK = zero if dH is None else -1j * dH
        if dc is not None and c.shape[-3] > 0:
            dK = dK - 0.5 * (dc.mH @ c + c.mH @ dc).sum(dim=-3)
        n = shape_H[-1]
        eye = torch.eye(n, dtype=torch.complex128, device=c.device)
        dL = (
            eye[:, None, :, None] * dK[..., None, :, None, :]
            + dK.conj()[..., :, None, :, None] * eye[None, :, None, :]
        )
        if dc is not None and c.shape[-3] > 0:
            dL = dL + torch.einsum("...mij,...mkl->...ikjl", dc.conj(), c)
            dL = dL + torch.einsum("...mij,...mkl->...ikjl", c.conj(), dc)
        return dL.reshape(*dL.shape[:-4], n * n, n * n)


def lindblad_rhs(
    H: Tensor, c_ops: Tensor | Sequence[Tensor] = ()
) -> Callable[[Tensor, Tensor], Tensor]:
    """Vector field of the vectorised master equation, for ODE solvers.

    Args:
        H: Hamiltonian, shape ``(*batch, n, n)``.
        c_ops: collapse operators as in :func:`liouvillian`.

    Returns:
        ``f(t, rho_vec) -> L @ rho_vec`` with ``rho_vec`` of shape ``(*batch, n^2)`` (complex128).

    Examples:
        >>> f = lindblad_rhs(torch.eye(2), [])
        >>> f(torch.tensor(0.0), vec(torch.eye(2, dtype=torch.complex128))).abs().max()
        tensor(0., dtype=torch.float64)
    """
    L = liouvillian(H, c_ops)

    def f(t: Tensor, rho_vec: Tensor) -> Tensor:
        return (L @ rho_vec.to(L.dtype).unsqueeze(-1)).squeeze(-1)

    return f
