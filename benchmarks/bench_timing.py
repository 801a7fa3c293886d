"""Timing and reporting shared by the benchmark scripts."""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["interleaved_medians", "write_report"]


def interleaved_medians(
    fns: dict[str, Callable[[], object]], repeats: int, warmup: bool = True
) -> dict[str, float]:
    """Median wall time (s) of each function. Every repeat runs all of them once, in an order
    shuffled per repeat (seeded), so that machine noise and position effects (a cache warmed or
    cooled by the previous function) hit them alike; a warm-up call first pays allocator and
    first-call costs."""
    if warmup:
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    order = list(fns.items())
    rng = random.Random(0)
    for _ in range(repeats):
        rng.shuffle(order)
        for name, fn in order:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def write_report(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` as indented JSON at ``path`` (creating its folder) and say where."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {path}")
    return path
