"""Rate-distortion optimal time points on a model's latents, by dynamic programming.

For a fixed frame autoencoder, OU prior and keep hazard, the cost of a sequence coded with
stored points ``0 = k_0 < k_1 < ... < k_m = T - 1`` is a sum over consecutive pairs: storing
``j`` right after ``i`` costs the squared error of the frames ``i + 1 .. j`` (decoded from the
linear interpolation of the quantised latents ``q_i``, ``q_j``), plus ``lam`` times the bits of
``q_j`` given ``q_i`` and the gap, plus ``lam`` times the bits of the keep decisions
``i + 1 .. j`` under the hazard. That sum is minimised exactly by a shortest path over the
``T x T`` segment costs (:func:`optimal_knots`): unlike greedy knots at a latent tolerance, this
measures distortion on decoded frames and pays for bits, the objective the rate-distortion
curve itself is drawn from.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .prior import bin_bits, ou_params_numpy

__all__ = ["optimal_knots", "segment_costs", "price_segments", "keep_bits_table", "rd_latent_masks"]


def optimal_knots(cost: np.ndarray) -> np.ndarray:
    """Keep masks minimising the summed cost of consecutive stored points.

    Args:
        cost: ``(..., T, T)``; ``cost[..., i, j]`` (``i < j``) is the cost of storing ``j``
            right after ``i``; entries with ``i >= j`` are ignored; ``inf`` forbids a segment.

    Returns:
        bool masks ``(..., T)`` with the first and last point stored.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim < 2 or cost.shape[-1] != cost.shape[-2] or cost.shape[-1] < 2:
        raise ValueError(f"cost must be (..., T, T) with T >= 2, got {cost.shape}")
    T = cost.shape[-1]
    flat = cost.reshape(-1, T, T)
    B = len(flat)
    best = np.full((B, T), np.inf)
    best[:, 0] = 0.0
    arg = np.zeros((B, T), dtype=np.int64)
    for j in range(1, T):
        total = best[:, :j] + flat[:, :j, j]
        arg[:, j] = np.argmin(total, axis=1)
        best[:, j] = total[np.arange(B), arg[:, j]]
    if not np.all(np.isfinite(best[:, -1])):
        raise ValueError("no finite path from the first to the last point")
    mask = np.zeros((B, T), dtype=bool)
    for b in range(B):
        j = T - 1
        while j > 0:
            mask[b, j] = True
            j = arg[b, j]
        mask[b, 0] = True
    return mask.reshape(cost.shape[:-1])


def keep_bits_table(hazard_logits: np.ndarray, T: int) -> np.ndarray:
    """Bits of the keep decisions ``i + 1 .. j`` when ``j`` is the next stored point, ``(T, T)``.

    Interior points are coded with ``P(keep | gap)`` (gaps beyond the table share its last
    entry); the last point is always stored, so its own decision costs nothing.
    """
    h = 1.0 / (1.0 + np.exp(-np.asarray(hazard_logits, dtype=np.float64)))
    gaps = np.arange(1, T)
    hg = h[np.clip(gaps, 1, len(h)) - 1]
    skip = np.concatenate([[0.0], np.cumsum(-np.log2(1 - hg))])  # skip[g]: gaps 1..g skipped
    table = np.full((T, T), np.inf)
    for i in range(T - 1):
        for j in range(i + 1, T):
            g = j - i
            table[i, j] = skip[g - 1] + (0.0 if j == T - 1 else -math.log2(hg[g - 1]))
    return table


