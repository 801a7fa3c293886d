"""A 2D space-time density that is a Gaussian mixture at every t, as a divergence-free field.

The potential ``A`` on ``y = (t, x_1, x_2)`` has ``A_{0j} = F_j``, where ``F`` is the field of
Gaussian "charges", ``div_x F = sum_k w_k N(x; m_k, s_k^2 I)`` (closed form in 2D:
``F = sum_k w_k (x - m_k) (1 - exp(-z_k)) / (2 pi |x - m_k|^2)``,
``z_k = |x - m_k|^2 / (2 s_k^2)``),
and ``A_12 = psi + a(t, x)``. Then ``u = div A`` gives ``rho = u_0`` = the mixture (positive,
mass one at every t) and flux ``rho v = -d_t F + (d_2 A_12, -d_1 A_12)``. The means and scales
``(m_k(t), s_k(t))`` are networks of t; the weights are constant.

``-d_t F`` alone is a long-range flux: moving a charge changes F like a dipole, ``1/r^2``, while
rho decays like a Gaussian, so ``int |rho v|^2 / rho`` is infinite. The closed-form stream function
``psi = sum_k w_k (m_k' x F_k)`` (the 2D cross product with the unweighted charge field F_k)
cancels that tail exactly: with it each component carries its own mass with the affine velocity
``m_k' + (s_k' / s_k)(x - m_k)`` (``-d_t F`` is already local for the dilation), and the network
``a`` adds any further divergence-free flux. This is the paper's "Laplacian of a subharmonic
mixture" density for dynamical optimal transport (``F`` is the gradient of that potential).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..nn import MLP

__all__ = ["GaussianMixtureFlux"]


def _charge_profile(z: Tensor) -> Tensor:
    """``(1 - exp(-z)) / z``, smooth through ``z = 0`` (value 1)."""
    small = z < 1e-4
    safe = torch.where(small, torch.ones_like(z), z)
    return torch.where(small, 1 - z / 2 + z * z / 6, -torch.expm1(-safe) / safe)


class GaussianMixtureFlux(nn.Module):
    """The entries ``(A_01, A_02, A_12)`` of the potential above, for ``MatrixField(3, net=...)``.

    Args:
        components: mixture size K.
        hidden, act: the networks of t (mixture parameters) and of (t, x) (``a``).
        rotation: include the network ``a`` (otherwise ``A_12 = psi``: each component moves
            with its own affine velocity).
        init_spread: standard deviation of the initial component means.

    Shapes:
        ``forward(y)``: ``(3,)`` or ``(*batch, 3) -> (..., 3)``; ``parameters_at(t)`` with ``t``
        of shape ``batch`` gives means ``(*batch, K, 2)``, scales ``(*batch, K)``, weights
        ``(*batch, K)``.
    """

    def __init__(
        self,
        components: int = 8,
        hidden: Sequence[int] = (64, 64),
        act: str = "tanh",
        rotation: bool = True,
        init_spread: float = 1.0,
    ):
        super().__init__()
        if not isinstance(components, int) or components < 1:
            raise ValueError(f"components must be a positive integer, got {components!r}")
        self.components = components
        self.means = nn.Parameter(init_spread * torch.randn(components, 2))
        self.log_scales = nn.Parameter(torch.zeros(components))
        self.logits = nn.Parameter(torch.zeros(components))
        self.dynamics = MLP(1, 3 * components, hidden=hidden, act=act)
        nn.init.zeros_(self.dynamics[-1].weight)
        nn.init.zeros_(self.dynamics[-1].bias)
        self.rotation = MLP(3, 1, hidden=hidden, act=act) if rotation else None
        if self.rotation is not None:
            nn.init.zeros_(self.rotation[-1].weight)

    def parameters_at(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        k = self.components
        out = self.dynamics(t[..., None])
        means = self.means + out[..., : 2 * k].reshape(*t.shape, k, 2)
        scales = torch.exp(self.log_scales + out[..., 2 * k : 3 * k])
        weights = torch.softmax(self.logits, dim=-1).expand(*t.shape, k)
        return means, scales, weights

    def log_density(self, t: Tensor, x: Tensor) -> Tensor:
        """``log rho(t, x)`` in closed form; ``t: batch`` (or 0-d), ``x: (*batch, 2)``."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[:-1])
        means, scales, weights = self.parameters_at(t)
        sq = (x[..., None, :] - means).pow(2).sum(-1)
        log_n = -sq / (2 * scales**2) - 2 * torch.log(scales) - math.log(2 * math.pi)
        return torch.logsumexp(torch.log(weights) + log_n, dim=-1)

    def sample(self, t: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One point from ``rho(t_i, .)`` for each ``t_i`` of ``t: (m,)``; ``(m, 2)``."""
        means, scales, weights = self.parameters_at(t)
        index = torch.multinomial(weights, 1, generator=generator)[..., 0]
        rows = torch.arange(len(t), device=t.device)
        noise = torch.randn(len(t), 2, generator=generator, dtype=t.dtype).to(t.device)
        return means[rows, index] + scales[rows, index, None] * noise

    def forward(self, y: Tensor) -> Tensor:
        t, x = y[..., 0], y[..., 1:]
        (means, scales, weights), (dmeans, _, _) = torch.func.jvp(
            self.parameters_at, (t,), (torch.ones_like(t),)
        )
        diff = x[..., None, :] - means  # (..., K, 2)
        z = diff.pow(2).sum(-1) / (2 * scales**2)
        charge = (_charge_profile(z) / (4 * math.pi * scales**2))[..., None] * diff  # F_k
        flux = (weights[..., None] * charge).sum(-2)  # F, with div_x F = the mixture density
        cross = dmeans[..., 0] * charge[..., 1] - dmeans[..., 1] * charge[..., 0]
        psi = (weights * cross).sum(-1, keepdim=True)
        if self.rotation is not None:
            psi = psi + self.rotation(y)
        return torch.cat([flux, psi], dim=-1)
