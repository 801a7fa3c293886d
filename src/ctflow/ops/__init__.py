"""Divergences, Jacobian helpers, trace estimators and shared reductions."""

from .divergence import ANALYTIC_MAX_DIM, DIVERGENCE_METHODS, check_divergence_choice, divergence
from .krylov import conjugate_gradient, lanczos_logdet
from .probes import PROBES, gaussian_like, rademacher_like
from .quantization import dequantize
from .reductions import log_mean_exp, map_chunks

__all__ = [
    "divergence",
    "check_divergence_choice",
    "DIVERGENCE_METHODS",
    "ANALYTIC_MAX_DIM",
    "rademacher_like",
    "gaussian_like",
    "PROBES",
    "conjugate_gradient",
    "lanczos_logdet",
    "log_mean_exp",
    "map_chunks",
    "dequantize",
]
