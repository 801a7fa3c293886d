"""Synthetic sequences observed in continuous time, with their analytic ground truth.

- :func:`bouncing_balls`: a Gaussian blob in the unit square moving at piecewise-constant
  velocity (random speeds, random pauses) and reflecting off the walls: its complexity varies
  in time (long straight runs, a few kinks).
- :func:`smooth_control`: the same blob on a smooth Lissajous path at constant speed: uniform
  complexity, the negative control for adaptive time points.
- :func:`skeleton_motion`: a planar articulated chain whose joint angles move between random
  poses (smoothstep transitions) and hold them; frames are joint positions.

Each returns a :class:`SequenceData` whose ``truth(times)`` renders the exact frames at any times
(e.g. at twice the frame rate).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["SequenceData", "bouncing_balls", "smooth_control", "skeleton_motion", "render_blob"]


@dataclass
class SequenceData:
    """Sequences on a time grid with their ground truth at any time.

    Attributes:
        frames: ``(N, T, *frame_shape)`` float32.
        times: ``(T,)`` float64.
        truth: ``truth(query_times) -> (N, Q, *frame_shape)`` exact frames.
    """

    frames: np.ndarray
    times: np.ndarray
    truth: Callable[[np.ndarray], np.ndarray]


def _check(n: int, T: int, size: int) -> None:
    for name, v, lo in (("n", n, 1), ("T", T, 2), ("size", size, 2)):
        if not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")


def render_blob(pos: np.ndarray, size: int, width: float = 0.08) -> np.ndarray:
    """Gaussian blobs at positions ``(..., 2)`` in ``[0, 1]^2`` on a ``size x size`` grid."""
    g = (np.arange(size) + 0.5) / size
    dx = g[None, :] - pos[..., 0, None, None]  # columns
    dy = g[:, None] - pos[..., 1, None, None]  # rows
    return np.exp(-(dx**2 + dy**2) / (2 * width**2)).astype(np.float32)


def _fold(u: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect an unbounded coordinate into ``[lo, hi]`` (a triangle wave)."""
    span = hi - lo
    v = np.mod(u - lo, 2 * span)
    return lo + np.where(v > span, 2 * span - v, v)


def bouncing_balls(
    n: int,
    T: int = 64,
    size: int = 12,
    seed: int = 0,
    segments: int = 6,
    speed: tuple[float, float] = (1.0, 4.0),
    pause_prob: float = 0.5,
    width: float = 0.08,
) -> SequenceData:
    """Bouncing-ball videos ``(n, T, size, size)`` on ``times = linspace(0, 1, T)``.

    Each sequence splits ``[0, 1]`` into ``segments`` random pieces; in each the ball either
    pauses (probability ``pause_prob``) or moves at a random velocity of speed in ``speed``
    (square widths per unit time), reflecting off the walls.
    """
    _check(n, T, size)
    rng = np.random.default_rng(seed)
    lo, hi = 0.1, 0.9
    cuts = np.sort(rng.uniform(0.05, 0.95, (n, segments - 1)), 1)
    bounds = np.concatenate([np.zeros((n, 1)), cuts, np.ones((n, 1))], 1)  # (n, segments+1)
    angle = rng.uniform(0, 2 * np.pi, (n, segments))
    spd = rng.uniform(*speed, (n, segments)) * (rng.uniform(size=(n, segments)) > pause_prob)
    vel = spd[..., None] * np.stack([np.cos(angle), np.sin(angle)], -1)  # (n, seg, 2)
    start = rng.uniform(lo, hi, (n, 2))

    def positions(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, np.float64)
        # time spent in each segment before t, (n, Q, seg)
        spent = np.clip(t[None, :, None] - bounds[:, None, :-1], 0, None)
        spent = np.minimum(spent, (bounds[:, 1:] - bounds[:, :-1])[:, None, :])
        unfolded = start[:, None, :] + np.einsum("nqs,nsc->nqc", spent, vel)
        return _fold(unfolded, lo, hi)

    def truth(t: np.ndarray) -> np.ndarray:
        return render_blob(positions(t), size, width)

    times = np.linspace(0.0, 1.0, T)
    data = SequenceData(truth(times), times, truth)
    data.positions = positions  # the analytic ball centres, (n, Q, 2)
    return data


def smooth_control(
    n: int, T: int = 64, size: int = 12, seed: int = 0, width: float = 0.08
) -> SequenceData:
    """The blob on a Lissajous path ``0.5 + 0.3 (cos(2 pi f1 t + a), sin(2 pi f2 t + b))``.

    Frequencies ``f1, f2`` are uniform in [1, 2]: about as much motion as :func:`bouncing_balls`,
    spread evenly over time.
    """
    _check(n, T, size)
    rng = np.random.default_rng(seed)
    f = rng.uniform(1.0, 2.0, (n, 2))
    phase = rng.uniform(0, 2 * np.pi, (n, 2))

    def positions(t: np.ndarray) -> np.ndarray:
        arg = 2 * np.pi * f[:, None, :] * np.asarray(t)[None, :, None] + phase[:, None, :]
        return 0.5 + 0.3 * np.stack([np.cos(arg[..., 0]), np.sin(arg[..., 1])], -1)

    def truth(t: np.ndarray) -> np.ndarray:
        return render_blob(positions(t), size, width)

    times = np.linspace(0.0, 1.0, T)
    data = SequenceData(truth(times), times, truth)
    data.positions = positions
    return data


def skeleton_motion(
    n: int, T: int = 64, joints: int = 4, seed: int = 0, moves: int = 3
) -> SequenceData:
    """A planar chain of ``joints`` unit-ish links: frames ``(n, T, joints + 1, 2)``.

    The joint angles go through ``moves`` random poses: each move lasts a random interval with a
    smoothstep transition, and the pose is held in between.
    """
    _check(n, T, 2)
    if joints < 1:
        raise ValueError(f"joints must be >= 1, got {joints}")
    rng = np.random.default_rng(seed)
    lengths = rng.uniform(0.6, 1.0, (n, joints))
    poses = np.cumsum(rng.uniform(-1.2, 1.2, (n, moves + 1, joints)), 1)
    starts = np.sort(rng.uniform(0, 0.8, (n, moves)), 1)
    durations = rng.uniform(0.08, 0.25, (n, moves))

    def angles(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, np.float64)
        s = np.clip((t[None, :, None] - starts[:, None, :]) / durations[:, None, :], 0, 1)
        s = s * s * (3 - 2 * s)  # smoothstep, (n, Q, moves)
        steps = poses[:, 1:] - poses[:, :-1]  # (n, moves, joints)
        return poses[:, None, 0] + np.einsum("nqm,nmj->nqj", s, steps)

    def truth(t: np.ndarray) -> np.ndarray:
        a = np.cumsum(angles(t), -1)  # absolute link angles
        links = lengths[:, None, :, None] * np.stack([np.cos(a), np.sin(a)], -1)
        pos = np.cumsum(links, -2)
        root = np.zeros_like(pos[..., :1, :])
        return np.concatenate([root, pos], -2).astype(np.float32)

    times = np.linspace(0.0, 1.0, T)
    return SequenceData(truth(times), times, truth)
