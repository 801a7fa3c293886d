"""The one training loop: optimiser and schedule, gradient clipping, a NaN guard, progress, logging.

Experiments hand it a ``loss_fn(step) -> loss`` that draws its own batch, so one loop serves
every method. Metrics go to a :class:`SeriesLogger` (``series.jsonl`` in a run directory).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

__all__ = [
    "SeriesLogger",
    "TrainResult",
    "fit",
    "make_optimizer",
    "make_schedule",
    "SCHEDULES",
    "OPTIMIZERS",
    "select_device",
]

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "linear")


class SeriesLogger:
    """Appends one JSON object per line; keeps the rows in memory when it has no file."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        self.rows: list[dict[str, Any]] = []
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, row: dict[str, Any]) -> None:
        row = {k: (float(v) if isinstance(v, Tensor) else v) for k, v in row.items()}
        self.rows.append(row)
        if self.path is not None:
            with self.path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")


@dataclass
class TrainResult:
    """What :func:`fit` returns."""

    steps: int
    final_loss: float
    seconds: float
    losses: list[float] = field(default_factory=list)


def select_device(device: str | torch.device) -> torch.device:
    """A torch device from a string, with a clear error when it is not available here."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"unknown device {device!r}; valid devices here: {', '.join(available_devices())}"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} requested but CUDA is not available; valid devices here: "
            f"{', '.join(available_devices())}"
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"device {device!r} requested but MPS is not available; valid devices here: "
            f"{', '.join(available_devices())}"
        )
    return dev


def available_devices() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return devices


def make_optimizer(
    params: Iterable[Tensor], name: str = "adam", lr: float = 1e-3, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """An optimiser by name (one of ``OPTIMIZERS``)."""
    params = list(params)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")


def make_schedule(
    optimizer: torch.optim.Optimizer, name: str, steps: int, warmup: int = 0
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup`` steps, then constant, cosine or linear decay to 0."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of: {', '.join(SCHEDULES)}")

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        frac = (step - warmup) / max(1, steps - warmup)
        if name == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0)))
        if name == "linear":
            return max(0.0, 1.0 - frac)
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def fit(
    loss_fn: Callable[[int], Tensor | tuple[Tensor, dict[str, float]]],
    model: nn.Module,
    *,
    steps: int,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    schedule: str = "cosine",
    warmup: int = 0,
    grad_clip: float | None = None,
    logger: SeriesLogger | None = None,
    log_every: int = 25,
    tag: str = "train",
    progress: bool = True,
) -> TrainResult:
    """Minimise ``loss_fn(step)`` over ``model``'s parameters for ``steps`` steps.

    Args:
        loss_fn: returns the scalar loss for a step (drawing its own batch), or ``(loss, extras)``
            with extra numbers to log.
        model: the module whose parameters are trained.
        steps: optimisation steps.
        lr, optimizer, weight_decay: the optimiser (one of ``OPTIMIZERS``).
        schedule, warmup: learning-rate schedule (one of ``SCHEDULES``) and linear warm-up steps.
        grad_clip: clip the global gradient norm to this value.
        logger: receives ``{"tag", "step", "loss", "lr", ...}`` every ``log_every`` steps.
        tag: names this run in the log and the progress bar.
        progress: show a tqdm progress bar.

    Returns:
        A :class:`TrainResult`.

    Raises:
        FloatingPointError: when the loss or the gradient norm is NaN or infinite, naming the step.
    """
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    opt = make_optimizer(params, optimizer, lr, weight_decay)
    sched = make_schedule(opt, schedule, steps, warmup)
    losses: list[float] = []
    start = time.perf_counter()
    model.train()
    bar = tqdm(range(steps), desc=tag, disable=not progress, leave=False, dynamic_ncols=True)
    for step in bar:
        out = loss_fn(step)
        loss, extras = out if isinstance(out, tuple) else (out, {})
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{tag}: the loss became {loss.item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip else float("inf"))
        if not torch.isfinite(norm):
            raise FloatingPointError(
                f"{tag}: the gradient norm became {norm.item()} at step {step}"
            )
        opt.step()
        sched.step()
        value = loss.item()
        losses.append(value)
        if step % log_every == 0 or step == steps - 1:
            bar.set_postfix(loss=f"{value:.4f}")
            if logger is not None:
                logger.log(
                    {
                        "tag": tag,
                        "step": step,
                        "loss": value,
                        "lr": sched.get_last_lr()[0],
                        "grad_norm": float(norm),
                        **extras,
                    }
                )
    bar.close()
    model.eval()
    return TrainResult(
        steps=steps,
        final_loss=losses[-1] if losses else float("nan"),
        seconds=time.perf_counter() - start,
        losses=losses,
    )
