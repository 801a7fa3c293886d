"""Solver and divergence speed: ctflow vs the eager limit, torchdiffeq and flow_matching.

    python benchmarks/solvers.py [--quick] [--no-compile] [--out runs/benchmarks/solvers.json]

Pinned configurations: MLP vector fields of width 64 and 256 (three hidden layers, SiLU), batch
128 and 4096, dimension 2 and 64, 100 fixed steps on [0, 1], no gradients (sampling). Times are
medians over repeats, with the implementations interleaved within each repeat so that machine
noise hits all of them alike. One CPU thread.

- ``eager``: a bare Python loop of network calls and the same arithmetic (the eager limit).
- ``ctflow``: ``ctflow.solvers.odeint`` with the same method and step.
- ``torchdiffeq``: ``torchdiffeq.odeint`` with the same method and ``step_size`` (its rk4 is the
  3/8 rule: same order and NFE).
- ``compiled``: ``ctflow.solvers.odeint(..., compile=True)``: each RK step (every stage and the
  update) is one ``torch.compile`` graph; compile time is excluded (warm-up).
- divergence: exact divergence of a 2D field, ctflow's ``divergence`` vs the per-coordinate
  autograd loop that the ``flow_matching`` package runs in ``ODESolver.compute_likelihood``, both at
  one call (evaluation) and as a training step (divergence, then backward).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
# Run as a script, this folder comes first on sys.path, and benchmarks/flow_matching.py would
# shadow the flow_matching package that the divergence comparison imports: move that entry
# behind site-packages (it stays importable for bench_timing).
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.append(sys.path.pop(0))

import torch  # noqa: E402
import torchdiffeq  # noqa: E402
from bench_timing import interleaved_medians, write_report  # noqa: E402

from ctflow.nn import TimeMLP  # noqa: E402
from ctflow.ops import divergence  # noqa: E402
from ctflow.solvers import odeint  # noqa: E402

STEPS = 100
WIDTHS = (64, 256)
BATCHES = (128, 4096)
DIMS = (2, 64)
METHODS = ("euler", "rk4")


def eager_loop(net, x, method: str, steps: int = STEPS):
    """The eager limit: network calls in a Python loop with the method's arithmetic inlined."""
    h = 1.0 / steps
    for i in range(steps):
        t = torch.full((), i * h)
        if method == "euler":
            x = torch.add(x, net(t, x), alpha=h)
        else:
            k1 = net(t, x)
            k2 = net(t + 0.5 * h, torch.add(x, k1, alpha=0.5 * h))
            k3 = net(t + 0.5 * h, torch.add(x, k2, alpha=0.5 * h))
            k4 = net(t + h, torch.add(x, k3, alpha=h))
            x = x + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def ctflow_solve(net, x, method: str, compile: bool = False):
    return odeint(net, x, [0.0, 1.0], method=method, step_size=1.0 / STEPS, compile=compile)[-1]


def torchdiffeq_solve(net, x, method: str):
    t = torch.tensor([0.0, 1.0])
    return torchdiffeq.odeint(net, x, t, method=method, options={"step_size": 1.0 / STEPS})[-1]


def bench_odeint(quick: bool, compile_: bool) -> list[dict]:
    rows = []
    configs = [(w, b, d) for w in WIDTHS for b in BATCHES for d in DIMS]
    if quick:
        configs = [(64, 128, 2), (256, 4096, 64)]
    for width, batch, dim in configs:
        torch.manual_seed(0)
        net = TimeMLP(dim, hidden=(width,) * 3).eval()
        x = torch.randn(batch, dim)
        for method in METHODS:
            nfe = STEPS * (1 if method == "euler" else 4)
            cost = width * width * batch * nfe
            repeats = 3 if cost > 5e10 else (5 if cost > 5e9 else 11)
            fns = {
                "eager": lambda: eager_loop(net, x, method),
                "ctflow": lambda: ctflow_solve(net, x, method),
                "torchdiffeq": lambda: torchdiffeq_solve(net, x, method),
            }
            if compile_:
                fns["compiled"] = lambda: ctflow_solve(net, x, method, compile=True)
            with torch.no_grad():
                try:
                    med = interleaved_medians(fns, repeats)
                except Exception as err:  # noqa: BLE001 - torch.compile may be unavailable
                    print(
                        f"torch.compile failed ({type(err).__name__}: {err}); skipping it",
                        file=sys.stderr,
                    )
                    compile_ = False
                    fns.pop("compiled")
                    med = interleaved_medians(fns, repeats)
            row = {
                "width": width,
                "batch": batch,
                "dim": dim,
                "method": method,
                "nfe": nfe,
                "repeats": repeats,
                **{f"{k}_us_per_nfe": v / nfe * 1e6 for k, v in med.items()},
                "ctflow_over_eager": med["ctflow"] / med["eager"],
                "torchdiffeq_over_ctflow": med["torchdiffeq"] / med["ctflow"],
            }
            if "compiled" in med:
                row["compiled_over_eager"] = med["compiled"] / med["eager"]
            rows.append(row)
            print(_odeint_line(row), flush=True)
    return rows


