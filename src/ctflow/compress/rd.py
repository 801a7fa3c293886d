"""Rate-distortion helpers: PSNR and the Bjontegaard-style BD-rate between two curves."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["psnr", "bd_rate"]


def psnr(mse: float, peak: float = 1.0) -> float:
    """``10 log10(peak^2 / mse)`` in dB."""
    if not mse > 0:
        return float("inf")
    return 10.0 * math.log10(peak**2 / mse)


def bd_rate(rate_a, psnr_a, rate_b, psnr_b, samples: int = 200) -> float:
    """Average rate difference of curve B against curve A at matched quality, in percent.

    Each curve's log-rate is interpolated piecewise-linearly as a function of PSNR (points sorted
    by PSNR; a non-monotone curve is reduced to its lower convex hull in log-rate), and the mean
    of ``log(rate_b / rate_a)`` over the overlapping PSNR interval is mapped back:
    ``100 (exp(mean) - 1)``. Negative means B needs fewer bits. (Bjontegaard fits cubics; with
    few, unevenly spaced points piecewise-linear interpolation is the more robust variant.)

    Raises:
        ValueError: with fewer than two points per curve or when the PSNR ranges do not overlap.
    """
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
