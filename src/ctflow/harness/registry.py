"""The experiment registry: name -> config class, sizes, model builder, run function."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .base import Results, RunContext
from .config import SIZES, apply_overrides

__all__ = ["Experiment", "register", "get_experiment", "experiment_names", "make_config"]


@dataclass(frozen=True)
class Experiment:
    """A registered experiment.

    Attributes:
        name: CLI name, e.g. ``"cnf-2d"``.
        config_cls: its config dataclass (defaults are the full size).
        run: ``run(config, ctx=None) -> Results``.
        build_models: ``build_models(config) -> {name: module}``, to rebuild from a checkpoint.
        sizes: field overrides for ``"smoke"`` (<= 10 s) and ``"quick"`` (about a minute).
        description: one line for ``ctflow list``.
    """

    name: str
    config_cls: type
    run: Callable[[Any, RunContext | None], Results]
    build_models: Callable[[Any], dict[str, nn.Module]]
    sizes: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""


_REGISTRY: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    """Add an experiment; names are unique and every size override must name a real field."""
    if experiment.name in _REGISTRY:
        raise ValueError(f"experiment {experiment.name!r} is already registered")
    names = {f.name for f in dataclasses.fields(experiment.config_cls)}
    for size, overrides in experiment.sizes.items():
        if size not in SIZES or size == "full":
            raise ValueError(f"{experiment.name}: size {size!r} must be 'smoke' or 'quick'")
        unknown = set(overrides) - names
        if unknown:
            raise ValueError(
                f"{experiment.name}: size {size!r} sets unknown fields {sorted(unknown)}"
            )
    _REGISTRY[experiment.name] = experiment
    return experiment


def experiment_names() -> list[str]:
    return sorted(_REGISTRY)


def get_experiment(name: str) -> Experiment:
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown experiment {name!r}; choose one of: {', '.join(experiment_names())}"
        )
    return _REGISTRY[name]


def make_config(name: str, size: str = "full", overrides: dict[str, Any] | None = None) -> Any:
    """The config of experiment ``name`` at ``size`` (smoke, quick or full), overridden."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of: {', '.join(SIZES)}")
    exp = get_experiment(name)
    config = exp.config_cls()
    config = apply_overrides(config, exp.sizes.get(size, {}))
    return apply_overrides(config, overrides or {})
