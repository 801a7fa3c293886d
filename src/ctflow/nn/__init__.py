"""Network building blocks."""

from .jacobian import mlp_value_and_divergence, supports_analytic_divergence
from .mlp import ACTIVATIONS, MLP, activation
from .time import SinusoidalTimeEmbedding, TimeMLP

__all__ = [
    "MLP",
    "ACTIVATIONS",
    "activation",
    "mlp_value_and_divergence",
    "supports_analytic_divergence",
    "SinusoidalTimeEmbedding",
    "TimeMLP",
]
