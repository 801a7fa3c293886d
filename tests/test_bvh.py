"""The BVH reader: parsing, errors with line numbers, forward kinematics against hand-computed
positions, and the shared mocap files (skipped when absent)."""

import numpy as np
import pytest

from ctflow.data.bvh import mocap_root, parse_bvh, read_bvh
from ctflow.data.motion_windows import motion_windows, strided_windows

SMALL = """HIERARCHY
ROOT Hips
{
\tOFFSET 0.0 0.0 0.0
\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
\tJOINT Arm
\t{
\t\tOFFSET 1.0 0.0 0.0
\t\tCHANNELS 3 Zrotation Xrotation Yrotation
\t\tJOINT Hand
\t\t{
    OFFSET 2.0 0.0 0.0
    CHANNELS 3 Zrotation Xrotation Yrotation
\t\t\tEnd Site
\t\t\t{
\t\t\t\tOFFSET 0.5 0.0 0.0
\t\t\t}
\t\t}
\t}
}
MOTION
Frames: 3
Frame Time: 0.5
0 0 0  0 0 0  0 0 0  0 0 0
1 2 3  90 0 0  0 0 0  0 0 0
0 0 0  0 0 0  90 0 0  0 90 0
"""


def test_parses_hierarchy_channels_and_motion():
    bvh = parse_bvh(SMALL)
    assert [j.name for j in bvh.joints] == ["Hips", "Arm", "Hand"]
    assert [j.parent for j in bvh.joints] == [-1, 0, 1]
    assert [j.channel_start for j in bvh.joints] == [0, 6, 9]
    np.testing.assert_array_equal(bvh.joints[2].end_site, [0.5, 0, 0])
    assert bvh.motion.shape == (3, 12) and bvh.frame_time == 0.5 and bvh.fps == 2.0
    np.testing.assert_allclose(bvh.times, [0, 0.5, 1.0])


def test_forward_kinematics_matches_hand_computed_positions():
    pos = parse_bvh(SMALL).positions()
    # rest pose: a straight chain along x
    np.testing.assert_allclose(pos[0], [[0, 0, 0], [1, 0, 0], [3, 0, 0]], atol=1e-12)
    # root moved to (1, 2, 3) and turned 90 degrees about z: x maps to y
    np.testing.assert_allclose(pos[1], [[1, 2, 3], [1, 3, 3], [1, 5, 3]], atol=1e-12)
    # the arm turned 90 degrees about z: the hand's offset points along y; the hand's own
    # rotation (about x) does not move the hand itself
    np.testing.assert_allclose(pos[2], [[0, 0, 0], [1, 0, 0], [1, 2, 0]], atol=1e-12)


