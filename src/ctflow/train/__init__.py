"""Training: the loop (:class:`Trainer`, :func:`fit`), its callbacks, optimisers, and sinks.

- :class:`Trainer` / :func:`fit`: one loop for every method, with exact resume, DDP, EMA,
  gradient accumulation, per-module learning rates and bf16 autocast.
- Callbacks (:mod:`ctflow.train.callbacks`): :class:`Evaluate` on held-out data,
  :class:`KeepBest` (checkpointed with the run), :class:`EarlyStopping`.
- Sinks (:mod:`ctflow.train.sinks`): :class:`SeriesLogger` (JSON lines), :class:`CSVSink`, or
  any callable.
"""

from ..device import available_devices, select_device  # noqa: F401  (re-exported)
from .callbacks import Callback, EarlyStopping, Evaluate, KeepBest
from .loop import Trainer, TrainResult, fit
from .optim import OPTIMIZERS, SCHEDULES, make_optimizer, make_schedule, parameter_groups
from .sinks import CSVSink, SeriesLogger

__all__ = [
    "Trainer",
    "TrainResult",
    "fit",
    "Callback",
    "Evaluate",
    "KeepBest",
    "EarlyStopping",
    "SeriesLogger",
    "CSVSink",
    "make_optimizer",
    "make_schedule",
    "parameter_groups",
    "SCHEDULES",
    "OPTIMIZERS",
    "select_device",
]
