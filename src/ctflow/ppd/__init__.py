"""Probability path divergence (PPD): training Riemannian CNFs with no ODE solve per step.

Target paths from the uniform law to data (kernel mixtures: von Mises-Fisher on spheres, wrapped
normals on tori), the log mass conservation residual and the PPD loss, plus Riemannian flow
matching along geodesics as the simulation-free baseline.

References:
    Ben-Hamu et al., "Matching Normalizing Flows and Probability Paths on Manifolds", ICML 2022
    (arXiv 2207.04711).
"""

from __future__ import annotations

from .comparison import choose_kernel_width, time_to_common_level
from .kernels import (
    vmf_log_normalizer,
    vmf_log_prob,
    vmf_mean_resultant_length,
    vmf_sample,
    wrapped_normal_log_prob,
    wrapped_normal_sample,
)
from .loss import POWERS, log_mass_residual, path_residual, ppd_loss
from .mixture import VMFMixture
from .paths import KernelMixturePath, PathPoint
from .rfm import geodesic_fm_loss, geodesic_path
from .training import METHODS, Curve, make_field, make_flow, nll, train_field

__all__ = [
    "Curve",
    "choose_kernel_width",
    "time_to_common_level",
    "KernelMixturePath",
    "METHODS",
    "PathPoint",
    "POWERS",
    "geodesic_fm_loss",
    "geodesic_path",
    "log_mass_residual",
    "make_field",
    "make_flow",
    "nll",
    "path_residual",
    "ppd_loss",
    "train_field",
    "VMFMixture",
    "vmf_log_normalizer",
    "vmf_log_prob",
    "vmf_mean_resultant_length",
    "vmf_sample",
    "wrapped_normal_log_prob",
    "wrapped_normal_sample",
]
