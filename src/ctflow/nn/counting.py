"""Counting a network's parameters, for comparisons at a matched size."""

from __future__ import annotations

from torch import nn

__all__ = ["parameter_count"]


def parameter_count(model: nn.Module) -> int:
    """The number of scalar parameters of ``model`` (trainable or not, each tensor once).

    Examples:
        >>> from torch import nn
        >>> parameter_count(nn.Linear(3, 2))
        8
    """
    return sum(p.numel() for p in model.parameters())
