"""How much sooner PPD reaches a validation NLL than maximum likelihood, at several levels.

    python scripts/ppd_time_to_level.py RUN_DIR [RUN_DIR ...] [--fractions 0.25 0.5 0.75 0.9 1]

Each run directory holds the ``series.jsonl`` of ``ctflow run ppd-earth`` (or ``ppd-sphere``): the
validation curves ``<method>/<dataset>/val`` (NLL against training seconds). For each dataset and
run, the common level is the worse of PPD's and maximum likelihood's best validation NLL (as in
the experiment's own ``speedup`` metric); a fraction f gives the level ``start + f (common -
start)``, ``start`` being the uniform density's NLL (log of the manifold's volume, S^2 by default).
The table gives, per level, the mean over runs of (maximum-likelihood time) / (PPD time) to first
reach it, with the per-run ratios. Used to write docs/results/ppd.md.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

Curve = list[tuple[float, float]]  # (training seconds, validation NLL)


def read_curves(run_dir: Path) -> dict[str, dict[str, Curve]]:
    """``{dataset: {method: curve}}`` from a run's series.jsonl."""
    path = run_dir / "series.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no series.jsonl in {run_dir}")
    curves: dict[str, dict[str, Curve]] = defaultdict(dict)
    for line in path.read_text().splitlines():
        row = json.loads(line)
        parts = row.get("tag", "").split("/")
        if len(parts) == 3 and parts[2] == "val":
            method, dataset = parts[0], parts[1]
            curves[dataset].setdefault(method, []).append((row["seconds"], row["val_nll"]))
    return curves


def time_to(curve: Curve, level: float) -> float:
    """First training time at which the curve is at or below ``level`` (nan: never)."""
    return next((s for s, v in curve if v <= level), math.nan)


def ratios(curves: dict[str, Curve], fractions: list[float], start: float) -> list[float]:
    """Maximum-likelihood time over PPD time to each level."""
    ppd, mle = curves["ppd"], curves["mle"]
    common = max(min(v for _, v in ppd), min(v for _, v in mle))
    out = []
    for f in fractions:
        level = start + f * (common - start)
        out.append(time_to(mle, level) / time_to(ppd, level))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.25, 0.5, 0.75, 0.9, 1.0])
    parser.add_argument(
        "--start", type=float, default=math.log(4 * math.pi), help="uniform NLL (S^2)"
    )
    args = parser.parse_args(argv)
    table: dict[str, list[list[float]]] = defaultdict(list)
    try:
        for run_dir in args.runs:
            for dataset, curves in read_curves(run_dir).items():
                if {"ppd", "mle"} <= set(curves):
                    table[dataset].append(ratios(curves, args.fractions, args.start))
    except (FileNotFoundError, json.JSONDecodeError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not table:
        print("error: no run has both ppd and mle validation curves", file=sys.stderr)
        return 2
    head = " | ".join(f"f = {f:g}" for f in args.fractions)
    print(f"| dataset | {head} |")
    print("|---|" + "---|" * len(args.fractions))
    for dataset, runs in table.items():
        cells = []
        for column in zip(*runs):
            per_run = ", ".join(f"{r:.1f}" for r in column)
            cells.append(f"{statistics.fmean(column):.2f} ({per_run})")
        print(f"| {dataset} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
