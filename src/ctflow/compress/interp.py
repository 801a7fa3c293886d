"""Continuous-time reconstruction of a latent path from its kept time points.

Between two kept points the latent is interpolated linearly in time, so the path is known at
any query time (any frame rate); before the first or after the last kept point it is held.
"""

from __future__ import annotations

import torch

__all__ = ["kept_neighbours", "interpolate_kept", "interpolate_without_self"]


def kept_neighbours(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each grid index, the nearest kept index at or before it and at or after it.

    Args:
        mask: ``(..., T)`` bool, the kept grid points.

    Returns:
        ``(prev, next)``, ``(..., T)`` long; -1 / T where there is none.
    """
    T = mask.shape[-1]
    idx = torch.arange(T, device=mask.device).expand(mask.shape)
    prev = torch.where(mask, idx, torch.full_like(idx, -1)).cummax(-1).values
    rev = torch.where(mask, idx, torch.full_like(idx, T)).flip(-1).cummin(-1).values.flip(-1)
    return prev, rev


def _lerp(values, times, lo, hi, t):
    """Linear interpolation between ``values[..., lo, :]`` and ``values[..., hi, :]`` at ``t``."""
    T = values.shape[-2]
    lo_c = lo.clamp(0, T - 1)
    hi_c = hi.clamp(0, T - 1)
    # hold the end values where one neighbour is missing
    lo_c = torch.where(lo < 0, hi_c, lo_c)
    hi_c = torch.where(hi >= T, lo_c, hi_c)
    t_lo, t_hi = times[lo_c], times[hi_c]
    gap = t_hi - t_lo
    w = torch.where(gap > 0, (t - t_lo) / torch.where(gap > 0, gap, torch.ones_like(gap)), 0.0)
    w = w.clamp(0, 1).to(values.dtype).unsqueeze(-1)
    d = values.shape[-1]
    v_lo = values.gather(-2, lo_c.unsqueeze(-1).expand(*lo_c.shape, d))
    v_hi = values.gather(-2, hi_c.unsqueeze(-1).expand(*hi_c.shape, d))
    return v_lo + w * (v_hi - v_lo)


def interpolate_kept(
    values: torch.Tensor, mask: torch.Tensor, times: torch.Tensor, query: torch.Tensor
) -> torch.Tensor:
    """The latent path through the kept points, at arbitrary query times.

    Args:
        values: ``(N, T, d)`` latents (only kept entries are read).
        mask: ``(N, T)`` bool, at least one True per row.
        times: ``(T,)`` increasing grid times.
        query: ``(Q,)`` query times.

    Returns:
        ``(N, Q, d)``.
    """
    if mask.ndim != 2 or values.shape[:2] != mask.shape:
        raise ValueError(f"values {tuple(values.shape)} and mask {tuple(mask.shape)} disagree")
    if not bool(mask.any(-1).all()):
        raise ValueError("every sequence needs at least one kept time point")
    times = times.to(torch.float64)
    query = query.to(torch.float64)
    prev, nxt = kept_neighbours(mask)
    T = mask.shape[1]
    j = (torch.searchsorted(times, query, right=True) - 1).clamp(0, T - 1)  # grid index <= q
    exact = times[j] == query
    lo = prev[:, j]
    j_next = torch.where(exact | (j == T - 1), j, (j + 1).clamp(max=T - 1))
    hi = nxt[:, j_next]
    hi = torch.where((query > times[-1]).expand_as(hi), torch.full_like(hi, T), hi)
    return _lerp(values, times, lo, hi, query.expand(lo.shape))


def interpolate_without_self(values: torch.Tensor, mask: torch.Tensor, times: torch.Tensor):
    """At each grid point, the interpolation from the kept points strictly before and after it.

    This is what the decoder would reconstruct at a grid point if that point were dropped; the
    keep decisions' straight-through gradient uses it. Returns ``(N, T, d)``.
    """
    prev, nxt = kept_neighbours(mask)
    T = mask.shape[1]
    minus = torch.full_like(prev[:, :1], -1)
    plus = torch.full_like(nxt[:, :1], T)
    lo = torch.cat([minus, prev[:, :-1]], 1)
    hi = torch.cat([nxt[:, 1:], plus], 1)
    times = times.to(torch.float64)
    return _lerp(values, times, lo, hi, times.expand(lo.shape))
