"""SDE-BNN training throughput and memory: solver backends, adjoint, weight-path sharing, baselines.

    python benchmarks/sdebnn.py [--quick] [--out runs/benchmarks/sdebnn.json]

Pinned setup: the ``sdebnn-digits`` model (64 inputs, 10 classes, trunk state 16, field width 16,
so P = 560 weights follow the SDE; hypernetwork width 32), batch 128 of random inputs and labels,
10 solver steps on [0, 1], Adam. One training step = forward (solve + KL), backward, Adam update.
Rows:

* ``sdebnn native`` (the baseline of the ratios): native Euler-Maruyama, a weight path per
  example, path-KL estimator, backprop through the solver;
* ``sdebnn native stl``: the same with the sticking-the-landing estimator;
* ``sdebnn native shared``: one weight path shared by the minibatch;
* ``sdebnn torchsde``: torchsde's Euler (``torchsde.sdeint``), backprop through the solver;
* ``sdebnn torchsde adjoint``: ``torchsde.sdeint_adjoint``;
* ``odenet`` and ``mfvi``: the baselines on the same trunk (Euler, 10 steps).

Times are medians over repeats with all rows interleaved within each repeat, one CPU thread;
examples/s = 128 / time. Memory is the bytes of the distinct tensor storages autograd saves for
backward while the forward builds the graph (``torch.autograd.graph.saved_tensors_hooks``), at 10
and 100 steps: it is what backprop must keep alive, the part of peak memory that grows with the
step count. It does not count the transient working memory of the adjoint's backward solve.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from bench_timing import interleaved_medians, write_report  # noqa: E402

from ctflow.bayes import SDEBNN, MeanFieldBNN, ODENet  # noqa: E402

BATCH, STEPS, N_DATA = 128, 10, 1438
COMMON = dict(state=16, field_hidden=16, steps=STEPS)
ROWS = {
    "sdebnn native": lambda: SDEBNN(64, 10, **COMMON),
    "sdebnn native stl": lambda: SDEBNN(64, 10, estimator="stl", **COMMON),
    "sdebnn native shared": lambda: SDEBNN(64, 10, shared_path=True, **COMMON),
    "sdebnn torchsde": lambda: SDEBNN(64, 10, backend="torchsde", **COMMON),
    "sdebnn torchsde adjoint": lambda: SDEBNN(64, 10, backend="torchsde", adjoint=True, **COMMON),
    "odenet": lambda: ODENet(64, 10, **COMMON),
    "mfvi": lambda: MeanFieldBNN(64, 10, **COMMON),
}
BASELINE = "sdebnn native"


class _SavedBytes:
    def __init__(self) -> None:
        self.storages: dict[int, int] = {}

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        self.storages[storage.data_ptr()] = storage.nbytes()
        return t


def saved_bytes(model, x, y, steps: int) -> int:
    counter = _SavedBytes()
    gen = torch.Generator().manual_seed(0)
    model.steps = steps
    with torch.autograd.graph.saved_tensors_hooks(counter.pack, lambda t: t):
        loss, _ = model.loss(x, y, N_DATA, generator=gen)
    loss.backward()
    model.steps = STEPS
    return sum(counter.storages.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats")
    parser.add_argument("--out", default="runs/benchmarks/sdebnn.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = torch.randn(BATCH, 64), torch.randint(0, 10, (BATCH,))
    models = {name: make() for name, make in ROWS.items()}
    with torch.no_grad():  # leave the prior so every estimator does its full work
        for model in models.values():
            if isinstance(model, SDEBNN):
                model.posterior.net[-1].weight.normal_(0, 0.01)
    optims = {name: torch.optim.Adam(m.parameters(), 1e-3) for name, m in models.items()}
    gens = {name: torch.Generator().manual_seed(1) for name in models}

    def step_fn(name):
        def step():
            loss, _ = models[name].loss(x, y, N_DATA, generator=gens[name])
            optims[name].zero_grad()
            loss.backward()
            optims[name].step()

        return step

    repeats = 5 if args.quick else 20
    times = interleaved_medians({name: step_fn(name) for name in models}, repeats)
    memory = {
        name: {s: saved_bytes(m, x, y, s) for s in (STEPS, 10 * STEPS)}
        for name, m in models.items()
    }
    print(f"torch {torch.__version__}, 1 thread, batch {BATCH}, {STEPS} steps, {repeats} repeats\n")
    print(
        f"| model | params | ms / step | examples / s | time / {BASELINE} | "
        f"saved MB, {STEPS} steps | saved MB, {10 * STEPS} steps |"
    )
    print("|---|---|---|---|---|---|---|")
    rows = []
    for name, model in models.items():
        row = {
            "model": name,
            "parameters": sum(p.numel() for p in model.parameters()),
            "ms_per_step": 1e3 * times[name],
            "examples_per_s": BATCH / times[name],
            "time_ratio_vs_baseline": times[name] / times[BASELINE],
            "saved_bytes": {str(k): v for k, v in memory[name].items()},
        }
        rows.append(row)
        mb = [memory[name][s] / 2**20 for s in (STEPS, 10 * STEPS)]
        print(
            f"| {name} | {row['parameters']} | {row['ms_per_step']:.1f} | "
            f"{row['examples_per_s']:.0f} | {row['time_ratio_vs_baseline']:.2f} | "
            f"{mb[0]:.2f} | {mb[1]:.2f} |"
        )
    payload = {
        "torch": torch.__version__,
        "threads": 1,
        "batch": BATCH,
        "steps": STEPS,
        "repeats": repeats,
        "baseline": BASELINE,
        "rows": rows,
    }
    write_report(args.out, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
