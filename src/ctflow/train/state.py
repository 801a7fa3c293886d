"""The loop's parts besides the loop: its result, the loss as a module (for DDP), the data
streams, the lazy NaN check and the EMA weights."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

from ..distributed import same_across_ranks

__all__ = ["TrainResult", "LossModule", "check_distinct_streams", "read_back"]


@dataclass
class TrainResult:
    """What :meth:`Trainer.run` and :func:`fit` return.

    Attributes:
        steps: the steps asked for.
        final_loss: the last step's loss.
        seconds: training time, resumed parts included.
        losses: every step's loss.
        resumed_at: the step a resumed run continued from.
        stopped_at: the step an early stop ended the run before, else ``None``.
        metrics: every report of the callbacks, ``[{"step": s, name: value, ...}]``.
        best: ``{"value", "step", "monitor"}`` of a :class:`~ctflow.train.KeepBest`, if any.
    """

    steps: int
    final_loss: float
    seconds: float
    losses: list[float] = field(default_factory=list)
    resumed_at: int | None = None
    stopped_at: int | None = None
    metrics: list[dict[str, float]] = field(default_factory=list)
    best: dict[str, Any] | None = None


def check_distinct_streams(generators: Sequence[torch.Generator], tag: str) -> None:
    """Refuse ranks whose data generators start equal: they would train on the same batches.
    (A no-op in a single process.)"""
    if not generators:
        return
    shared = same_across_ranks([g.get_state() for g in generators])
    if shared is not None:
        raise ValueError(
            f"{tag}: ranks {shared[0]} and {shared[1]} start with the same data generator "
            "state, so they would train on the same batches; seed each rank's generator with "
            "its rank (RunContext.rank)"
        )


def restore_generators(generators: Sequence[torch.Generator], states: list[Tensor]) -> None:
    if len(states) != len(generators):
        raise ValueError(
            f"the checkpoint saved {len(states)} data generators, this run has "
            f"{len(generators)}: was it made by another version of the experiment?"
        )
    for gen, state in zip(generators, states):
        gen.set_state(state)


@torch.no_grad()
def copy_ema(ema: AveragedModel, model: nn.Module) -> None:
    for target, source in zip(model.state_dict().values(), ema.module.state_dict().values()):
        target.copy_(source)


class LossModule(nn.Module):
    """Makes ``loss_fn(step)`` the forward of a module that owns ``model``, so DDP can wrap it
    (DDP synchronises gradients of parameters used in its forward)."""

    def __init__(self, model: nn.Module, loss_fn: Callable):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, step: int):
        return self.loss_fn(step)


def read_back(
    first_bad: Tensor, pending: list[Tensor], losses: list[float], tag: str, check_every: int
) -> None:
    """Read the pending losses and the first-bad-step flag back from the device (one wait):
    the lazy NaN check of accelerator runs."""
    if pending:
        losses.extend(torch.stack(pending).float().tolist())
        pending.clear()
    bad_step = int(first_bad)
    if bad_step >= 0:
        raise FloatingPointError(
            f"{tag}: the loss or the gradient norm became NaN or infinite at step {bad_step} "
            f"(checked every {check_every} steps); the weights have been updated since, so "
            "nothing was saved after it"
        )
