"""Maximum likelihood for density models (zuko's convention: ``model()`` is a distribution):
the training call and the test NLL with its standard error."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..train import TrainResult, fit

__all__ = ["fit_density", "nll_stats"]


def fit_density(
    model: nn.Module,
    sampler: Callable[[int], Tensor],
    *,
    steps: int,
    lr: float,
    device: torch.device | str | None = None,
    warmup: int = 50,
    grad_clip: float = 10.0,
    fit_fn: Callable[..., TrainResult] = fit,
    **options: Any,
) -> TrainResult:
    """Minimise ``-log p(x)`` on minibatches ``x = sampler(step)`` (shape ``(B, D)``) under a
    cosine schedule.

    Args:
        model: a density model; ``model().log_prob(x)`` has shape ``(B,)``.
        sampler: step index to a batch ``(B, D)``, moved to ``device`` before scoring.
        steps: optimiser steps.
        lr: peak learning rate.
        device: where batches go (``None``: left where the sampler puts them).
        warmup: linear warm-up steps, at most a tenth of ``steps``.
        grad_clip: gradient-norm clip.
        fit_fn: the training call, :func:`ctflow.train.fit` or one with the same signature
            (e.g. a run's ``ctx.fit``, which adds its logger and checkpoints).
        **options: passed on to ``fit_fn`` (``tag``, ``generators``, ``callbacks``, ...).

    Returns:
        ``fit_fn``'s :class:`~ctflow.train.TrainResult`.

    Examples:
        >>> import zuko
        >>> _ = torch.manual_seed(0)
        >>> flow = zuko.flows.MAF(2, transforms=1, hidden_features=(8,))
        >>> x = 0.5 * torch.randn(512, 2)  # entropy log(2 pi e / 4) = 1.45 nats
        >>> res = fit_density(flow, lambda step: x, steps=100, lr=5e-2, progress=False)
        >>> res.final_loss < 1.6
        True
    """

    def loss_fn(step: int) -> Tensor:
        x = sampler(step)
        return -model().log_prob(x if device is None else x.to(device)).mean()

    return fit_fn(
        loss_fn,
        model,
        device=device,
        steps=steps,
        lr=lr,
        schedule="cosine",
        warmup=min(warmup, steps // 10),
        grad_clip=grad_clip,
        **options,
    )


def nll_stats(log_prob: Tensor, offset: float = 0.0) -> tuple[float, float]:
    """The mean negative log-likelihood of held-out points and its standard error.

    Args:
        log_prob: ``(N,)`` log-densities of ``N`` points.
        offset: added to the mean, e.g. the log-scale of standardised data to report the NLL
            in the original units.

    Returns:
        ``(mean NLL + offset, std(log_prob) / sqrt(N))``.

    Examples:
        >>> nll_stats(torch.tensor([-1.0, -3.0]))
        (2.0, 1.0)
    """
    if log_prob.ndim != 1 or len(log_prob) < 2:
        raise ValueError(f"log_prob must be (N,) with N >= 2, got {tuple(log_prob.shape)}")
    return float(-log_prob.mean()) + offset, float(log_prob.std() / math.sqrt(len(log_prob)))
