"""Divergences, Jacobian helpers and trace estimators."""

from .divergence import DIVERGENCE_METHODS, divergence
from .probes import PROBES, gaussian_like, rademacher_like

__all__ = ["divergence", "DIVERGENCE_METHODS", "rademacher_like", "gaussian_like", "PROBES"]
