"""Cost of the divergence-free constructions (``ctflow.fields``) against a plain network.

    python benchmarks/divfree.py [--quick] [--out runs/benchmarks/divfree.json]

Pinned configuration: tanh MLPs with two hidden layers of width 64, batch 256, one CPU thread,
float32, dimension n in {2, 3, 4, 6, 10} (quick: {2, 4, 10}). For each n:

- ``plain``: an unconstrained ``MLP(n, n)``: one forward and one backward (loss = sum of squares).
- ``matrix``: ``MatrixField(n)`` (potential network ``MLP(n, n(n-1)/2)``): u = div A by one
  forward-mode Jacobian, then backward to the parameters.
- ``vector``: ``VectorField(n)`` (potential ``MLP(n, n)``): u = Lap b - grad div b by a Hessian,
  then backward.

Times are medians over repeats with the three interleaved within each repeat. Columns: ms per
batch (forward + backward, and forward alone under ``no_grad``), each construction's ratio to the
plain network's forward + backward, and vector / matrix.

A second table checks exactness: the largest |div u| over 256 standard-normal points, the
divergence being the trace of the full Jacobian taken by reverse-mode autograd (independent of
the forward-mode derivatives inside the constructions), in float64 and float32, next to the mean
|div| of the plain network.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from bench_timing import interleaved_medians, write_report  # noqa: E402

from ctflow.fields import MatrixField, VectorField  # noqa: E402
from ctflow.nn import MLP  # noqa: E402

DIMS = (2, 3, 4, 6, 10)
QUICK_DIMS = (2, 4, 10)
HIDDEN = (64, 64)
BATCH = 256


def _train_step(model, y):
    def step():
        model.zero_grad(set_to_none=True)
        model(y).pow(2).sum().backward()

    return step


def _forward(model, y):
    def call():
        with torch.no_grad():
            model(y)

    return call


def bench(dims, repeats: int) -> list[dict]:
    rows = []
    for n in dims:
        torch.manual_seed(0)
        models = {
            "plain": MLP(n, n, hidden=HIDDEN, act="tanh"),
            "matrix": MatrixField(n, hidden=HIDDEN, act="tanh"),
            "vector": VectorField(n, hidden=HIDDEN, act="tanh"),
        }
        y = torch.randn(BATCH, n)
        train = interleaved_medians({k: _train_step(m, y) for k, m in models.items()}, repeats)
        forward = interleaved_medians({k: _forward(m, y) for k, m in models.items()}, repeats)
        row = {"n": n, "batch": BATCH, "hidden": list(HIDDEN), "repeats": repeats}
        row.update({f"{k}_train_ms": v * 1e3 for k, v in train.items()})
        row.update({f"{k}_forward_ms": v * 1e3 for k, v in forward.items()})
        row["matrix_over_plain"] = train["matrix"] / train["plain"]
        row["vector_over_plain"] = train["vector"] / train["plain"]
        row["vector_over_matrix"] = train["vector"] / train["matrix"]
        row["vector_over_matrix_forward"] = forward["vector"] / forward["matrix"]
        rows.append(row)
        print(
            f"| {n} | {row['plain_train_ms']:.2f} | {row['matrix_train_ms']:.2f} | "
            f"{row['vector_train_ms']:.2f} | {row['matrix_forward_ms']:.2f} | "
            f"{row['vector_forward_ms']:.2f} | {row['matrix_over_plain']:.1f} | "
            f"{row['vector_over_plain']:.1f} | {row['vector_over_matrix']:.2f} | "
            f"{row['vector_over_matrix_forward']:.2f} |",
            flush=True,
        )
    return rows


def _autograd_divergence(model, y):
    y = y.clone().requires_grad_(True)
    u = model(y)
    rows = [
        torch.autograd.grad(u[:, i].sum(), y, retain_graph=True)[0][:, i]
        for i in range(y.shape[-1])
    ]
    return torch.stack(rows).sum(0).detach()


def exactness(dims) -> list[dict]:
    rows = []
    for n in dims:
        row = {"n": n}
        for dtype, tag in ((torch.float64, "float64"), (torch.float32, "float32")):
            torch.manual_seed(n)
            y = torch.randn(BATCH, n, dtype=dtype)
            for name, cls in (("plain", MLP), ("matrix", MatrixField), ("vector", VectorField)):
                args = (n, n) if name == "plain" else (n,)
                model = cls(*args, hidden=HIDDEN, act="tanh").to(dtype)
                div = _autograd_divergence(model, y).abs()
                key = f"{name}_{'mean' if name == 'plain' else 'max'}_abs_div_{tag}"
                row[key] = float(div.mean() if name == "plain" else div.max())
        rows.append(row)
        print(
            f"| {n} | {row['matrix_max_abs_div_float64']:.1e} "
            f"| {row['vector_max_abs_div_float64']:.1e} "
            f"| {row['matrix_max_abs_div_float32']:.1e} "
            f"| {row['vector_max_abs_div_float32']:.1e} "
            f"| {row['plain_mean_abs_div_float64']:.2f} |",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three dimensions, fewer repeats")
    parser.add_argument("--out", default="runs/benchmarks/divfree.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, batch {BATCH}, tanh MLP {HIDDEN}\n")
    print(
        "| n | plain fwd+bwd (ms) | matrix fwd+bwd | vector fwd+bwd | matrix fwd | vector fwd | "
        "matrix / plain | vector / plain | vector / matrix | vector / matrix (fwd) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = bench(QUICK_DIMS if args.quick else DIMS, 5 if args.quick else 11)
    print("\nExactness: max |div u| by autograd (plain network: mean |div|)\n")
    print("| n | matrix f64 | vector f64 | matrix f32 | vector f32 | plain f64 (mean) |")
    print("|---|---|---|---|---|---|")
    checks = exactness((2, 3, 4, 10))
    payload = {"torch": torch.__version__, "rows": rows, "exactness": checks}
    write_report(args.out, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
