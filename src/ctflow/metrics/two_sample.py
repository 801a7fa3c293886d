"""The 1-nearest-neighbour two-sample test: can a sample be told apart from the data?

Pool ``n`` samples and ``n`` data points, and label each point by the set it came from. Each point
is classified by the label of its nearest other point (leave-one-out). Accuracy near 0.5 means
the two sets are indistinguishable to this classifier; near 1 means they are separable. It punishes
both failure modes of generators: samples off the data (each finds a sample neighbour) and samples
collapsed onto a few modes or a mean (the data points find data neighbours), which W2 and a label
classifier can miss.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["nn1_accuracy"]


def nn1_accuracy(samples: Tensor, data: Tensor) -> float:
    """Leave-one-out 1-NN accuracy of telling ``samples`` from ``data`` (0.5: indistinguishable).

    Args:
        samples: shape ``(n, d)``.
        data: shape ``(n, d)``: the same number of points, so that chance is 0.5.

    Returns:
        The accuracy in ``[0, 1]``; ties between a same-set and an other-set neighbour count half.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = torch.randn(200, 2, generator=g), torch.randn(200, 2, generator=g)
        >>> 0.35 < nn1_accuracy(x, y) < 0.65
        True
        >>> nn1_accuracy(x + 100.0, y)
        1.0
    """
    if samples.dim() != 2 or samples.shape != data.shape:
        raise ValueError(
            "samples and data must both have shape (n, d) with the same n, got "
            f"{tuple(samples.shape)} and {tuple(data.shape)}"
        )
    if len(samples) < 2:
        raise ValueError("need at least two points in each set")
    points = torch.cat([samples, data]).double()
    labels = torch.cat([torch.zeros(len(samples)), torch.ones(len(data))])
    dist = torch.cdist(points, points)
    dist.fill_diagonal_(float("inf"))
    nearest = dist.min(dim=1, keepdim=True).values
    # every neighbour at the nearest distance votes: a tie between the sets counts half
    tied = dist == nearest
    same = (tied & (labels[None, :] == labels[:, None])).sum(1).double()
    score = same / tied.sum(1).double()
    return float(score.mean())
