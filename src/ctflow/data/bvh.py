"""A reader for BVH motion capture: the joint hierarchy, the channel values, forward kinematics.

BVH: ``HIERARCHY`` lists joints (``ROOT`` / ``JOINT`` with an ``OFFSET`` and a ``CHANNELS`` list,
``End Site`` blocks with only an offset), then ``MOTION`` gives ``Frames:``, ``Frame Time:`` and
one line of channel values per frame. Rotations are in degrees and compose in the listed order
(``Zrotation Xrotation Yrotation`` means ``R = Rz Rx Ry``, applied to column vectors).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["BVHJoint", "BVH", "read_bvh", "parse_bvh", "forward_kinematics", "mocap_root"]

_CHANNELS = {"Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation"}


@dataclass
class BVHJoint:
    name: str
    parent: int  # index into BVH.joints, -1 for the root
    offset: np.ndarray  # (3,)
    channels: list[str] = field(default_factory=list)
    channel_start: int = 0  # first column of this joint in BVH.motion
    end_site: np.ndarray | None = None  # offset of its End Site, if any


@dataclass
class BVH:
    """A parsed BVH file.

    Attributes:
        joints: the joints in file order (parents come before children).
        motion: ``(frames, channels)`` float64 channel values.
        frame_time: seconds per frame.
    """

    joints: list[BVHJoint]
    motion: np.ndarray
    frame_time: float

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def times(self) -> np.ndarray:
        return np.arange(len(self.motion)) * self.frame_time

    def stride_for(self, fps: float) -> int:
        """Every how many frames to keep for a rate near ``fps``: ``round(self.fps / fps)``, at
        least 1 (a file recorded below ``fps`` is kept whole).

        Examples:
            >>> BVH([], np.zeros((10, 3)), 1 / 120).stride_for(30)
            4
            >>> BVH([], np.zeros((10, 3)), 1 / 24).stride_for(30)
            1
        """
        if not (np.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps}")
        return max(1, round(self.fps / fps))

    def joint_trajectories(self, fps: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Each joint's path in the root's frame, as sequences a codec of 3-D frames takes.

        Args:
            fps: keep every :meth:`stride_for` ``(fps)``-th frame (``None``: every frame).

        Returns:
            ``(x, times)``: ``x`` of shape ``(joints, frames, 3)`` (float64, the file's units)
            and ``times`` ``(frames,)`` in seconds. Any skeleton gives sequences of the same
            kind, so one model serves every file.
        """
        step = 1 if fps is None else self.stride_for(fps)
        pos = self.positions(root_frame=True)[::step]  # (frames, joints, 3)
        return np.ascontiguousarray(pos.transpose(1, 0, 2)), self.times[::step]

    def positions(self, motion: np.ndarray | None = None, root_frame: bool = False) -> np.ndarray:
        """Joint positions ``(frames, joints, 3)`` by forward kinematics.

        With ``root_frame`` they are expressed in the root joint's moving frame (translation and
        rotation removed): the pose alone, independent of where the body is and which way it faces.
        """
        motion = self.motion if motion is None else motion
        return forward_kinematics(self, motion, root_frame=root_frame)


def mocap_root() -> Path:
    """Where the shared mocap files live: ``$CTFLOW_MOCAP`` or ``../shared/data/mocap``."""
    env = os.environ.get("CTFLOW_MOCAP")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "data" / "mocap"
        if candidate.is_dir():
            return candidate
        candidate = parent.parent / "shared" / "data" / "mocap"
        if candidate.is_dir():
            return candidate
    return Path("/work/shared/data/mocap")


