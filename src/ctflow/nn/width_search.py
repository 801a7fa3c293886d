"""Choosing a network's width so its parameter count matches another model's, so a comparison
measures the method and not the budget."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["matched_width"]


def matched_width(count: Callable[[int], int], target: int) -> int:
    """The width ``w >= 1`` whose ``count(w)`` is closest to ``target``.

    ``count`` must grow with the width (as parameter counts do): the search doubles the width
    until ``count`` reaches ``target``, then bisects for the first width at or above it, and
    returns that width or the one before, whichever is closer (the smaller on a tie).

    Args:
        count: Width to parameter count, e.g. ``lambda w: parameter_count(build(w))``; called
            ``O(log w)`` times, always in the same order (so a ``count`` that draws from the
            random generator leaves it in a reproducible state).
        target: The parameter count to match, ``>= 1``.

    Returns:
        The matched width.

    Raises:
        ValueError: If ``target < 1``.

    Examples:
        >>> matched_width(lambda w: 3 * w * w, 100)  # 3 * 36 = 108 is closest
        6
    """
    if target < 1:
        raise ValueError(f"target must be a positive parameter count, got {target}")
    lo, hi = 1, 2
    while count(hi) < target:
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid) < target else (lo, mid)
    return min((lo, hi), key=lambda w: abs(count(w) - target))
