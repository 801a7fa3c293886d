"""Taylor-Green velocity error against training time, NCL vs PINN, from ``ncl-euler`` runs.

    python scripts/ncl_compute_curve.py RUN_DIR [RUN_DIR ...] --figure FILE.png

Each run directory holds a ``results.json`` of ``ctflow run ncl-euler`` (any ``steps``,
``pinn_steps`` and ``methods``). Runs are grouped by method and step count, each seed counted once
per group (the first run given); the table gives mean +- sample std over
the runs (seeds) in a group, and the figure plots the error against the mean training seconds, so
the two methods can be compared at equal compute. Used to write docs/results/ncl.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

METHODS = ("ncl", "pinn")
COLUMNS = ("train_seconds", "rel_error_mean", "rel_error_final")


def collect(run_dirs: list[Path]) -> dict[tuple[str, int], dict[str, list[float]]]:
    """``{(method, steps): {metric: [one value per run]}}`` for the Taylor-Green problem."""
    groups: dict[tuple[str, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    seen: set[tuple[str, int, int]] = set()
    for run_dir in run_dirs:
        path = run_dir / "results.json"
        if not path.is_file():
            raise FileNotFoundError(f"no results.json in {run_dir}")
        results = json.loads(path.read_text())
        if results.get("experiment") != "ncl-euler":
            raise ValueError(f"{path} is from {results.get('experiment')!r}, not ncl-euler")
        metrics = results["metrics"]
        for method in METHODS:
            prefix = f"{method}/taylor-green"
            if f"{prefix}/train_steps" not in metrics:
                continue  # this run did not train the method (``methods=...``)
            steps = int(metrics[f"{prefix}/train_steps"])
            # a seed trains the same way in every run, so count each (method, steps, seed) once
            if (method, steps, results["seed"]) in seen:
                continue
            seen.add((method, steps, results["seed"]))
            group = groups[(method, steps)]
            for column in COLUMNS:
                group[column].append(float(metrics[f"{prefix}/{column}"]))
    return groups


def _mean_std(values: list[float]) -> tuple[float, float]:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), std


def table(groups) -> str:
    lines = [
        "| method | steps | runs | train seconds | velocity rel. error, mean over t | at t = 1 |",
        "|---|---|---|---|---|---|",
    ]
    for method, steps in sorted(groups):
        group = groups[(method, steps)]
        cells = []
        formats = ("{:.0f} +- {:.0f}", "{:.4f} +- {:.4f}", "{:.4f} +- {:.4f}")
        for column, fmt in zip(COLUMNS, formats):
            cells.append(fmt.format(*_mean_std(group[column])))
        runs = len(group["train_seconds"])
        lines.append(f"| {method.upper()} | {steps} | {runs} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(groups, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(7.6, 3.1), sharey=True)
    for ax, column, title in zip(axes, COLUMNS[1:], ("mean over t", "at t = 1")):
        for method, style in zip(METHODS, ("o-", "s--")):
            keys = sorted(k for k in groups if k[0] == method)
            if not keys:
                continue
            seconds = [_mean_std(groups[k]["train_seconds"])[0] for k in keys]
            stats = [_mean_std(groups[k][column]) for k in keys]
            ax.errorbar(
                seconds,
                [m for m, _ in stats],
                yerr=[s for _, s in stats],
                fmt=style,
                capsize=2,
                markersize=4,
                label=method.upper(),
            )
            for (_, steps), x, (y, _) in zip(keys, seconds, stats):
                ax.annotate(
                    str(steps), (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points"
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training seconds (one core)")
        ax.set_title(f"Taylor-Green velocity error, {title}", fontsize=9)
    axes[0].set_ylabel("relative L2 error")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="ncl-euler run directories")
    parser.add_argument("--figure", type=Path, help="write the error-vs-seconds figure here")
    args = parser.parse_args(argv)
    try:
        groups = collect(args.runs)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table(groups))
    if args.figure:
        figure(groups, args.figure)
        print(f"figure: {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
