"""Probability paths for flow matching (Gaussian conditionals) and minibatch OT couplings."""

from __future__ import annotations

from .coupling import COUPLING_METHODS, ot_coupling, sinkhorn_plan
from .discrete import DISCRETE_SOURCES, MixtureDiscretePath
from .gaussian import PATHS, AffineGaussianPath, CondOTPath, PathSample, VEPath, VPPath
from .schedulers import (
    CosinePath,
    LinearVPPath,
    PolynomialPath,
    ScheduleTransformedField,
    time_at_snr,
)

PATHS.update({"cosine": CosinePath, "polynomial": PolynomialPath, "linear-vp": LinearVPPath})

__all__ = [
    "PathSample",
    "AffineGaussianPath",
    "CondOTPath",
    "VPPath",
    "VEPath",
    "CosinePath",
    "PolynomialPath",
    "LinearVPPath",
    "ScheduleTransformedField",
    "time_at_snr",
    "PATHS",
    "ot_coupling",
    "sinkhorn_plan",
    "COUPLING_METHODS",
    "MixtureDiscretePath",
    "DISCRETE_SOURCES",
]
