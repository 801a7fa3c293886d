"""What the CP-Flow experiments share: the zuko baselines at a matched parameter count and one
maximum-likelihood training call."""

from __future__ import annotations

import torch
import zuko
from torch import nn

from ..flows import CPFlow
from ..harness.base import RunContext

BASELINES = ("maf", "nsf")


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def zuko_flow(kind: str, features: int, width: int, transforms: int) -> nn.Module:
    """zuko's affine autoregressive (``"maf"``) or neural-spline coupling/autoregressive
    (``"nsf"``) flow with ``transforms`` layers of two hidden layers of ``width``."""
    if kind == "maf":
        return zuko.flows.MAF(features, transforms=transforms, hidden_features=(width, width))
    if kind == "nsf":
        return zuko.flows.NSF(features, transforms=transforms, hidden_features=(width, width))
    raise ValueError(f"unknown baseline {kind!r}; choose one of: {', '.join(BASELINES)}")


def matched_baseline(kind: str, features: int, target: int, transforms: int) -> nn.Module:
    """The baseline whose parameter count is closest to ``target`` over hidden widths."""
    best, best_gap = None, None
    for width in range(4, 257, 2):
        model = zuko_flow(kind, features, width, transforms)
        gap = abs(parameter_count(model) - target)
        if best_gap is None or gap < best_gap:
            best, best_gap = model, gap
        elif parameter_count(model) > target:
            break
    return best


def fit_mle(
    ctx: RunContext,
    model: nn.Module,
    sampler,
    *,
    tag: str,
    steps: int,
    lr: float,
    generators: list[torch.Generator],
    device: torch.device,
    callbacks=(),
):
    """Maximum likelihood: minimise ``-log p(x)`` on minibatches from ``sampler(step)``;
    ``callbacks`` go to the trainer (e.g. model selection on validation data)."""

    def loss_fn(step: int):
        return -model().log_prob(sampler(step).to(device)).mean()

    return ctx.fit(
        loss_fn,
        model,
        tag=tag,
        generators=generators,
        device=device,
        steps=steps,
        lr=lr,
        schedule="cosine",
        warmup=min(50, steps // 10),
        grad_clip=10.0,
        callbacks=callbacks,
    )


def cpflow_model(features: int, config, **kw) -> CPFlow:
    return CPFlow(
        features,
        blocks=config.blocks,
        hidden=(config.hidden,) * config.depth,
        **kw,
    )
