"""Density models (zuko's convention: ``model(c=None)`` returns a Distribution) and their losses."""

from .cnf import CNF, CNFDistribution

__all__ = ["CNF", "CNFDistribution"]