def test_root_frame_removes_the_root_translation_and_rotation():
    pos = parse_bvh(SMALL).positions(root_frame=True)
    # frame 1 is the rest pose moved and turned as a whole: in the root's frame it is the rest pose
    np.testing.assert_allclose(pos[1], [[0, 0, 0], [1, 0, 0], [3, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(pos[2], [[0, 0, 0], [1, 0, 0], [1, 2, 0]], atol=1e-12)


def test_rotation_order_follows_the_channel_list():
    # Zrotation then Xrotation (R = Rz Rx) differs from the reverse order
    text = SMALL.replace("Frames: 3", "Frames: 1").split("MOTION")[0]
    zx = text + "MOTION\nFrames: 1\nFrame Time: 1\n0 0 0 90 90 0 0 0 0 0 0 0\n"
    xz = zx.replace(
        "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation",
        "CHANNELS 6 Xposition Yposition Zposition Xrotation Zrotation Yrotation",
    )
    p_zx, p_xz = parse_bvh(zx).positions()[0, 1], parse_bvh(xz).positions()[0, 1]
    # Rz(90) Rx(90) (1,0,0) = Rz(90) (1,0,0) = (0,1,0)
    # Rx(90) Rz(90) (1,0,0) = Rx(90) (0,1,0) = (0,0,1)
    np.testing.assert_allclose(p_zx, [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(p_xz, [0, 0, 1], atol=1e-12)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s.replace("0 0 0  0 0 0  90 0 0  0 90 0", "0 0 0  0 0 0  90 0 0  0 90"), ":26:"),
        (lambda s: s.replace("1 2 3  90", "1 2 x  90"), "non-numeric"),
        (lambda s: s.replace("Frames: 3", "Frames: 4"), "found 3"),
        (
            lambda s: s.replace(
                "CHANNELS 3 Zrotation Xrotation Yrotation\n\t\tJOINT",
                "CHANNELS 2 Zrotation Xrotation\n\t\tJOINT",
            ),
            "CHANNELS",
        ),
        (
            lambda s: s.replace(
                "    CHANNELS 3 Zrotation Xrotation", "    CHANNELS 3 Zrotation Qrotation"
            ),
            "unknown channels",
        ),
        (lambda s: s.split("MOTION")[0], "no MOTION"),
        (lambda s: s.replace("Frame Time: 0.5", "Frame Time: 0"), "Frame Time"),
        (lambda s: s.replace("Frame Time: 0.5", "Frame Time: inf"), "finite positive time"),
        (lambda s: s.replace("Frames: 3", "Frames: 2"), "header says 2 frames, found 3"),
        (lambda s: s.replace("Frames: 3", "Frames: 99999999999"), "found 3"),
        (lambda s: s.replace("OFFSET 1.0 0.0 0.0", "OFFSET 1.0 nan 0.0"), "must be finite"),
        (lambda s: s.replace("OFFSET 1.0 0.0 0.0", "OFFSET 1.0 0.0 0.0 7.0"), "needs 3 numbers"),
    ],
)
def test_malformed_files_raise_value_errors_naming_the_problem(edit, message):
    with pytest.raises(ValueError, match=message):
        parse_bvh(edit(SMALL))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_bvh(tmp_path / "nope.bvh")


@pytest.mark.parametrize(
    "name, frames, fps, joints", [("walk_meredith.bvh", 1064, 120, 23), ("freebvh.bvh", 69, 30, 55)]
)
def test_shared_mocap_files(name, frames, fps, joints):
    path = mocap_root() / name
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    bvh = read_bvh(path)
    assert bvh.motion.shape[0] == frames and len(bvh.joints) == joints
    assert abs(bvh.fps - fps) < 0.01
    pos = bvh.positions()
    assert pos.shape == (frames, joints, 3) and np.isfinite(pos).all()
    # rigid skeleton: the distance from each joint to its parent never changes
    for j, joint in enumerate(bvh.joints):
        if joint.parent >= 0:
            bone = np.linalg.norm(pos[:, j] - pos[:, joint.parent], axis=-1)
            np.testing.assert_allclose(bone, np.linalg.norm(joint.offset), rtol=1e-9, atol=1e-9)


def test_the_mocap_experiments_train_any_source_rate_near_mocap_fps(tmp_path, monkeypatch):
    # walk_meredith.bvh re-timed to 60 fps: trained every 2nd frame (30 fps), not every 4th
    source = mocap_root() / "walk_meredith.bvh"
    if not source.exists():
        pytest.skip("../shared/data/mocap is not present")
    from ctflow.experiments.compress_data import mocap_windows
    from ctflow.experiments.compress_framerate import _mocap
    from ctflow.experiments.compress_rd import CompressRDConfig

    text = source.read_text().replace("Frame Time: 0.008333", "Frame Time: 0.0166667")
    assert "0.0166667" in text
    (tmp_path / "walk60.bvh").write_text(text)
    monkeypatch.setenv("CTFLOW_MOCAP", str(tmp_path))
    config = CompressRDConfig(datasets=("mocap",), mocap_file="walk60.bvh", frames=16)
    x, times = mocap_windows(config, 16, "train")
    np.testing.assert_allclose(np.diff(times), 2 * 0.0166667)
    _, times, _, fine, step = _mocap(config)  # the frame-rate experiment's split
    assert step == 2 and np.allclose(np.diff(fine), 0.0166667)
    slow = CompressRDConfig(datasets=("mocap",), mocap_file="walk60.bvh", mocap_fps=60.0)
    assert np.allclose(np.diff(mocap_windows(slow, 16, "train")[1]), 0.0166667)
    with pytest.raises(ValueError, match="mocap_fps"):
        CompressRDConfig(mocap_fps=0.0)


def test_strided_windows_take_every_phase_of_the_stride():
    frames = np.arange(10)
    got = strided_windows(frames, step=3, length=2, hop=2)
    # phases 0, 3, 6, 9 / 1, 4, 7 / 2, 5, 8; windows of 2 starting every 2nd frame of each
    assert [w.tolist() for w in got] == [[0, 3], [6, 9], [1, 4], [2, 5]]
    assert strided_windows(frames, step=1, length=11, hop=1) == []
    with pytest.raises(ValueError, match="step, length and hop"):
        strided_windows(frames, step=0, length=2, hop=1)


def test_motion_windows_split_the_take_in_time_at_the_reduced_rate():
    # a 40-frame take at 2 fps whose root walks along x: read at 1 fps (every 2nd frame)
    rows = "\n".join(f"{i} 0 0  0 0 0  0 0 0  0 0 0" for i in range(40))
    bvh = parse_bvh(SMALL.split("MOTION")[0] + f"MOTION\nFrames: 40\nFrame Time: 0.5\n{rows}\n")
    train, times = motion_windows(bvh, fps=1.0, length=4, split="train", hop=2)
    test, _ = motion_windows(bvh, fps=1.0, length=4, split="test")
    np.testing.assert_allclose(times, [0.0, 1.0, 2.0, 3.0])
    assert train.dtype == np.float32 and train.shape[1:] == (4, 3 * len(bvh.joints))
    # frames 0..27 train (70%): phase 0 keeps 0, 2, ..., 26 (14 frames: 6 windows), phase 1
    # 1, 3, ..., 27 (6 windows); the rest, 28..39, gives each phase 6 frames (2 windows each)
    assert len(train) == 12 and len(test) == 4
    with pytest.raises(ValueError, match="split must be"):
        motion_windows(bvh, 1.0, 4, "val")
    with pytest.raises(ValueError, match="too few frames"):
        motion_windows(bvh, 1.0, 30, "test")
