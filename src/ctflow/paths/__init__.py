"""Probability paths for flow matching (Gaussian conditionals) and minibatch OT couplings."""

from __future__ import annotations

from .coupling import COUPLING_METHODS, ot_coupling, sinkhorn_plan
from .diffusion import VEPath, VPPath
from .discrete import DISCRETE_SOURCES, MixtureDiscretePath
from .gaussian import AffineGaussianPath, CondOTPath, PathSample
from .schedulers import (
    CosinePath,
    LinearVPPath,
    PolynomialPath,
    ScheduleTransformedField,
    time_at_snr,
)

#: the paths by name, for configuration files
PATHS: dict[str, type[AffineGaussianPath]] = {
    "condot": CondOTPath,
    "vp": VPPath,
    "ve": VEPath,
    "cosine": CosinePath,
    "polynomial": PolynomialPath,
    "linear-vp": LinearVPPath,
}

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
