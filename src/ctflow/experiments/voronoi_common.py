"""Model builders and bound evaluation shared by the ``voronoi-*`` dequantization experiments."""

from __future__ import annotations

import math
import time

import torch
from torch import Tensor

from ..flows import Dequantization, dequantization_posterior, make_dequantizer
from ..ops import map_chunks

__all__ = [
    "PRIORS",
    "build_dequantization",
    "evaluate_bounds",
    "iterations_per_second",
]

PRIORS = ("nsf", "maf")  # p(z): zuko's autoregressive spline or affine flow


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
    """One variable per dequantizer; ``p(z)``: an autoregressive NSF or MAF (one pass to evaluate);
    ``q(v | x)``: a conditional coupling NSF on the one-hot codes."""
    import zuko

    if kind == "voronoi":  # one module, one tessellation per variable, one batched call
        deqs = [make_dequantizer(kind, num_classes, dim=voronoi_dim, box=box, variables=num_vars)]
    else:
        deqs = [make_dequantizer(kind, num_classes) for _ in range(num_vars)]
    features = sum(d.dim * getattr(d, "variables", 1) for d in deqs)
    if prior not in PRIORS:
        raise ValueError(f"unknown prior {prior!r}; choose from: {', '.join(PRIORS)}")
    cls = zuko.flows.NSF if prior == "nsf" else zuko.flows.MAF
    prior = cls(features, transforms=prior_transforms, hidden_features=(hidden, hidden))
    posterior = dequantization_posterior(
        features,
        num_vars * num_classes,
        transforms=posterior_transforms,
        hidden_features=(hidden, hidden),
    )
    return Dequantization(deqs, prior, posterior)


@torch.no_grad()
def evaluate_bounds(
    model: Dequantization,
    x: Tensor,
    *,
    iwae_k: int,
    weights: Tensor | None = None,
    batch: int = 256,
    repeats: int = 1,
) -> dict[str, float]:
    """-ELBO (one sample) and -IWAE-``iwae_k`` in nats per example, averaged over ``x`` (with
    ``weights`` when given, e.g. exact probabilities of every configuration), ``repeats`` times."""

    def both(xb: Tensor) -> Tensor:  # (n, 2): -ELBO and -IWAE, each averaged over repeats
        e = torch.stack([model.elbo(xb) for _ in range(repeats)]).mean(0)
        i = torch.stack([model.iwae(xb, iwae_k) for _ in range(repeats)]).mean(0)
        return torch.stack([-e, -i], -1)

    neg_elbo, neg_iwae = map_chunks(both, x, batch).unbind(-1)
    if weights is None:
        n = len(x)
        return {
            "neg_elbo": float(neg_elbo.mean()),
            "neg_iwae": float(neg_iwae.mean()),
            "neg_iwae_stderr": float(neg_iwae.std() / math.sqrt(n)),
        }
    w = weights / weights.sum()
    return {"neg_elbo": float((w * neg_elbo).sum()), "neg_iwae": float((w * neg_iwae).sum())}


def iterations_per_second(losses_seconds: float, steps: int) -> float:
    """Training throughput from a :class:`~ctflow.train.TrainResult`'s wall time."""
    return steps / losses_seconds if losses_seconds > 0 else float("nan")


def timed(fn):
    """``(result, seconds)`` of one call."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start
