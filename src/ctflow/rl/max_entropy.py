"""The maximum-entropy optimal policy of a one-step 1-D bandit, ``pi*(a) ~ exp(r(a) / alpha)``,
on a quadrature grid, and the summaries a learned policy is compared with (mode masses, expected
reward, entropy), all by the trapezoidal rule."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["boltzmann_policy", "grid_entropy", "grid_expectation", "grid_mode_masses"]


def boltzmann_policy(
    reward: Callable[[Tensor], Tensor],
    alpha: float,
    low: float = -1.0,
    high: float = 1.0,
    n: int = 200_001,
) -> tuple[Tensor, Tensor]:
    """``pi*(a) ~ exp(reward(a) / alpha)`` on ``n`` equally spaced points of ``[low, high]``.

    Args:
        reward: Elementwise reward of a ``(n,)`` float64 tensor of actions.
        alpha: Entropy temperature (``> 0``).
        low: Lower end of the action range.
        high: Upper end of the action range.
        n: Grid points (``>= 2``).

    Returns:
        ``(grid, density)``, ``(n,)`` float64 each, the density normalised to integrate to 1.

    Examples:
        >>> grid, density = boltzmann_policy(lambda a: 0 * a, 1.0, n=5)  # constant reward
        >>> density.tolist()
        [0.5, 0.5, 0.5, 0.5, 0.5]
    """
    if not alpha > 0 or n < 2 or not high > low:
        raise ValueError(f"need alpha > 0, n >= 2 and high > low, got {alpha}, {n}, {low}, {high}")
    grid = torch.linspace(low, high, n, dtype=torch.float64)
    logits = reward(grid) / alpha
    density = torch.exp(logits - logits.max())  # shifted: no overflow for small alpha
    density = density / torch.trapezoid(density, grid)
    return grid, density


def grid_expectation(grid: Tensor, density: Tensor, values: Tensor) -> float:
    """``E[values] = int density * values`` by the trapezoidal rule (all ``(n,)``)."""
    return float(torch.trapezoid(density * values, grid))


def grid_mode_masses(
    grid: Tensor, density: Tensor, modes: Sequence[float], radius: float
) -> list[float]:
    """Probability within ``radius`` (strictly) of each mode, by the trapezoidal rule.

    Examples:
        >>> grid = torch.linspace(-1, 1, 2001, dtype=torch.float64)
        >>> [round(m, 2) for m in grid_mode_masses(grid, torch.full_like(grid, 0.5), (0.0,), 0.5)]
        [0.5]
    """
    return [grid_expectation(grid, density, ((grid - m).abs() < radius).double()) for m in modes]


def grid_entropy(grid: Tensor, density: Tensor) -> float:
    """Differential entropy ``-int density log density`` (nats) by the trapezoidal rule.

    Examples:
        >>> grid = torch.linspace(-1, 1, 101, dtype=torch.float64)
        >>> round(grid_entropy(grid, torch.full_like(grid, 0.5)), 6)  # uniform on [-1, 1]: log 2
        0.693147
    """
    return float(-torch.trapezoid(density * density.clamp_min(1e-300).log(), grid))
