"""Comparing the Girsanov gradient estimators on the OU posterior problem under common random
numbers: each estimator's per-path gradients on the same Brownian paths, and a paired test that
two estimators agree in mean."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor

from .girsanov import ESTIMATORS
from .ou import OUObservation
from .ou_gradients import ou_per_path_gradients

__all__ = ["estimator_gradients", "paired_mean_z"]


def estimator_gradients(
    problem: OUObservation,
    theta: Sequence[float],
    n_paths: int,
    steps: int,
    seed: int,
    estimators: Sequence[str] = ESTIMATORS,
) -> dict[str, tuple[Tensor, Tensor]]:
    """Per-path negative-ELBO gradients of every estimator on the same Brownian paths.

    Args:
        problem: the OU prior with its observation.
        theta: variational parameters ``(theta_1, theta_2)``; ``(1, 1)`` is the exact posterior.
        n_paths: paths.
        steps: Euler-Maruyama steps on ``[0, 1]``.
        seed: seed of the paths, shared by all estimators.
        estimators: estimator names (``ctflow.bayes.ESTIMATORS``).

    Returns:
        ``{estimator: (grad (n_paths, 2), negative ELBO (n_paths,))}``, detached.
    """
    return {
        e: ou_per_path_gradients(problem, tuple(theta), n_paths, steps, e, seed) for e in estimators
    }


def paired_mean_z(a: Tensor, b: Tensor) -> float:
    """The largest ``|mean(a - b)| / stderr(a - b)`` over columns, for paired samples.

    Args:
        a: samples ``(n, k)``.
        b: samples ``(n, k)`` paired row by row with ``a`` (e.g. the same random paths).

    Returns:
        The largest z statistic over the ``k`` columns (about ``|N(0, 1)|`` when the means
        agree).

    Examples:
        >>> import torch
        >>> paired_mean_z(torch.tensor([[1.0], [3.0]]), torch.zeros(2, 1))  # mean 2, stderr 1
        2.0
    """
    if a.shape != b.shape or a.dim() != 2 or a.shape[0] < 2:
        raise ValueError(f"a and b must share a shape (n >= 2, k), got {a.shape} and {b.shape}")
    diff = a - b
    z = diff.mean(0).abs() / (diff.std(0) / math.sqrt(a.shape[0]))
    return float(z.max())
