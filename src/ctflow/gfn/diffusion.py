"""A DDPM as a GFlowNet: ``P_F`` the learned denoising kernels, ``P_B`` the fixed noising one.

States ``s_1 = x_T, ..., s_{T+1} = x_0 = x``. ``P_F(x_T) = N(0, I)``, ``P_F(x_{t-1} | x_t) =
N(mu(x_t, t), sigma_t^2 I)`` with the usual noise parametrisation ``mu = (x_t - beta_t /
sqrt(1 - abar_t) eps(x_t, t)) / sqrt(alpha_t)``; ``P_B(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1},
beta_t I)``. The GFlowNet log-ratio of a noising path is then exactly the summand of the DDPM
variational bound (Ho et al. 2020, eq. 3).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from .._validate import check_positive
from .chain import MarkovChainGFN

__all__ = ["DiffusionGFN", "linear_betas"]


def linear_betas(steps: int, beta_min: float = 1e-4, beta_max: float = 0.02) -> Tensor:
    """DDPM's linear schedule rescaled to ``steps`` (so ``sum beta`` matches 1000 steps).

    Args:
        steps: ``T >= 1``.
        beta_min, beta_max: the 1000-step schedule's ends, ``0 < beta_min <= beta_max < 1``.

    Returns:
        ``(T,)`` float64 betas; the rescaled top end is capped at 0.999.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    beta_min, beta_max = check_positive(beta_min, "beta_min"), check_positive(beta_max, "beta_max")
    if not beta_min <= beta_max < 1:
        raise ValueError(f"need 0 < beta_min <= beta_max < 1, got {beta_min} and {beta_max}")
    scale = 1000 / steps
    if beta_min * scale >= 1:
        raise ValueError(
            f"beta_min={beta_min} rescaled to {steps} steps is {beta_min * scale:g} >= 1; "
            "use more steps or a smaller beta_min"
        )
    return torch.linspace(
        beta_min * scale, min(beta_max * scale, 0.999), steps, dtype=torch.float64
    )


def _normal(mean: Tensor, std: Tensor) -> Independent:
    return Independent(Normal(mean, std.expand_as(mean)), 1)


class DiffusionGFN(MarkovChainGFN):
    """A Gaussian diffusion on ``R^d`` with ``T`` steps.

    Args:
        eps_net: ``eps(t, x_t)`` with ``t = step / T`` (``(*batch,)`` or 0-d) and ``x_t``
            ``(*batch, d)``: a :class:`ctflow.nn.TimeMLP`, for instance.
        features: ``d``.
        betas: the noise schedule ``(T,)``.
        variance: ``"beta"`` (``sigma_t^2 = beta_t``) or ``"posterior"`` (``beta~_t``, with
            ``beta_1`` at ``t = 1``).
        learn_variance: add a learned log-variance offset per step (trained by the bound).
    """

    def __init__(
        self,
        eps_net: nn.Module,
        features: int,
        betas: Tensor,
        variance: str = "posterior",
        learn_variance: bool = False,
    ):
        super().__init__()
        if variance not in ("beta", "posterior"):
            raise ValueError(f"variance must be 'beta' or 'posterior', got {variance!r}")
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.dim() != 1 or not ((betas > 0) & (betas < 1)).all():
            raise ValueError("betas must be a 1-D tensor with entries in (0, 1)")
        self.eps_net, self.features = eps_net, features
        self.T = self.n_transitions = len(betas)
        abar = torch.cumprod(1 - betas, 0)
        abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
        post = betas * (1 - abar_prev) / (1 - abar)
        post[0] = betas[0]
        var = betas if variance == "beta" else post
        # float64 buffers (a float32 schedule would shift the bound); cast where used
        self.register_buffer("betas", betas)
        self.register_buffer("abar", abar)
        self.register_buffer("log_var", var.log())
        self.log_var_offset = nn.Parameter(torch.zeros(self.T), requires_grad=learn_variance)

    def _step(self, i: int) -> int:
        return self.T + 1 - i  # transition i goes from x_t to x_{t-1} with this t

    def std(self, t: int) -> Tensor:
        offset = self.log_var_offset[t - 1]
        return (0.5 * (self.log_var[t - 1].to(offset.dtype) + offset)).exp()

    def mean(self, t: int | Tensor, x_t: Tensor) -> Tensor:
        """``mu(x_t, t)``; ``t`` an int or a long tensor broadcastable to ``x_t.shape[:-1]``."""
        idx = torch.as_tensor(t, device=x_t.device) - 1
        beta, abar = self.betas[idx].to(x_t.dtype), self.abar[idx].to(x_t.dtype)
        if idx.dim() > 0:
            beta, abar = beta.unsqueeze(-1), abar.unsqueeze(-1)
        tt = (idx + 1).to(x_t.dtype) / self.T
        eps = self.eps_net(tt, x_t)
        return (x_t - beta / (1 - abar).sqrt() * eps) / (1 - beta).sqrt()

    def initial(self):
        zero = self.log_var_offset.new_zeros(self.features)
        return _normal(zero, torch.ones_like(zero))

    def forward_kernel(self, i: int, s: Tensor):
        t = self._step(i)
        return _normal(self.mean(t, s), self.std(t))

    def backward_kernel(self, i: int, s_next: Tensor):
        t = self._step(i)
        beta = self.betas[t - 1].to(s_next.dtype)
        return _normal((1 - beta).sqrt() * s_next, beta.sqrt())

    def log_pf(self, path: list[Tensor]) -> Tensor:
        """All ``T`` denoising kernels in one network call (same value as the generic loop)."""
        x_t = torch.stack(path[:-1])  # (T, *batch, d): x_T .. x_1
        x_prev = torch.stack(path[1:])
        t = torch.arange(self.T, 0, -1, device=x_t.device)
        t = t.view(-1, *([1] * (x_t.dim() - 2))).expand(x_t.shape[:-1])
        mean = self.mean(t, x_t)
        log_var = self.log_var.to(x_t.dtype) + self.log_var_offset.to(x_t.dtype)
        std = (0.5 * log_var)[t - 1].exp().unsqueeze(-1)
        d = self.features
        logp = -0.5 * ((x_prev - mean) / std).pow(2).sum(-1) - d * std.squeeze(-1).log()
        logp = logp - 0.5 * d * math.log(2 * math.pi)
        return self.initial().log_prob(path[0]) + logp.sum(0)

    def noise_loss(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """DDPM's simplified loss ``E ||eps - eps(x_t, t)||^2`` at a uniform step (Ho et al.)."""
        n = x.shape[0]
        t = torch.randint(1, self.T + 1, (n,), generator=generator, device=x.device)
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        abar = self.abar[t - 1].unsqueeze(-1).to(x.dtype)
        x_t = abar.sqrt() * x + (1 - abar).sqrt() * noise
        return (self.eps_net(t.to(x.dtype) / self.T, x_t) - noise).pow(2).sum(-1).mean()
