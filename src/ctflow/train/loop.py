"""The one training loop: optimiser, schedule, clipping, EMA, a NaN guard, DDP, exact resume,
and callbacks (:mod:`.callbacks`) for evaluation, the best state and early stopping.

Experiments hand it a ``loss_fn(step) -> loss`` that draws its own batch, so one loop serves
every method. Rows go to sinks (:mod:`.sinks`; ``series.jsonl`` in a run directory).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from ..checkpoint import Checkpointer
from ..distributed import gather_objects, is_distributed, rank, wrap_ddp
from ..seeding import rng_state, set_rng_state
from ..solvers import SolverError
from .callbacks import Callback
from .optim import make_optimizer, make_schedule, parameter_groups
from .sinks import SeriesLogger, send
from .state import (
    LossModule,
    TrainResult,
    check_distinct_streams,
    copy_ema,
    read_back,
    restore_generators,
)

__all__ = ["Trainer", "TrainResult", "fit"]

LossFn = Callable[[int], Tensor | tuple[Tensor, dict[str, float]]]


class Trainer:
    """Minimise ``loss_fn(step)`` over ``model``'s parameters for ``steps`` steps.

    Under ``torchrun`` the model runs in DistributedDataParallel: each rank's ``loss_fn`` should
    draw its own share of the batch (seed its generator with the rank) and gradients are averaged.

    Args:
        model: the module whose parameters are trained.
        loss_fn: returns the scalar loss for a step (drawing its own batch), or ``(loss, extras)``
            with extra numbers to log. It must use ``model``'s parameters. It should not evaluate
            held-out data: that is an :class:`~ctflow.train.Evaluate` callback's job.
        steps: optimisation steps.
        lr, optimizer, weight_decay: the optimiser (one of ``OPTIMIZERS``).
        fused: a fused Adam/AdamW update (see :func:`make_optimizer`).
        lrs: per-module learning rates, ``{module name: lr}`` (:func:`parameter_groups`); the
            schedule scales each.
        schedule, warmup: learning-rate schedule (one of ``SCHEDULES``) and linear warm-up steps.
        grad_clip: clip the global gradient norm to this value.
        ema_decay: keep an exponential moving average of the weights with this decay and load it
            into ``model`` when training ends (before the callbacks' ``on_end``).
        accumulate: call ``loss_fn`` this many times per update and average the gradients (a
            batch ``accumulate`` times larger at the same memory).
        autocast: ``"bf16"`` runs ``loss_fn`` under bfloat16 autocast; weights and the update
            stay in their own precision. ``None`` (default): full precision.
        callbacks: :class:`~ctflow.train.Callback` objects, called in this order.
        sinks: where rows go: objects with ``.log(row)`` or callables (see :mod:`.sinks`).
            ``logger`` is one more.
        log_every: a row ``{"tag", "step", "loss", "lr", "grad_norm", ...}`` every this many
            steps (and at the last).
        tag: names this phase in the rows, the progress bar and the checkpoint.
        progress: show a tqdm progress bar (a line per tenth of the run when not in a terminal).
        checkpointer: saves progress (callbacks' state included) every ``checkpointer.every``
            steps and at the end; from a resumed checkpoint, training continues exactly.
        generators: the torch Generators ``loss_fn`` draws from (saved and restored on resume).
        device: the device, for DDP placement and autocast.
        check_every: test the loss and gradient norm for NaN and infinity every this many steps.
            Default: every step on the CPU, where the test is free, and every ``log_every``
            steps on an accelerator, where reading a value back waits for the device; there the
            error names the first bad step, and no checkpoint is written after it.

    Raises (from :meth:`run`):
        FloatingPointError: when the loss or the gradient norm is NaN or infinite, naming the step.
            Checked every step, the checkpointer first saves the last good state (the update is
            not applied).
        SolverError: when an adaptive ODE solve inside the loss gives up (see ``odeint``); named
            and saved the same way.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        *,
        steps: int,
        lr: float = 1e-3,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        fused: bool = False,
        lrs: Mapping[str, float] | None = None,
        schedule: str = "cosine",
        warmup: int = 0,
        grad_clip: float | None = None,
        ema_decay: float | None = None,
        accumulate: int = 1,
        autocast: str | None = None,
        callbacks: Sequence[Callback] = (),
        sinks: Sequence[Any] = (),
        logger: SeriesLogger | None = None,
        log_every: int = 25,
        tag: str = "train",
        progress: bool = True,
        checkpointer: Checkpointer | None = None,
        generators: Sequence[torch.Generator] = (),
        device: torch.device | None = None,
        check_every: int | None = None,
    ):
        if not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ValueError(f"ema_decay must lie in (0, 1), got {ema_decay}")
        if not isinstance(accumulate, int) or accumulate < 1:
            raise ValueError(f"accumulate must be a positive integer, got {accumulate!r}")
        if autocast not in (None, "bf16"):
            raise ValueError(f"autocast must be None or 'bf16', got {autocast!r}")
        checked = 1 if check_every is None else check_every
        for name, value in (("log_every", log_every), ("check_every", checked)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.model, self.loss_fn, self.steps, self.tag = model, loss_fn, steps, tag
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError("the model has no trainable parameters")
        self.optimizer = make_optimizer(
            parameter_groups(model, lrs), optimizer, lr, weight_decay, fused
        )
        self.scheduler = make_schedule(self.optimizer, schedule, steps, warmup)
        self.ema = None
        if ema_decay is not None:
            avg = get_ema_multi_avg_fn(ema_decay)
            self.ema = AveragedModel(model, multi_avg_fn=avg, use_buffers=True)
        self.grad_clip, self.accumulate, self.autocast = grad_clip, accumulate, autocast
        self.callbacks = list(callbacks)
        self.sinks = list(sinks) + ([logger] if logger is not None else [])
        self.log_every, self.progress = log_every, progress
        self.checkpointer, self.generators = checkpointer, list(generators)
        self.device = device or torch.device("cpu")
        self.check_every = check_every or (1 if self.device.type == "cpu" else log_every)
        # what callbacks read and set
        self.step = 0  # updates done
        self.stop = False
        self.metrics: list[dict[str, float]] = []
        self.best: dict[str, Any] | None = None
        self.losses: list[float] = []

    def report(self, metrics: dict[str, float], step: int) -> None:
        """Record evaluation ``metrics`` of the model after ``step`` updates: a row to the sinks,
        then every callback's ``on_eval``."""
        self.metrics.append({"step": step, **metrics})
        send(self.sinks, {"tag": f"{self.tag}/eval", "step": step, **metrics})
        for cb in self.callbacks:
            cb.on_eval(self, metrics, step)
        if is_distributed():  # every rank reports here; rank 0 decides, so no rank runs on alone
            self.stop = bool(gather_objects(self.stop)[0])

    def _record(self, seconds: float, gather: bool = True) -> dict[str, Any]:
        record = {
            "scheduler": self.scheduler.state_dict(),
            "losses": list(self.losses),
            "seconds": seconds,
            "generators": [g.get_state() for g in self.generators],
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "metrics": list(self.metrics),
            "stopped": self.stop,
        }
        if gather and is_distributed():  # what is each rank's own, so each resumes its own
            own = {k: record[k] for k in ("generators", "losses", "callbacks", "metrics")}
            record["ranks"] = gather_objects({**own, "rng": rng_state()})
        return record

    def _restore(self, saved: dict[str, Any]) -> bool:
        """Continue from a checkpointed phase; True when that phase had finished."""
        ranks = saved.get("ranks")
        if ranks is not None and len(ranks) > rank():  # this rank's own streams and records
            saved = {**saved, **ranks[rank()]}
        restore_generators(self.generators, saved["generators"])
        set_rng_state(saved["rng"])
        self.losses = list(saved["losses"])
        self.metrics = list(saved.get("metrics", []))
        states = saved.get("callbacks", [{}] * len(self.callbacks))
        if len(states) != len(self.callbacks):
            raise ValueError(
                f"the checkpoint saved {len(states)} callback states, this run has "
                f"{len(self.callbacks)} callbacks: was it made by another version of the run?"
            )
        for cb, state in zip(self.callbacks, states):
            if state:
                cb.load_state_dict(state)
        if saved["done"]:  # the checkpointer already loaded the trained weights
            return True
        self.optimizer.load_state_dict(self.checkpointer.optimizer_state(self.tag))
        self.scheduler.load_state_dict(saved["scheduler"])
        if self.ema is not None and saved.get("ema") is not None:
            self.ema.load_state_dict(saved["ema"])
        self.step = saved["step"]
        self.stop = bool(saved.get("stopped", False))
        return False

    def _save(self, step: int, done: bool, seconds: float) -> None:
        if self.checkpointer is not None:
            optimizer = None if done else self.optimizer
            record = self._record(seconds)
            self.checkpointer.save(
                self.tag, step=step, done=done, optimizer=optimizer, record=record
            )

    def _result(self, seconds: float, resumed_at: int | None) -> TrainResult:
        stops = [getattr(cb, "stopped_at", None) for cb in self.callbacks]
        stopped = next((s for s in stops if s is not None), None)
        best = self.best
        if best is None:  # a finished, resumed phase: KeepBest's state came from the checkpoint
            keeper = next((cb for cb in self.callbacks if hasattr(cb, "best_step")), None)
            if keeper is not None and keeper.best_step >= 0:
                best = {"value": keeper.best, "step": keeper.best_step, "monitor": keeper.monitor}
        return TrainResult(
            steps=self.steps,
            final_loss=self.losses[-1] if self.losses else float("nan"),
            seconds=seconds,
            losses=list(self.losses),
            resumed_at=resumed_at,
            stopped_at=stopped,
            metrics=list(self.metrics),
            best=best,
        )

    def _forward(self, runner, step: int):
        """``(loss, extras, error)`` of one call of the loss, under autocast if asked."""
        ctx = contextlib.nullcontext()
        if self.autocast == "bf16":
            ctx = torch.autocast(self.device.type, dtype=torch.bfloat16)
        try:
            with ctx:
                out = runner(step)
        except SolverError as error:  # a runaway ODE solve inside the loss: stop like a NaN
            return None, {}, error
        loss, extras = out if isinstance(out, tuple) else (out, {})
        return loss, extras, None

    def run(self) -> TrainResult:
        """Train; see the class docstring."""
        start_step, seconds_before = 0, 0.0
        saved = self.checkpointer.phase(self.tag) if self.checkpointer is not None else None
        if saved is not None:
            if self._restore(saved):
                self.model.eval()
                return self._result(saved["seconds"], resumed_at=self.steps)
            start_step, seconds_before = saved["step"], saved["seconds"]
        check_distinct_streams(self.generators, self.tag)
        runner = wrap_ddp(LossModule(self.model, self.loss_fn), self.device)
        start = time.perf_counter()
        self.model.train()
        for cb in self.callbacks:
            cb.on_start(self)
        # a bar needs a terminal; in a log file, a plain line at every tenth of the steps instead
        plain = self.progress and not sys.stderr.isatty()
        bar = tqdm(
            range(start_step, self.steps),
            desc=self.tag,
            disable=not self.progress or plain,
            leave=False,
            dynamic_ncols=True,
            initial=start_step,
            total=self.steps,
        )
        lazy = self.check_every > 1
        first_bad = torch.full((), -1, dtype=torch.long, device=self.device) if lazy else None
        pending: list[Tensor] = []  # losses not yet read back (lazy checking only)
        for step in bar:
            if self.stop:
                break
            for cb in self.callbacks:
                cb.before_step(self, step)
            if self.stop:
                break
            loss, norm, extras, bad, solve_error = self._step(runner, step, first_bad)
            if bad is not None:
                bar.close()
                self._fail(bad, step, solve_error, seconds_before + time.perf_counter() - start)
            self.optimizer.step()
            self.scheduler.step()
            if self.ema is not None:
                self.ema.update_parameters(self.model)
            self.step = step + 1
            value = None  # read back: every step on the CPU, at the checks on accelerators
            if lazy:
                pending.append(loss.detach())
                if step % self.check_every == 0 or self.step == self.steps:
                    read_back(first_bad, pending, self.losses, self.tag, self.check_every)
                    value = self.losses[-1]
            else:
                value = loss.item()
                self.losses.append(value)
            for cb in self.callbacks:
                cb.after_step(self, step, loss)
            self._log_and_progress(step, start_step, value, norm, extras, plain, bar)
            if (
                self.checkpointer is not None
                and self.checkpointer.every
                and self.step % self.checkpointer.every == 0
                and self.step < self.steps
            ):
                if lazy:
                    read_back(first_bad, pending, self.losses, self.tag, self.check_every)
                self._save(self.step, False, seconds_before + time.perf_counter() - start)
        bar.close()
        if lazy:
            read_back(first_bad, pending, self.losses, self.tag, self.check_every)
        if self.ema is not None:
            copy_ema(self.ema, self.model)
        for cb in self.callbacks:
            cb.on_end(self)
        self.model.eval()
        seconds = seconds_before + time.perf_counter() - start
        self._save(self.steps, True, seconds)
        return self._result(seconds, resumed_at=start_step or None)

    def _step(self, runner, step: int, first_bad):
        """Forward and backward of one update (``accumulate`` calls of the loss). Returns
        ``(loss, grad norm, extras, why it is bad or None, solver error or None)``."""
        self.optimizer.zero_grad(set_to_none=True)
        total, extras = None, {}
        for micro in range(self.accumulate):
            loss, extras, solve_error = self._forward(runner, step)
            if solve_error is not None:
                return None, None, {}, f"the ODE solve failed: {solve_error}", solve_error
            if first_bad is None and not torch.isfinite(loss):
                return None, None, {}, f"the loss became {loss.item()}", None
            part = loss if self.accumulate == 1 else loss / self.accumulate
            sync = micro == self.accumulate - 1 or not hasattr(runner, "no_sync")
            with contextlib.nullcontext() if sync else runner.no_sync():
                part.backward()
            total = part.detach() if total is None else total + part.detach()
        clip = self.grad_clip if self.grad_clip else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(self.params, clip)
        if first_bad is None:
            if not torch.isfinite(norm):
                return None, None, {}, f"the gradient norm became {norm.item()}", None
        else:  # remember the first bad step on the device; read it at the next check
            bad = ~(torch.isfinite(total) & torch.isfinite(norm))
            first_bad.copy_(torch.where(bad & (first_bad < 0), step, first_bad))
        loss = total if self.accumulate > 1 else loss
        return loss, norm, extras, None, None

    def _fail(self, bad: str, step: int, solve_error, seconds: float) -> None:
        message = f"{self.tag}: {bad} at step {step}; the update was not applied"
        if self.checkpointer is not None:
            # one rank may fail alone: no collective here
            self.checkpointer.save(self.tag, step=step, done=False, optimizer=self.optimizer,
                                   record=self._record(seconds, gather=False))  # fmt: skip
            message += f" and the last good state is saved in {self.checkpointer.path}"
        if solve_error is not None:
            raise SolverError(message) from solve_error
        raise FloatingPointError(message)

    def _log_and_progress(self, step, start_step, value, norm, extras, plain, bar) -> None:
        if value is None:
            return  # checked lazily, and not read back at this step
        steps = self.steps
        if plain and ((step + 1) * 10 // steps > step * 10 // steps or step == start_step):
            print(f"{self.tag}: step {step + 1}/{steps}, loss {value:.4g}", file=sys.stderr,
                  flush=True)  # fmt: skip
        if step % self.log_every == 0 or step == steps - 1:
            bar.set_postfix(loss=f"{value:.4f}")
            row = {
                "tag": self.tag,
                "step": step,
                "loss": value,
                "lr": self.scheduler.get_last_lr()[0],
                "grad_norm": float(norm),
                **extras,
            }
            send(self.sinks, row)


def fit(loss_fn: LossFn, model: nn.Module, *, steps: int, **options: Any) -> TrainResult:
    """Train ``model`` on ``loss_fn`` in one call: ``Trainer(model, loss_fn, steps=steps,
    **options).run()``. See :class:`Trainer` for the options (callbacks, sinks, per-module
    learning rates, gradient accumulation, bf16 autocast, checkpoints).

    Examples:
        >>> import torch
        >>> net = torch.nn.Linear(2, 1)
        >>> x = torch.randn(64, 2)
        >>> result = fit(lambda step: (net(x) - x.sum(1, keepdim=True)).square().mean(), net,
        ...              steps=200, lr=0.05, progress=False)
        >>> result.final_loss < 1e-3
        True
    """
    return Trainer(model, loss_fn, steps=steps, **options).run()