@torch.no_grad()
def segment_costs(
    model, x: torch.Tensor, times, peak: float = 1.0, batch: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """Per-segment distortion and latent bits of a :class:`SequenceCodec` on frames ``x``.

    Args:
        x: frames ``(N, T, frame_dim)``; times: ``(T,)``.
        peak: the data range; distortion is in units of ``peak^2`` per frame coordinate.

    Returns:
        ``(dist, bits)``, each ``(N, T, T)`` (``inf`` where ``i >= j``): ``dist[n, i, j]`` the
        squared error of frames ``i + 1 .. j`` summed and divided by ``frame_dim * peak^2``
        (so it adds up to the sequence's normalised MSE times ``T``), ``bits[n, i, j]`` the
        code length of ``q_j`` given ``q_i`` under the model's OU prior.
    """
    N, T = x.shape[:2]
    t = torch.as_tensor(np.asarray(times), dtype=torch.float64)
    dist = np.full((N, T, T), np.inf)
    bits = np.full((N, T, T), np.inf)
    scale = model.frame_dim * float(peak) ** 2
    for lo in range(0, N, batch):
        xb = x[lo : lo + batch].to(model.frame_mean.dtype)
        q = torch.round(model.latents(xb)).double()
        for g in range(1, T):
            qi, qj = q[:, :-g], q[:, g:]
            dt = np.broadcast_to((t[g:] - t[:-g]).numpy(), qi.shape[:2])
            # frames i+1 .. i+g from the interpolation between q_i and q_{i+g}
            k = torch.arange(1, g + 1)
            start = t[:-g].unsqueeze(1)
            w = (t[torch.arange(T - g).unsqueeze(1) + k] - start) / (t[g:].unsqueeze(1) - start)
            rows = torch.arange(T - g).unsqueeze(1) + k  # (T-g, g) frame index
            err, b = price_segments(model, qi, qj, dt, w, xb.double()[:, rows], scale)
            idx = np.arange(T - g)
            bits[lo : lo + len(xb), idx, idx + g] = b.numpy()
            dist[lo : lo + len(xb), idx, idx + g] = err.numpy()
    return dist, bits


def price_segments(
    model, qi: torch.Tensor, qj: torch.Tensor, dt, w: torch.Tensor, frames: torch.Tensor, scale
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distortion and latent bits of segments from stored ``q_i`` to the next stored ``q_j``.

    Args:
        qi, qj: quantised latents ``(..., d)`` (float64) at the two ends of each segment.
        dt: their time gaps ``(...)`` (numpy).
        w: interpolation weights ``(..., g)`` of the ``g`` frames after ``i`` (the last is 1).
        frames: the true frames ``(..., g, frame_dim)`` (float64) those weights stand for.
        scale: what the summed squared error is divided by (``frame_dim * peak^2``).

    Returns:
        ``(dist, bits)``, each ``(...)``: the squared error of the decoded linear interpolation
        over the ``g`` frames, over ``scale``, and the code length of ``q_j`` given ``q_i``
        under the model's OU prior.
    """
    theta, sigma = model.prior_params()
    mean, std = ou_params_numpy(qi.numpy(), dt, theta, sigma)
    bits = bin_bits(qj, torch.as_tensor(mean), torch.as_tensor(std)).sum(-1)
    z = qi.unsqueeze(-2) + w.unsqueeze(-1) * (qj - qi).unsqueeze(-2)  # (..., g, d)
    decoded = model.decode_frames(z.to(model.frame_mean.dtype)).double()
    return (decoded - frames).pow(2).sum((-1, -2)) / scale, bits


def rd_latent_masks(
    model,
    x: torch.Tensor,
    times,
    lam: float,
    *,
    peak: float = 1.0,
    costs: tuple[np.ndarray, np.ndarray] | None = None,
    refit_hazard: int = 0,
) -> torch.Tensor:
    """Rate-distortion optimal keep masks ``(N, T)`` on a model's latents at multiplier ``lam``.

    Minimises ``dist + lam * (latent bits + keep bits)`` per sequence (see
    :func:`segment_costs`; ``lam`` is in normalised squared error per bit).

    Args:
        x: frames ``(N, T, frame_dim)``; unused when ``costs`` are given.
        peak: the data range (see :func:`segment_costs`).
        costs: precomputed :func:`segment_costs` of ``x`` under the model's current prior
            (they do not depend on ``lam``).
        refit_hazard: rounds of refitting the model's hazard to the masks found and solving
            again (the hazard changes the keep bits; 0 leaves the model untouched).
    """
    if not (math.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam must be a finite number >= 0, got {lam}")
    dist, bits = costs if costs is not None else segment_costs(model, x, times, peak)
    T = dist.shape[-1]
    for round_ in range(refit_hazard + 1):
        keep = keep_bits_table(model.hazard_logits_numpy(), T)
        masks = torch.as_tensor(optimal_knots(dist + lam * (bits + keep)))
        if round_ < refit_hazard:
            model.fit_hazard(masks)
    return masks
