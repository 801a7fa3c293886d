"""What every experiment shares: its config base, the run context it writes to, its results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ..train import SeriesLogger

__all__ = ["ExperimentConfig", "RunContext", "Results"]


@dataclass
class ExperimentConfig:
    """Fields every experiment config has. One run is one seed."""

    seed: int = 0
    device: str = "cpu"


@dataclass
class RunContext:
    """Where a run writes while it works: the series log, progress bars, its directory (if any)."""

    logger: SeriesLogger = field(default_factory=SeriesLogger)
    progress: bool = False
    out_dir: Path | None = None


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
