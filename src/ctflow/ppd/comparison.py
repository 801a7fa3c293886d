"""Choosing a kernel path's end width on validation data, and comparing two methods' training
speed by the wall time each needs to reach a common validation level."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..manifolds import Manifold
from .paths import KernelMixturePath
from .training import Curve

__all__ = ["choose_kernel_width", "time_to_common_level"]


def choose_kernel_width(
    manifold: Manifold,
    centers: Tensor,
    val_x: Tensor,
    widths: Sequence[float],
    width_start: float,
) -> tuple[float, dict[float, float]]:
    """The end width whose kernel density of ``centers`` has the lowest validation NLL.

    This scores the path's end density ``p_1`` itself, not a trained flow, so it costs one
    kernel sum per width and uses validation points only.

    Args:
        manifold: where the points live.
        centers: kernel centres ``(n, dim)``, e.g. the training points.
        val_x: validation points ``(m, dim)``.
        widths: candidate end widths ``s1``.
        width_start: the path's start width ``s0``.

    Returns:
        ``(best width, {width: validation NLL in nats})``.

    Examples:
        >>> from ctflow.manifolds import Sphere
        >>> x = torch.nn.functional.normalize(torch.randn(200, 3), dim=-1)
        >>> best, scores = choose_kernel_width(Sphere(2), x[:150], x[150:], [0.1, 1.0], 2.0)
        >>> best in scores and len(scores)
        2
    """
    if not widths:
        raise ValueError("widths is empty: give at least one candidate end width")
    scores = {}
    for s in widths:
        path = KernelMixturePath(manifold, centers, scale_start=width_start, scale_end=s)
        with torch.no_grad():
            scores[s] = float(-path.data_log_prob(val_x).mean())
    return min(scores, key=scores.get), scores


def time_to_common_level(a: Curve, b: Curve) -> tuple[float, float, float] | None:
    """The wall time each of two validation curves needs to reach the worse of their best NLLs.

    Args:
        a, b: validation curves (NLL against training seconds).

    Returns:
        ``(level, seconds of a, seconds of b)``, or ``None`` when either curve is empty.

    Examples:
        >>> fast = Curve(seconds=[1.0, 2.0, 3.0], val_nll=[2.0, 1.0, 0.5])
        >>> slow = Curve(seconds=[5.0, 10.0], val_nll=[1.5, 1.0])
        >>> time_to_common_level(fast, slow)
        (1.0, 2.0, 10.0)
    """
    if not a.val_nll or not b.val_nll:
        return None
    level = max(min(a.val_nll), min(b.val_nll))
    return level, a.time_to(level), b.time_to(level)
