"""Network building blocks."""

from .mlp import ACTIVATIONS, MLP, activation
from .time import SinusoidalTimeEmbedding, TimeMLP

__all__ = ["MLP", "ACTIVATIONS", "activation", "SinusoidalTimeEmbedding", "TimeMLP"]
