"""Divergence-free fields (neural conservation laws) and their PDE losses.

Two constructions of exactly divergence-free networks on R^n (``MatrixField``: u = div A for an
antisymmetric A from n(n-1)/2 outputs; ``VectorField``: A = J_b - J_b^T), their periodic variants
with the harmonic constants (``torus_field``), and ``SpaceTimeFlow``, which reads a density and a
velocity off a divergence-free field on (t, x) so that the continuity equation holds exactly.

References:
    Richter-Powell, Lipman, Chen. Neural Conservation Laws: A Divergence-Free Perspective.
    NeurIPS 2022 (arXiv 2210.01741).
"""

from .euler import (
    EulerModel,
    SpaceTimeNet,
    taylor_green,
    taylor_green_pressure,
    taylor_green_residuals,
    variable_density_initial,
    variable_density_residuals,
)
from .euler_training import euler_loss, evaluate_euler, torus_time_points
from .hodge import HodgeProblem, PotentialNet, random_wave_vectors, relative_l2_error
from .hodge_training import curl_loss, hodge_scores, potential_loss
from .matrix_field import MatrixField, antisymmetric_basis, n_entries
from .mixture import GaussianMixtureFlux
from .mixture_transport import evaluate_mixture_transport, mixture_transport_loss
from .ot_pairs import (
    OT_PAIRS,
    endpoint_pair,
    gaussian_mixture,
    reference_w2_squared,
    sample_mixture,
)
from .pde import (
    curl_components,
    divergence_of,
    euler_residuals,
    value_and_jacobian,
    value_jacobian_hessian,
)
from .spacetime import SpaceTimeFlow, space_time_points
from .torus import PeriodicEmbedding, torus_field, torus_grid, torus_integral
from .transport import transport_with_cost
from .vector_field import VectorField

__all__ = [
    "HodgeProblem",
    "PotentialNet",
    "random_wave_vectors",
    "relative_l2_error",
    "MatrixField",
    "VectorField",
    "antisymmetric_basis",
    "n_entries",
    "SpaceTimeFlow",
    "GaussianMixtureFlux",
    "space_time_points",
    "transport_with_cost",
    "PeriodicEmbedding",
    "torus_field",
    "torus_grid",
    "torus_integral",
    "value_and_jacobian",
    "value_jacobian_hessian",
    "divergence_of",
    "curl_components",
    "euler_residuals",
    "EulerModel",
    "SpaceTimeNet",
    "taylor_green",
    "taylor_green_pressure",
    "taylor_green_residuals",
    "variable_density_initial",
    "variable_density_residuals",
    "torus_time_points",
    "euler_loss",
    "evaluate_euler",
    "curl_loss",
    "potential_loss",
    "hodge_scores",
    "OT_PAIRS",
    "gaussian_mixture",
    "endpoint_pair",
    "sample_mixture",
    "reference_w2_squared",
    "mixture_transport_loss",
    "evaluate_mixture_transport",
]