def read_bvh(path: str | os.PathLike) -> BVH:
    """Read a BVH file (see :func:`parse_bvh`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no BVH file at {path}")
    return parse_bvh(path.read_text(errors="replace"), source=str(path))


def parse_bvh(text: str, source: str = "<string>") -> BVH:
    """Parse BVH text.

    Raises:
        ValueError: naming the line of a malformed entry.
    """
    lines = text.splitlines()
    joints: list[BVHJoint] = []
    stack: list[int] = []
    n_channels = 0
    i = 0
    pending: str | None = None  # "joint" or "end" awaiting its "{"
    in_end = False

    def err(msg: str, line: int) -> ValueError:
        return ValueError(f"{source}:{line + 1}: {msg}")

    while i < len(lines):
        tokens = lines[i].split()
        i += 1
        if not tokens:
            continue
        key = tokens[0]
        if key == "HIERARCHY":
            continue
        if key in ("ROOT", "JOINT"):
            if len(tokens) < 2:
                raise err(f"{key} without a name", i - 1)
            if key == "JOINT" and not stack:
                raise err("JOINT outside any ROOT", i - 1)
            parent = stack[-1] if stack else -1
            joints.append(BVHJoint(" ".join(tokens[1:]), parent, np.zeros(3)))
            pending = "joint"
        elif key == "End":
            if not stack:
                raise err("End Site outside any joint", i - 1)
            pending = "end"
        elif key == "{":
            if pending is None:
                raise err("unexpected '{'", i - 1)
            if pending == "joint":
                stack.append(len(joints) - 1)
            else:
                in_end = True
            pending = None
        elif key == "}":
            if in_end:
                in_end = False
            elif stack:
                stack.pop()
            else:
                raise err("unbalanced '}'", i - 1)
        elif key == "OFFSET":
            try:
                offset = np.array([float(v) for v in tokens[1:]])
            except ValueError:
                raise err(f"bad OFFSET values {tokens[1:]}", i - 1) from None
            if len(offset) != 3:
                raise err(f"OFFSET needs 3 numbers, got {len(offset)}", i - 1)
            if not np.all(np.isfinite(offset)):
                raise err(f"OFFSET values must be finite, got {tokens[1:]}", i - 1)
            if in_end:
                joints[stack[-1]].end_site = offset
            elif stack:
                joints[stack[-1]].offset = offset
            else:
                raise err("OFFSET outside a joint", i - 1)
        elif key == "CHANNELS":
            if not stack or in_end:
                raise err("CHANNELS outside a joint", i - 1)
            try:
                count = int(tokens[1])
            except (IndexError, ValueError):
                raise err("CHANNELS needs a count", i - 1) from None
            names = tokens[2:]
            if len(names) != count or count not in (3, 6):
                raise err(f"CHANNELS {count} lists {len(names)} names (3 or 6 expected)", i - 1)
            unknown = set(names) - _CHANNELS
            if unknown:
                raise err(f"unknown channels {sorted(unknown)}", i - 1)
            joint = joints[stack[-1]]
            joint.channels, joint.channel_start = names, n_channels
            n_channels += count
        elif key == "MOTION":
            break
        else:
            raise err(f"unexpected token {key!r} in the hierarchy", i - 1)
    else:
        raise ValueError(f"{source}: no MOTION section")
    if stack or pending or in_end:
        raise err("the hierarchy is not closed before MOTION", i - 1)
    if not joints:
        raise ValueError(f"{source}: no joints in the hierarchy")
    header: dict[str, str] = {}
    while i < len(lines) and len(header) < 2:
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or name.strip() not in ("Frames", "Frame Time"):
            raise err(f"expected 'Frames:' and 'Frame Time:', got {line!r}", i - 1)
        header[name.strip()] = value.strip()
    try:
        frames = int(header["Frames"])
        frame_time = float(header["Frame Time"])
    except (KeyError, ValueError):
        raise ValueError(f"{source}: missing or bad 'Frames:' / 'Frame Time:'") from None
    if frames < 0 or not (math.isfinite(frame_time) and frame_time > 0):
        raise ValueError(
            f"{source}: bad Frames {frames} or Frame Time {frame_time} (need a count >= 0 and a "
            "finite positive time)"
        )
    # a count can only be as large as the rows the file holds (one non-empty line each)
    rows_left = sum(1 for line in lines[i:] if line.strip())
    if frames > rows_left:
        raise ValueError(f"{source}: header says {frames} frames, found {rows_left}")
    motion = np.empty((frames, n_channels))
    row = 0
    while i < len(lines) and row < frames:
        tokens = lines[i].split()
        i += 1
        if not tokens:
            continue
        if len(tokens) != n_channels:
            raise err(f"motion row has {len(tokens)} values, the hierarchy has {n_channels}", i - 1)
        try:
            motion[row] = [float(v) for v in tokens]
        except ValueError:
            raise err("non-numeric value in a motion row", i - 1) from None
        row += 1
    extra = sum(1 for line in lines[i:] if line.strip())
    if row != frames or extra:
        raise ValueError(f"{source}: header says {frames} frames, found {row + extra}")
    if not np.all(np.isfinite(motion)):
        raise ValueError(f"{source}: motion contains non-finite values")
    return BVH(joints, motion, frame_time)


def _axis_rotation(axis: str, degrees: np.ndarray) -> np.ndarray:
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    one, zero = np.ones_like(a), np.zeros_like(a)
    if axis == "X":
        rows = [[one, zero, zero], [zero, c, -s], [zero, s, c]]
    elif axis == "Y":
        rows = [[c, zero, s], [zero, one, zero], [-s, zero, c]]
    else:
        rows = [[c, -s, zero], [s, c, zero], [zero, zero, one]]
    return np.stack([np.stack(r, -1) for r in rows], -2)  # (..., 3, 3)


def forward_kinematics(bvh: BVH, motion: np.ndarray, root_frame: bool = False) -> np.ndarray:
    """Joint positions ``(frames, joints, 3)`` from channel values ``(frames, channels)``.

    With ``root_frame``, positions relative to the root joint, in its rotated frame.
    """
    motion = np.asarray(motion, dtype=np.float64)
    F = len(motion)
    pos = np.zeros((F, len(bvh.joints), 3))
    rot = np.zeros((F, len(bvh.joints), 3, 3))
    for j, joint in enumerate(bvh.joints):
        local_r = np.broadcast_to(np.eye(3), (F, 3, 3)).copy()
        trans = np.broadcast_to(joint.offset, (F, 3)).copy()
        for k, ch in enumerate(joint.channels):
            v = motion[:, joint.channel_start + k]
            if ch.endswith("rotation"):
                local_r = local_r @ _axis_rotation(ch[0], v)
            else:
                trans[:, "XYZ".index(ch[0])] += v  # position channels add to the offset
        if joint.parent < 0:
            pos[:, j], rot[:, j] = trans, local_r
        else:
            p = joint.parent
            pos[:, j] = pos[:, p] + np.einsum("fab,fb->fa", rot[:, p], trans)
            rot[:, j] = rot[:, p] @ local_r
    if root_frame:
        pos = np.einsum("fba,fjb->fja", rot[:, 0], pos - pos[:, :1])
    return pos
