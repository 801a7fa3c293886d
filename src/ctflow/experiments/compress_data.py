"""The data of ``compress-rd``: synthetic videos and skeletons, and windows of real motion
capture at ``mocap_fps``, split into train, test and extra (distillation) draws."""

from __future__ import annotations

import numpy as np

from ..data import motion_windows
from ..data.bvh import mocap_root, read_bvh
from ..data.sequences import bouncing_balls, skeleton_motion, smooth_control
from ..harness import RunContext

__all__ = ["make_dataset", "mocap_windows", "frame_dim", "VIDEO"]

VIDEO = ("bouncing-balls", "smooth-control")


def mocap_windows(config, T: int, split: str, hop: int = 12):
    """Windows of T frames of ``config.mocap_file`` near ``config.mocap_fps``
    (:func:`ctflow.data.motion_windows`), and their times."""
    try:
        return motion_windows(
            read_bvh(mocap_root() / config.mocap_file), config.mocap_fps, T, split, hop
        )
    except ValueError as err:
        raise ValueError(f"{config.mocap_file}: {err}") from None


def make_dataset(name: str, config, split: str, ctx: RunContext):
    """``(frames (N, T, *shape), times, peak)`` of a dataset split, drawn from the run's
    stream ``(split, name)``, so the splits are independent draws."""
    T, s = config.frames, config.size
    n = {"train": config.n_train, "test": config.n_test}.get(split)
    if split == "extra":  # more draws for distillation, independent of train and test
        n = config.n_distill - config.n_train
    if n is None:
        raise ValueError(f"split must be 'train', 'test' or 'extra', got {split!r}")
    seed = ctx.seed_of(split, name)
    if name == "bouncing-balls":
        d = bouncing_balls(n, T, s, seed=seed)
        return d.frames, d.times, 1.0
    if name == "smooth-control":
        d = smooth_control(n, T, s, seed=seed)
        return d.frames, d.times, 1.0
    if name == "skeleton":
        d = skeleton_motion(n, T, joints=4, seed=seed)
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
