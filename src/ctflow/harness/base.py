"""What every experiment shares: its config base, the run context it writes to, its results."""

from __future__ import annotations

import hashlib
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
        seed: the run's seed, from which :meth:`generator` derives named streams.
    """

    logger: SeriesLogger = field(default_factory=SeriesLogger)
    progress: bool = False
    out_dir: Path | None = None
    checkpointer: Checkpointer | None = None
    rank: int = field(default_factory=rank)
    seed: int = 0

    def generator(self, purpose: str, *keys: int | str) -> torch.Generator:
        """A random stream named by ``purpose`` and ``keys``, its own for every rank.

        The seed is a SHA-256 of ``(seed, rank, purpose, keys)``. So streams with different
        names are independent, a stream is the same in every run with that seed, and under
        ``torchrun`` no two ranks share one. Use one stream per purpose, e.g.
        ``ctx.generator("data", dataset)`` for batches and ``ctx.generator("eval")`` for
        evaluation, so that scoring a model never moves the training stream.

        Examples:
            >>> ctx = RunContext(seed=3)
            >>> a, b = ctx.generator("data", 0), ctx.generator("data", 0)
            >>> bool(torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b)))
            True
            >>> c = ctx.generator("eval")
            >>> bool(torch.equal(torch.rand(3, generator=ctx.generator("data", 0)),
            ...                  torch.rand(3, generator=c)))
            False
        """
        return torch.Generator().manual_seed(self.seed_of(purpose, *keys))

    def seed_of(self, purpose: str, *keys: int | str) -> int:
        """The integer seed of the stream :meth:`generator` names, for code that draws from
        torch's global RNG: ``torch.manual_seed(ctx.seed_of("test", name))``.

        Examples:
            >>> ctx = RunContext(seed=3)
            >>> ctx.seed_of("eval") == ctx.generator("eval").initial_seed()
            True
            >>> RunContext(seed=3, rank=1).seed_of("eval") != ctx.seed_of("eval")
            True
        """
        return _hashed_seed(self.seed, self.rank, purpose, keys)

    def common_seed_of(self, purpose: str, *keys: int | str) -> int:
        """A seed like :meth:`seed_of` but the same on every rank, for what all ranks must
        share: a problem's definition, a data split, the points a model is scored on.

        Examples:
            >>> a, b = RunContext(seed=3, rank=0), RunContext(seed=3, rank=1)
            >>> a.common_seed_of("problem", 5) == b.common_seed_of("problem", 5)
            True
            >>> a.common_seed_of("problem", 5) != a.seed_of("problem", 5)
            True
        """
        return _hashed_seed(self.seed, "all", purpose, keys)

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


def _hashed_seed(seed: int, rank: int | str, purpose: str, keys: tuple) -> int:
    """A 63-bit seed from a SHA-256 of ``(seed, rank, purpose, keys)``."""
    if not isinstance(purpose, str) or not purpose:
        raise ValueError(f"purpose must be a non-empty string, got {purpose!r}")
    name = "/".join(map(str, (seed, rank, purpose, *keys)))
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
