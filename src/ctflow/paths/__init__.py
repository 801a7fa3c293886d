"""Probability paths for flow matching (Gaussian conditionals) and minibatch OT couplings."""

from __future__ import annotations

from .coupling import COUPLING_METHODS, ot_coupling, sinkhorn_plan
from .gaussian import PATHS, AffineGaussianPath, CondOTPath, PathSample, VEPath, VPPath

__all__ = [
    "PathSample",
    "AffineGaussianPath",
    "CondOTPath",
    "VPPath",
    "VEPath",
    "PATHS",
    "ot_coupling",
    "sinkhorn_plan",
    "COUPLING_METHODS",
]
