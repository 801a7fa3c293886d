"""Small tabular data sets bundled with scikit-learn, split and standardised for density models."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["TABLES", "load_table"]

# name -> scikit-learn loader name; both ship with scikit-learn, so nothing is downloaded
TABLES = {"wine": "load_wine", "breast_cancer": "load_breast_cancer"}


def load_table(
    name: str, *, seed: int = 0, test_fraction: float = 0.2, log1p: bool = False
) -> tuple[Tensor, Tensor]:
    """``(train (N_train, D), test (N_test, D))`` float64 rows of a scikit-learn table.

    The rows are split at random by ``seed`` (``round(test_fraction * N)`` test rows, at least
    one), optionally mapped by ``log1p`` (after clamping at 0: the features are counts and
    lengths with long right tails), then standardised by the training split's mean and standard
    deviation, so the test split carries no information into the scaling.

    Examples:
        >>> train, test = load_table("wine", seed=0)
        >>> tuple(train.shape), tuple(test.shape)
        ((142, 13), (36, 13))
        >>> bool(train.mean(0).abs().max() < 1e-12)
        True
    """
    if name not in TABLES:
        raise ValueError(f"unknown tabular dataset {name!r}; choose from: {', '.join(TABLES)}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    from sklearn import datasets

    x = torch.as_tensor(getattr(datasets, TABLES[name])().data, dtype=torch.float64)
    if log1p:
        x = torch.log1p(x.clamp_min(0))
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = max(1, int(round(test_fraction * len(x))))
    test, train = x[perm[:n_test]], x[perm[n_test:]]
    mean, std = train.mean(0), train.std(0).clamp_min(1e-12)
    return (train - mean) / std, (test - mean) / std
