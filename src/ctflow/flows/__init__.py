"""Density models (zuko's convention: ``model(c=None)`` returns a Distribution) and their losses."""

from .cnf import CNF, CNFDistribution
from .cpflow import LOGDET_METHODS, ConvexPotential, ConvexPotentialTransform, CPFlow
from .matching import (
    COUPLINGS,
    VelocityFromEps,
    VelocityFromScore,
    cfm_loss,
    eps_loss,
    score_matching_loss,
)

__all__ = [
    "CNF",
    "CNFDistribution",
    "CPFlow",
    "ConvexPotential",
    "ConvexPotentialTransform",
    "LOGDET_METHODS",
    "cfm_loss",
    "score_matching_loss",
    "eps_loss",
    "VelocityFromScore",
    "VelocityFromEps",
    "COUPLINGS",
]
