"""Ornstein-Uhlenbeck processes: the SDE-BNN weight prior and two closed forms used as ground truth.

* :func:`ou_path_kl`: the path-space KL between two SDEs with linear drifts and the same constant
  diffusion, from the exact Gaussian moments (no discretisation).
* :class:`OUObservation`: a 1-D OU prior observed once at ``t = 1`` with Gaussian noise. Its exact
  posterior is again a linear SDE (a Doob h-transform), so the optimal variational drift, the
  evidence and the zero-variance limit of the sticking-the-landing gradient are all known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["ou_drift", "ou_path_kl", "OUObservation", "OUObservationDrift"]


def ou_drift(t: Tensor, w: Tensor) -> Tensor:
    """Drift ``-w`` of the OU prior ``dw = -w dt + sigma dB`` (same shape as ``w``)."""
    return -w


def _integral_exp(rate: float, horizon: float) -> float:
    """``int_0^T exp(rate t) dt``, also for ``rate`` near 0."""
    if abs(rate) * horizon < 1e-12:
        return horizon
    return math.expm1(rate * horizon) / rate


def ou_path_kl(
    a: float,
    b: float,
    sigma: float,
    *,
    prior_rate: float = 1.0,
    m0: float = 0.0,
    v0: float = 0.0,
    horizon: float = 1.0,
) -> float:
    """``KL(Q || P)`` on paths over ``[0, T]`` for one coordinate, in closed form.

    ``Q``: ``dw = (a w + b) dt + sigma dB``; ``P``: ``dw = -prior_rate w dt + sigma dB``; both start
    from ``w_0 ~ N(m0, v0)``. By Girsanov, ``KL = E_Q int_0^T u^2 / 2 dt`` with
    ``u = ((a + prior_rate) w + b) / sigma``, and ``E_Q[w_t]``, ``Var_Q[w_t]`` are exponentials in
    ``t``, so the time integral is exact.

    Args:
        a: posterior drift slope (non-zero).
        b: posterior drift offset.
        sigma: the shared diffusion coefficient (> 0).
        prior_rate: the prior's mean-reversion rate.
        m0: initial mean.
        v0: initial variance (0 for a fixed start).
        horizon: ``T``.

    Returns:
        The KL in nats (for ``d`` independent coordinates, sum the per-coordinate values).

    Examples:
        >>> ou_path_kl(-1.0, 0.0, 0.5)  # posterior = prior
        0.0
    """
    if a == 0:
        raise ValueError("a must be non-zero (the moments below divide by it)")
    if not sigma > 0 or v0 < 0 or not horizon > 0:
        raise ValueError("need sigma > 0, v0 >= 0 and horizon > 0")
    c = a + prior_rate
    r, s = b / a, sigma**2 / (2 * a)
    k = m0 + r  # E w_t = k e^{at} - r; Var w_t = (v0 + s) e^{2at} - s
    coef_2a = c * c * (k * k + v0 + s)
    coef_a = -2 * c * c * k * r + 2 * c * b * k
    coef_1 = c * c * (r * r - s) - 2 * c * b * r + b * b
    total = (
        coef_2a * _integral_exp(2 * a, horizon)
        + coef_a * _integral_exp(a, horizon)
        + coef_1 * horizon
    )
    return total / (2 * sigma**2)


@dataclass(frozen=True)
class OUObservation:
    """Prior ``dw = -w dt + sigma dB`` from ``w_0 = x0``; one observation ``y ~ N(w_1, obs_std^2)``.

    The exact posterior over paths is the SDE ``dw = (-w + A(t) w + B(t)) dt + sigma dB`` with
    ``A = -sigma^2 e^{-2 tau} / V``, ``B = sigma^2 e^{-tau} y / V``, ``tau = 1 - t`` and
    ``V(tau) = obs_std^2 + sigma^2 (1 - e^{-2 tau}) / 2`` (the h-transform with
    ``h(t, w) = p(y | w_t = w)``).

    Examples:
        >>> problem = OUObservation(sigma=1.0, obs_std=0.5, y=1.0)
        >>> round(problem.log_evidence(), 4)
        -1.4606
    """

    sigma: float = 1.0
    obs_std: float = 0.5
    y: float = 1.0
    x0: float = 0.0

    def variance_to_go(self, t: Tensor) -> Tensor:
        """``V(1 - t)``: variance of ``y`` given ``w_t``."""
        tau = 1.0 - t
        return self.obs_std**2 + self.sigma**2 * (-torch.expm1(-2 * tau)) / 2

    def coefficients(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """``(A(t), B(t))`` of the exact posterior drift ``-w + A w + B`` (shapes of ``t``)."""
        tau = 1.0 - t
        v = self.variance_to_go(t)
        a = -(self.sigma**2) * torch.exp(-2 * tau) / v
        b = self.sigma**2 * torch.exp(-tau) * self.y / v
        return a, b

    def log_likelihood(self, w1: Tensor) -> Tensor:
        """``log N(y; w_1, obs_std^2)``, elementwise."""
        z = (self.y - w1) / self.obs_std
        return -0.5 * z * z - math.log(self.obs_std) - 0.5 * math.log(2 * math.pi)

    def log_evidence(self) -> float:
        """``log p(y)``: the ELBO's maximum, reached by the exact posterior."""
        mean = self.x0 * math.exp(-1.0)
        var = self.obs_std**2 + self.sigma**2 * (1 - math.exp(-2.0)) / 2
        return -0.5 * (self.y - mean) ** 2 / var - 0.5 * math.log(2 * math.pi * var)


class OUObservationDrift(nn.Module):
    """Variational drift ``-w + theta_1 A(t) w + theta_2 B(t)``; ``theta = (1, 1)`` is exact.

    Args:
        problem: the observed OU problem that supplies ``A`` and ``B``.
        theta: initial ``(theta_1, theta_2)``.
        n_paths: if given, keep an independent copy of ``theta`` per path, shape
            ``(n_paths, 2)``: the gradient of a sum over paths then holds every path's own
            gradient (for gradient-variance measurements).

    Shapes: ``w`` is ``(*batch, 1)`` (with ``n_paths``: ``(..., n_paths, 1)``); ``t`` is 0-d or
    broadcastable to ``batch``.

    Examples:
        >>> drift = OUObservationDrift(OUObservation(), n_paths=3)
        >>> drift(torch.tensor(0.5), torch.zeros(3, 1, dtype=torch.float64)).shape
        torch.Size([3, 1])
    """

    def __init__(
        self,
        problem: OUObservation,
        theta: tuple[float, float] = (1.0, 1.0),
        n_paths: int | None = None,
    ) -> None:
        super().__init__()
        self.problem = problem
        value = torch.tensor(theta, dtype=torch.float64)
        if n_paths is not None:
            value = value.repeat(n_paths, 1)
        self.theta = nn.Parameter(value)

    def forward(self, t: Tensor, w: Tensor) -> Tensor:
        t = torch.as_tensor(t, dtype=w.dtype, device=w.device)
        a, b = self.problem.coefficients(t)
        if t.dim() > 0:  # t broadcasts against w.shape[:-1]
            a, b = a.unsqueeze(-1), b.unsqueeze(-1)
        theta = self.theta.to(w.dtype)
        return -w + theta[..., 0:1] * a * w + theta[..., 1:2] * b
