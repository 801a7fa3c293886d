"""The matrix-field construction: u = div A for an antisymmetric matrix field A.

A network outputs the n(n-1)/2 entries above the diagonal of A (row-major order, as
``torch.triu_indices(n, n, 1)``); A = M - M^T. Then ``u_i = sum_j d_j A_ij`` is divergence-free
because ``sum_ij d_i d_j A_ij = 0`` (symmetric derivatives against an antisymmetric matrix).
Cost: one Jacobian of the network (n forward-mode passes).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..nn import MLP
from ._checks import batched, check_dim, check_points, field_input

__all__ = ["MatrixField", "antisymmetric_basis", "n_entries"]


def n_entries(n: int) -> int:
    """Number of free entries of an antisymmetric ``n x n`` matrix: n(n-1)/2."""
    check_dim(n)
    return n * (n - 1) // 2


def antisymmetric_basis(n: int, dtype: torch.dtype | None = None) -> Tensor:
    """The linear map from the n(n-1)/2 upper entries to A: ``A = basis @ a``.

    Returns:
        A tensor of shape ``(n, n, n(n-1)/2)`` with ``basis[i, j, k] = 1`` and
        ``basis[j, i, k] = -1`` for the k-th pair ``i < j`` of ``torch.triu_indices(n, n, 1)``.
    """
    k = n_entries(n)
    rows, cols = torch.triu_indices(n, n, 1)
    basis = torch.zeros(n, n, k, dtype=dtype)
    index = torch.arange(k)
    basis[rows, cols, index] = 1.0
    basis[cols, rows, index] = -1.0
    return basis


class MatrixField(nn.Module):
    """A divergence-free vector field ``u = div A(y)`` on R^n, A antisymmetric.

    Args:
        n: dimension (>= 2).
        net: a module mapping ``(in_features,)`` to ``(n(n-1)/2,)`` (the entries of A above the
            diagonal); default an ``MLP(in_features, n(n-1)/2, hidden, act)``. It is evaluated one
            point at a time under ``torch.func.vmap``, so it must work on unbatched input.
        hidden, act: the default network's hidden widths and activation (must be twice
            differentiable for PDE losses; ``tanh``, ``silu`` or ``softplus``).
        constant: a constant (harmonic) vector added to u, shape ``(n,)``; on a torus these are
            the fields that are divergence-free but not a divergence. ``None``: zero.
        learn_constant: make ``constant`` a trainable parameter.
        time_dependent: inputs are ``(t, x)`` of size ``n + 1`` and ``u(t, .)`` is divergence-free
            in x for every t (the net then takes ``n + 1`` inputs); e.g. an incompressible
            velocity field. Otherwise inputs are ``x`` of size n.

    Shapes:
        ``forward(t, x)``: ``x (*batch, n) -> (*batch, n)``, ``t`` 0-d or ``(*batch,)``, used
        only when time-dependent (so a field goes straight into ``odeint``). ``forward(y)``
        takes ``(*batch, n)``, or the packed ``(*batch, 1 + n)`` when time-dependent.

    Examples:
        >>> import torch
        >>> from ctflow.fields import MatrixField
        >>> from ctflow.ops import divergence
        >>> _ = torch.manual_seed(0)
        >>> field = MatrixField(3, hidden=(16,)).double()
        >>> y = torch.randn(4, 3, dtype=torch.float64)
        >>> field(y).shape
        torch.Size([4, 3])
        >>> _, div = divergence(lambda t, y: field(y), torch.tensor(0.0), y)
        >>> torch.allclose(div, torch.zeros(4, dtype=torch.float64))  # div u = 0 exactly
        True

        With n = 2 this is the stream-function field ``u = (d_y a, -d_x a)``.

    References:
        Richter-Powell, Lipman, Chen. Neural Conservation Laws: A Divergence-Free Perspective.
        NeurIPS 2022 (arXiv 2210.01741).
    """

    def __init__(
        self,
        n: int,
        net: nn.Module | None = None,
        hidden: Sequence[int] = (64, 64),
        act: str = "tanh",
        constant: Tensor | None = None,
        learn_constant: bool = False,
        time_dependent: bool = False,
    ):
        super().__init__()
        self.n = check_dim(n)
        self.time_dependent = bool(time_dependent)
        self.in_features = n + 1 if time_dependent else n
        self.net = (
            net if net is not None else MLP(self.in_features, n_entries(n), hidden=hidden, act=act)
        )
        self.register_buffer("basis", antisymmetric_basis(n), persistent=False)
        constant = torch.zeros(n) if constant is None else torch.as_tensor(constant).clone()
        if constant.shape != (n,):
            raise ValueError(f"constant must have shape ({n},), got {tuple(constant.shape)}")
        if learn_constant:
            self.constant = nn.Parameter(constant)
        else:
            self.register_buffer("constant", constant)

    def entries(self, y: Tensor) -> Tensor:
        """The n(n-1)/2 upper entries of A at one point ``y: (n,)`` (checked size)."""
        a = self.net(y)
        if a.shape[-1:] != (n_entries(self.n),):
            raise ValueError(
                f"net must output {n_entries(self.n)} = n(n-1)/2 entries for n={self.n}, "
                f"got shape {tuple(a.shape)}"
            )
        return a

    def matrix(self, y: Tensor) -> Tensor:
        """The antisymmetric potential A: ``(*batch, n) -> (*batch, n, n)``."""
        check_points(y, self.in_features)
        basis = self.basis.to(y.dtype)
        return batched(lambda p: basis @ self.entries(p), y)

    def single(self, y: Tensor) -> Tensor:
        """u at one point: ``(in_features,) -> (n,)``; compose with ``torch.func`` transforms."""
        jac = torch.func.jacfwd(self.entries)(y)  # (K, n): d_l a_k
        if self.time_dependent:
            jac = jac[:, 1:]
        basis = self.basis.to(y.dtype)
        return torch.einsum("ijk,kj->i", basis, jac) + self.constant.to(y.dtype)

    def forward(self, *args: Tensor) -> Tensor:
        """``u`` at a batch of points: ``field(t, x)`` as every ctflow field (``t`` 0-d or of
        the batch shape; ignored unless time-dependent), or ``field(y)`` with ``y = (t, x)``
        packed when time-dependent. Returns ``(*batch, n)``."""
        y = field_input(self, args)
        check_points(y, self.in_features)
        return batched(self.single, y)
