"""A V-system quantum heat-transfer device between a hot and a cold bath (arXiv 2103.12604,
Sec. "quantum heat transfer").

Levels: ground ``|g>`` and two excited states ``|1>``, ``|2>`` (energies ``e1``, ``e2``) coupled by
a tunnelling ``J``:

    H_S = e1 |1><1| + e2 |2><2| + J (|1><2| + |2><1|).

Each bath ``nu`` (hot ``h`` at ``t_hot``, cold ``c`` at ``t_cold``) couples to both transitions
through ``S_nu = sum_k c_nu,k (|g><k| + |k><g|)``, with ``(c_h1, c_h2) = (a0, a1)`` and
``(c_c1, c_c2) = (b0, b1)``. Its Lindblad operators act at the mean transition frequency ``w``
(the excited levels are close, so one Bose factor ``n_nu = 1 / (exp(w / T_nu) - 1)`` per bath)
and are collective, so the two pathways interfere:

    L_nu- = sqrt(gamma (1 + n_nu)) sum_k c_nu,k |g><k|,
    L_nu+ = sqrt(gamma n_nu) sum_k c_nu,k |k><g|,

plus pure dephasing ``sqrt(gamma_d) |k><k|`` of each excited level. The heat current out of bath
``nu`` is ``J_nu = Tr[H_S D_nu(rho_ss)]`` with ``D_nu`` that bath's dissipator; the rectification
coefficient compares the forward current with the one after swapping the bath temperatures:

    R = |J_f + J_b| / max(|J_f|, |J_b|)   (0: a symmetric conductor, 1: a perfect diode).

The paper note marks the paper's exact definition of this device as unverified; this is ctflow's
model in the paper's terms (a local Lindblad master equation), not a transcription of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .._validate import check_positive
from .liouvillian import liouvillian, vec
from .steady_state import steady_state

__all__ = ["HeatTransferVSystem", "PARAMETER_NAMES"]

# the differentiable parameters, in order, of ``params`` (*batch, 6)
PARAMETER_NAMES = ("a0", "a1", "b0", "b1", "J", "log_gamma_d")


def _bose(w: float, temperature: float) -> float:
    if not temperature > 0:
        raise ValueError(f"bath temperatures must be positive, got {temperature!r}")
    return 1.0 / math.expm1(w / temperature)


@dataclass(frozen=True)
class HeatTransferVSystem:
    """The device's fixed constants; the couplings, ``J`` and ``log gamma_d`` are parameters.

    Attributes:
        e1, e2: excited-level energies (ground at 0).
        gamma: the bath coupling rate that multiplies every (squared) coupling.
        t_hot, t_cold: bath temperatures (units of energy, k_B = 1).
    """

    e1: float = 1.0
    e2: float = 1.1
    gamma: float = 0.1
    t_hot: float = 2.0
    t_cold: float = 0.5

    def __post_init__(self):
        for name in ("e1", "e2", "gamma", "t_hot", "t_cold"):
            check_positive(getattr(self, name), name)

    @property
    def frequency(self) -> float:
        """The mean transition frequency ``w`` at which the baths exchange quanta."""
        return 0.5 * (self.e1 + self.e2)

    def _check(self, params: Tensor) -> Tensor:
        if not isinstance(params, Tensor) or params.shape[-1:] != (len(PARAMETER_NAMES),):
            shape = tuple(params.shape) if isinstance(params, Tensor) else type(params).__name__
            raise ValueError(f"params must have shape (*batch, 6) = {PARAMETER_NAMES}, got {shape}")
        if params.is_complex():
            raise ValueError("params must be real")
        return params.to(torch.float64)

    def hamiltonian(self, params: Tensor) -> Tensor:
        """``H_S``, complex128 of shape ``(*batch, 3, 3)``, basis ``(|g>, |1>, |2>)``."""
        params = self._check(params)
        J = params[..., 4]
        zero = torch.zeros_like(J)
        rows = [
            [zero, zero, zero],
            [zero, zero + self.e1, J],
            [zero, J, zero + self.e2],
        ]
        return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2).to(torch.complex128)

    def bath_operators(
        self,
        params: Tensor,
        bath: str,
        swapped: bool = False,
        occupation: Tensor | None = None,
    ) -> Tensor:
        """Lindblad operators ``(L_nu-, L_nu+)`` of bath ``"hot"`` or ``"cold"``: shape
        ``(*batch, 2, 3, 3)``.

        ``swapped`` exchanges the two temperatures (the backward bias). ``occupation`` (shape
        ``batch``) replaces the bath's Bose factor ``n_nu``, e.g. to sweep the pumping rate
        ``gamma n_nu`` differentiably."""
        params = self._check(params)
        if bath not in ("hot", "cold"):
            raise ValueError(f"bath must be 'hot' or 'cold', got {bath!r}")
        hot = (bath == "hot") != swapped
        n = _bose(self.frequency, self.t_hot if hot else self.t_cold)
        if occupation is not None:
            n = occupation.to(torch.float64)[..., None, None, None]
        c = params[..., 0:2] if bath == "hot" else params[..., 2:4]
        row_g = torch.nn.functional.pad(c, (1, 0))  # <g| row of sum_k c_k |g><k|: (0, c1, c2)
        lower = torch.stack([row_g, torch.zeros_like(row_g), torch.zeros_like(row_g)], dim=-2)
        raise_ = lower.transpose(-1, -2)
        down, up = (self.gamma * (1 + n)) ** 0.5, (self.gamma * n) ** 0.5
        return torch.cat([down * lower[..., None, :, :], up * raise_[..., None, :, :]], dim=-3).to(
            torch.complex128
        )

    def dephasing_operators(self, params: Tensor) -> Tensor:
        """``sqrt(gamma_d) |k><k|`` for ``k = 1, 2``: shape ``(*batch, 2, 3, 3)``."""
        params = self._check(params)
        amp = (0.5 * params[..., 5]).exp()
        eye = torch.eye(3, dtype=torch.float64)
        projectors = torch.stack([torch.diag(eye[1]), torch.diag(eye[2])])  # (2, 3, 3)
        return (amp[..., None, None, None] * projectors).to(torch.complex128)

    def liouvillian(
        self, params: Tensor, swapped: bool = False, hot_occupation: Tensor | None = None
    ) -> Tensor:
        """The device's Liouvillian, complex128 ``(*batch, 9, 9)`` (column stacking);
        ``hot_occupation`` overrides the hot bath's Bose factor (see :meth:`bath_operators`)."""
        parts = [
            self.bath_operators(params, "hot", swapped, hot_occupation),
            self.bath_operators(params, "cold", swapped),
            self.dephasing_operators(params),
        ]
        batch = torch.broadcast_shapes(*(part.shape[:-3] for part in parts))
        ops = torch.cat([part.expand(*batch, *part.shape[-3:]) for part in parts], dim=-3)
        return liouvillian(self.hamiltonian(params), ops)

    def steady_state(
        self,
        params: Tensor,
        swapped: bool = False,
        method: str = "direct",
        hot_occupation: Tensor | None = None,
    ) -> Tensor:
        """``rho_ss``, complex128 ``(*batch, 3, 3)``, differentiable in ``params`` (and in
        ``hot_occupation`` when given)."""
        return steady_state(self.liouvillian(params, swapped, hot_occupation), method=method)

    def heat_current(
        self,
        params: Tensor,
        swapped: bool = False,
        method: str = "direct",
        hot_occupation: Tensor | None = None,
    ) -> Tensor:
        """Heat current out of the hot-side bath, ``Tr[H_S D_h(rho_ss)]``: real ``(*batch,)``.

        Positive when energy flows from that bath into the device (with ``swapped`` the
        hot-side bath is the cold one, so the current is negative)."""
        rho = self.steady_state(params, swapped, method, hot_occupation)
        D_h = liouvillian(
            torch.zeros(3, 3, dtype=torch.complex128),
            self.bath_operators(params, "hot", swapped, hot_occupation),
        )
        d_rho = (D_h @ vec(rho).unsqueeze(-1)).squeeze(-1)
        # Tr[H X] = vec(H^T) . vec(X)
        return (vec(self.hamiltonian(params).transpose(-1, -2)) * d_rho).sum(-1).real

    def rectification(self, params: Tensor, method: str = "direct") -> Tensor:
        """``R = |J_f + J_b| / max(|J_f|, |J_b|)``: real ``(*batch,)`` in ``[0, 1]`` when the
        backward current opposes the forward one."""
        forward = self.heat_current(params, False, method)
        backward = self.heat_current(params, True, method)
        return (forward + backward).abs() / torch.maximum(forward.abs(), backward.abs())
