"""Fixed-length training and test windows of a motion-capture take, at a chosen frame rate.

A take at 120 fps read at 30 fps keeps every 4th frame. Each of the 4 phases of that stride is
a sequence of its own, so subsampling wastes no frames. The take is split in time (the first
70% for training by default), never by window, so no test frame is seen in training.
"""

from __future__ import annotations

import numpy as np

from .bvh import BVH

__all__ = ["strided_windows", "motion_windows"]


def strided_windows(frames: np.ndarray, step: int, length: int, hop: int) -> list[np.ndarray]:
    """Windows of ``length`` frames of every phase of a stride.

    Args:
        frames: ``(F, ...)`` frames in time order.
        step: keep every ``step``-th frame; phases ``0 .. step - 1`` each give a sequence.
        length: frames per window.
        hop: a window starts every ``hop`` frames of a phase's sequence.

    Returns:
        The windows, each ``(length, ...)``, phase by phase (an empty list if none fits).

    Examples:
        >>> [w.tolist() for w in strided_windows(np.arange(8), step=2, length=3, hop=1)]
        [[0, 2, 4], [2, 4, 6], [1, 3, 5], [3, 5, 7]]
    """
    if step < 1 or length < 1 or hop < 1:
        raise ValueError(f"step, length and hop must be >= 1, got {step}, {length}, {hop}")
    windows = []
    for phase in range(step):
        seq = frames[phase::step]
        windows += [seq[s : s + length] for s in range(0, len(seq) - length + 1, hop)]
    return windows


def motion_windows(
    bvh: BVH,
    fps: float,
    length: int,
    split: str,
    hop: int = 12,
    train_fraction: float = 0.7,
) -> tuple[np.ndarray, np.ndarray]:
    """Root-relative joint positions of a take, in windows at (about) ``fps``.

    Args:
        bvh: the take (:func:`ctflow.data.read_bvh`).
        fps: the wanted rate; the take is read every ``bvh.stride_for(fps)``-th frame.
        length: frames per window.
        split: ``"train"`` (the first ``train_fraction`` of the take, a window every ``hop``
            frames) or ``"test"`` (the rest, windows overlapping by half).
        hop: training windows' spacing, in frames at the reduced rate.
        train_fraction: the share of the take, in time, that training windows come from.

    Returns:
        ``(windows (N, length, joints * 3) float32, times (length,))``, the times in seconds
        at the reduced rate.

    Raises:
        ValueError: for an unknown split, or a part of the take too short for one window.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    step = bvh.stride_for(fps)
    pos = bvh.positions(root_frame=True).reshape(len(bvh.motion), -1)  # (F, joints * 3)
    cut = int(train_fraction * len(pos))
    part = pos[:cut] if split == "train" else pos[cut:]
    windows = strided_windows(part, step, length, hop if split == "train" else length // 2)
    if not windows:
        raise ValueError(
            f"too few frames ({len(part)} in the {split} part) for windows of {length} at "
            f"{fps:g} fps"
        )
    times = np.arange(length) * bvh.frame_time * step
    return np.stack(windows).astype(np.float32), times
