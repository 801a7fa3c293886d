"""GFlowNets: objectives, environments, and generative models cast as GFlowNets."""

from .autoregressive import AutoregressiveGFN
from .chain import MarkovChainGFN, mle_gfn_loss
from .diffusion import DiffusionGFN, linear_betas
from .diffusion_training import DIFFUSION_OBJECTIVES, diffusion_loss, diffusion_nll_bounds
from .env import DiscreteEnv, l1_distance, terminal_distribution
from .hvae import GaussianLayer, HierarchicalVAEGFN
from .hypergrid import HyperGrid
from .marginals import grid_marginal
from .objectives import (
    OBJECTIVES,
    detailed_balance,
    flow_matching,
    gfn_loss,
    subtrajectory_balance,
    subtrajectory_residuals,
    trajectory_balance,
)
from .policy import GFlowNetPolicy
from .sequence import SequenceEnv
from .trajectories import Trajectories, sample_trajectories, score_trajectories

__all__ = [
    "DiscreteEnv",
    "HyperGrid",
    "grid_marginal",
    "SequenceEnv",
    "GFlowNetPolicy",
    "Trajectories",
    "sample_trajectories",
    "score_trajectories",
    "terminal_distribution",
    "l1_distance",
    "OBJECTIVES",
    "trajectory_balance",
    "detailed_balance",
    "subtrajectory_balance",
    "subtrajectory_residuals",
    "flow_matching",
    "gfn_loss",
    "MarkovChainGFN",
    "mle_gfn_loss",
    "DiffusionGFN",
    "linear_betas",
    "DIFFUSION_OBJECTIVES",
    "diffusion_loss",
    "diffusion_nll_bounds",
    "HierarchicalVAEGFN",
    "GaussianLayer",
    "AutoregressiveGFN",
]
