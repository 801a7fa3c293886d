"""Datasets: 2-D toy densities, the 8x8 digits with dequantization helpers, scikit-learn tables
and character text."""

from __future__ import annotations

from ctflow.data.digits import (
    DIGITS_LEVELS,
    dequantize,
    from_centered,
    load_digits_split,
    to_centered,
)
from ctflow.data.tabular import TABLES, load_table
from ctflow.data.text import load_text, text_path
from ctflow.data.toy2d import (
    TOY_DATASETS,
    has_log_prob,
    sample_8gaussians,
    sample_checkerboard,
    sample_moons,
    sample_pinwheel,
    sample_spirals,
    sample_toy,
    toy_entropy,
    toy_entropy_mc,
    toy_log_prob,
)

__all__ = [
    "TABLES",
    "load_table",
    "load_text",
    "text_path",
    "DIGITS_LEVELS",
    "TOY_DATASETS",
    "dequantize",
    "from_centered",
    "has_log_prob",
    "load_digits_split",
    "sample_8gaussians",
    "sample_checkerboard",
    "sample_moons",
    "sample_pinwheel",
    "sample_spirals",
    "sample_toy",
    "to_centered",
    "toy_entropy",
    "toy_entropy_mc",
    "toy_log_prob",
]
from ctflow.data.earth import (  # noqa: E402
    EARTH_DATASETS,
    earth_root,
    earth_split,
    latlon_grid,
    latlon_to_xyz,
    load_earth,
    read_latlon_csv,
    xyz_to_latlon,
)

__all__ += [
    "EARTH_DATASETS",
    "earth_root",
    "earth_split",
    "latlon_grid",
    "latlon_to_xyz",
    "load_earth",
    "read_latlon_csv",
    "xyz_to_latlon",
]
from ctflow.data.bvh import BVH, BVHJoint, forward_kinematics, mocap_root, parse_bvh, read_bvh  # noqa: E402
from ctflow.data.sequences import (  # noqa: E402
    SequenceData,
    bouncing_balls,
    render_blob,
    skeleton_motion,
    smooth_control,
)

__all__ += [
    "BVH",
    "BVHJoint",
    "SequenceData",
    "bouncing_balls",
    "forward_kinematics",
    "mocap_root",
    "parse_bvh",
    "read_bvh",
    "render_blob",
    "skeleton_motion",
    "smooth_control",
]

from ctflow.data.motion_windows import motion_windows, strided_windows  # noqa: E402

__all__ += ["motion_windows", "strided_windows"]

from ctflow.data.arrays import POINT_FILE_SUFFIXES, read_points  # noqa: E402

__all__ += ["POINT_FILE_SUFFIXES", "read_points"]

from ctflow.data.grid_laws import LAWS as GRID_LAWS  # noqa: E402
from ctflow.data.grid_laws import joint_law  # noqa: E402

__all__ += ["GRID_LAWS", "joint_law"]
from ctflow.data.corruptions import CORRUPTIONS, corrupt_images, digits_to_signed  # noqa: E402
from ctflow.data.toy1d import toy_regression_data  # noqa: E402

__all__ += ["CORRUPTIONS", "corrupt_images", "digits_to_signed", "toy_regression_data"]
