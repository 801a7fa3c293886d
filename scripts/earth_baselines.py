"""Two classical baselines on ppd-earth's own splits, to calibrate the published table.

For each earth dataset and seed (the experiment's 80/10/10 split):
- the kernel density of *all* training points (PPD's target ``p_1`` without the 4096-centre
  cap), its width chosen on the validation split from a fine grid;
- a mixture of von Mises-Fisher components fitted by EM (``ctflow.ppd.VMFMixture``, an
  isotropic relative of the published Mixture of Kent baseline), its number of components
  chosen on the validation split: the experiment's own ``vmf`` rows, recomputed.

Test NLL in nats, as in docs/results/ppd.md. Usage:

    python scripts/earth_baselines.py [--seeds 0 1 2] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json

import torch

from ctflow.data.earth import EARTH_DATASETS, earth_split, load_earth
from ctflow.experiments.ppd_earth import PPDEarthConfig
from ctflow.harness.base import RunContext
from ctflow.manifolds import Sphere
from ctflow.ppd import KernelMixturePath, VMFMixture, choose_kernel_width

WIDTHS = (0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05)


def main() -> None:
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    M = Sphere(2)
    config = PPDEarthConfig()
    rows = []
    for ds in EARTH_DATASETS:
        points = load_earth(ds).double()
        for seed in args.seeds:
            train_x, val_x, test_x = earth_split(points, seed)
            w_best, kde_val = choose_kernel_width(M, train_x, val_x, WIDTHS, 1.0)
            path = KernelMixturePath(M, train_x, scale_start=1.0, scale_end=w_best)
            with torch.no_grad():
                kde_test = float(-path.data_log_prob(test_x).mean())
            # exactly what ppd-earth's vmf rows compute (its grid and its seed)
            mix, scores = VMFMixture.select(
                train_x, val_x, config.vmf_components,
                seed=RunContext(seed=seed).common_seed_of("vmf-mixture", ds),
            )  # fmt: skip
            k_best = len(mix.mu)
            row = dict(
                dataset=ds, seed=seed, kde_width=w_best, kde_val=kde_val[w_best],
                kde_test=kde_test, vmf_components=k_best, vmf_val=scores[k_best],
                vmf_test=float(-mix.log_prob(test_x).mean()),
            )  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| dataset | KDE, all centres (width) | vMF mixture (K) |\n|---|---|---|")
    for ds in EARTH_DATASETS:
        r = [row for row in rows if row["dataset"] == ds]
        kt = torch.tensor([x["kde_test"] for x in r], dtype=torch.float64)
        vt = torch.tensor([x["vmf_test"] for x in r], dtype=torch.float64)
        std = lambda t: float(t.std()) if len(t) > 1 else 0.0  # noqa: E731
        print(
            f"| {ds} | {float(kt.mean()):.2f} +- {std(kt):.2f} "
            f"({', '.join(str(x['kde_width']) for x in r)}) | {float(vt.mean()):.2f} +- "
            f"{std(vt):.2f} ({', '.join(str(x['vmf_components']) for x in r)}) |"
        )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
