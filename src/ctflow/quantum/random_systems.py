"""Random Lindbladians (Hamiltonian and collapse operators) for tests and benchmarks."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["random_lindbladian"]


def _complex_normal(shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    re = torch.randn(shape, generator=generator, dtype=torch.float64)
    im = torch.randn(shape, generator=generator, dtype=torch.float64)
    return torch.complex(re, im) / 2**0.5


def random_lindbladian(
    n: int,
    k: int = 2,
    *,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Draw a random Hermitian Hamiltonian and ``k`` random collapse operators.

    Entries are standard complex Gaussians scaled by ``1/sqrt(n)``, so ``||H||`` and the
    dissipation rates stay O(1) as ``n`` grows. With ``k >= 1`` generic draws have a unique
    steady state of full rank.

    Args:
        n: Hilbert-space dimension (``>= 1``).
        k: number of collapse operators (``>= 0``).
        generator: source of randomness; ignored when ``seed`` is given.
        seed: seed for a fresh CPU generator.

    Returns:
        ``(H, c_ops)``: complex128 tensors of shapes ``(n, n)`` and ``(k, n, n)``.

    Examples:
        >>> H, c_ops = random_lindbladian(3, k=2, seed=0)
        >>> H.shape, c_ops.shape
        (torch.Size([3, 3]), torch.Size([2, 3, 3]))
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}")
    if seed is not None:
        generator = torch.Generator().manual_seed(seed)
    elif generator is None:
        generator = torch.Generator().manual_seed(torch.seed())
    a = _complex_normal((n, n), generator)
    H = (a + a.mH) / (2 * n**0.5)
    c_ops = _complex_normal((k, n, n), generator) / n**0.5
    return H, c_ops
