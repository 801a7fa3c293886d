"""The CP-Flow density model: ``ActNorm, [CP-Flow block, ActNorm] x blocks`` onto a standard
normal base, built from the convex-potential layers of :mod:`.cpflow`."""

from __future__ import annotations

import math

import torch
import zuko
from torch import Tensor

from .cpflow import (
    _TRANSFORM_OPTIONS,
    EXACT_VALUE_MAX_DIM,
    LOGDET_METHODS,
    ConvexPotential,
    ConvexPotentialLayer,
)

__all__ = ["CPFlow"]


class _ActNorm(zuko.flows.UnconditionalTransform):
    """Element-wise ``exp(a) x + b`` (zuko's MonotonicAffineTransform) with a data-dependent
    initialisation (:meth:`CPFlow.initialize`)."""

    def __init__(self, features: int):
        super().__init__(
            zuko.transforms.MonotonicAffineTransform, torch.zeros(features), torch.zeros(features)
        )


class _CheckedFlow(zuko.distributions.NormalizingFlow):
    """A normalizing flow whose ``log_prob`` checks its points first."""

    def __init__(self, transform, base, features: int):
        super().__init__(transform, base)
        self._features = features

    def log_prob(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a tensor, got {type(x).__name__}")
        if x.dim() < 1 or x.shape[-1] != self._features:
            raise ValueError(f"x must have shape (..., {self._features}), got {tuple(x.shape)}")
        if x.device.type == "cpu" and not bool(torch.isfinite(x).all()):
            raise ValueError("x contains NaN or inf values")
        return super().log_prob(x)


class CPFlow(zuko.flows.Flow):
    """A stack ``ActNorm, [CP-Flow block, ActNorm] x blocks`` onto a standard normal base.

    Args:
        features: data dimension D.
        context: context size (0: unconditional; > 0: partially input-convex potentials).
        blocks: number of convex-potential blocks.
        hidden: ICNN hidden widths.
        activation: ICNN activation (``"softplus"`` or ``"gaussian_softplus"``).
        logdet: ``"exact"`` (default for D <= 16) or ``"stochastic"`` (default above).
        probes, cg_tol, lanczos_steps: stochastic log-det settings.
        inverse_tol, inverse_max_iter: sampling (L-BFGS inverse) settings.
        actnorm: interleave ActNorms. Without them and with one block the whole flow is one
            gradient map of a convex function: the optimal-transport (Brenier) map from the data
            to the base.

    Examples:
        >>> flow = CPFlow(2, blocks=1, hidden=(16,))
        >>> flow().log_prob(torch.randn(5, 2)).shape
        torch.Size([5])
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        blocks: int = 2,
        hidden: tuple[int, ...] = (64, 64),
        activation: str = "softplus",
        logdet: str | None = None,
        probes: int = 1,
        cg_tol: float = 1e-3,
        lanczos_steps: int = 10,
        inverse_tol: float = 1e-6,
        inverse_max_iter: int = 200,
        actnorm: bool = True,
    ):
        if blocks < 1:
            raise ValueError(f"blocks must be >= 1, got {blocks}")
        logdet = logdet or ("exact" if features <= EXACT_VALUE_MAX_DIM else "stochastic")
        if logdet not in LOGDET_METHODS:
            raise ValueError(f"logdet must be one of {LOGDET_METHODS}, got {logdet!r}")
        options = dict(
            logdet=logdet,
            probes=probes,
            cg_tol=cg_tol,
            lanczos_steps=lanczos_steps,
            inverse_tol=inverse_tol,
            inverse_max_iter=inverse_max_iter,
        )
        layers: list[zuko.flows.LazyTransform] = [_ActNorm(features)] if actnorm else []
        for _ in range(blocks):
            potential = ConvexPotential(features, context, hidden, activation)
            layers.append(ConvexPotentialLayer(potential, **options))
            if actnorm:
                layers.append(_ActNorm(features))
        base = zuko.flows.UnconditionalDistribution(
            zuko.distributions.DiagNormal,
            torch.zeros(features),
            torch.ones(features),
            buffer=True,
        )
        super().__init__(layers, base)
        self.features = features

    def forward(self, c: Tensor | None = None) -> zuko.distributions.NormalizingFlow:
        """The density ``p(x | c)``; its ``log_prob`` refuses points of the wrong size or with
        NaN/inf entries (checked on the CPU, where it costs no host sync)."""
        dist = super().forward(c)
        return _CheckedFlow(dist.transform, dist.base, self.features)

    def set_options(self, **options) -> None:
        """Change log-det or inverse settings of every block (e.g. ``logdet="exact"`` to
        evaluate)."""
        for layer in self.transform.transforms:
            if isinstance(layer, ConvexPotentialLayer):
                unknown = set(options) - set(_TRANSFORM_OPTIONS)
                if unknown:
                    raise ValueError(f"unknown options {sorted(unknown)}")
                layer.options.update(options)

    @torch.no_grad()
    def initialize(self, x: Tensor, c: Tensor | None = None) -> None:
        """Data-dependent initialisation: each ActNorm standardises what reaches it, and each
        potential's ICNN standardises its hidden pre-activations on it."""
        if x.dim() != 2 or x.shape[-1] != self.features:
            raise ValueError(f"x must have shape (N, {self.features}), got {tuple(x.shape)}")
        h = x
        for layer in self.transform.transforms:
            if isinstance(layer, ConvexPotentialLayer):
                layer.potential.icnn.initialize(h, c)
            if isinstance(layer, _ActNorm):
                mean, std = h.mean(0), h.std(0).clamp_min(1e-6)
                log_scale = -std.log()
                bound = -math.log(1e-3)  # zuko soft-clips the raw scale at |log(slope)|
                raw = log_scale / (1 - (log_scale.abs() / bound).clamp(max=0.99))
                self._set_actnorm(layer, -mean / std, raw)
            h = layer(c)(h)

    @staticmethod
    def _set_actnorm(layer: _ActNorm, shift: Tensor, raw_scale: Tensor) -> None:
        shift_param, scale_param = layer.parameters()  # zuko registers (shift, scale) in order
        shift_param.copy_(shift)
        scale_param.copy_(raw_scale)
