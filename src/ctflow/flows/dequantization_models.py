"""Ready-made dequantization models: one dequantizer per variable, a zuko flow prior ``p(z)``
and a conditional coupling posterior ``q(v | x)``, and their bounds averaged over a data set."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..ops import map_chunks
from .dequantization import Dequantization, dequantization_posterior, make_dequantizer

__all__ = ["DEQUANTIZATION_PRIORS", "build_dequantization", "dequantization_bounds"]

DEQUANTIZATION_PRIORS = ("nsf", "maf")  # p(z): zuko's autoregressive spline or affine flow


def build_dequantization(
    kind: str,
    num_vars: int,
    num_classes: int,
    *,
    voronoi_dim: int,
    hidden: int,
    prior_transforms: int,
    posterior_transforms: int,
    box: float = 2.0,
    prior: str = "nsf",
) -> Dequantization:
    """A :class:`Dequantization` of ``num_vars`` variables with ``num_classes`` levels each.

    Args:
        kind: the dequantizer, ``"voronoi"``, ``"uniform"`` or ``"argmax"``.
        num_vars, num_classes: the data's shape: integer tensors ``(B, num_vars)`` in
            ``[0, num_classes)``.
        voronoi_dim: each Voronoi variable's continuous dimension (one module, one batched
            tessellation per variable).
        hidden: width of the prior's and the posterior's two hidden layers.
        prior_transforms, posterior_transforms: flow depths.
        box: the Voronoi cells' bounding box half-width.
        prior: ``"nsf"`` or ``"maf"`` (an autoregressive zuko flow, one pass to evaluate).

    Returns:
        The model; ``q(v | x)`` is a conditional coupling NSF on the one-hot codes.
    """
    import zuko

    if prior not in DEQUANTIZATION_PRIORS:
        raise ValueError(
            f"unknown prior {prior!r}; choose from: {', '.join(DEQUANTIZATION_PRIORS)}"
        )
    if kind == "voronoi":
        deqs = [make_dequantizer(kind, num_classes, dim=voronoi_dim, box=box, variables=num_vars)]
    else:
        deqs = [make_dequantizer(kind, num_classes) for _ in range(num_vars)]
    features = sum(d.dim * getattr(d, "variables", 1) for d in deqs)
    cls = zuko.flows.NSF if prior == "nsf" else zuko.flows.MAF
    p_z = cls(features, transforms=prior_transforms, hidden_features=(hidden, hidden))
    posterior = dequantization_posterior(
        features,
        num_vars * num_classes,
        transforms=posterior_transforms,
        hidden_features=(hidden, hidden),
    )
    return Dequantization(deqs, p_z, posterior)


@torch.no_grad()
def dequantization_bounds(
    model: Dequantization,
    x: Tensor,
    *,
    iwae_k: int,
    weights: Tensor | None = None,
    batch: int = 256,
    repeats: int = 1,
) -> dict[str, float]:
    """-ELBO (one sample) and -IWAE-``iwae_k`` in nats per example.

    Args:
        model: the dequantization model.
        x: categories, ``(N, num_vars)``.
        iwae_k: importance samples of the IWAE bound.
        weights: ``(N,)`` non-negative weights, e.g. the exact probability of every
            configuration, for an expectation instead of a mean.
        batch: examples per chunk.
        repeats: independent evaluations averaged per example.

    Returns:
        ``{"neg_elbo", "neg_iwae"}``, plus ``"neg_iwae_stderr"`` over examples when unweighted.
    """

    def both(xb: Tensor) -> Tensor:  # (n, 2): -ELBO and -IWAE, each averaged over repeats
        e = torch.stack([model.elbo(xb) for _ in range(repeats)]).mean(0)
        i = torch.stack([model.iwae(xb, iwae_k) for _ in range(repeats)]).mean(0)
        return torch.stack([-e, -i], -1)

    neg_elbo, neg_iwae = map_chunks(both, x, batch).unbind(-1)
    if weights is None:
        return {
            "neg_elbo": float(neg_elbo.mean()),
            "neg_iwae": float(neg_iwae.mean()),
            "neg_iwae_stderr": float(neg_iwae.std() / math.sqrt(len(x))),
        }
    w = weights / weights.sum()
    return {"neg_elbo": float((w * neg_elbo).sum()), "neg_iwae": float((w * neg_iwae).sum())}
