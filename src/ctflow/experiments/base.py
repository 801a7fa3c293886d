"""What every experiment shares: its config base, the run context it writes to, its results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import Checkpointer
from ..distributed import rank
from ..train import SeriesLogger, TrainResult, fit

__all__ = ["ExperimentConfig", "RunContext", "Results"]


@dataclass
class ExperimentConfig:
    """Fields every experiment config has. One run is one seed."""

    seed: int = 0
    device: str = "cpu"


@dataclass
class RunContext:
    """Where a run writes while it works, and how it trains.

    Attributes:
        logger: the series log (``series.jsonl`` in a run directory, in memory otherwise).
        progress: show progress bars.
        out_dir: the run directory, if any.
        checkpointer: saves and resumes training progress, if any.
        rank: this process's rank under ``torchrun`` (0 otherwise); seed data streams with it.
    """

    logger: SeriesLogger = field(default_factory=SeriesLogger)
    progress: bool = False
    out_dir: Path | None = None
    checkpointer: Checkpointer | None = None
    rank: int = field(default_factory=rank)

    def track(self, models: dict[str, nn.Module]) -> None:
        """Register the run's models with the checkpointer (loads them when resuming)."""
        if self.checkpointer is not None:
            self.checkpointer.track(models)

    def fit(
        self,
        loss_fn,
        model: nn.Module,
        *,
        tag: str,
        generators=(),
        device: torch.device | None = None,
        **options: Any,
    ) -> TrainResult:
        """:func:`ctflow.train.fit` with this run's logger, progress and checkpointer."""
        return fit(
            loss_fn,
            model,
            tag=tag,
            generators=generators,
            device=device,
            logger=self.logger,
            progress=self.progress,
            checkpointer=self.checkpointer,
            **options,
        )


@dataclass
class Results:
    """What ``run(config)`` returns.

    Attributes:
        metrics: ``{"method/dataset/metric": number}``.
        figures: matplotlib figures by file stem.
        models: the trained modules by name (what ``build_models`` builds), for the checkpoint.
        notes: short free-text remarks for the report.
    """

    metrics: dict[str, float] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    models: dict[str, nn.Module] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
