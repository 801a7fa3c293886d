"""One method, one earth dataset, one network size: the capacity and step probes of ppd.md.

Seed 0's split; PPD's kernel centres are all the training points. Prints one JSON line: the
validation curve (rk4 at step 0.02 on 512 validation points, five points), the final
validation and test NLL (dopri5 at 1e-5) and the training time (evaluations included).

    python scripts/ppd_earth_probe.py DATASET METHOD HIDDEN DEPTH STEPS LR [S1]

e.g. ``python scripts/ppd_earth_probe.py fire rfm 256 4 30000 2e-3``.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from ctflow.data.earth import earth_split, load_earth
from ctflow.manifolds import Sphere
from ctflow.ppd import KernelMixturePath, make_field, make_flow, nll, train_field


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    ds, method = argv[0], argv[1]
    hidden, depth, steps, lr = int(argv[2]), int(argv[3]), int(argv[4]), float(argv[5])
    s1 = float(argv[6]) if len(argv) > 6 else 0.05
    M = Sphere(2)
    train_x, val_x, test_x = earth_split(load_earth(ds).float(), 0)
    torch.manual_seed(0)
    field = make_field(M, hidden, depth)
    path = KernelMixturePath(M, train_x, scale_start=1.0, scale_end=s1) if method == "ppd" else None
    t0 = time.time()
    result, curve = train_field(
        method, field, M, tag=f"{method}/{ds}", steps=steps, lr=lr, batch_size=256,
        gen=torch.Generator().manual_seed(1), device=torch.device("cpu"), path=path,
        data=train_x, val_x=val_x[:512], eval_every=max(steps // 5, 1), eval_step_size=0.02,
    )  # fmt: skip
    seconds = time.time() - t0
    flow = make_flow(field, M, tol=1e-5)
    row = dict(
        dataset=ds, method=method, hidden=hidden, depth=depth, steps=steps, lr=lr, s1=s1,
        train_seconds=round(seconds, 1), curve=[round(v, 3) for v in curve.val_nll],
        val=round(nll(flow, val_x)[0], 3), test=round(nll(flow, test_x)[0], 3),
    )  # fmt: skip
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
