"""The vector-field construction: A = J_b - J_b^T for a network b: R^n -> R^n.

Then ``u_i = sum_j d_j (d_j b_i - d_i b_j) = Lap b_i - d_i (div b)``: divergence-free for any
twice-differentiable b. Needs the network's Hessian (about n^2 passes), so it costs several times
the matrix construction; its potential has n outputs instead of n(n-1)/2.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..nn import MLP
from ._checks import batched, check_dim, check_points, field_input

__all__ = ["VectorField"]


class VectorField(nn.Module):
    """A divergence-free vector field ``u = div(J_b - J_b^T)`` on R^n.

    Args:
        n: dimension (>= 2).
        net: a module ``(n,) -> (n,)`` (also called on unbatched input under ``vmap``); default
            ``MLP(n, n, hidden, act)``.
        hidden, act: the default network's hidden widths and (smooth) activation.
        constant: a constant (harmonic) vector added to u, shape ``(n,)``; ``None``: zero.
        learn_constant: make ``constant`` a trainable parameter.
        time_dependent: inputs are ``(t, x)`` of size ``n + 1`` and ``u(t, .)`` is divergence-free
            in x for every t (the net then takes ``n + 1`` inputs); e.g. an incompressible
            velocity field. Otherwise inputs are ``x`` of size n.

    Shapes:
        ``forward(t, x)``: ``x (*batch, n) -> (*batch, n)``, ``t`` 0-d or ``(*batch,)``, used
        only when time-dependent (so a field goes straight into ``odeint``). ``forward(y)``
        takes ``(*batch, n)``, or the packed ``(*batch, 1 + n)`` when time-dependent.

    Examples:
        >>> u = VectorField(4).double()(torch.randn(8, 4, dtype=torch.float64))  # (8, 4)
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
        self.net = net if net is not None else MLP(self.in_features, n, hidden=hidden, act=act)
        constant = torch.zeros(n) if constant is None else torch.as_tensor(constant).clone()
        if constant.shape != (n,):
            raise ValueError(f"constant must have shape ({n},), got {tuple(constant.shape)}")
        if learn_constant:
            self.constant = nn.Parameter(constant)
        else:
            self.register_buffer("constant", constant)

    def potential(self, y: Tensor) -> Tensor:
        """b at one point, ``(n,) -> (n,)`` (checked size)."""
        b = self.net(y)
        if b.shape[-1:] != (self.n,):
            raise ValueError(f"net must output {self.n} values, got shape {tuple(b.shape)}")
        return b

    def matrix(self, y: Tensor) -> Tensor:
        """The antisymmetric potential ``J_b - J_b^T``: ``(*batch, n) -> (*batch, n, n)``."""
        check_points(y, self.in_features)

        def one(p: Tensor) -> Tensor:
            jac = torch.func.jacfwd(self.potential)(p)
            if self.time_dependent:
                jac = jac[:, 1:]
            return jac - jac.T

        return batched(one, y)

    def single(self, y: Tensor) -> Tensor:
        """u at one point: ``(in_features,) -> (n,)``; compose with ``torch.func`` transforms."""
        hess = torch.func.jacfwd(torch.func.jacrev(self.potential))(y)  # [i, j, k] = d_j d_k b_i
        if self.time_dependent:
            hess = hess[:, 1:, 1:]
        laplacian = torch.diagonal(hess, dim1=-2, dim2=-1).sum(-1)  # Lap b_i
        grad_div = torch.diagonal(hess, dim1=0, dim2=1).sum(-1)  # d_i sum_j d_j b_j
        return laplacian - grad_div + self.constant.to(y.dtype)

    def forward(self, *args: Tensor) -> Tensor:
        """``u`` at a batch of points: ``field(t, x)`` as every ctflow field (``t`` 0-d or of
        the batch shape; ignored unless time-dependent), or ``field(y)`` with ``y = (t, x)``
        packed when time-dependent. Returns ``(*batch, n)``."""
        y = field_input(self, args)
        check_points(y, self.in_features)
        return batched(self.single, y)
