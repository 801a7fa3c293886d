"""Print a markdown table (mean +- std over seeds) from a ``ctflow reproduce`` JSON summary.

    python scripts/summary_table.py runs/reproduce/report-full.json cnf-2d \
        --metrics test_nll entropy nll_gap w2 --digits 3

Rows are ``method/dataset``, columns the chosen metrics; used to write docs/results pages.
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", help="the .json written beside a reproduce report")
    parser.add_argument("experiment")
    parser.add_argument("--metrics", nargs="+", required=True)
    parser.add_argument("--digits", type=int, default=3)
    args = parser.parse_args(argv)
    summary = json.load(open(args.summary))
    if args.experiment not in summary:
        print(
            f"no {args.experiment!r} in {args.summary}; has: {', '.join(summary)}", file=sys.stderr
        )
        return 2
    metrics = summary[args.experiment]["metrics"]
    rows: dict[str, dict[str, dict]] = {}
    for key, agg in metrics.items():
        method, dataset, name = key.split("/", 2)
        rows.setdefault(f"{method}/{dataset}", {})[name] = agg
    n = len(summary[args.experiment]["seeds"])
    print(f"| method/dataset | {' | '.join(args.metrics)} |")
    print("|---" * (len(args.metrics) + 1) + "|")
    for row, values in rows.items():
        cells = []
        for name in args.metrics:
            agg = values.get(name)
            cells.append(
                ""
                if agg is None
                else f"{agg['mean']:.{args.digits}f} +- {agg['std']:.{args.digits}f}"
            )
        if any(cells):
            print(f"| {row} | {' | '.join(cells)} |")
    print(f"\nmean +- sample std over {n} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
