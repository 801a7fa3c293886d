"""Target probability paths from the uniform distribution to data in finite time.

``p_t = (1 - t) U + t sum_i w_i k_{s(t)}(x, y_i)``: the uniform law mixed with a kernel density
around centres ``y_i`` (von Mises-Fisher on spheres, wrapped normals on flat tori) whose width
shrinks geometrically, ``s(t) = s0^(1-t) s1^t``. So ``p_0 = U`` exactly and ``p_1`` is the kernel
mixture at width ``s1``: a kernel density estimate when the centres are the training data, or a
known mixture when they are its means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .._validate import check_finite
from ..manifolds import FlatTorus, Manifold, Sphere
from .kernels import (
    _vmf_log_prob,
    _vmf_sample,
    _wrapped_normal_log_prob,
    _wrapped_normal_sample,
    vmf_log_normalizer,
)

__all__ = ["KernelMixturePath", "PathPoint"]


@dataclass
class PathPoint:
    """Points ``x_t ~ p_t`` with the target's log-density and its derivatives there (detached).

    Attributes:
        t: times, shape ``(n,)``.
        x_t: points, shape ``(n, ambient_dim)``.
        logp: ``log p_t(x_t)``, shape ``(n,)``.
        dlogp_dt: ``d/dt log p_t(x_t)``, shape ``(n,)``.
        grad_logp: Riemannian gradient of ``log p_t`` at ``x_t``, shape ``(n, ambient_dim)``.
    """

    t: Tensor
    x_t: Tensor
    logp: Tensor
    dlogp_dt: Tensor
    grad_logp: Tensor


class KernelMixturePath:
    """The path ``p_t = (1 - t) U + t sum_i w_i k_{s(t)}(., y_i)`` on a sphere or flat torus.

    The width ``s`` is an angle in radians: the wrapped normal's standard deviation, or the
    von Mises-Fisher concentration ``kappa = 1 / s^2`` (the same local spread).

    Args:
        manifold: a ``Sphere`` (vMF kernels) or a ``FlatTorus`` (wrapped normals).
        centers: kernel centres on the manifold, shape ``(N, ambient_dim)``.
        scale_start: kernel width ``s0`` at ``t = 0`` (only matters through ``t > 0``).
        scale_end: kernel width ``s1`` at ``t = 1``.
        weights: optional nonnegative centre weights, shape ``(N,)`` (normalised here).

    Examples:
        >>> M = Sphere(2)
        >>> path = KernelMixturePath(M, M.random_uniform(10), scale_start=1.0, scale_end=0.1)
        >>> point = path.sample(torch.rand(5))
        >>> point.x_t.shape, point.dlogp_dt.shape
        (torch.Size([5, 3]), torch.Size([5]))
    """

    def __init__(
        self,
        manifold: Manifold,
        centers: Tensor,
        *,
        scale_start: float = 1.0,
        scale_end: float = 0.1,
        weights: Tensor | None = None,
    ):
        if isinstance(manifold, Sphere):
            self.kernel = "vmf"
        elif isinstance(manifold, FlatTorus):
            self.kernel = "wrapped_normal"
        else:
            raise TypeError(f"KernelMixturePath needs a Sphere or a FlatTorus, got {manifold!r}")
        if not isinstance(centers, Tensor) or centers.dim() != 2:
            raise ValueError("centers must be a tensor of shape (N, ambient_dim)")
        if centers.shape[-1] != manifold.ambient_dim or len(centers) == 0:
            raise ValueError(
                f"centers must have shape (N >= 1, {manifold.ambient_dim}), "
                f"got {tuple(centers.shape)}"
            )
        check_finite(centers, "centers")
        if not bool(manifold.check_point(centers).all()):
            raise ValueError(
                f"centers must lie on {manifold!r} (project them with manifold.projx first)"
            )
        for name, value in (("scale_start", scale_start), ("scale_end", scale_end)):
            if not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        self.manifold, self.centers = manifold, centers
        self.scale_start, self.scale_end = float(scale_start), float(scale_end)
        if weights is None:
            log_w = torch.full((len(centers),), -math.log(len(centers)), dtype=centers.dtype)
        else:
            ok = weights.shape == (len(centers),) and bool(torch.isfinite(weights).all())
            if not ok or bool((weights < 0).any()) or not bool(weights.sum() > 0):
                raise ValueError(
                    f"weights must be finite, nonnegative, not all zero, of shape ({len(centers)},)"
                )
            log_w = torch.log(weights / weights.sum()).to(centers.dtype)
        self.log_weights = log_w.to(centers.device)

    def to(self, *args, **kwargs) -> KernelMixturePath:
        """Move the centres (and weights) to a device/dtype, like ``Tensor.to``."""
        self.centers = self.centers.to(*args, **kwargs)
        self.log_weights = self.log_weights.to(*args, **kwargs)
        return self

    def scale(self, t: Tensor) -> Tensor:
        """Kernel width ``s(t) = s0^(1-t) s1^t``."""
        return self.scale_start ** (1 - t) * self.scale_end**t

    def kernel_log_prob(self, x: Tensor, scale: Tensor | float) -> Tensor:
        """``log sum_i w_i k_s(x, y_i)``, shape ``x.shape[:-1]``; ``scale`` broadcasts to it."""
        self._check_points(x)
        return self._kernel_log_prob(x, scale)

    def _check_points(self, x: Tensor) -> None:
        # the public methods check the user's points once; the training step calls the private
        # ones on points it drew itself
        d = self.manifold.ambient_dim
        if not isinstance(x, Tensor) or x.dim() == 0 or x.shape[-1] != d:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must have shape (..., {d}), got {shape}")
        check_finite(x, "x")

    def _kernel_log_prob(self, x: Tensor, scale: Tensor | float) -> Tensor:
        scale = torch.as_tensor(scale, dtype=x.dtype, device=x.device)
        if self.kernel == "vmf":
            pair = _vmf_log_prob(x, self.centers, 1 / scale**2)
        else:
            pair = _wrapped_normal_log_prob(x, self.centers, scale)
        return torch.logsumexp(pair + self.log_weights, dim=-1)

    def log_prob(self, t: Tensor | float, x: Tensor) -> Tensor:
        """``log p_t(x)``; ``t`` is a float or a tensor broadcastable to ``x.shape[:-1]``.

        Returns:
            Log-densities w.r.t. the Riemannian volume, shape ``x.shape[:-1]``.
        """
        self._check_points(x)
        return self._log_prob(t, x)

    def _log_prob(self, t: Tensor | float, x: Tensor) -> Tensor:
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[:-1])
        log_u = x.new_full(x.shape[:-1], -self.manifold.log_volume())
        # (1 - t) U + t K; log(1 - t) = -inf at t = 1 is fine inside logaddexp
        log_k = self._kernel_log_prob(x, self.scale(t).unsqueeze(-1))
        return torch.logaddexp(torch.log1p(-t) + log_u, torch.log(t) + log_k)

    def data_log_prob(self, x: Tensor) -> Tensor:
        """``log p_1(x)``, the path's end (the kernel mixture at width ``s1``)."""
        self._check_points(x)
        return self._kernel_log_prob(x, self.scale_end)

    def derivatives(self, t: Tensor, x: Tensor) -> PathPoint:
        """``log p_t``, ``d/dt log p_t`` and the Riemannian gradient at ``(t, x)``.

        Closed form for von Mises-Fisher kernels (one pass over the centres), autograd for
        wrapped normals.

        Args:
            t: times, shape ``(n,)``, in ``(0, 1]``.
            x: points, shape ``(n, ambient_dim)``.
        """
        self._check_points(x)
        return self._derivatives(t, x)

    def _derivatives(self, t: Tensor, x: Tensor) -> PathPoint:
        if self.kernel == "vmf":
            return self._vmf_derivatives(t.detach(), x.detach())
        with torch.enable_grad():
            t_ = t.detach().requires_grad_(True)
            x_ = x.detach().requires_grad_(True)
            logp = self._log_prob(t_, x_)
            dt, dx = torch.autograd.grad(logp.sum(), (t_, x_))
        grad = self.manifold._proju(x, dx)
        return PathPoint(t=t, x_t=x, logp=logp.detach(), dlogp_dt=dt, grad_logp=grad)

    def _vmf_derivatives(self, t: Tensor, x: Tensor) -> PathPoint:
        # log K = c(kappa) + logsumexp_i(lw_i + kappa (<x, y_i> - 1)) with softmax weights pi_i:
        # d/dkappa log K = c'(kappa) + <x, m> - 1 and grad_x log K = kappa m, m = sum_i pi_i y_i;
        # kappa = s(t)^-2 gives dkappa/dt = -2 kappa log(s1 / s0). Autograd through the (n, N)
        # logsumexp costs about 4x this on thousands of centres.
        scale = self.scale(t)
        kappa = 1 / scale**2
        with torch.enable_grad():  # c(kappa) and c'(kappa) per point: n values, not n x N
            k_ = kappa.detach().requires_grad_(True)
            c = vmf_log_normalizer(k_, self.manifold.ambient_dim - 1) + k_
            (dc,) = torch.autograd.grad(c.sum(), k_)
        # logits kappa <x, y_i> + lw_i in one addmm; the constant -kappa per row is added back below
        logits = torch.addmm(self.log_weights, kappa.unsqueeze(-1) * x, self.centers.T)
        top = logits.amax(dim=-1, keepdim=True)
        # Far centres underflow exp() into subnormals, which are ~5x slower on CPUs; terms under
        # e^-50 of the largest change nothing at float64 precision, so they are floored there.
        # (in place: fresh (n, N) buffers cost page faults as much as the arithmetic)
        weight = logits.sub_(top).clamp_min_(-50.0).exp_()
        total = weight.sum(-1)
        m = (weight @ self.centers) / total.unsqueeze(-1)
        log_k = top.squeeze(-1) - kappa + torch.log(total) + c.detach()
        dlogk_dt = (dc + (x * m).sum(-1) - 1) * (
            -2 * kappa * math.log(self.scale_end / self.scale_start)
        )
        # mix with the uniform law: log p = logaddexp(log(1 - t) + log U, log t + log K)
        log_u = x.new_full(x.shape[:-1], -self.manifold.log_volume())
        log_k_part = torch.log(t) + log_k
        logp = torch.logaddexp(torch.log1p(-t) + log_u, log_k_part)
        share = torch.exp(log_k_part - logp)  # the kernel part's share of p_t(x)
        # d/dt p_t = K - U + t dK/dt, so d/dt log p_t = share (1/t + dlogK/dt) - U / p_t
        dlogp_dt = share * (1 / t + dlogk_dt) - torch.exp(log_u - logp)
        grad = self.manifold._proju(x, (share * kappa).unsqueeze(-1) * m)
        return PathPoint(t=t, x_t=x, logp=logp, dlogp_dt=dlogp_dt, grad_logp=grad)

    def sample_x(self, t: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One ``x ~ p_t`` per entry of ``t`` (shape ``(n,)``); returns ``(n, ambient_dim)``."""
        n = len(t)
        opts = dict(generator=generator, dtype=self.centers.dtype, device=self.centers.device)
        uniform = self.manifold.random_uniform(n, **opts)
        choose_kernel = torch.rand(n, **opts) < t
        idx = torch.multinomial(self.log_weights.exp(), n, replacement=True, generator=generator)
        scale = self.scale(t.to(self.centers.dtype))
        if self.kernel == "vmf":
            near = _vmf_sample(self.centers[idx], 1 / scale**2, generator)
        else:
            near = _wrapped_normal_sample(self.centers[idx], scale, generator)
        return torch.where(choose_kernel.unsqueeze(-1), near, uniform)

    def sample(self, t: Tensor, generator: torch.Generator | None = None) -> PathPoint:
        """``x_t ~ p_t`` for each ``t`` (shape ``(n,)``) with the target's derivatives there."""
        return self._derivatives(t, self.sample_x(t, generator))
