"""The mean negative log-likelihood of a zuko-style flow, with CP-Flow's log-determinants made
exact for the evaluation only (training may use a stochastic estimator)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .cpflow import ConvexPotentialLayer
from .cpflow_model import CPFlow

__all__ = ["mean_nll_exact"]


@torch.no_grad()
def mean_nll_exact(flow: nn.Module, x: Tensor) -> float:
    """``-mean(log p(x))`` under ``flow`` (called as ``flow().log_prob``), exact for a
    :class:`CPFlow`: its blocks switch to ``logdet="exact"`` and back to their setting after.

    Args:
        flow: An unconditional zuko flow or :class:`CPFlow` on ``D`` features.
        x: Points ``(N, D)``.

    Returns:
        The mean negative log-likelihood in nats (a float).

    Examples:
        >>> import zuko
        >>> flow = zuko.flows.MAF(2, transforms=1)
        >>> x = torch.randn(4, 2)
        >>> abs(mean_nll_exact(flow, x) + float(flow().log_prob(x).mean().detach())) < 1e-6
        True
    """
    if not isinstance(flow, CPFlow):
        return float(-flow().log_prob(x).mean())
    block = next(t for t in flow.transform.transforms if isinstance(t, ConvexPotentialLayer))
    logdet = block.options["logdet"]
    flow.set_options(logdet="exact")
    try:
        return float(-flow().log_prob(x).mean())
    finally:
        flow.set_options(logdet=logdet)
