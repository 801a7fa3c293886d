"""ctflow: continuous-time generative models and differentiable dynamics in PyTorch.

Subpackages: ``solvers`` (odeint, sdeint, fixed points), ``ops`` (divergences), ``manifolds``,
``nn``, ``paths``, ``flows`` (densities); and, imported on first use (``ctflow.quantum`` etc.),
one per method and tool: ``bayes``, ``compress``, ``data``, ``experiments``, ``fields``, ``gfn``,
``metrics``, ``ppd``, ``quantum``, ``rl``, ``vi``.
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


# every method's subpackage, imported on first use so that `import ctflow` stays fast
SUBPACKAGES = (
    "bayes", "compress", "data", "experiments", "fields", "gfn", "metrics", "ppd", "quantum",
    "rl", "vi",
)  # fmt: skip


def __getattr__(name: str) -> Any:
    # `load` pulls in the experiments (and matplotlib); import it only when asked for.
    if name == "load":
        from .runs import load

        return load
    if name in SUBPACKAGES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'ctflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(SUBPACKAGES) | {"load"})