def _odeint_line(r: dict) -> str:
    compiled = f"{r['compiled_over_eager']:.3f}" if "compiled_over_eager" in r else "n/a"
    return (
        f"| {r['width']} | {r['batch']} | {r['dim']} | {r['method']} | "
        f"{r['eager_us_per_nfe']:.1f} | {r['ctflow_us_per_nfe']:.1f} | "
        f"{r['torchdiffeq_us_per_nfe']:.1f} | {r['ctflow_over_eager']:.3f} | "
        f"{r['torchdiffeq_over_ctflow']:.3f} | {compiled} |"
    )


def peer_divergence(f, t, x):
    """The per-coordinate autograd loop of flow_matching's compute_likelihood (exact mode)."""
    try:
        from flow_matching.utils.utils import gradient
    except ImportError as err:  # benchmarks/flow_matching.py answers to the name when the
        # peer is missing, hence a confusing "not a package"
        raise SystemExit(
            "the divergence benchmark needs Meta's flow-matching package: run `make bench-deps` "
            "(or `--only odeint`)"
        ) from err

    with torch.set_grad_enabled(True):
        x.requires_grad_()
        ut = f(t, x)
        div = 0
        for i in range(ut.flatten(1).shape[1]):
            div += gradient(ut[:, i], x, create_graph=True)[:, i]
    return ut, div


def bench_divergence(quick: bool) -> list[dict]:
    try:
        import flow_matching  # noqa: F401
    except ImportError:
        print("flow_matching is not installed (make bench-deps): divergence rows skipped")
        return []
    rows = []
    configs = [(w, b) for w in WIDTHS for b in BATCHES]
    if quick:
        configs = [(64, 128), (256, 4096)]
    for width, batch in configs:
        torch.manual_seed(0)
        net = TimeMLP(2, hidden=(width,) * 3)
        x = torch.randn(batch, 2)
        t = torch.tensor(0.5)
        _, d_peer = peer_divergence(net, t, x.clone())
        _, d_ours = divergence(net, t, x)
        max_diff = float((d_peer - d_ours).abs().max())

        def train(fn):
            def step():
                _, div = fn()
                div.sum().backward()

            return step

        repeats = 7 if batch * width * width > 1e8 else 31
        with torch.no_grad():
            ev = interleaved_medians(
                {
                    "peer": lambda: peer_divergence(net, t, x.clone()),
                    "ctflow": lambda: divergence(net, t, x),
                },
                repeats,
            )
        tr = interleaved_medians(
            {
                "peer": train(lambda: peer_divergence(net, t, x.clone())),
                "ctflow": train(lambda: divergence(net, t, x)),
            },
            repeats,
        )
        row = {
            "width": width,
            "batch": batch,
            "max_abs_diff": max_diff,
            "eval_peer_ms": ev["peer"] * 1e3,
            "eval_ctflow_ms": ev["ctflow"] * 1e3,
            "eval_speedup": ev["peer"] / ev["ctflow"],
            "train_peer_ms": tr["peer"] * 1e3,
            "train_ctflow_ms": tr["ctflow"] * 1e3,
            "train_speedup": tr["peer"] / tr["ctflow"],
        }
        rows.append(row)
        print(
            f"| {width} | {batch} | {row['eval_peer_ms']:.2f} | {row['eval_ctflow_ms']:.2f} | "
            f"{row['eval_speedup']:.2f} | {row['train_peer_ms']:.2f} | "
            f"{row['train_ctflow_ms']:.2f} | {row['train_speedup']:.2f} | {max_diff:.1e} |",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two configurations only")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument(
        "--only", choices=("odeint", "divergence"), default=None, help="run one of the two parts"
    )
    parser.add_argument("--out", default="runs/benchmarks/solvers.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    # one compiled step serves every configuration here: allow a graph per network and shape
    torch._dynamo.config.recompile_limit = 64
    print(f"torch {torch.__version__}, torchdiffeq {torchdiffeq.__version__}, 1 thread\n")
    print("Fixed-step odeint, microseconds per function evaluation (median), no gradients\n")
    print(
        "| width | batch | dim | method | eager | ctflow | torchdiffeq | ctflow / eager "
        "(target <= 1.02) | torchdiffeq / ctflow (target >= 1.0) | compiled / eager "
        "(target < 1) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    odeint_rows = [] if args.only == "divergence" else bench_odeint(args.quick, not args.no_compile)
    print("\nExact divergence of a 2D MLP field (ms per call, median)\n")
    print(
        "| width | batch | eval: flow_matching loop | eval: ctflow | speedup (target >= 1.5) | "
        "train: flow_matching loop | train: ctflow | speedup | max abs diff |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    div_rows = [] if args.only == "odeint" else bench_divergence(args.quick)
    write_report(
        args.out, {"torch": torch.__version__, "odeint": odeint_rows, "divergence": div_rows}
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
