"""The incoherent-light V-system with a reaction-centre trap (arXiv 2103.12604, Sec. "energy
transfer"): a minimal donor-acceptor model of biological light harvesting.

The state is the real 4-vector ``x = (rho_++, rho_--, Re rho_+-, Im rho_+-)`` of the excited-state
block in the eigenbasis; under weak incoherent pumping it obeys ``dx/dt = A(theta) x + b``, so the
steady state is ``x_ss = -A^{-1} b``. The parameters are ``log Gamma`` (radiative decay) and
``log gamma_d`` (dephasing, in units of 1e-12 as in the paper's reference notebook). The transfer
("localisation") efficiency is

    eta = (Gamma_RC / r) [cos^2 t rho_++ + sin^2 t rho_-- - 2 sin t cos t Re rho_+-],

with ``t = atan2(2 J, e1 - e2) / 2``. Constants (J = 0.12, e1 - e2 = 1.3, Gamma_RC = 0.5,
kappa = 1, r = 6.34e-10) are those of the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .._validate import check_positive, check_real
from ..solvers import fixed_point

__all__ = ["LightHarvestingVSystem", "STEADY_STATE_METHODS"]

STEADY_STATE_METHODS = ("solve", "fixed_point")


@dataclass(frozen=True)
class LightHarvestingVSystem:
    """The V-system's rate equations and efficiency.

    Attributes:
        coupling: the inter-site coupling J.
        gap: the site energy difference e1 - e2.
        gamma_rc: the trapping rate into the reaction centre.
        kappa: the interference factor of the trapping cross term.
        pump: the incoherent pumping rate r.
        dephasing_unit: ``gamma_d = exp(log_gamma_d) * dephasing_unit``.
    """

    coupling: float = 0.12
    gap: float = 1.3
    gamma_rc: float = 0.5
    kappa: float = 1.0
    pump: float = 6.34e-10
    dephasing_unit: float = 1e-12

    def __post_init__(self) -> None:
        check_real(self.coupling, "coupling")
        check_real(self.gap, "gap")
        check_real(self.kappa, "kappa")
        for name in ("gamma_rc", "pump", "dephasing_unit"):
            check_positive(getattr(self, name), name)

    @property
    def mixing_angle(self) -> float:
        return 0.5 * math.atan2(2 * self.coupling, self.gap)

    @property
    def splitting(self) -> float:
        return math.hypot(self.gap, 2 * self.coupling)

    def rate_matrix(self, params: Tensor) -> Tensor:
        """``A(theta)``, shape ``(*batch, 4, 4)``, for ``params = (log Gamma, log gamma_d)``
        of shape ``(*batch, 2)`` (float64)."""
        if params.shape[-1] != 2:
            raise ValueError(
                f"params must end in 2 values (log Gamma, log gamma_d), got {tuple(params.shape)}"
            )
        gamma = params[..., 0].exp()
        gamma_d = params[..., 1].exp() * self.dephasing_unit
        t = self.mixing_angle
        c2, s2 = math.cos(t) ** 2, math.sin(t) ** 2
        sin2t, cos2t = math.sin(2 * t), math.cos(2 * t)
        g_plus = 2 * gamma + 2 * self.gamma_rc * c2
        g_minus = 2 * gamma + 2 * self.gamma_rc * s2
        g_rc_cross = self.kappa * self.gamma_rc * sin2t
        g_s = 2 * gamma + self.gamma_rc + 2 * gamma_d
        g_d_cross = gamma_d * sin2t * cos2t
        d = gamma_d * sin2t**2
        zero = torch.zeros_like(gamma)
        delta = torch.full_like(gamma, self.splitting)
        rows = [
            [-(g_plus + d), d, g_rc_cross - 2 * g_d_cross, zero],
            [d, -(g_minus + d), g_rc_cross + 2 * g_d_cross, zero],
            [
                0.5 * (g_rc_cross - 2 * g_d_cross),
                0.5 * (g_rc_cross + 2 * g_d_cross),
                -g_s + 2 * d,
                delta,
            ],
            [zero, zero, -delta, -g_s],
        ]
        return torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)

    def source(self, dtype: torch.dtype = torch.float64) -> Tensor:
        """The pumping term ``b``, shape ``(4,)``."""
        t = self.mixing_angle
        r_plus, r_minus = 2 * self.pump * math.sin(t) ** 2, 2 * self.pump * math.cos(t) ** 2
        return torch.tensor([r_plus, r_minus, math.sqrt(r_plus * r_minus), 0.0], dtype=dtype)

    def steady_state(self, params: Tensor, method: str = "solve") -> Tensor:
        """``x_ss`` of shape ``(*batch, 4)``. Both methods differentiate implicitly: ``"solve"``
        through the linear solve's adjoint, ``"fixed_point"`` (the reference's iteration
        ``x <- x + A x + b``) through :func:`ctflow.solvers.fixed_point`'s implicit backward."""
        a = self.rate_matrix(params)
        b = self.source(a.dtype).expand(*a.shape[:-2], 4)
        if method == "solve":
            return torch.linalg.solve(-a, b)
        if method == "fixed_point":
            # iterate on x / r (entries of order one, so tolerances are relative) with the
            # residual scaled by the largest rate, so the damped iteration contracts
            step = 1.0 / float(a.detach().abs().amax())
            b_unit = b / self.pump

            def update(y: Tensor) -> Tensor:
                return y + step * ((a @ y.unsqueeze(-1)).squeeze(-1) + b_unit)

            y = fixed_point(update, torch.zeros_like(b), tol=1e-13, max_iter=200_000)
            return y * self.pump
        raise ValueError(
            f"unknown method {method!r}; choose one of: {', '.join(STEADY_STATE_METHODS)}"
        )

    def efficiency(self, params: Tensor, method: str = "solve") -> Tensor:
        """The transfer efficiency ``eta``, shape ``batch``."""
        x = self.steady_state(params, method)
        t = self.mixing_angle
        c, s = math.cos(t), math.sin(t)
        return (self.gamma_rc / self.pump) * (
            c * c * x[..., 0] + s * s * x[..., 1] - 2 * s * c * x[..., 2]
        )
