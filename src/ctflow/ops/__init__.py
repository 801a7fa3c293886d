"""Divergences, Jacobian helpers and trace estimators."""

from .divergence import ANALYTIC_MAX_DIM, DIVERGENCE_METHODS, divergence
from .krylov import conjugate_gradient, lanczos_logdet
from .probes import PROBES, gaussian_like, rademacher_like

__all__ = [
    "divergence",
    "DIVERGENCE_METHODS",
    "ANALYTIC_MAX_DIM",
    "rademacher_like",
    "gaussian_like",
    "PROBES",
    "conjugate_gradient",
    "lanczos_logdet",
]
