"""One-step sampling against 100-step flow matching: ctflow's flow maps vs the flow_matching peer.

    python benchmarks/meanflow.py [--quick] [--out PATH]

Writes ``runs/benchmarks/meanflow.json`` by default. One CPU thread; medians of repeats run in a
seeded shuffled order (``bench_timing``).

1. Sampling 4096 points in 2-D (3x128 MLPs, the meanflow-2d networks), untrained weights (the
   cost of a call does not depend on them): ctflow ``flow_map_sample`` with 1, 2 and 4 jumps,
   ctflow ``odeint`` midpoint at 100 NFE of a ``TimeMLP`` velocity, and flow_matching's
   ``ODESolver.sample`` with the same velocity, method and step. No peer library has a one-step
   sampler; the ratio is the peer's 100-NFE time over ctflow's one jump.
2. Training-step cost (loss, backward, Adam) of ``meanflow_loss`` (one ``torch.func.jvp``) and
   ``shortcut_loss`` against ``cfm_loss`` at batch 512 in 2-D and batch 256 in 64-D (3x256):
   what one-step sampling costs at training time.

The quality each budget reaches is measured by the ``meanflow-2d`` and ``meanflow-digits``
experiments (docs/results/meanflow.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from bench_timing import interleaved_medians, write_report  # noqa: E402

from ctflow.flows import cfm_loss, flow_map_sample, meanflow_loss, shortcut_loss  # noqa: E402
from ctflow.nn import FlowMapMLP, TimeMLP  # noqa: E402
from ctflow.paths import CondOTPath  # noqa: E402
from ctflow.solvers import odeint  # noqa: E402

POINTS = 4096
STEP = 0.02  # midpoint, 50 steps = 100 NFE


def bench_sampling(repeats: int) -> dict:
    from flow_matching.solver import ODESolver

    torch.manual_seed(0)
    flow_map = FlowMapMLP(2, hidden=(128,) * 3).eval()
    field = TimeMLP(2, hidden=(128,) * 3).eval()
    x0 = torch.randn(POINTS, 2, generator=torch.Generator().manual_seed(1))
    solver = ODESolver(velocity_model=lambda x, t: field(t, x))
    fns = {
        **{
            f"ctflow {n} jump{'s' if n > 1 else ''}": (lambda n=n: flow_map_sample(flow_map, x0, n))
            for n in (1, 2, 4)
        },
        "ctflow midpoint 100 NFE": lambda: odeint(
            field, x0, [0.0, 1.0], method="midpoint", step_size=STEP
        )[-1],
        "flow_matching midpoint 100 NFE": lambda: solver.sample(
            x_init=x0, step_size=STEP, method="midpoint"
        ),
    }
    with torch.no_grad():
        med = interleaved_medians(fns, repeats)
    peer = med["flow_matching midpoint 100 NFE"]
    rows = [{"sampler": k, "ms": v * 1e3, "peer_over_this": peer / v} for k, v in med.items()]
    print("| sampler | ms per 4096 points | flow_matching 100 NFE / this |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['sampler']} | {row['ms']:.2f} | {row['peer_over_this']:.1f} |", flush=True)
    return {"points": POINTS, "rows": rows}


def bench_training(repeats: int) -> list[dict]:
    rows = []
    print(
        "\n| data | batch | MLP | cfm_loss ms | meanflow_loss ms | shortcut_loss ms | "
        "meanflow / cfm | shortcut / cfm |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for dim, batch, width in ((2, 512, 128), (64, 256, 256)):
        torch.manual_seed(0)
        x1 = torch.randn(batch, dim, generator=torch.Generator().manual_seed(2))
        path = CondOTPath()
        nets = {
            "cfm": TimeMLP(dim, hidden=(width,) * 3),
            "meanflow": FlowMapMLP(dim, hidden=(width,) * 3),
            "shortcut": FlowMapMLP(dim, hidden=(width,) * 3),
        }
        losses = {
            "cfm": lambda net: cfm_loss(net, path, x1),
            "meanflow": lambda net: meanflow_loss(net, path, x1),
            "shortcut": lambda net: shortcut_loss(net, path, x1),
        }
        fns = {}
        for name, net in nets.items():
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)

            def step(net=net, opt=opt, loss=losses[name]):
                for _ in range(5):
                    opt.zero_grad()
                    loss(net).backward()
                    opt.step()

            fns[name] = step
        med = {k: v / 5 * 1e3 for k, v in interleaved_medians(fns, repeats).items()}
        row = {
            "dim": dim,
            "batch": batch,
            "width": width,
            **{f"{k}_ms": v for k, v in med.items()},
            "meanflow_over_cfm": med["meanflow"] / med["cfm"],
            "shortcut_over_cfm": med["shortcut"] / med["cfm"],
        }
        rows.append(row)
        print(
            f"| {dim}-d | {batch} | 3x{width} | {med['cfm']:.2f} | {med['meanflow']:.2f} | "
            f"{med['shortcut']:.2f} | {row['meanflow_over_cfm']:.2f} | "
            f"{row['shortcut_over_cfm']:.2f} |",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--out", default="runs/benchmarks/meanflow.json")
    args = parser.parse_args(argv)
    try:
        import flow_matching  # noqa: F401
    except ImportError as err:
        print(f"{err}: install the peer first (make bench-deps)")
        return 1
    torch.set_num_threads(1)
    versions = {"torch": torch.__version__, "flow_matching": version("flow_matching")}
    print(", ".join(f"{k} {v}" for k, v in versions.items()) + ", 1 thread\n")
    repeats = 3 if args.quick else 9
    sampling = bench_sampling(repeats)
    training = bench_training(repeats)
    write_report(args.out, {**versions, "threads": 1, "sampling": sampling, "training": training})
    return 0


if __name__ == "__main__":
    # run as a script, this folder comes first on sys.path; keep it behind site-packages so that
    # `import flow_matching` finds the peer, not benchmarks/flow_matching.py
    if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
        sys.path.append(sys.path.pop(0))
    sys.exit(main())
