"""Evaluation return against steps, mean +- std over seeds, from smac-control run directories.

Usage: python scripts/smac_curves.py RUN_DIR [RUN_DIR ...] --figure OUT.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--figure", type=Path, required=True)
    args = parser.parse_args()
    curves: dict[str, dict[str, list[dict[int, float]]]] = {}
    for run in args.runs:
        per_tag: dict[str, dict[int, float]] = {}
        for line in (run / "series.jsonl").read_text().splitlines():
            row = json.loads(line)
            if "eval_return" in row:
                per_tag.setdefault(row["tag"], {})[row["step"]] = row["eval_return"]
        for tag, points in per_tag.items():
            method, task = tag.split("/")
            curves.setdefault(task, {}).setdefault(method, []).append(points)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(4 * len(curves), 3), dpi=72, squeeze=False)
    for ax, (task, methods) in zip(axes[0], curves.items()):
        for method, seeds in methods.items():
            steps = sorted(set.intersection(*(set(s) for s in seeds)))
            values = np.array([[s[k] for k in steps] for s in seeds])
            mean, std = values.mean(0), values.std(0, ddof=1) if len(seeds) > 1 else 0 * values[0]
            ax.plot(steps, mean, "o-", ms=3, label=f"{method} ({len(seeds)} seeds)")
            ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("evaluation return")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.figure)
    print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
