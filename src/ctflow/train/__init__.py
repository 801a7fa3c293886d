"""Training: the loop (:class:`Trainer`, :func:`fit`), its callbacks, optimisers, and sinks.

- :class:`Trainer` / :func:`fit`: one loop for every method, with exact resume, DDP, EMA,
  gradient accumulation, per-module learning rates and bf16 autocast.
- Callbacks (:mod:`ctflow.train.callbacks`): :class:`Evaluate` on held-out data,
  :class:`KeepBest` (checkpointed with the run), :class:`EarlyStopping`.
- Helpers: :func:`cosine_fit_options` (a shared schedule), class labels with a null class for
  classifier-free guidance (:mod:`ctflow.train.labels`), integer levels in ``[-1, 1]``
  (:mod:`ctflow.train.levels`), a reference classifier for samples.
- Sinks (:mod:`ctflow.train.sinks`): :class:`SeriesLogger` (JSON lines), :class:`CSVSink`, or
  any callable.
"""

from ..device import available_devices, select_device  # noqa: F401  (re-exported)
from .callbacks import Callback, EarlyStopping, Evaluate, KeepBest
from .classifier import fit_logistic_classifier
from .labels import drop_labels, one_hot_with_null
from .levels import dequantized_batch, level_centres, to_levels
from .loop import Trainer, TrainResult, fit
from .optim import OPTIMIZERS, SCHEDULES, make_optimizer, make_schedule, parameter_groups
from .recipes import cosine_fit_options
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
    "cosine_fit_options",
    "one_hot_with_null",
    "drop_labels",
    "dequantized_batch",
    "level_centres",
    "to_levels",
    "fit_logistic_classifier",
]
