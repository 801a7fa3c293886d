"""Calibration and uncertainty of classifiers: top-label expected calibration error, reliability
diagrams, predictive entropy and the AUROC of a score separating two sets."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "ReliabilityData",
    "auroc",
    "expected_calibration_error",
    "predictive_entropy",
    "reliability_diagram_data",
]

# rows of probs may be off from summing to 1 by float32 softmax rounding, but not by more
_SUM_TOL = 1e-3


class ReliabilityData(NamedTuple):
    """Per-bin statistics of a reliability diagram, each of shape ``(n_bins,)``.

    ``confidence`` and ``accuracy`` are NaN for empty bins (matplotlib skips NaN points).
    ``bin_edges`` has shape ``(n_bins + 1,)``; bin ``b`` holds confidences in
    ``(bin_edges[b], bin_edges[b + 1]]``.
    """

    confidence: Tensor
    accuracy: Tensor
    count: Tensor
    bin_edges: Tensor


def _top_label(probs: Tensor, labels: Tensor, n_bins: int) -> tuple[Tensor, Tensor]:
    """Validate the inputs; return top-label confidences and correctness, both ``(N,)``."""
    if not isinstance(probs, Tensor) or not probs.is_floating_point():
        raise TypeError("probs must be a floating-point tensor of shape (N, C)")
    if probs.dim() != 2 or probs.shape[0] == 0 or probs.shape[1] == 0:
        raise ValueError(f"probs must have shape (N, C) with N, C >= 1, got {tuple(probs.shape)}")
    if not bool(torch.isfinite(probs).all()):
        raise ValueError("probs contains NaN or inf values")
    if float(probs.min()) < -_SUM_TOL or float(probs.max()) > 1.0 + _SUM_TOL:
        raise ValueError(
            f"probs must lie in [0, 1], got min {float(probs.min())} and max {float(probs.max())}"
            "; pass probabilities (e.g. softmax of the logits), not logits"
        )
    row_err = (probs.sum(dim=1) - 1.0).abs()
    worst = int(row_err.argmax())
    if float(row_err[worst]) > _SUM_TOL:
        raise ValueError(
            f"each row of probs must sum to 1 (within {_SUM_TOL}); row {worst} sums to "
            f"{float(probs[worst].sum())}"
        )
    if (
        not isinstance(labels, Tensor)
        or labels.is_floating_point()
        or labels.is_complex()
        or labels.dtype == torch.bool
    ):
        raise TypeError("labels must be an integer tensor of shape (N,)")
    if labels.shape != probs.shape[:1]:
        raise ValueError(
            f"labels must have shape (N,) = ({probs.shape[0]},) to match probs, "
            f"got {tuple(labels.shape)}"
        )
    n_classes = probs.shape[1]
    if int(labels.min()) < 0 or int(labels.max()) >= n_classes:
        raise ValueError(
            f"labels must lie in [0, C) = [0, {n_classes}), got min {int(labels.min())} and "
            f"max {int(labels.max())}"
        )
    if isinstance(n_bins, bool) or not isinstance(n_bins, int):
        raise TypeError(f"n_bins must be an int, got {type(n_bins).__name__}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    confidence, predicted = probs.max(dim=1)
    return confidence, (predicted == labels.to(predicted.device)).to(probs.dtype)


def _bin_sums(confidence: Tensor, correct: Tensor, n_bins: int) -> tuple[Tensor, ...]:
    """Per-bin sums of confidence and correctness, counts, and the bin edges."""
    edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64, device=confidence.device)
    # right=False puts a confidence equal to an inner edge into the bin below it: (lo, hi]
    index = torch.bucketize(confidence.to(torch.float64), edges[1:-1], right=False)
    zeros = torch.zeros(n_bins, dtype=torch.float64, device=confidence.device)
    conf_sum = zeros.index_add(0, index, confidence.to(torch.float64))
    correct_sum = zeros.index_add(0, index, correct.to(torch.float64))
    count = torch.bincount(index, minlength=n_bins)
    return conf_sum, correct_sum, count, edges


def reliability_diagram_data(probs: Tensor, labels: Tensor, n_bins: int = 15) -> ReliabilityData:
    """Per-bin mean confidence, accuracy, and count for a top-label reliability diagram.

    Args:
        probs: predicted class probabilities of shape ``(N, C)``; rows sum to 1.
        labels: true classes of shape ``(N,)``, integers in ``[0, C)``.
        n_bins: number of equal-width confidence bins on ``[0, 1]``.

    Returns:
        A ``ReliabilityData`` with ``(n_bins,)`` tensors (float in ``probs``' dtype, count long).
    """
    confidence, correct = _top_label(probs, labels, n_bins)
    conf_sum, correct_sum, count, edges = _bin_sums(confidence, correct, n_bins)
    safe = count.clamp_min(1).to(torch.float64)
    empty = count == 0
    mean_conf = (conf_sum / safe).masked_fill(empty, float("nan"))
    accuracy = (correct_sum / safe).masked_fill(empty, float("nan"))
    return ReliabilityData(
        confidence=mean_conf.to(probs.dtype),
        accuracy=accuracy.to(probs.dtype),
        count=count,
        bin_edges=edges.to(probs.dtype),
    )


def expected_calibration_error(probs: Tensor, labels: Tensor, n_bins: int = 15) -> Tensor:
    """Top-label expected calibration error with equal-width confidence bins.

    ``ECE = sum_b (n_b / N) |accuracy_b - confidence_b|`` where bin ``b`` holds the examples
    whose top-class probability lies in ``(b / n_bins, (b + 1) / n_bins]``.

    Args:
        probs: predicted class probabilities of shape ``(N, C)``; rows sum to 1.
        labels: true classes of shape ``(N,)``, integers in ``[0, C)``.
        n_bins: number of equal-width confidence bins on ``[0, 1]``.

    Returns:
        A 0-d tensor in ``[0, 1]`` in ``probs``' dtype.
    """
    confidence, correct = _top_label(probs, labels, n_bins)
    conf_sum, correct_sum, _, _ = _bin_sums(confidence, correct, n_bins)
    # (n_b / N) |acc_b - conf_b| = |sum of correct - sum of confidence| / N, and empty bins add 0
    ece = (correct_sum - conf_sum).abs().sum() / confidence.shape[0]
    return ece.to(probs.dtype)


def predictive_entropy(probs: Tensor) -> Tensor:
    """Entropy (nats) of each row of class probabilities, ``-sum_c p_c log p_c``.

    Args:
        probs: probabilities of shape ``(..., C)``; zeros contribute 0.

    Returns:
        A tensor of shape ``(...)``.

    Examples:
        >>> predictive_entropy(torch.tensor([[0.5, 0.5], [0.25, 0.75]]))
        tensor([0.6931, 0.5623])
    """
    if not isinstance(probs, Tensor) or not probs.is_floating_point() or probs.dim() < 1:
        raise TypeError("probs must be a floating-point tensor of shape (..., C)")
    # clamping keeps 0 log 0 at 0 rather than NaN
    return -(probs * probs.clamp_min(1e-12).log()).sum(-1)


def auroc(negative: Tensor, positive: Tensor) -> float:
    """Area under the ROC curve of a score that should be higher on ``positive``.

    The probability that a random positive scores above a random negative, ties counting one
    half; e.g. predictive entropy on clean (negative) vs out-of-distribution (positive) inputs.
    0.5 is chance. Computed by ``sklearn.metrics.roc_auc_score`` (trapezoids under the ROC
    curve), which can differ from the exact pair count by float rounding (~1e-16).

    Args:
        negative: scores of shape ``(n_neg,)``, ``n_neg >= 1``.
        positive: scores of shape ``(n_pos,)``, ``n_pos >= 1``.

    Returns:
        The AUROC in ``[0, 1]``.

    Examples:
        >>> auroc(torch.tensor([0.1, 0.4]), torch.tensor([0.4, 0.9]))
        0.875
    """
    from sklearn.metrics import roc_auc_score  # scikit-learn is heavy to import: only here

    for name, value in (("negative", negative), ("positive", positive)):
        if not isinstance(value, Tensor) or value.dim() != 1 or value.numel() == 0:
            raise ValueError(f"{name} must be a non-empty 1-D tensor of scores")
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"{name} contains NaN or inf values")
    scores = torch.cat([negative, positive]).detach().cpu()
    labels = torch.cat([torch.zeros(len(negative)), torch.ones(len(positive))])
    return float(roc_auc_score(labels.numpy(), scores.numpy()))
