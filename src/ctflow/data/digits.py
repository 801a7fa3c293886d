"""scikit-learn's bundled 8x8 handwritten digits (and ``dequantize``, re-exported from ``ops``).

The data ship inside scikit-learn (no download): 1797 images of 64 pixels with integer values
0..16, so ``DIGITS_LEVELS = 17`` quantization levels.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

# dequantization is arithmetic, so it lives with the operators; re-exported here for the digits
from ..ops.quantization import dequantize

__all__ = [
    "DIGITS_LEVELS",
    "dequantize",
    "from_centered",
    "load_digits_split",
    "to_centered",
]

DIGITS_LEVELS = 17

_SPLITS = ("train", "test", "all")


@functools.lru_cache(maxsize=1)
def _load_all() -> tuple[Tensor, Tensor]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError(
            "the digits dataset needs scikit-learn; install it with `pip install scikit-learn`"
        ) from err
    bunch = load_digits()
    pixels = torch.tensor(bunch.data, dtype=torch.long)
    labels = torch.tensor(bunch.target, dtype=torch.long)
    return pixels, labels


def load_digits_split(
    split: str = "train", *, seed: int = 0, test_fraction: float = 0.2
) -> tuple[Tensor, Tensor]:
    """Load a fixed, seeded train/test split of the 8x8 digits.

    The split is a random permutation of all 1797 images drawn from ``torch.Generator`` seeded
    with ``seed``; the first ``round(1797 * test_fraction)`` indices form the test set and the
    rest the training set, each in permuted order. ``"all"`` returns every image in the order
    scikit-learn stores them, whatever the seed.

    Args:
        split: one of ``"train"``, ``"test"``, ``"all"``.
        seed: seed of the permutation; the same seed always gives the same split.
        test_fraction: share of images held out for testing, in ``(0, 1)``.

    Returns:
        ``(x_int, labels)``: pixels of shape ``(N, 64)`` as ``torch.long`` in ``0..16`` and digit
        labels of shape ``(N,)`` as ``torch.long`` in ``0..9``.
    """
    if split not in _SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(_SPLITS)}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)):
        raise TypeError(f"test_fraction must be a float, got {type(test_fraction).__name__}")
    pixels, labels = _load_all()
    if split == "all":
        return pixels.clone(), labels.clone()
    total = pixels.shape[0]
    n_test = round(total * test_fraction)
    if not 1 <= n_test <= total - 1:
        raise ValueError(
            f"test_fraction={test_fraction} leaves {n_test} of {total} images for testing; "
            "choose a value in (0, 1) that keeps both splits non-empty"
        )
    perm = torch.randperm(total, generator=torch.Generator().manual_seed(seed))
    index = perm[:n_test] if split == "test" else perm[n_test:]
    return pixels[index], labels[index]


def to_centered(y: Tensor) -> Tensor:
    """Map data from ``[0, 1]`` to ``[-1, 1]``: ``z = 2 y - 1`` (same shape).

    For ``D``-dimensional data the log-determinant of this map is ``D * ln 2``, so densities
    relate as ``log p_Y(y) = log p_Z(z) + D * ln 2``.
    """
    return 2.0 * y - 1.0


def from_centered(z: Tensor) -> Tensor:
    """Inverse of ``to_centered``: map ``[-1, 1]`` back to ``[0, 1]`` via ``y = (z + 1) / 2``."""
    return (z + 1.0) / 2.0
