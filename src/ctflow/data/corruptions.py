"""Digit images scaled to ``[-1, 1]`` and out-of-distribution corruptions of them."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["CORRUPTIONS", "digits_to_signed", "corrupt_images"]

CORRUPTIONS = ("noise", "shuffle")


def digits_to_signed(pixels: Tensor, levels: int = 16) -> Tensor:
    """Grey levels ``0..levels`` to ``[-1, 1]`` (float).

    Args:
        pixels: integer or float grey levels of any shape, e.g. ``(n, 64)`` 8x8 digits.
        levels: the top grey level (16 for scikit-learn's digits).

    Returns:
        The same shape, float, ``0 -> -1`` and ``levels -> 1``.

    Examples:
        >>> digits_to_signed(torch.tensor([0, 8, 16])).tolist()
        [-1.0, 0.0, 1.0]
    """
    return pixels.float() / (levels / 2) - 1.0


def corrupt_images(
    x: Tensor, kind: str, generator: torch.Generator, noise_std: float = 0.5
) -> Tensor:
    """Out-of-distribution versions of flattened images in ``[-1, 1]``.

    Args:
        x: images ``(n, pixels)`` in ``[-1, 1]``.
        kind: ``"noise"`` adds Gaussian noise of ``noise_std`` in ``[0, 1]`` pixel units (so
            ``2 noise_std`` here) and clips to ``[-1, 1]``; ``"shuffle"`` permutes each image's
            pixels (a fresh permutation per image).
        generator: generator of the noise or permutations (on ``x``'s device).
        noise_std: the noise level of ``"noise"``.

    Returns:
        ``(n, pixels)``.

    Examples:
        >>> x = torch.linspace(-1, 1, 6).reshape(2, 3)
        >>> y = corrupt_images(x, "shuffle", torch.Generator().manual_seed(0))
        >>> torch.equal(y.sort(-1).values, x)
        True
    """
    if kind == "noise":
        noisy = x + 2 * noise_std * torch.randn(x.shape, generator=generator)
        return noisy.clamp(-1.0, 1.0)
    if kind == "shuffle":
        order = torch.rand(x.shape, generator=generator).argsort(dim=-1)
        return x.gather(-1, order)
    raise ValueError(f"unknown corruption {kind!r}; choose one of: {', '.join(CORRUPTIONS)}")
