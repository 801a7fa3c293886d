"""Rate-distortion helpers: PSNR and the Bjontegaard-style BD-rate between two curves."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["psnr", "bd_rate", "bd_overlap", "MIN_OVERLAP"]

# A BD-rate is a number only where the curves share at least this share of each one's PSNR range;
# over a sliver of overlap it averages a few points of one curve against the other's end.
MIN_OVERLAP = 0.5


def psnr(mse: float, peak: float = 1.0) -> float:
    """``10 log10(peak^2 / mse)`` in dB."""
    if not mse > 0:
        return float("inf")
    return 10.0 * math.log10(peak**2 / mse)


def bd_overlap(psnr_a, psnr_b) -> tuple[float, float]:
    """The shared PSNR range of two curves: ``(dB, fraction)``.

    ``fraction`` is the shared range over the longer of the two curves' PSNR ranges: the smaller
    of the two shares each curve has in the comparison. 0 when they do not overlap.

    Examples:
        >>> bd_overlap([30, 40], [35, 45])
        (5.0, 0.5)
    """
    ranges = []
    for quality in (psnr_a, psnr_b):
        p = np.asarray(quality, np.float64)
        p = p[np.isfinite(p)]
        if len(p) < 2:
            raise ValueError("each rate-distortion curve needs at least two finite points")
        ranges.append((float(p.min()), float(p.max())))
    (a0, a1), (b0, b1) = ranges
    shared = max(0.0, min(a1, b1) - max(a0, b0))
    longest = max(a1 - a0, b1 - b0)
    return shared, (shared / longest if longest > 0 else 0.0)


def bd_rate(rate_a, psnr_a, rate_b, psnr_b, samples: int = 200, min_overlap: float = 0.0) -> float:
    """Average rate difference of curve B against curve A at matched quality, in percent.

    Each curve's log-rate is interpolated piecewise-linearly as a function of PSNR (points sorted
    by PSNR; a non-monotone curve is reduced to its lower convex hull in log-rate), and the mean
    of ``log(rate_b / rate_a)`` over the overlapping PSNR interval is mapped back:
    ``100 (exp(mean) - 1)``. Negative means B needs fewer bits. (Bjontegaard fits cubics; with
    few, unevenly spaced points piecewise-linear interpolation is the more robust variant.)

    Args:
        min_overlap: refuse (``ValueError`` naming the overlap) when the shared PSNR range is
            less than this share of the longer curve's range (:func:`bd_overlap`); experiments
            pass :data:`MIN_OVERLAP` and report such pairs as "no overlap".

    Raises:
        ValueError: with fewer than two points per curve or when the PSNR ranges do not overlap
            (enough).
    """
    if min_overlap > 0:
        shared, fraction = bd_overlap(psnr_a, psnr_b)
        if fraction < min_overlap:
            raise ValueError(
                f"no overlap: the curves share {shared:.2f} dB, {100 * fraction:.0f}% of the "
                f"longer PSNR range (at least {100 * min_overlap:.0f}% is needed)"
            )
    curves = []
    for rate, quality in ((rate_a, psnr_a), (rate_b, psnr_b)):
        r = np.asarray(rate, np.float64)
        p = np.asarray(quality, np.float64)
        keep = np.isfinite(r) & np.isfinite(p) & (r > 0)
        r, p = r[keep], p[keep]
        if len(r) < 2:
            raise ValueError("each rate-distortion curve needs at least two finite points")
        order = np.argsort(p)
        p, lr = p[order], np.log(r[order])
        # the achievable curve: for each quality, the least rate reaching at least that quality
        lr = np.minimum.accumulate(lr[::-1])[::-1]
        curves.append((p, lr))
    (pa, la), (pb, lb) = curves
    lo, hi = max(pa[0], pb[0]), min(pa[-1], pb[-1])
    if not hi > lo:
        raise ValueError(
            f"the curves' PSNR ranges do not overlap ([{pa[0]:.2f}, {pa[-1]:.2f}] vs "
            f"[{pb[0]:.2f}, {pb[-1]:.2f}] dB)"
        )
    grid = np.linspace(lo, hi, samples)
    diff = np.interp(grid, pb, lb) - np.interp(grid, pa, la)
    return float(100.0 * (math.exp(float(diff.mean())) - 1.0))
