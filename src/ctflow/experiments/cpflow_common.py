"""What the CP-Flow experiments share: one maximum-likelihood training call and the CP-Flow of a
config. The zuko baselines they compare against are :mod:`ctflow.flows.baselines`."""

from __future__ import annotations

import torch
from torch import nn

from ..flows import CPFlow
from ..harness.base import RunContext

__all__ = ["fit_mle", "cpflow_model"]


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
