"""Amortised variational posteriors ``q(z | h)`` built as flows in the sampling direction.

Every posterior here is a zuko lazy distribution: ``posterior(h)`` returns a
``torch.distributions.Distribution`` over ``z`` of batch shape ``h.shape[:-1]`` and event shape
``(latent,)``, with ``rsample_and_log_prob``. Any conditional ctflow or zuko density (a
``LazyDistribution``, e.g. ``CPFlow(D, context=H)`` or ``zuko.flows.MAF(D, H)``) has the same
interface and can be used as a posterior as it is; those evaluate ``log q`` in the fast
direction and sample by inverting.

:class:`FlowPosterior` is the other way round, as VAEs want (samples and their log-density in one
pass, no inverse):

    eps ~ N(0, I),   z_0 = mu(h) + sigma(h) * eps,   z = T_K(... T_1(z_0; h) ...; h),
    log q(z | h) = log N(eps) - log|det d z / d eps|.

``T_k`` are conditional transforms (zuko lazy transforms) applied forward: the inverse
autoregressive flow uses zuko's masked autoregressive transform (its forward is the parallel
direction), and the CP-Flow posterior uses gradient maps of partially input-convex potentials
whose log-det training gradient is CP-Flow's conjugate-gradient estimator.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import zuko
from torch import Tensor, nn

from ..flows.cpflow import ConvexPotential, ConvexPotentialLayer

__all__ = [
    "FlowPosterior",
    "POSTERIORS",
    "cpflow_posterior",
    "gaussian_posterior",
    "iaf_posterior",
    "make_posterior",
]


class FlowPosterior(zuko.lazy.LazyDistribution):
    """``q(z | h)``: a diagonal Gaussian from a linear head on ``h``, then conditional flows.

    Args:
        latent: latent size D.
        context: size H of the encoder output ``h``.
        layers: conditional lazy transforms ``layer(h)`` applied in the sampling direction.

    Examples:
        >>> q = FlowPosterior(2, 5)
        >>> z, log_q = q(torch.randn(3, 5)).rsample_and_log_prob((4,))
        >>> z.shape, log_q.shape
        (torch.Size([4, 3, 2]), torch.Size([4, 3]))
    """

    def __init__(self, latent: int, context: int, layers: Sequence[nn.Module] = ()):
        super().__init__()
        for name, value in (("latent", latent), ("context", context)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.latent, self.context = latent, context
        self.head = nn.Linear(context, 2 * latent)
        # start near N(0, I): the decoder sees informative codes only as the head learns them
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.layers = nn.ModuleList(layers)

    def forward(self, h: Tensor) -> zuko.distributions.NormalizingFlow:
        """The posterior at encoder outputs ``h`` of shape ``(*batch, context)``."""
        if h.dim() == 0 or h.shape[-1] != self.context:
            raise ValueError(f"h must have shape (*batch, {self.context}), got {tuple(h.shape)}")
        shift, scale = self.head(h).chunk(2, dim=-1)
        transforms = [zuko.transforms.MonotonicAffineTransform(shift, scale)]
        transforms += [layer(h) for layer in self.layers]
        sample_map = zuko.transforms.ComposedTransform(*transforms)
        base = zuko.distributions.DiagNormal(torch.zeros_like(shift), torch.ones_like(shift))
        # zuko's NormalizingFlow takes the map towards the base; ours goes away from it
        return zuko.distributions.NormalizingFlow(sample_map.inv, base)


def gaussian_posterior(latent: int, context: int) -> FlowPosterior:
    """The diagonal Gaussian posterior of a plain VAE."""
    return FlowPosterior(latent, context)


def iaf_posterior(
    latent: int, context: int, transforms: int = 2, hidden: Sequence[int] = (64, 64)
) -> FlowPosterior:
    """An inverse autoregressive flow: zuko affine MADE transforms (context-conditioned) used in
    their parallel direction for sampling, with the variable order reversed between layers."""
    layers = []
    for k in range(transforms):
        order = torch.arange(latent)
        layers.append(
            zuko.flows.MaskedAutoregressiveTransform(
                features=latent,
                context=context,
                order=order.flip(0) if k % 2 else order,
                hidden_features=tuple(hidden),
            )
        )
    return FlowPosterior(latent, context, layers)


def cpflow_posterior(
    latent: int,
    context: int,
    blocks: int = 2,
    hidden: Sequence[int] = (64, 64),
    logdet: str = "stochastic",
    context_gating: bool = True,
    **options,
) -> FlowPosterior:
    """A CP-Flow posterior: ``blocks`` gradient maps of potentials convex in ``z`` for every
    encoder context ``h`` (partially input-convex networks).

    ``logdet="stochastic"`` trains with CP-Flow's conjugate-gradient log-det gradient (the value is
    still exact for ``latent <= 16``); ``"exact"`` backpropagates through a dense slogdet.
    ``context_gating`` lets the context gate every ICNN layer (``ctflow.nn.ICNN``), not only
    shift it.
    """
    layers = [
        ConvexPotentialLayer(
            ConvexPotential(latent, context, tuple(hidden), context_gating=context_gating),
            logdet=logdet,
            **options,
        )
        for _ in range(blocks)
    ]
    return FlowPosterior(latent, context, layers)


POSTERIORS = {"gaussian": gaussian_posterior, "iaf": iaf_posterior, "cpflow": cpflow_posterior}


def make_posterior(kind: str, latent: int, context: int, **kwargs) -> FlowPosterior:
    """Build a posterior by name (one of ``POSTERIORS``)."""
    if kind not in POSTERIORS:
        raise ValueError(f"unknown posterior {kind!r}; choose one of: {', '.join(POSTERIORS)}")
    return POSTERIORS[kind](latent, context, **kwargs)
