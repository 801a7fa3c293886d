"""Two-coordinate marginals of a distribution over the hypergrid's terminal states."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["grid_marginal"]


def grid_marginal(states: Tensor, probs: Tensor, height: int) -> Tensor:
    """Marginal of ``probs`` over the first two coordinates of integer grid ``states``.

    Args:
        states: ``(N, D)`` integer coordinates in ``[0, height)``; with ``D = 1`` the second
            coordinate is taken as 0.
        probs: ``(N,)`` probabilities (or any weights) of the states.
        height: Points per axis.

    Returns:
        ``(height, height)`` float64, entry ``[i, j]`` summing ``probs`` over the states with
        ``x_0 = i`` and ``x_1 = j``.

    Examples:
        >>> s = torch.tensor([[0, 1, 0], [0, 1, 1], [1, 0, 0]])
        >>> grid_marginal(s, torch.tensor([0.25, 0.25, 0.5]), 2).tolist()
        [[0.0, 0.5], [0.5, 0.0]]
    """
    if states.dim() != 2 or probs.shape != states.shape[:1]:
        raise ValueError(
            f"need states (N, D) and probs (N,), got {tuple(states.shape)}, {tuple(probs.shape)}"
        )
    grid = torch.zeros(height, height, dtype=torch.float64)
    second = states[:, 1] if states.shape[1] > 1 else torch.zeros_like(states[:, 0])
    grid.index_put_((states[:, 0], second), probs.double(), accumulate=True)
    return grid
