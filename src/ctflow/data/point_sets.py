"""The data a density experiment trains on: a built-in toy, or the user's own file.

``--set data=PATH`` replaces the toy datasets by the points in ``PATH`` (see
:func:`ctflow.data.read_points`). A user's points are split 90/10 into training and held-out
points by the run's seed and standardised by the training split's mean and standard deviation;
the models see standardised points, and log-likelihoods are reported in the file's own units
(the standardisation's log-determinant is added back).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .arrays import read_points
from .toy2d import sample_toy
from .toy_quality import entropy_of

__all__ = ["PointData", "plane", "point_datasets", "user_dataset_name"]

# held out from a user's file, by the run's seed
HELD_OUT = 0.1


@dataclass
class PointData:
    """Points to train and evaluate on.

    Attributes:
        name: the key in metric names (a toy's name, or ``file-<stem>``).
        dim: the dimension ``D``.
        train, test: a user's standardised splits, ``(N, D)``; ``None`` for a toy.
        log_scale: ``sum log std`` of the standardisation (0 for a toy): the NLL in the file's
            units is the NLL of the standardised points plus this.
    """

    name: str
    dim: int
    train: Tensor | None = None
    test: Tensor | None = None
    log_scale: float = 0.0

    @property
    def is_toy(self) -> bool:
        return self.train is None

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` training points (float32), drawn with replacement from a user's split."""
        if self.train is None:
            return sample_toy(self.name, n, generator=generator)
        index = torch.randint(len(self.train), (n,), generator=generator)
        return self.train[index].float()

    def held_out(self, n: int, generator: torch.Generator) -> Tensor:
        """Held-out points: ``n`` fresh draws from a toy, or (at most ``n`` of) a user's split."""
        if self.test is None:
            return sample_toy(self.name, n, generator=generator)
        if n >= len(self.test):
            return self.test.float()
        index = torch.randperm(len(self.test), generator=generator)[:n]
        return self.test[index].float()

    def entropy(self, generator: torch.Generator) -> float | None:
        """The differential entropy in nats where it is known (exact, or Monte Carlo from a
        closed-form density), else ``None``: no NLL gap is reported then."""
        return entropy_of(self.name, generator) if self.is_toy else None

    @property
    def units(self) -> str:
        """A note for figure titles: a user's points are plotted standardised."""
        return "" if self.is_toy else " (standardised)"

    def plot_limit(self) -> float:
        """Half-width of a square that holds the points comfortably (toys: 4.6)."""
        if self.train is None:
            return 4.6
        return float(self.train[:, :2].abs().quantile(0.995)) * 1.15 + 0.1


def plane(x: Tensor) -> Tensor:
    """The first two coordinates of points ``(..., D)`` for a scatter plot; one coordinate gets
    a zero second one."""
    if x.shape[-1] >= 2:
        return x[..., :2]
    return torch.cat([x, torch.zeros_like(x)], dim=-1)


def user_dataset_name(path: str) -> str:
    """The metric key of a user's file: ``file-<stem>`` with unsafe characters replaced."""
    return "file-" + re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem)


def point_datasets(datasets: tuple[str, ...], data: str, seed: int) -> list[PointData]:
    """The toy ``datasets``, or, when ``data`` names a file, that file's points alone."""
    if not data:
        return [PointData(name, 2) for name in datasets]
    points = read_points(data, min_rows=10)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(points), generator=generator)
    n_test = max(1, int(round(HELD_OUT * len(points))))
    test, train = points[order[:n_test]], points[order[n_test:]]
    mean, std = train.mean(0), train.std(0)
    if bool((std == 0).any()):
        column = int((std == 0).nonzero()[0])
        raise ValueError(f"{data}: column {column} is constant; a density on it is degenerate")
    return [
        PointData(
            user_dataset_name(data),
            points.shape[1],
            train=(train - mean) / std,
            test=(test - mean) / std,
            log_scale=float(torch.log(std).sum()),
        )
    ]
