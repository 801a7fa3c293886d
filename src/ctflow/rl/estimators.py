"""The K-particle marginal log-probability of a latent-variable policy, and particle aggregation.

A latent-variable policy ``pi(a | s) = E_{z ~ p(z | s)} pi(a | s, z)`` has no closed-form
log-density. SMAC draws the action from particle ``z_0`` and ``K`` more particles from
``p(z | s)``, and uses

    log pi_hat(a | s) = log (1 / (K + 1)) sum_{k=0..K} pi(a | s, z_k),

whose expectation upper-bounds ``log pi(a | s)`` (so ``-log pi_hat`` lower-bounds the entropy),
tightening as ``K`` grows. ``K = 0`` is the conditional ``log pi(a | s, z_0)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._validate import finite_check_applies
from ..ops.reductions import log_mean_exp

__all__ = ["marginal_log_prob", "aggregate_particles", "AGGREGATIONS"]

AGGREGATIONS = ("mean", "logmeanexp", "min")


def marginal_log_prob(log_probs: Tensor, dim: int = -1) -> Tensor:
    """``log (1 / (K + 1)) sum_k exp(log_probs_k)`` over the particle axis ``dim``.

    Args:
        log_probs: ``log pi(a | s, z_k)`` for particles ``k = 0..K`` along ``dim``, particle 0
            being the one that drew ``a``.
        dim: the particle axis.

    Returns:
        The estimate, with ``dim`` removed.

    Examples:
        >>> import torch
        >>> from ctflow.rl import marginal_log_prob
        >>> lp = torch.tensor([[-1.0, -3.0, -2.0]])
        >>> marginal_log_prob(lp)  # log((e^-1 + e^-3 + e^-2) / 3), over 3 particles
        tensor([-1.6910])
    """
    count = log_probs.shape[dim]
    if count < 1:
        raise ValueError("marginal_log_prob needs at least one particle")
    # -inf is a legitimate log-probability; NaN means the policy diverged
    if finite_check_applies(log_probs) and bool(torch.isnan(log_probs).any()):
        raise ValueError("log_probs contains NaN")
    return log_mean_exp(log_probs, dim)


def aggregate_particles(values: Tensor, how: str = "mean", dim: int = -1) -> Tensor:
    """Combine per-particle critic values: ``mean``, ``logmeanexp`` or ``min`` over ``dim``."""
    if how == "mean":
        return values.mean(dim)
    if how == "logmeanexp":
        return log_mean_exp(values, dim)
    if how == "min":
        return values.amin(dim)
    raise ValueError(f"unknown aggregation {how!r}; choose one of: {', '.join(AGGREGATIONS)}")
