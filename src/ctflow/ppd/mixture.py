"""A mixture of von Mises-Fisher densities on a sphere, fitted by EM.

The classical density baseline on spherical data (an isotropic relative of the Mixture of Kent
row in the earth-data tables): it needs no network and no solver, so it calibrates what a
learned flow should beat on a given split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .kernels import _vmf_sample, vmf_log_normalizer

__all__ = ["VMFMixture"]

_KAPPA_MAX = 1e5  # beyond this a component is a point mass at float64 resolution of <mu, x>


@dataclass
class VMFMixture:
    """``p(x) = sum_k w_k vMF(x | mu_k, kappa_k)`` on ``S^dim``.

    Attributes:
        mu: unit mean directions, ``(K, dim + 1)``.
        kappa: concentrations, ``(K,)``, positive.
        log_weights: log mixture weights, ``(K,)``, log-summing to 0.

    Examples:
        >>> x = torch.nn.functional.normalize(torch.randn(500, 3, dtype=torch.float64), dim=-1)
        >>> mix = VMFMixture.fit(x, 3, generator=torch.Generator().manual_seed(0))
        >>> mix.log_prob(x).shape
        torch.Size([500])
    """

    mu: Tensor
    kappa: Tensor
    log_weights: Tensor

    def __post_init__(self):
        k = len(self.mu)
        if self.mu.dim() != 2 or self.kappa.shape != (k,) or self.log_weights.shape != (k,):
            raise ValueError(
                f"mu must be (K, dim + 1) with kappa and log_weights (K,); got "
                f"{tuple(self.mu.shape)}, {tuple(self.kappa.shape)}, "
                f"{tuple(self.log_weights.shape)}"
            )
        if not bool((self.kappa > 0).all()):
            raise ValueError("kappa must be positive")

    @property
    def dim(self) -> int:
        return self.mu.shape[1] - 1

    def component_log_prob(self, x: Tensor) -> Tensor:
        """``log vMF(x | mu_k, kappa_k)`` for points ``(n, dim + 1)``: ``(n, K)``."""
        if x.dim() != 2 or x.shape[1] != self.mu.shape[1]:
            raise ValueError(f"x must be (n, {self.mu.shape[1]}), got {tuple(x.shape)}")
        kappa = self.kappa.to(x.dtype)
        # kappa (<mu, x> - 1) + (log C + kappa) keeps every term O(1) for large kappa
        return kappa * (x @ self.mu.to(x.dtype).T - 1) + vmf_log_normalizer(kappa, self.dim) + kappa

    def log_prob(self, x: Tensor) -> Tensor:
        """Log-density (w.r.t. surface measure) of points ``(n, dim + 1)``: ``(n,)``."""
        joint = self.component_log_prob(x) + self.log_weights.to(x.dtype)
        return torch.logsumexp(joint, dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` samples, ``(n, dim + 1)``."""
        idx = torch.multinomial(self.log_weights.exp(), n, replacement=True, generator=generator)
        return _vmf_sample(self.mu[idx], self.kappa[idx], generator)

    @classmethod
    def fit(
        cls,
        x: Tensor,
        components: int,
        *,
        iters: int = 200,
        generator: torch.Generator | None = None,
    ) -> VMFMixture:
        """Fit ``components`` vMF components to unit vectors ``x`` ``(n, dim + 1)`` by EM.

        Means start at distinct random data points. The concentration solves ``A_p(kappa) = R``
        for the mean resultant length ``R`` (``p = dim + 1``): Banerjee et al.'s (2005)
        approximation ``R (p - R^2) / (1 - R^2)``, refined by Newton's method on ``S^2``, where
        ``A_3(kappa) = coth kappa - 1 / kappa`` is closed form; capped at 1e5. A component that
        loses all its points keeps its mean. Works in ``x``'s dtype (float64 recommended).
        """
        if x.dim() != 2 or x.shape[1] < 2:
            raise ValueError(f"x must be (n, dim + 1) unit vectors, got {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError("x has NaN or infinite entries")
        if not isinstance(components, int) or not 1 <= components <= len(x):
            raise ValueError(f"components must be an integer in [1, {len(x)}], got {components}")
        if not bool(((x.norm(dim=1) - 1).abs() < 1e-4).all()):
            raise ValueError("x must be unit vectors (points on the sphere)")
        p = x.shape[1]
        start = torch.randperm(len(x), generator=generator)[:components]
        mix = cls(
            mu=x[start].clone(),
            kappa=torch.full((components,), 10.0, dtype=x.dtype),
            log_weights=torch.full((components,), -math.log(components), dtype=x.dtype),
        )
        for _ in range(iters):
            resp = torch.softmax(mix.component_log_prob(x) + mix.log_weights, dim=1)
            mass = resp.sum(0)
            s = resp.T @ x
            norm = s.norm(dim=1)
            alive = norm > 1e-12
            mu = torch.where(alive[:, None], s / norm.clamp_min(1e-12)[:, None], mix.mu)
            r = (norm / mass.clamp_min(1e-12)).clamp(1e-6, 1 - 1e-12)
            kappa = _concentration(r, p)
            log_w = torch.log(mass.clamp_min(1e-300) / len(x))
            mix = cls(mu=mu, kappa=kappa, log_weights=log_w - torch.logsumexp(log_w, 0))
        return mix

    @classmethod
    def select(
        cls,
        train_x: Tensor,
        val_x: Tensor,
        grid: tuple[int, ...],
        *,
        iters: int = 200,
        seed: int = 0,
    ) -> tuple[VMFMixture, dict[int, float]]:
        """Fit one mixture per number of components in ``grid`` (those ``<= len(train_x)``) and
        keep the one with the lowest validation NLL. Returns it and ``{K: validation NLL}``."""
        scores, best = {}, None
        for k in grid:
            if k > len(train_x):
                continue
            mix = cls.fit(train_x, k, iters=iters, generator=torch.Generator().manual_seed(seed))
            scores[k] = float(-mix.log_prob(val_x).mean())
            if best is None or scores[k] < scores[best[0]]:
                best = (k, mix)
        if best is None:
            raise ValueError(f"no component count in {grid} fits {len(train_x)} points")
        return best[1], scores


def _concentration(r: Tensor, p: int) -> Tensor:
    """The maximum-likelihood vMF concentration for mean resultant lengths ``r`` on ``S^{p-1}``."""
    kappa = r * (p - r**2) / (1 - r**2)
    if p == 3:  # Newton on A(k) = coth k - 1/k = r, with A'(k) = 1 - A^2 - 2 A / k
        for _ in range(3):
            k = kappa.clamp(1e-3, _KAPPA_MAX)
            a = 1 / torch.tanh(k) - 1 / k
            kappa = k - (a - r) / (1 - a**2 - 2 * a / k).clamp_min(1e-12)
    return kappa.clamp(1e-6, _KAPPA_MAX)
