"""A fixed reference classifier, to score the class accuracy of generated samples."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["fit_logistic_classifier"]


def fit_logistic_classifier(
    x: Tensor, y: Tensor, scale: float = 1.0, max_iter: int = 2000
) -> Callable[[Tensor], Tensor]:
    """Fit scikit-learn's logistic regression on ``x / scale`` and return its predictor.

    Args:
        x: features ``(N, D)``.
        y: integer labels ``(N,)``.
        scale: features are divided by it (e.g. the largest grey level) before fitting and
            predicting.
        max_iter: the solver's iteration limit.

    Returns:
        A function from features ``(M, D)`` (CPU) to predicted labels ``(M,)``.
    """
    from sklearn.linear_model import LogisticRegression  # optional dependency, loaded on use

    model = LogisticRegression(max_iter=max_iter).fit(x.numpy() / scale, y.numpy())
    return lambda features: torch.as_tensor(model.predict(features.numpy() / scale))
