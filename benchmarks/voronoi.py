"""Voronoi flows: mixture likelihood time vs cells, and dequantization training speed.

    python benchmarks/voronoi.py [--quick] [--out runs/benchmarks/voronoi.json]

1. Log-likelihood evaluation time of a batch of 1024 points against the number of cells ``K``:
   the Voronoi mixture (``ctflow.flows.VoronoiMixture``, one component per point after a
   nearest-anchor search) vs the ordinary mixture of the same conditional flows
   (``ctflow.flows.FlowMixture``, all ``K`` components per point). Component: a zuko coupling NSF
   (2 transforms, hidden 32x32) with an 8-dim cell embedding as context; D = 2 and D = 8; no
   gradients. Ratio = ordinary / Voronoi (higher: the Voronoi mixture is faster).
2. Dequantization training throughput (iterations/s of ELBO forward + backward + Adam step),
   Voronoi (2 dims per variable) vs the argmax baseline (ceil(log2 K) dims), same prior (MAF, 3
   transforms, hidden 128) and posterior (coupling NSF, 2 transforms): 64 variables of 17 levels
   (digits shape) and 16 variables of 65 levels (characters), batch 128.

Times are medians over repeats with the implementations interleaved within each repeat
(``bench_timing.interleaved_medians``). One CPU thread.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from bench_timing import interleaved_medians, write_report  # noqa: E402

from ctflow.flows import FlowMixture, VoronoiMixture, build_dequantization  # noqa: E402

CELLS = (1, 4, 16, 64, 256)
QUICK_CELLS = (1, 16, 64)
DIMS = (2, 8)
BATCH = 1024
DEQ_SHAPES = (("digits 64 x 17", 64, 17), ("chars 16 x 65", 16, 65))


def bench_mixture(cells: tuple[int, ...], repeats: int) -> list[dict]:
    rows = []
    for dim in DIMS:
        x = torch.randn(BATCH, dim)
        for K in cells:
            torch.manual_seed(0)
            kw = dict(embedding=8, transforms=2, hidden_features=(32, 32), passes=2)
            vm = VoronoiMixture(K, dim, anchors=torch.randn(K, dim), **kw)
            fm = FlowMixture(K, dim, **kw)

            def run_vm(vm=vm, x=x):
                with torch.no_grad():
                    return vm().log_prob(x)

            def run_fm(fm=fm, x=x):
                with torch.no_grad():
                    return fm().log_prob(x)

            t = interleaved_medians({"voronoi": run_vm, "mixture": run_fm}, repeats)
            row = {
                "dim": dim,
                "cells": K,
                "voronoi_ms": 1000 * t["voronoi"],
                "mixture_ms": 1000 * t["mixture"],
                "ratio_mixture_over_voronoi": t["mixture"] / t["voronoi"],
            }
            rows.append(row)
            print(
                f"| {dim} | {K} | {row['voronoi_ms']:.2f} | {row['mixture_ms']:.2f} | "
                f"{row['ratio_mixture_over_voronoi']:.2f} |",
                flush=True,
            )
    return rows


def bench_dequantization(repeats: int) -> list[dict]:
    rows = []
    for label, V, K in DEQ_SHAPES:
        steps = {}
        dims = {}
        for kind in ("voronoi", "argmax"):
            torch.manual_seed(0)
            model = build_dequantization(
                kind,
                V,
                K,
                voronoi_dim=2,
                hidden=128,
                prior_transforms=3,
                posterior_transforms=2,
                prior="maf",
            )
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            x = torch.randint(K, (128, V))

            def step(model=model, opt=opt, x=x):
                loss = -model.elbo(x).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()

            steps[kind] = step
            dims[kind] = model.features
        t = interleaved_medians(steps, repeats)
        row = {
            "data": label,
            "voronoi_dims": dims["voronoi"],
            "argmax_dims": dims["argmax"],
            "voronoi_it_s": 1 / t["voronoi"],
            "argmax_it_s": 1 / t["argmax"],
            "ratio_voronoi_over_argmax": t["argmax"] / t["voronoi"],
        }
        rows.append(row)
        print(
            f"| {label} | {row['voronoi_dims']} | {row['argmax_dims']} | "
            f"{row['voronoi_it_s']:.1f} | {row['argmax_it_s']:.1f} | "
            f"{row['ratio_voronoi_over_argmax']:.2f} |",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer cell counts and repeats")
    parser.add_argument("--out", default="runs/benchmarks/voronoi.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    repeats = 3 if args.quick else 7
    print(f"torch {torch.__version__}, 1 thread, float32, batch {BATCH}\n")
    print("Log-likelihood of a batch, ms (median): Voronoi mixture vs ordinary mixture\n")
    print("| D | cells K | Voronoi mixture | ordinary mixture | ordinary / Voronoi |")
    print("|---|---|---|---|---|")
    mixture = bench_mixture(QUICK_CELLS if args.quick else CELLS, repeats)
    print("\nDequantization training step (ELBO, backward, Adam), iterations/s (median)\n")
    print("| data | Voronoi dims | argmax dims | Voronoi it/s | argmax it/s | Voronoi / argmax |")
    print("|---|---|---|---|---|---|")
    deq = bench_dequantization(repeats)
    write_report(args.out, {"torch": torch.__version__, "mixture": mixture, "dequantization": deq})
    return 0


if __name__ == "__main__":
    sys.exit(main())
