"""ctflow: continuous-time generative models and differentiable dynamics in PyTorch.

Subpackages: ``solvers`` (odeint, sdeint, fixed points), ``ops`` (divergences), ``manifolds``,
``nn``, ``flows`` (densities), ``data``, ``metrics``, ``experiments``.
"""

from __future__ import annotations

from typing import Any

from . import flows, manifolds, nn, ops, paths, solvers
from .flows import CNF
from .solvers import odeint, sdeint

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "CNF",
    "odeint",
    "sdeint",
    "load",
    "flows",
    "manifolds",
    "nn",
    "ops",
    "paths",
    "solvers",
]


def __getattr__(name: str) -> Any:
    # `load` pulls in the experiments (and matplotlib); import it only when asked for.
    if name == "load":
        from .runs import load

        return load
    raise AttributeError(f"module 'ctflow' has no attribute {name!r}")
