"""The independent-categorical baseline for discrete data: smoothed label frequencies of the
training data, each variable on its own, which ignores all dependence between variables. Any
model of the joint law should beat its test cross-entropy."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["categorical_frequencies", "independent_categorical_bits"]


def categorical_frequencies(
    train: Tensor,
    num_classes: int,
    *,
    per_variable: bool = True,
    smoothing: float = 0.5,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Add-``smoothing`` label frequencies.

    Args:
        train: long labels in ``[0, num_classes)``: ``(N, V)`` for ``per_variable``, else any
            shape (every position shares one law, e.g. the characters of a text).
        num_classes: ``K``.
        per_variable: one law per column ``v`` of ``train``, or one for all labels.
        smoothing: pseudo-count added to every label (``0.5``: Jeffreys' prior).
        dtype: of the result.

    Returns:
        ``(V, K)`` rows summing to one when ``per_variable``, else ``(K,)``.

    Examples:
        >>> categorical_frequencies(torch.tensor([0, 0, 1]), 2, per_variable=False).tolist()
        [0.625, 0.375]
    """
    if train.dtype not in (torch.int64, torch.int32, torch.uint8):
        raise TypeError(f"train must hold integer labels, got dtype {train.dtype}")
    if train.numel() and (int(train.min()) < 0 or int(train.max()) >= num_classes):
        raise ValueError(f"train has labels outside [0, num_classes = {num_classes})")
    if per_variable:
        if train.ndim != 2:
            raise ValueError(f"train must be (N, V) with per_variable, got {tuple(train.shape)}")
        counts = torch.stack(
            [torch.bincount(train[:, j], minlength=num_classes) for j in range(train.shape[1])]
        )
    else:
        counts = torch.bincount(train.reshape(-1), minlength=num_classes)
    smoothed = counts.to(dtype) + smoothing
    return smoothed / smoothed.sum(-1, keepdim=True)


def independent_categorical_bits(
    train: Tensor,
    test: Tensor,
    num_classes: int,
    *,
    per_variable: bool = True,
    smoothing: float = 0.5,
    dtype: torch.dtype = torch.float64,
) -> float:
    """The test cross-entropy, in bits per variable, of :func:`categorical_frequencies` fitted
    on ``train``.

    Args:
        train: training labels, see :func:`categorical_frequencies`.
        test: ``(M, V)`` test labels (``V`` as in ``train`` when ``per_variable``).
        num_classes: ``K``.
        per_variable: one law per variable, or one shared law.
        smoothing: pseudo-count per label.
        dtype: of the computation.

    Returns:
        ``-mean log2 q(test)`` over all ``M * V`` test labels.

    Examples:
        >>> train = torch.tensor([[0], [1]])
        >>> independent_categorical_bits(train, torch.tensor([[0]]), 2, smoothing=0.0)
        1.0
    """
    probs = categorical_frequencies(
        train, num_classes, per_variable=per_variable, smoothing=smoothing, dtype=dtype
    )
    if per_variable:
        if test.ndim != 2 or test.shape[1] != probs.shape[0]:
            raise ValueError(f"test must be (M, {probs.shape[0]}), got {tuple(test.shape)}")
        log_q = probs.log().gather(1, test.T).T
    else:
        log_q = probs.log()[test]
    return float(-log_q.mean() / math.log(2))
