"""scikit-learn's bundled 8x8 handwritten digits, and uniform dequantization of integer data.

The data ship inside scikit-learn (no download): 1797 images of 64 pixels with integer values
0..16, so ``DIGITS_LEVELS = 17`` quantization levels.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

__all__ = [
    "DIGITS_LEVELS",
    "dequantize",
    "from_centered",
    "load_digits_split",
    "to_centered",
]

DIGITS_LEVELS = 17

_SPLITS = ("train", "test", "all")
# a redraw is needed only when rounding to ``dtype`` pushes a value out of its bin (rare)
_MAX_REDRAWS = 32


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


def _outside_bins(y: Tensor, x: Tensor, levels: int) -> Tensor:
    # check bin membership both in float64 and in y's own dtype, since callers may use either
    in_float64 = torch.floor(y.to(torch.float64) * levels) == x
    in_dtype = torch.floor(y * levels) == x.to(y.dtype)
    return ~(in_float64 & in_dtype & (y < 1.0))


def dequantize(
    x_int: Tensor,
    levels: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Uniform dequantization ``y = (x + u) / levels`` with ``u ~ U[0, 1)`` per entry.

    Each integer ``x`` in ``0..levels-1`` becomes a point uniform in its bin
    ``[x / levels, (x + 1) / levels)``, so ``y`` lies in ``[0, 1)`` and ``floor(y * levels)``
    recovers ``x`` (also after rounding to ``dtype``: the rare draws that rounding would push out
    of their bin are redrawn).

    Args:
        x_int: integer tensor of any shape with values in ``[0, levels)``.
        levels: number of quantization levels, e.g. ``DIGITS_LEVELS``.
        generator: the only source of randomness; ``None`` uses torch's global generator.
        dtype: floating dtype of the result.

    Returns:
        Dequantized values with the shape of ``x_int``.
    """
    if not isinstance(x_int, Tensor):
        raise TypeError(f"x_int must be an integer tensor, got {type(x_int).__name__}")
    if x_int.is_floating_point() or x_int.is_complex() or x_int.dtype == torch.bool:
        raise TypeError(
            f"x_int must have an integer dtype, got {x_int.dtype}; convert with .long() "
            "if the values are whole numbers"
        )
    if isinstance(levels, bool) or not isinstance(levels, int):
        raise TypeError(f"levels must be an int, got {type(levels).__name__}")
    if levels < 1:
        raise ValueError(f"levels must be at least 1, got {levels}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    if x_int.numel() > 0:
        low, high = int(x_int.min()), int(x_int.max())
        if low < 0 or high >= levels:
            raise ValueError(
                f"x_int values must lie in [0, levels) = [0, {levels}), got min {low} and "
                f"max {high}; pass the right levels or clip the data"
            )
    x = x_int.to(torch.float64)
    u = torch.rand(x.shape, generator=generator, dtype=torch.float64, device=x.device)
    y = ((x + u) / levels).to(dtype)
    bad = _outside_bins(y, x, levels)
    for _ in range(_MAX_REDRAWS):
        if not bool(bad.any()):
            return y
        u = torch.rand(int(bad.sum()), generator=generator, dtype=torch.float64, device=x.device)
        y[bad] = ((x[bad] + u) / levels).to(dtype)
        bad = _outside_bins(y, x, levels)
    if bool(bad.any()):
        raise ValueError(
            f"levels={levels} is too many for dtype {dtype}: its values cannot be kept inside "
            "their bins; use a wider dtype such as torch.float64"
        )
    return y


def to_centered(y: Tensor) -> Tensor:
    """Map data from ``[0, 1]`` to ``[-1, 1]``: ``z = 2 y - 1`` (same shape).

    For ``D``-dimensional data the log-determinant of this map is ``D * ln 2``, so densities
    relate as ``log p_Y(y) = log p_Z(z) + D * ln 2``.
    """
    return 2.0 * y - 1.0


def from_centered(z: Tensor) -> Tensor:
    """Inverse of ``to_centered``: map ``[-1, 1]`` back to ``[0, 1]`` via ``y = (z + 1) / 2``."""
    return (z + 1.0) / 2.0
