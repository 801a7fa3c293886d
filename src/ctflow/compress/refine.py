"""Encoder-side local refinement of keep masks by their rate-distortion cost.

The keep network places most of its points within one frame of its rate-distortion teacher but
hits only about 70% exactly, and a point one frame off a bounce costs much distortion
(docs/results/compression.md). The encoder holds the whole sequence, and the keep decisions are
coded in the stream, so it may move any point before coding. :func:`refine_keep_masks` does a
few sweeps of a local search: each stored interior point moves one frame either way, or is
dropped, whenever that lowers ``dist + lam * (latent bits + keep bits)`` of its two segments,
the same cost :func:`~ctflow.compress.rdknots.rd_latent_masks` minimises exactly; then each
segment's midpoint is stored where that lowers it. It prices only the few segments next to
stored points, about ``6 K`` per sequence with ``K`` points, where the exact search prices all
``T (T - 1) / 2``.
"""

from __future__ import annotations

import numpy as np
import torch

from .codec import NeuralCodec, state_hash
from .model import SequenceCodec
from .rdknots import keep_bits_table, price_segments

__all__ = ["refine_keep_masks", "RefinedKeepCodec"]


class _SegmentCosts:
    """``dist + lam * bits`` of storing ``j`` right after ``i`` in one sequence, priced once."""

    def __init__(self, model: SequenceCodec, x: torch.Tensor, q: torch.Tensor, t, lam, peak):
        self.model, self.x, self.q, self.t, self.lam = model, x.double(), q, t, lam
        self.keep = keep_bits_table(model.hazard_logits_numpy(), len(t))
        self.scale = model.frame_dim * float(peak) ** 2
        self.cache: dict[tuple[int, int], float] = {}

    def __call__(self, i: int, j: int) -> float:
        if (i, j) not in self.cache:
            t = self.t
            w = torch.as_tensor((t[i + 1 : j + 1] - t[i]) / (t[j] - t[i]))[None]
            dist, bits = price_segments(
                self.model, self.q[i][None], self.q[j][None], np.array([t[j] - t[i]]), w,
                self.x[i + 1 : j + 1][None], self.scale,
            )  # fmt: skip
            self.cache[i, j] = float(dist) + self.lam * (float(bits) + float(self.keep[i, j]))
        return self.cache[i, j]


@torch.no_grad()
def refine_keep_masks(
    model: SequenceCodec,
    x: torch.Tensor,
    times,
    masks: torch.Tensor,
    lam: float,
    *,
    peak: float = 1.0,
    sweeps: int = 3,
    insert: bool = True,
) -> torch.Tensor:
    """Move or drop stored points while that lowers the rate-distortion cost.

    Args:
        model: a trained codec model (its autoencoder, prior and hazard price the segments).
        x: frames ``(N, T, frame_dim)``; times: ``(T,)``, increasing.
        masks: keep masks ``(N, T)`` to start from, first and last point stored.
        lam: normalised squared error per bit (as in
            :func:`~ctflow.compress.rdknots.segment_costs`).
        peak: the data range the distortion is normalised by.
        sweeps: passes over the stored points; a pass that changes nothing ends early.
        insert: also store the midpoint of a segment (two frames or longer) where that lowers
            the cost, after each pass of moves; the next pass may move or drop it again.
            ``False`` only moves and drops, so it never stores more points than it was given.

    Returns:
        bool masks ``(N, T)``, each costing no more than the one it started from.
    """
    if not (np.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam must be a finite number >= 0, got {lam}")
    if x.ndim != 3 or tuple(masks.shape) != tuple(x.shape[:2]):
        raise ValueError(f"x must be (N, T, frame_dim) and masks (N, T); got {tuple(x.shape)} "
                         f"and {tuple(masks.shape)}")  # fmt: skip
    masks = masks.bool().cpu().clone()
    if not (masks[:, 0].all() and masks[:, -1].all()):
        raise ValueError("masks must store the first and last point of every sequence")
    t = np.asarray(times, dtype=np.float64)
    if t.shape != (x.shape[1],) or not (np.all(np.isfinite(t)) and np.all(np.diff(t) > 0)):
        raise ValueError(
            f"times must be {x.shape[1]} finite, increasing values, got shape {t.shape}"
        )
    if not torch.isfinite(x).all():
        raise ValueError("frames contain NaN or infinite values")
    x = x.to(model.frame_mean.dtype).cpu()
    q = torch.round(model.latents(x)).double()
    for n in range(len(x)):
        cost = _SegmentCosts(model, x[n], q[n], t, float(lam), peak)
        points = torch.nonzero(masks[n]).flatten().tolist()
        for _ in range(sweeps):
            changed = False
            k = 1
            while k < len(points) - 1:
                a, here, b = points[k - 1], points[k], points[k + 1]
                moves = [c for c in (here - 1, here, here + 1) if a < c < b]
                options = {c: cost(a, c) + cost(c, b) for c in moves}
                options[None] = cost(a, b)  # drop the point
                best = min(options, key=lambda c: (options[c], c != here))
                if best is None:
                    points.pop(k)
                    changed = True
                    continue
                changed |= best != here
                points[k] = best
                k += 1
            if insert:
                changed |= _insert_midpoints(points, cost)
            if not changed:
                break
        masks[n] = False
        masks[n, points] = True
    return masks


def _insert_midpoints(points: list[int], cost: _SegmentCosts) -> bool:
    """Store each segment's midpoint where that lowers its cost; True if any was stored."""
    k, changed = 0, False
    while k < len(points) - 1:
        a, b = points[k], points[k + 1]
        c = (a + b) // 2
        if b - a >= 2 and cost(a, c) + cost(c, b) < cost(a, b):
            points.insert(k + 1, c)
            changed = True
        k += 1
    return changed


class RefinedKeepCodec(NeuralCodec):
    """A trained keep network's points, refined at the encoder by :func:`refine_keep_masks`.

    The decoder and the bitstream are the keep network's; only the encoder searches, around
    the network's own choices, so it costs a few segment prices per stored point.
    """

    def __init__(
        self,
        model: SequenceCodec,
        lam: float,
        peak: float = 1.0,
        sweeps: int = 3,
        insert: bool = True,
    ):
        super().__init__(model)
        if model.keep_mode != "learned":
            raise ValueError("RefinedKeepCodec refines a learned keep network's points")
        self.lam, self.peak, self.sweeps = float(lam), float(peak), int(sweeps)
        self.insert = bool(insert)
        extra = ("insert",) if self.insert else ()
        self._id = state_hash(model, "refined", self.lam, self.peak, self.sweeps, *extra)

    @torch.no_grad()
    def quantize(self, x: np.ndarray, times: np.ndarray):
        xt = torch.as_tensor(np.asarray(x), dtype=self.model.frame_mean.dtype)
        y = self.model.latents(xt)
        mask = refine_keep_masks(
            self.model, xt, times, self.model.keep_mask(y), self.lam, peak=self.peak,
            sweeps=self.sweeps, insert=self.insert,
        )  # fmt: skip
        return torch.round(y).to(torch.int64).numpy(), mask.numpy()
