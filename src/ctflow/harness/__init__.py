"""The experiment harness: the contract every experiment follows (a config dataclass and
``run(config, ctx) -> Results``, registered by name with its sizes), and the run context that owns
a run's logger, checkpoints and named random streams.

``ctflow.experiments`` imports every experiment, registers it and re-exports these names, with
the lookups (``get_experiment``, ``make_config``) over the registered set. An experiment of your
own needs only this module::

    from ctflow.harness import Experiment, ExperimentConfig, Results, RunContext, register
"""

from .base import ExperimentConfig, Results, RunContext
from .config import SIZES, check_choices, check_fields
from .registry import Experiment, register

__all__ = [
    "Experiment",
    "ExperimentConfig",
    "Results",
    "RunContext",
    "SIZES",
    "check_choices",
    "check_fields",
    "register",
]
