"""Joint laws of two categorical variables on a ``K x K`` grid whose entropy is known exactly:
test data for discrete density models (dequantization, discrete flows)."""

from __future__ import annotations

import torch

__all__ = ["LAWS", "cluster_probabilities", "plus_probabilities", "joint_law"]

# cluster centres on the unit square, scaled to the K x K grid
_CENTRES = ((0.1, 0.1), (0.1, 0.9), (0.9, 0.1), (0.9, 0.9), (0.5, 0.5), (0.3, 0.7), (0.75, 0.35))


def cluster_probabilities(num_classes: int, width: float = 0.6) -> torch.Tensor:
    """The ``(K, K)`` joint law: a mixture of seven Gaussian bumps of std ``width`` grid cells,
    evaluated on the integer grid and normalised (float64)."""
    grid = torch.arange(num_classes, dtype=torch.float64)
    p = torch.zeros(num_classes, num_classes, dtype=torch.float64)
    for cx, cy in _CENTRES:
        mx, my = cx * (num_classes - 1), cy * (num_classes - 1)
        gx = torch.exp(-((grid - mx) ** 2) / (2 * width**2))
        gy = torch.exp(-((grid - my) ** 2) / (2 * width**2))
        p += gx[:, None] * gy[None, :]
    return p / p.sum()


def plus_probabilities(num_classes: int) -> torch.Tensor:
    """The ``(K, K)`` joint law of the paper's ``cluster10`` (float64): plus-shaped clusters centred
    at ``(a, a), (a, b), (b, a), (b, b)`` with ``a = K // 5`` and ``b = K - 1 - a`` (2 and 7 at
    ``K = 10``), a centre of weight 1 and its four grid neighbours of weight 1/4, normalised."""
    if num_classes < 5:
        raise ValueError(f"the plus law needs num_classes >= 5, got {num_classes}")
    a = num_classes // 5
    b = num_classes - 1 - a
    p = torch.zeros(num_classes, num_classes, dtype=torch.float64)
    for i in (a, b):
        for j in (a, b):
            p[i, j] = 1.0
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                p[i + di, j + dj] = 0.25
    return p / p.sum()


LAWS = ("bumps", "plus")


def joint_law(law: str, num_classes: int, width: float = 0.6) -> torch.Tensor:
    """The ``(K, K)`` law named ``law`` (one of ``LAWS``)."""
    if law == "bumps":
        return cluster_probabilities(num_classes, width)
    if law == "plus":
        return plus_probabilities(num_classes)
    raise ValueError(f"unknown law {law!r}; choose from: {', '.join(LAWS)}")
