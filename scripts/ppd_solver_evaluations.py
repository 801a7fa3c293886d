"""Field evaluations per maximum-likelihood training solve in a PPD experiment.

    python scripts/ppd_solver_evaluations.py ppd-earth \
        '{"datasets": ["volcano"], "methods": ["mle"]}'
    python scripts/ppd_solver_evaluations.py ppd-highdim '{"dims": [20], "methods": ["mle"]}'

Runs the experiment at full size (seed 100, a validation seed; the run directory goes to a
temporary folder) and counts, with ``odeint``'s own ``return_stats``, the evaluations of every
adaptive solve made while gradients are on, i.e. the maximum-likelihood training solves (test
and validation solves run without gradients). Used to write docs/results/ppd.md.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile

import torch

import ctflow.flows.riemannian_cnf as riemannian_cnf
from ctflow.runs import run_experiment
from ctflow.solvers import ADAPTIVE_METHODS, odeint


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    name, overrides = argv[0], json.loads(argv[1])
    counts: list[int] = []

    def counting_odeint(*args, **kwargs):
        ys, stats = odeint(*args, return_stats=True, **kwargs)
        if torch.is_grad_enabled() and kwargs.get("method") in ADAPTIVE_METHODS:
            counts.append(stats.nfe)
        return ys

    riemannian_cnf.odeint = counting_odeint  # the flow's module-level reference
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as out:
        run_experiment(name, seed=100, out=f"{out}/run", overrides=overrides, progress=False)
    if not counts:
        print("no adaptive training solve was made", file=sys.stderr)
        return 1
    ordered = sorted(counts)
    print(
        f"solves {len(counts)}  mean {statistics.fmean(counts):.1f}  "
        f"median {ordered[len(ordered) // 2]}  p99 {ordered[int(0.99 * len(ordered))]}  "
        f"max {ordered[-1]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
