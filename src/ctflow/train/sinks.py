"""Where training rows go: a JSON-lines series, a CSV file, or any callable."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import Tensor

__all__ = ["SeriesLogger", "CSVSink", "send"]


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if isinstance(v, Tensor) else v) for k, v in row.items()}


class SeriesLogger:
    """Appends one JSON object per line; keeps the rows in memory when it has no file."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        self.rows: list[dict[str, Any]] = []
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, row: dict[str, Any]) -> None:
        row = _plain(row)
        self.rows.append(row)
        if self.path is not None:
            with self.path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")


class CSVSink:
    """Writes rows to a CSV file with one column per key seen so far. A row with a new key
    rewrites the file with the wider header (older rows leave it empty), so training rows and
    evaluation rows share one table that a spreadsheet or pandas reads as it grows."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.columns: list[str] = []
        self.rows: list[dict[str, Any]] = []

    def log(self, row: dict[str, Any]) -> None:
        row = _plain(row)
        self.rows.append(row)
        new = [k for k in row if k not in self.columns]
        self.columns += new
        rows = self.rows if new else [row]
        with self.path.open("w" if new else "a", newline="") as fh:
            writer = csv.DictWriter(fh, self.columns)
            if new:
                writer.writeheader()
            writer.writerows(rows)


def send(sinks, row: dict[str, Any]) -> None:
    """Give ``row`` to every sink: an object with ``.log(row)`` or a callable ``f(row)``
    (e.g. ``wandb.log``)."""
    for sink in sinks:
        log: Callable = getattr(sink, "log", sink)
        log(row)
