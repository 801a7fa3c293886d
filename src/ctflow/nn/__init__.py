"""Network building blocks."""

from .counting import parameter_count
from .icnn import CONVEX_ACTIVATIONS, ICNN
from .jacobian import mlp_value_and_divergence, supports_analytic_divergence
from .mlp import ACTIVATIONS, MLP, activation
from .sequence import SequenceTransformer, causal_log_prob, causal_sample
from .time import FlowMapMLP, SinusoidalTimeEmbedding, TimeMLP
from .width_search import matched_width

__all__ = [
    "ICNN",
    "CONVEX_ACTIVATIONS",
    "MLP",
    "ACTIVATIONS",
    "activation",
    "mlp_value_and_divergence",
    "supports_analytic_divergence",
    "SinusoidalTimeEmbedding",
    "TimeMLP",
    "FlowMapMLP",
    "SequenceTransformer",
    "causal_log_prob",
    "causal_sample",
    "parameter_count",
    "matched_width",
]
