"""Per-seed ncl-hodge errors on each field and its mirror (the parts' wave vectors swapped).

Reads ``ncl-hodge`` run directories (any dims, plain or ``swap_parts=true``), pairs every
(seed, d) field with its mirror, and prints a markdown table with the number of three-axis waves
in each part, which method is lower, and the pair ratio (the geometric mean of NCL / potential
over the field and its mirror, which cancels which part drew the harder waves). Optionally draws
the per-seed errors.

Usage: python scripts/ncl_hodge_seeds.py RUN_DIR [RUN_DIR ...] [--figure OUT.png]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

from ctflow.fields.hodge import HodgeProblem
from ctflow.harness.base import RunContext


def _three_axis_waves(seed: int, d: int, waves: int) -> tuple[int, int]:
    """Three-axis wave vectors in w and in phi of the plain (unswapped) field."""
    problem = HodgeProblem(d, waves, RunContext(seed=seed).common_seed_of("problem", d))
    count = lambda vectors: int(((vectors != 0).sum(-1) == 3).sum())  # noqa: E731
    return count(problem.k), count(problem.q)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--figure", type=Path)
    args = parser.parse_args()
    errors: dict[tuple[int, int, bool], tuple[float, float]] = {}
    waves = 4
    for run in args.runs:
        config = json.loads((run / "run.json").read_text())["config"]
        metrics = json.loads((run / "results.json").read_text())["metrics"]
        waves = config["waves"]
        for d in config["dims"]:
            errors[config["seed"], d, config["swap_parts"]] = (
                metrics[f"ncl/d{d}/rel_error"],
                metrics[f"potential/d{d}/rel_error"],
            )
    both = {(s, d) for s, d, _ in errors if (s, d, False) in errors and (s, d, True) in errors}
    pairs = sorted(both, key=lambda p: (p[1], p[0]))
    print("| d | seed | 3-axis waves in w / in phi | NCL | potential | lower | swapped: NCL | "
          "potential | lower | pair ratio NCL/potential |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    summary: dict[int, list] = {}
    for s, d in pairs:
        (n0, p0), (n1, p1) = errors[s, d, False], errors[s, d, True]
        ratio = math.sqrt(n0 / p0 * n1 / p1)
        w, phi = _three_axis_waves(s, d, waves)
        lower = lambda n, p: "NCL" if n < p else "potential"  # noqa: E731
        print(f"| {d} | {s} | {w} / {phi} | {n0:.4f} | {p0:.4f} | {lower(n0, p0)} | {n1:.4f} | "
              f"{p1:.4f} | {lower(n1, p1)} | {ratio:.2f} |")  # fmt: skip
        summary.setdefault(d, []).append((n0 < p0, n1 < p1, ratio))
    print()
    print(
        "| d | NCL lower, plain | NCL lower, swapped | pair ratio < 1 | geometric-mean pair ratio |"
    )
    print("|---|---|---|---|---|")
    for d, rows in summary.items():
        n = len(rows)
        gm = math.exp(sum(math.log(r) for _, _, r in rows) / n)
        print(f"| {d} | {sum(a for a, _, _ in rows)} of {n} | {sum(b for _, b, _ in rows)} of {n} "
              f"| {sum(r < 1 for _, _, r in rows)} of {n} | {gm:.2f} |")  # fmt: skip
    plain: dict[int, list[tuple[float, float]]] = {}
    for (_, d, swapped), value in errors.items():
        if not swapped:
            plain.setdefault(d, []).append(value)
    print()
    for d, rows in sorted(plain.items()):
        ncl, pot = zip(*rows)
        print(
            f"plain fields at d = {d} ({len(rows)} seeds): NCL {statistics.mean(ncl):.4f} +- "
            f"{statistics.stdev(ncl):.4f}, potential {statistics.mean(pot):.4f} +- "
            f"{statistics.stdev(pot):.4f}"
        )
    if args.figure:
        import matplotlib.pyplot as plt

        dims = sorted(summary)
        fig, axes = plt.subplots(1, len(dims), figsize=(3.6 * len(dims), 3), dpi=72, squeeze=False)
        for ax, d in zip(axes[0], dims):
            seeds = [s for s, dd in pairs if dd == d]
            for swapped, marker in ((False, "o"), (True, "x")):
                tag = "swapped" if swapped else "plain"
                ax.plot(seeds, [errors[s, d, swapped][0] for s in seeds], marker, color="C0",
                        label=f"NCL, {tag}")  # fmt: skip
                ax.plot(seeds, [errors[s, d, swapped][1] for s in seeds], marker, color="C1",
                        label=f"potential, {tag}")  # fmt: skip
            ax.set_yscale("log")
            ax.set_xticks(seeds)
            ax.set_title(f"d = {d}", fontsize=9)
            ax.set_xlabel("seed")
            ax.set_ylabel("relative error of w")
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(args.figure)
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
