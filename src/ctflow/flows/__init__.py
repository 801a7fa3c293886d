"""Density models (zuko's convention: ``model(c=None)`` returns a Distribution) and their losses."""

from .cnf import CNF, CNFDistribution
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
    "cfm_loss",
    "score_matching_loss",
    "eps_loss",
    "VelocityFromScore",
    "VelocityFromEps",
    "COUPLINGS",
]
