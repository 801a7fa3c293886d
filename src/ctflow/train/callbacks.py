"""Hooks into the training loop: evaluation on held-out data, the best state, early stopping.

A callback subclasses :class:`Callback` and overrides what it needs. The :class:`Trainer` calls,
in the order the callbacks were given:

- ``on_start(trainer)`` once, after a resumed run has been restored;
- ``before_step(trainer, step)`` before step ``step`` draws its batch (the model has had
  ``step`` updates);
- ``on_eval(trainer, metrics, step)`` whenever some callback reports metrics
  (:meth:`Trainer.report`);
- ``after_step(trainer, step, loss)`` after the update (``loss`` is a 0-d tensor: reading it
  on an accelerator waits for the device, so most callbacks should not);
- ``on_end(trainer)`` after the last step (or an early stop), before the final checkpoint.

A callback with state returns it from ``state_dict()`` and takes it back in
``load_state_dict()``: the trainer saves it in every checkpoint, so a resumed run continues as
if it had never stopped.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # pragma: no cover
    from .loop import Trainer

__all__ = ["Callback", "Evaluate", "KeepBest", "EarlyStopping"]


class Callback:
    """The hook protocol; every method is a no-op by default."""

    def on_start(self, trainer: Trainer) -> None:
        pass

    def before_step(self, trainer: Trainer, step: int) -> None:
        pass

    def on_eval(self, trainer: Trainer, metrics: dict[str, float], step: int) -> None:
        pass

    def after_step(self, trainer: Trainer, step: int, loss: torch.Tensor) -> None:
        pass

    def on_end(self, trainer: Trainer) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class Evaluate(Callback):
    """Evaluate the model every ``every`` steps and once at the end.

    Args:
        fn: ``fn(model) -> float | dict[str, float]``, e.g. the validation NLL. It runs under
            ``torch.no_grad()`` unless ``grad=True``, with the model in eval mode, and should
            draw from its own generator, not the training streams.
        every: evaluate before steps ``0, every, 2 every, ...`` (after that many updates).
        name: the metric's name when ``fn`` returns a number.
        at_end: also evaluate the trained model after the last step.
        grad: let ``fn`` use autograd (e.g. a likelihood through an ODE with a trace estimator).
        isolate_rng: run ``fn`` on a copy of torch's global random state, so that evaluation
            never moves the stream training draws from (default). ``False`` lets ``fn`` draw
            from, and advance, the global stream.
    """

    def __init__(
        self,
        fn: Callable[[torch.nn.Module], float | dict[str, float]],
        every: int,
        name: str = "val",
        at_end: bool = True,
        grad: bool = False,
        isolate_rng: bool = True,
    ):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.fn, self.every, self.name, self.at_end, self.grad = fn, every, name, at_end, grad
        self.isolate_rng = isolate_rng

    def _evaluate(self, trainer: Trainer, step: int) -> None:
        model = trainer.model
        was_training = model.training
        model.eval()
        rng = torch.random.fork_rng() if self.isolate_rng else contextlib.nullcontext()
        with rng, torch.set_grad_enabled(self.grad):
            out = self.fn(model)
        model.train(was_training)
        metrics = out if isinstance(out, dict) else {self.name: out}
        trainer.report({k: float(v) for k, v in metrics.items()}, step)

    def before_step(self, trainer: Trainer, step: int) -> None:
        if step % self.every == 0:
            self._evaluate(trainer, step)

    def on_end(self, trainer: Trainer) -> None:
        last = trainer.metrics[-1]["step"] if trainer.metrics else None
        if self.at_end and last != trainer.step:  # an early stop has just scored these weights
            self._evaluate(trainer, trainer.step)


def _better(mode: str, value: float, best: float, min_delta: float = 0.0) -> bool:
    if math.isnan(value):
        return False
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _check_mode(mode: str) -> None:
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")


class KeepBest(Callback):
    """Keep the weights with the best value of a reported metric, and load them at the end.

    Args:
        monitor: the metric's name (reported by an :class:`Evaluate` placed before this).
        mode: ``"min"`` or ``"max"``.

    Attributes:
        best, best_step: the best value so far and the number of updates the model had then
            (``nan`` and ``-1`` before any report). Ties keep the earlier state.
    """

    def __init__(self, monitor: str = "val", mode: str = "min"):
        _check_mode(mode)
        self.monitor, self.mode = monitor, mode
        self.best = math.inf if mode == "min" else -math.inf
        self.best_step = -1
        self._state: dict[str, torch.Tensor] | None = None

    def on_eval(self, trainer: Trainer, metrics: dict[str, float], step: int) -> None:
        if self.monitor in metrics and _better(self.mode, metrics[self.monitor], self.best):
            self.best, self.best_step = metrics[self.monitor], step
            self._state = copy.deepcopy(trainer.model.state_dict())

    def on_end(self, trainer: Trainer) -> None:
        if self._state is None:
            raise RuntimeError(
                f"KeepBest saw no {self.monitor!r}: put an Evaluate reporting it before KeepBest"
            )
        trainer.model.load_state_dict(self._state)
        trainer.best = {"value": self.best, "step": self.best_step, "monitor": self.monitor}

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_step": self.best_step, "state": self._state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_step, self._state = state["best"], state["best_step"], state["state"]


class EarlyStopping(Callback):
    """Stop when a reported metric has not improved for ``patience`` reports in a row.

    Args:
        monitor: the metric's name.
        patience: reports without an improvement before stopping.
        mode: ``"min"`` or ``"max"``.
        min_delta: the smallest change that counts as an improvement.

    Attributes:
        stopped_at: the step the run stopped before (``None`` if it ran to the end).
    """

    def __init__(
        self, monitor: str = "val", patience: int = 5, mode: str = "min", min_delta: float = 0.0
    ):
        _check_mode(mode)
        if not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be a positive integer, got {patience!r}")
        self.monitor, self.patience, self.mode, self.min_delta = monitor, patience, mode, min_delta
        self.best = math.inf if mode == "min" else -math.inf
        self.waited = 0
        self.stopped_at: int | None = None

    def on_eval(self, trainer: Trainer, metrics: dict[str, float], step: int) -> None:
        if self.monitor not in metrics or step >= trainer.steps:
            return
        if _better(self.mode, metrics[self.monitor], self.best, self.min_delta):
            self.best, self.waited = metrics[self.monitor], 0
            return
        self.waited += 1
        if self.waited >= self.patience:
            self.stopped_at = step
            trainer.stop = True

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "waited": self.waited, "stopped_at": self.stopped_at}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.waited = state["best"], state["waited"]
        self.stopped_at = state["stopped_at"]
