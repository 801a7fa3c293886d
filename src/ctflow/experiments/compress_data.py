"""The data of ``compress-rd``: synthetic videos and skeletons, and windows of real motion
capture at ``mocap_fps``, split into train, test and extra (distillation) draws."""

from __future__ import annotations

import numpy as np

from ..data.bvh import mocap_root, read_bvh
from ..data.sequences import bouncing_balls, skeleton_motion, smooth_control

__all__ = ["make_dataset", "mocap_windows", "frame_dim", "VIDEO"]

VIDEO = ("bouncing-balls", "smooth-control")


def mocap_windows(config, T: int, split: str, hop: int = 12):
    """Root-relative joint positions of the BVH file near ``config.mocap_fps`` (every
    ``step``-th frame, each phase of the stride a sequence of its own), windows of T frames."""
    bvh = read_bvh(mocap_root() / config.mocap_file)
    step = bvh.stride_for(config.mocap_fps)
    pos = bvh.positions(root_frame=True).reshape(len(bvh.motion), -1)  # root-relative, (F, J*3)
    F = len(pos)
    cut = int(0.7 * F)
    part = pos[:cut] if split == "train" else pos[cut:]
    windows = []
    for phase in range(step):
        seq = part[phase::step]
        for s in range(0, len(seq) - T + 1, hop if split == "train" else T // 2):
            windows.append(seq[s : s + T])
    if not windows:
        raise ValueError(f"{config.mocap_file}: too few frames for windows of {T}")
    times = np.arange(T) * bvh.frame_time * step
    return np.stack(windows).astype(np.float32), times


def make_dataset(name: str, config, split: str, seed: int):
    """``(frames (N, T, *shape), times, peak)`` of a dataset split."""
    T, s = config.frames, config.size
    n = {"train": config.n_train, "test": config.n_test}.get(split)
    offset = {"train": 0, "test": 10**6}.get(split)
    if split == "extra":  # more draws for distillation, disjoint from train and test
        n, offset = config.n_distill - config.n_train, 2 * 10**6
    if n is None:
        raise ValueError(f"split must be 'train', 'test' or 'extra', got {split!r}")
    if name == "bouncing-balls":
        d = bouncing_balls(n, T, s, seed=seed + offset)
        return d.frames, d.times, 1.0
    if name == "smooth-control":
        d = smooth_control(n, T, s, seed=seed + offset)
        return d.frames, d.times, 1.0
    if name == "skeleton":
        d = skeleton_motion(n, T, joints=4, seed=seed + offset)
        return d.frames, d.times, 8.0  # a chain of 4 links spans at most ~8 units
    x, times = mocap_windows(config, T, split)
    if split == "train":
        x = x[np.random.default_rng(seed).permutation(len(x))[:n]] if len(x) > n else x
    peak = float(x.max() - x.min())
    return x, times, peak


def frame_dim(name: str, config) -> int:
    if name in VIDEO:
        return config.size * config.size
    if name == "skeleton":
        return 10
    return int(np.prod(mocap_windows(config, config.frames, "test")[0].shape[2:]))
