"""Density models (zuko's convention: ``model(c=None)`` returns a Distribution) and their losses."""

from .baselines import BASELINES, matched_baseline, zuko_flow
from .cnf import CNF, CNFDistribution
from .cpflow import (
    LOGDET_METHODS,
    ConvexPotential,
    ConvexPotentialLayer,
    ConvexPotentialTransform,
)
from .cpflow_model import CPFlow
from .dequantization import (
    DEQUANTIZERS,
    ArgmaxDequantizer,
    Dequantization,
    Dequantizer,
    UniformDequantizer,
    VoronoiDequantizer,
    dequantization_posterior,
    make_dequantizer,
    make_posterior,  # noqa: F401  (deprecated name, kept importable)
)
from .dequantization_models import (
    DEQUANTIZATION_PRIORS,
    build_dequantization,
    dequantization_bounds,
)
from .discrete import (
    discrete_fm_loss,
    discrete_posterior,
    discrete_sample,
    mixture_elbo,
)
from .discrete_targets import cfg_tilted_law, empirical_total_variation, sequence_codes
from .exact import ExactMaskedPosterior, GaussianMixtureVelocity
from .flow_map_training import (
    FLOW_MAP_METHODS,
    budget_samples,
    check_flow_map_options,
    flow_map_loss,
    flow_map_step_loss,
)
from .flow_maps import (
    average_velocity_and_derivative,
    flow_map_sample,
    meanflow_loss,
    shortcut_loss,
)
from .guidance import (
    ClassifierFreeGuidance,
    DiscreteClassifierFreeGuidance,
    RewardGuidance,
    cfg_field,
)
from .independent import categorical_frequencies, independent_categorical_bits
from .matching import (
    COUPLINGS,
    VelocityFromEps,
    VelocityFromScore,
    cfm_loss,
    eps_loss,
    score_matching_loss,
)
from .mixture_targets import (
    cfg_tilt_samples,
    class_conditional_mixture_field,
    linear_reward_tilt_samples,
)
from .mle import fit_density, nll_stats
from .ode_flow import ODEFlow, ODEFlowDistribution
from .solver_budgets import BudgetSample, mean_nll, sample_at_budgets
from .voronoi import VoronoiTessellation
from .voronoi_mixture import FlowMixture, MixtureDistribution, RadialStudentT, VoronoiMixture

__all__ = [
    "BASELINES",
    "matched_baseline",
    "zuko_flow",
    "GaussianMixtureVelocity",
    "ExactMaskedPosterior",
    "DiscreteClassifierFreeGuidance",
    "discrete_fm_loss",
    "discrete_posterior",
    "discrete_sample",
    "mixture_elbo",
    "meanflow_loss",
    "shortcut_loss",
    "flow_map_sample",
    "average_velocity_and_derivative",
    "CNF",
    "fit_density",
    "nll_stats",
    "categorical_frequencies",
    "independent_categorical_bits",
    "ODEFlow",
    "ODEFlowDistribution",
    "CNFDistribution",
    "CPFlow",
    "ConvexPotential",
    "ConvexPotentialLayer",
    "ConvexPotentialTransform",
    "LOGDET_METHODS",
    "cfm_loss",
    "score_matching_loss",
    "eps_loss",
    "VelocityFromScore",
    "VelocityFromEps",
    "ClassifierFreeGuidance",
    "RewardGuidance",
    "COUPLINGS",
    "VoronoiTessellation",
    "VoronoiMixture",
    "RadialStudentT",
    "FlowMixture",
    "MixtureDistribution",
    "Dequantization",
    "Dequantizer",
    "VoronoiDequantizer",
    "UniformDequantizer",
    "ArgmaxDequantizer",
    "DEQUANTIZERS",
    "make_dequantizer",
    "dequantization_posterior",
    "DEQUANTIZATION_PRIORS",
    "build_dequantization",
    "dequantization_bounds",
    "cfg_field",
    "FLOW_MAP_METHODS",
    "check_flow_map_options",
    "flow_map_loss",
    "flow_map_step_loss",
    "budget_samples",
    "BudgetSample",
    "sample_at_budgets",
    "mean_nll",
    "class_conditional_mixture_field",
    "cfg_tilt_samples",
    "linear_reward_tilt_samples",
    "sequence_codes",
    "cfg_tilted_law",
    "empirical_total_variation",
]
from .riemannian_cnf import RiemannianCNF, RiemannianCNFDistribution, TangentField  # noqa: E402

__all__ += ["RiemannianCNF", "RiemannianCNFDistribution", "TangentField"]
from .conditional_training import LABELLED_COUPLINGS, labelled_cfm_loss  # noqa: E402
from .flow_nll import mean_nll_exact  # noqa: E402
from .voronoi_coupling import (  # noqa: E402
    density_and_cell_maps,
    place_anchors,
    voronoi_coupling_flow,
)

__all__ += [
    "LABELLED_COUPLINGS",
    "labelled_cfm_loss",
    "mean_nll_exact",
    "density_and_cell_maps",
    "place_anchors",
    "voronoi_coupling_flow",
]
from .cnf_scores import cnf_point_figure, cnf_point_scores  # noqa: E402

__all__ += ["cnf_point_scores", "cnf_point_figure"]
