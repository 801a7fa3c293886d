"""Class labels as contexts, with a null class for classifier-free guidance."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["one_hot_with_null", "drop_labels"]


def one_hot_with_null(labels: Tensor, n_classes: int) -> Tensor:
    """Labels ``0..n_classes - 1`` and the null class ``n_classes`` as one-hot contexts.

    Args:
        labels: integer labels, any shape, values in ``[0, n_classes]``.
        n_classes: number of real classes.

    Returns:
        Float one-hot ``(*labels.shape, n_classes + 1)``; the last column marks the null class.

    Examples:
        >>> one_hot_with_null(torch.tensor([0, 2]), 2).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    return F.one_hot(labels, n_classes + 1).float()


def drop_labels(
    labels: Tensor, p: float, null: int, generator: torch.Generator | None = None
) -> Tensor:
    """Replace each label by ``null`` with probability ``p`` (classifier-free guidance training).

    Draws one uniform number per label from ``generator``.

    Args:
        labels: integer labels ``(B,)``.
        p: probability of dropping a label, in ``[0, 1]``.
        null: the null class's label.
        generator: the random stream.

    Returns:
        A new tensor of ``labels``' shape; ``labels`` is not modified.

    Examples:
        >>> drop_labels(torch.tensor([0, 1, 2]), 1.0, 9).tolist()
        [9, 9, 9]
    """
    if not 0 <= p <= 1:
        raise ValueError(f"p must lie in [0, 1], got {p}")
    drop = torch.rand(labels.shape, generator=generator) < p
    return torch.where(drop, null, labels)
