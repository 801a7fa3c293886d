"""Flow matching end to end: ctflow vs flow_matching (Meta) and torchcfm, side by side.

    python benchmarks/flow_matching.py [--quick] [--growth] [--out PATH]

Writes ``runs/benchmarks/flow_matching.json`` by default (and the growth figure beside it).

Pinned setup: 2-D checkerboard data (``ctflow.data.sample_toy``), the same network for every
library (ctflow's ``TimeMLP``, three hidden layers of width 128 or 512, SiLU, time concatenated),
Adam with lr 1e-3, the CondOT path with ``sigma_min = 0``. Only the library code around the
network differs, so the ratios measure library overhead. Times are medians over repeats, with the
implementations interleaved within each repeat so that machine noise hits all of them alike. One
CPU thread. Ratios are peer time / ctflow time (above 1: ctflow is faster).

1. Training step (batch 256 and 4096): draw ``x0 ~ N(0, I)`` and ``t ~ U(0, 1)``, form the
   conditional sample and target, forward, MSE, backward, Adam step. ctflow: ``cfm_loss``;
   flow_matching: ``AffineProbPath(CondOTScheduler()).sample`` and the MSE to ``dx_t``; torchcfm:
   ``ConditionalFlowMatcher(sigma=0).sample_location_and_conditional_flow`` and the MSE to ``ut``.
   Every library sees the same data batches; each trains its own copy of the same initial network.
   A check first evaluates the three losses at shared ``(x0, t, x1)``: they must agree. Two more
   columns: "ctflow fused" is the same step with ``make_optimizer(..., fused=True)`` (ctflow's
   opt-in fused Adam), and "floor" is the bare step with no library code at all (the network, an
   inline path, the MSE and torch's Adam): no library on the stock optimiser can beat it by more
   than its own overhead, so it bounds what removing overhead can buy.
2. Sampling (4096 points, midpoint, 50 steps = 100 NFE, no gradients): ctflow ``odeint``;
   flow_matching ``ODESolver.sample``; torchcfm has no sampler and its examples call
   ``torchdiffeq.odeint`` on the model, so that column is ``torchdiffeq.odeint``.
3. Exact log-likelihood (2048 points, midpoint, 50 steps from t = 1 to 0): ctflow
   ``CNF(...)().log_prob`` (closed-form divergence of the MLP) vs flow_matching
   ``ODESolver.compute_likelihood(exact_divergence=True)`` (one autograd pass per coordinate).
   torchcfm has no likelihood. The two log-densities must agree (same ODE, method and grid).
   The log-density is an integral along the path that never feeds back, so ctflow evaluates the
   divergence only at stages of non-zero weight (``IntegralDynamics``): one per midpoint step.
4. torch.compile (width 128): ctflow's training step with ``torch.compile(cfm_loss)`` and fused
   Adam, and sampling with ``odeint(..., compile=True)``, against the eager peers; the compile
   time (first two calls) is reported apart.
5. ``--growth``: time against batch (training, width 128), and against width (sampling and
   likelihood) for ctflow and the peers, with a figure next to the JSON.

Sampling and likelihood use one network per width, briefly trained with ``cfm_loss`` first so that
the field is not the near-zero one of a fresh initialisation. Peers get the network through a plain
function with the argument order they expect (flow_matching: ``model(x=..., t=...)``).
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
# Run as a script, this file's directory comes first on sys.path and its name would shadow the
# flow_matching package: move that entry behind site-packages so that `import flow_matching`
# finds the peer (the folder stays importable for bench_timing).
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.append(sys.path.pop(0))

import torch  # noqa: E402
import torchdiffeq  # noqa: E402
from bench_timing import interleaved_medians, write_report  # noqa: E402

from ctflow.data import sample_toy  # noqa: E402
from ctflow.flows import CNF, cfm_loss  # noqa: E402
from ctflow.nn import TimeMLP  # noqa: E402
from ctflow.paths import CondOTPath  # noqa: E402
from ctflow.solvers import odeint  # noqa: E402
from ctflow.train import make_optimizer  # noqa: E402

WIDTHS = (128, 512)
TRAIN_BATCHES = (256, 4096)
SAMPLE_POINTS = 4096
LIKELIHOOD_POINTS = 2048
STEP_SIZE = 0.02  # midpoint, 50 steps on [0, 1]: 100 NFE
METHOD = "midpoint"
LR = 1e-3
PRETRAIN_STEPS = 300
PRETRAIN_BATCH = 256
TARGETS = {"training": 1.05, "sampling": 1.05, "likelihood": 1.5, "compiled": 1.3}
GROWTH_BATCHES = (64, 256, 1024, 4096)
GROWTH_WIDTHS = (64, 128, 256, 512)


def make_net(width: int, seed: int = 0) -> TimeMLP:
    torch.manual_seed(seed)
    return TimeMLP(2, hidden=(width,) * 3, act="silu")


def checkerboard(n: int, seed: int) -> torch.Tensor:
    return sample_toy("checkerboard", n, generator=torch.Generator().manual_seed(seed))


def std_normal_log_prob(x: torch.Tensor) -> torch.Tensor:
    """``log N(x; 0, I)`` summed over the last dim: flow_matching's ``log_p0`` argument."""
    return -0.5 * x.square().sum(-1) - 0.5 * x.shape[-1] * math.log(2 * math.pi)


class Counter:
    """A field ``f(t, x)`` that counts its evaluations (used only in untimed checks)."""

    def __init__(self, net):
        self.net, self.calls = net, 0

    def __call__(self, t, x):
        self.calls += 1
        return self.net(t, x)


# ---------------------------------------------------------------- training steps


def ctflow_trainer(net, opt):
    path = CondOTPath()

    def step(x1):
        opt.zero_grad()
        loss = cfm_loss(net, path, x1)
        loss.backward()
        opt.step()

    return step


def flow_matching_trainer(net, opt):
    from flow_matching.path import AffineProbPath
    from flow_matching.path.scheduler import CondOTScheduler

    path = AffineProbPath(scheduler=CondOTScheduler())

    def model(x, t):  # flow_matching's velocity signature
        return net(t, x)

    def step(x1):
        opt.zero_grad()
        x0 = torch.randn_like(x1)
        t = torch.rand(x1.shape[0], dtype=x1.dtype)
        sample = path.sample(x_0=x0, x_1=x1, t=t)
        loss = (model(x=sample.x_t, t=sample.t) - sample.dx_t).pow(2).mean()
        loss.backward()
        opt.step()

    return step


def torchcfm_trainer(net, opt):
    from torchcfm import ConditionalFlowMatcher

    matcher = ConditionalFlowMatcher(sigma=0.0)

    def step(x1):
        opt.zero_grad()
        x0 = torch.randn_like(x1)
        t, xt, ut = matcher.sample_location_and_conditional_flow(x0, x1)
        loss = torch.mean((net(t, xt) - ut) ** 2)
        loss.backward()
        opt.step()

    return step


def floor_trainer(net, opt):
    """The step with no library at all: what any library on torch's Adam is bounded by."""

    def step(x1):
        opt.zero_grad()
        x0 = torch.randn_like(x1)
        t = torch.rand(x1.shape[0], dtype=x1.dtype)
        dx = x1 - x0
        x_t = torch.addcmul(x0, t[:, None], dx)
        loss = (net(t, x_t) - dx).square().mean()
        loss.backward()
        opt.step()

    return step


TRAINERS = {
    "ctflow": ctflow_trainer,
    "flow_matching": flow_matching_trainer,
    "torchcfm": torchcfm_trainer,
    "floor": floor_trainer,
}
PEERS = ("flow_matching", "torchcfm")


def loss_check(net, x1: torch.Tensor) -> float:
    """Largest difference between the three libraries' losses at shared ``(x0, t, x1)``."""
    from flow_matching.path import AffineProbPath
    from flow_matching.path.scheduler import CondOTScheduler
    from torchcfm import ConditionalFlowMatcher

    gen = torch.Generator().manual_seed(1)
    x0 = torch.randn(x1.shape, generator=gen)
    t = torch.rand(x1.shape[0], generator=gen)
    with torch.no_grad():
        ours = cfm_loss(net, CondOTPath(), x1, x0=x0, t=t)
        s = AffineProbPath(scheduler=CondOTScheduler()).sample(x_0=x0, x_1=x1, t=t)
        fm = (net(s.t, s.x_t) - s.dx_t).pow(2).mean()
        t_c, xt, ut = ConditionalFlowMatcher(sigma=0.0).sample_location_and_conditional_flow(
            x0, x1, t=t
        )
        tc = torch.mean((net(t_c, xt) - ut) ** 2)
    return max(float((ours - fm).abs()), float((ours - tc).abs()))


def bench_training(quick: bool) -> list[dict]:
    rows = []
    configs = [(w, b) for w in WIDTHS for b in TRAIN_BATCHES]
    if quick:
        configs = [(128, 256)]
    for width, batch in configs:
        work = batch * width * width
        steps = max(2, min(20, int(2e8 / work)))  # steps per timed call
        repeats = 15 if work < 1e7 else (9 if work < 1e8 else 5)
        if quick:
            repeats = 7
        base = make_net(width)
        data = checkerboard(steps * batch, seed=width + batch).reshape(steps, batch, 2)
        max_diff = loss_check(base, data[0])
        fns = training_steps(base, data)
        med = interleaved_medians(fns, repeats)
        row = {
            "width": width,
            "batch": batch,
            "steps_per_call": steps,
            "repeats": repeats,
            "loss_max_abs_diff": max_diff,
            **{f"{k}_ms_per_step": v / steps * 1e3 for k, v in med.items()},
            **{f"{p}_over_ctflow": med[p] / med["ctflow"] for p in PEERS},
            **{f"{p}_over_ctflow_fused": med[p] / med["ctflow_fused"] for p in PEERS},
            "floor_over_ctflow": med["floor"] / med["ctflow"],
        }
        rows.append(row)
        ms = " | ".join(
            f"{row[f'{k}_ms_per_step']:.3f}"
            for k in ("ctflow", "ctflow_fused", "flow_matching", "torchcfm", "floor")
        )
        ratios = " | ".join(
            f"{row[f'{p}_over_ctflow{suffix}']:.3f}" for suffix in ("", "_fused") for p in PEERS
        )
        print(
            f"| 3x{width} | {batch} | {ms} | {ratios} | {row['floor_over_ctflow']:.3f} | "
            f"{max_diff:.1e} |",
            flush=True,
        )
    return rows


def training_steps(base: TimeMLP, data: torch.Tensor) -> dict:
    """One timed callable per column, each training its own copy of ``base`` over ``data``."""
    fns = {}
    for name, trainer in TRAINERS.items():
        net = copy.deepcopy(base)
        step = trainer(net, torch.optim.Adam(net.parameters(), lr=LR))
        fns[name] = lambda step=step: [step(x1) for x1 in data]
        if name == "ctflow":
            net = copy.deepcopy(base)
            step = ctflow_trainer(net, make_optimizer(net.parameters(), "adam", LR, fused=True))
            fns["ctflow_fused"] = lambda step=step: [step(x1) for x1 in data]
    return fns


# ---------------------------------------------------------------- sampling and likelihood


def pretrained_net(width: int) -> TimeMLP:
    """The width's network after a short ctflow CFM training on the checkerboard."""
    net = make_net(width)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    data = checkerboard(PRETRAIN_STEPS * PRETRAIN_BATCH, seed=7).reshape(
        PRETRAIN_STEPS, PRETRAIN_BATCH, 2
    )
    gen = torch.Generator().manual_seed(8)
    path = CondOTPath()
    for x1 in data:
        opt.zero_grad()
        cfm_loss(net, path, x1, generator=gen).backward()
        opt.step()
    return net.eval()


def samplers(net) -> dict:
    from flow_matching.solver import ODESolver

    solver = ODESolver(velocity_model=lambda x, t: net(t, x))
    grid = torch.tensor([0.0, 1.0])
    steps = round(1.0 / STEP_SIZE)

    def floor(x0):  # a bare midpoint loop: no library code
        x, h = x0, 1.0 / steps
        for i in range(steps):
            k1 = net(torch.tensor(i * h), x)
            x = x + h * net(torch.tensor((i + 0.5) * h), x + (0.5 * h) * k1)
        return x

    return {
        "ctflow": lambda x0: odeint(net, x0, [0.0, 1.0], method=METHOD, step_size=STEP_SIZE)[-1],
        "flow_matching": lambda x0: solver.sample(x_init=x0, step_size=STEP_SIZE, method=METHOD),
        "torchcfm": lambda x0: torchdiffeq.odeint(
            net, x0, grid, method=METHOD, options={"step_size": STEP_SIZE}
        )[-1],
        "floor": floor,
    }


def bench_sampling(nets: dict, quick: bool) -> list[dict]:
    rows = []
    x0 = torch.randn(SAMPLE_POINTS, 2, generator=torch.Generator().manual_seed(3))
    for width, net in nets.items():
        # untimed check: the NFE of each and the agreement of the samples
        nfe, out = {}, {}
        with torch.no_grad():
            for name in ("ctflow", "flow_matching", "torchcfm", "floor"):
                counter = Counter(net)
                out[name] = samplers(counter)[name](x0)
                nfe[name] = counter.calls
        max_diff = max(float((out[k] - out["ctflow"]).abs().max()) for k in out)
        fns = {name: (lambda f=f: f(x0)) for name, f in samplers(net).items()}
        repeats = 3 if quick else (7 if width <= 128 else 3)
        with torch.no_grad():
            med = interleaved_medians(fns, repeats)
        row = {
            "width": width,
            "points": SAMPLE_POINTS,
            "method": METHOD,
            "step_size": STEP_SIZE,
            "nfe": nfe,
            "repeats": repeats,
            "max_abs_diff": max_diff,
            **{f"{k}_s": v for k, v in med.items()},
            "flow_matching_over_ctflow": med["flow_matching"] / med["ctflow"],
            "torchcfm_over_ctflow": med["torchcfm"] / med["ctflow"],
            "floor_over_ctflow": med["floor"] / med["ctflow"],
        }
        rows.append(row)
        nfes = "/".join(str(nfe[k]) for k in ("ctflow", "flow_matching", "torchcfm"))
        print(
            f"| 3x{width} | {SAMPLE_POINTS} | {nfes} | {row['ctflow_s']:.3f} | "
            f"{row['flow_matching_s']:.3f} | {row['torchcfm_s']:.3f} | {row['floor_s']:.3f} | "
            f"{row['flow_matching_over_ctflow']:.3f} | {row['torchcfm_over_ctflow']:.3f} | "
            f"{row['floor_over_ctflow']:.3f} | {max_diff:.1e} |",
            flush=True,
        )
    return rows


def likelihoods(net) -> dict:
    from flow_matching.solver import ODESolver

    cnf = CNF(net, 2, method=METHOD, step_size=STEP_SIZE)
    solver = ODESolver(velocity_model=lambda x, t: net(t, x))

    def peer(x):
        _, log_p = solver.compute_likelihood(
            x_1=x,
            log_p0=std_normal_log_prob,
            step_size=STEP_SIZE,
            method=METHOD,
            exact_divergence=True,
            time_grid=torch.tensor([1.0, 0.0]),
        )
        return log_p

    return {"ctflow": lambda x: cnf().log_prob(x), "flow_matching": peer}


def bench_likelihood(nets: dict, quick: bool) -> list[dict]:
    rows = []
    x = checkerboard(LIKELIHOOD_POINTS, seed=5)
    for width, net in nets.items():
        fns = likelihoods(net)
        # each gets its own copy: flow_matching sets requires_grad on the states it is handed
        inputs = {name: x.clone() for name in fns}
        with torch.no_grad():
            log_p = {name: fn(inputs[name]) for name, fn in fns.items()}
        diff = (log_p["flow_matching"] - log_p["ctflow"]).abs()
        repeats = 3 if quick else (5 if width <= 128 else 3)
        timed = {name: (lambda f=f, name=name: f(inputs[name])) for name, f in fns.items()}
        with torch.no_grad():
            med = interleaved_medians(timed, repeats)
        row = {
            "width": width,
            "points": LIKELIHOOD_POINTS,
            "method": METHOD,
            "step_size": STEP_SIZE,
            "repeats": repeats,
            "mean_log_prob_ctflow": float(log_p["ctflow"].mean()),
            "mean_log_prob_flow_matching": float(log_p["flow_matching"].mean()),
            "max_abs_diff": float(diff.max()),
            "mean_abs_diff": float(diff.mean()),
            **{f"{k}_s": v for k, v in med.items()},
            "flow_matching_over_ctflow": med["flow_matching"] / med["ctflow"],
        }
        rows.append(row)
        print(
            f"| 3x{width} | {LIKELIHOOD_POINTS} | {row['ctflow_s']:.3f} | "
            f"{row['flow_matching_s']:.3f} | {row['flow_matching_over_ctflow']:.2f} | "
            f"{row['mean_log_prob_ctflow']:.4f} | {row['max_abs_diff']:.1e} |",
            flush=True,
        )
    return rows


# ---------------------------------------------------------------- torch.compile


def bench_compiled(net: TimeMLP, quick: bool) -> list[dict]:
    """ctflow under torch.compile (training step at batch 256, sampling) against the eager peers."""
    import time

    rows = []
    width = net.net[0].out_features
    batch, steps = 256, 10
    data = checkerboard(steps * batch, seed=11).reshape(steps, batch, 2)
    base = make_net(width)
    path = CondOTPath()

    compiled_net = copy.deepcopy(base)
    opt = make_optimizer(compiled_net.parameters(), "adam", LR, fused=True)
    loss = torch.compile(lambda x1: cfm_loss(compiled_net, path, x1))

    def compiled_step(x1):
        opt.zero_grad()
        loss(x1).backward()
        opt.step()

    start = time.perf_counter()
    compiled_step(data[0])
    compiled_step(data[1])  # the backward graph compiles on the first backward
    compile_s = time.perf_counter() - start
    fns = {k: v for k, v in training_steps(base, data).items() if k in ("ctflow", *PEERS)}
    fns["ctflow_compiled"] = lambda: [compiled_step(x1) for x1 in data]
    med = interleaved_medians(fns, 3 if quick else 9)
    rows.append(_compiled_row("training step", width, batch, med, compile_s, 1e3 / steps))

    x0 = torch.randn(SAMPLE_POINTS, 2, generator=torch.Generator().manual_seed(3))

    def compiled_sample():
        return odeint(net, x0, [0.0, 1.0], method=METHOD, step_size=STEP_SIZE, compile=True)[-1]

    with torch.no_grad():
        start = time.perf_counter()
        compiled_sample()
        compile_s = time.perf_counter() - start
        fns = {k: (lambda f=f: f(x0)) for k, f in samplers(net).items() if k in ("ctflow", *PEERS)}
        fns["ctflow_compiled"] = compiled_sample
        med = interleaved_medians(fns, 3)
    rows.append(_compiled_row("sampling", width, SAMPLE_POINTS, med, compile_s, 1e3))
    return rows


def _compiled_row(what: str, width: int, n: int, med: dict, compile_s: float, scale: float):
    row = {
        "what": what,
        "width": width,
        "n": n,
        "compile_s": compile_s,
        **{f"{k}_ms": v * scale for k, v in med.items()},
        **{f"{p}_over_ctflow_compiled": med[p] / med["ctflow_compiled"] for p in PEERS},
        "ctflow_over_ctflow_compiled": med["ctflow"] / med["ctflow_compiled"],
    }
    print(
        f"| {what} | 3x{width} | {n} | {row['compile_s']:.1f} | {row['ctflow_compiled_ms']:.3f} | "
        f"{row['ctflow_ms']:.3f} | {row['flow_matching_ms']:.3f} | {row['torchcfm_ms']:.3f} | "
        f"{row['flow_matching_over_ctflow_compiled']:.2f} | "
        f"{row['torchcfm_over_ctflow_compiled']:.2f} | {row['ctflow_over_ctflow_compiled']:.2f} |",
        flush=True,
    )
    return row


# ---------------------------------------------------------------- growth curves


def bench_growth() -> dict:
    """Time against batch (training, width 128) and against width (sampling, likelihood)."""
    training = []
    base = make_net(128)
    for batch in GROWTH_BATCHES:
        steps = max(2, min(20, int(2e8 / (batch * 128 * 128))))
        data = checkerboard(steps * batch, seed=batch).reshape(steps, batch, 2)
        fns = {k: v for k, v in training_steps(base, data).items() if k in ("ctflow", *PEERS)}
        med = interleaved_medians(fns, 5)
        training.append({"batch": batch, **{f"{k}_ms": v / steps * 1e3 for k, v in med.items()}})
        print(f"training 3x128 batch {batch}: {training[-1]}", flush=True)
    sampling, likelihood = [], []
    x0 = torch.randn(SAMPLE_POINTS, 2, generator=torch.Generator().manual_seed(3))
    x = checkerboard(LIKELIHOOD_POINTS, seed=5)
    for width in GROWTH_WIDTHS:
        net = pretrained_net(width)
        fns = {k: (lambda f=f: f(x0)) for k, f in samplers(net).items() if k in ("ctflow", *PEERS)}
        with torch.no_grad():
            med = interleaved_medians(fns, 3)
        sampling.append({"width": width, **{f"{k}_s": v for k, v in med.items()}})
        fns = likelihoods(net)
        inputs = {name: x.clone() for name in fns}
        timed = {name: (lambda f=f, name=name: f(inputs[name])) for name, f in fns.items()}
        with torch.no_grad():
            med = interleaved_medians(timed, 3)
        likelihood.append({"width": width, **{f"{k}_s": v for k, v in med.items()}})
        print(f"width {width}: sampling {sampling[-1]}, likelihood {likelihood[-1]}", flush=True)
    return {"training": training, "sampling": sampling, "likelihood": likelihood}


def growth_figure(growth: dict, path: Path) -> None:
    """Times against size (top row) and each peer's time over ctflow's (bottom row)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("training", "batch", "_ms", "training step, 3x128 (ms)", ("ctflow", *PEERS)),
        ("sampling", "width", "_s", "sampling 4096 points, 100 NFE (s)", ("ctflow", *PEERS)),
        (
            "likelihood",
            "width",
            "_s",
            "exact log-likelihood, 2048 points (s)",
            ("ctflow", PEERS[0]),
        ),
    ]
    labels = {"torchcfm": "torchcfm (torchdiffeq for sampling)"}
    fig, axes = plt.subplots(2, 3, figsize=(10.5, 5.4), dpi=80, sharex="col")
    for col, (key, size, unit, title, names) in enumerate(panels):
        rows = growth[key]
        xs = [r[size] for r in rows]
        top, bottom = axes[0, col], axes[1, col]
        for name, marker in zip(names, "os^"):
            times = [r[name + unit] for r in rows]
            top.loglog(xs, times, marker + "-", label=labels.get(name, name))
            if name != "ctflow":
                ratio = [t / r["ctflow" + unit] for t, r in zip(times, rows)]
                bottom.semilogx(xs, ratio, marker + "-", color=f"C{names.index(name)}")
        bottom.axhline(1.0, color="k", lw=0.8)
        top.set_title(title, fontsize=9)
        top.legend(fontsize=7)
        bottom.set(xlabel=size, ylim=(0.8, max(1.3, bottom.get_ylim()[1])))
        for ax in (top, bottom):
            ax.set_xticks(xs, [str(x) for x in xs])
            ax.minorticks_off()
    axes[1, 0].set_ylabel("peer time / ctflow time")
    fig.suptitle("Time against size, one CPU thread (medians)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="width 128 only, training at batch 256, few repeats"
    )
    parser.add_argument(
        "--growth", action="store_true", help="also time against batch and width, with a figure"
    )
    parser.add_argument("--out", default="runs/benchmarks/flow_matching.json")
    args = parser.parse_args(argv)
    try:
        import flow_matching  # noqa: F401
        import torchcfm  # noqa: F401
    except ImportError as err:
        print(f"{err}: install the peers first (flow-matching; torchcfm --no-deps, pot)")
        return 1
    torch.set_num_threads(1)
    versions = {
        "torch": torch.__version__,
        "flow_matching": version("flow_matching"),
        "torchcfm": version("torchcfm"),
        "torchdiffeq": torchdiffeq.__version__,
    }
    print(", ".join(f"{k} {v}" for k, v in versions.items()) + ", 1 thread\n")

    print("Training step, CondOT CFM + Adam (ms per step, median)\n")
    target = TARGETS["training"]
    print(
        "| MLP | batch | ctflow | ctflow fused | flow_matching | torchcfm | floor | "
        f"flow_matching / ctflow (target >= {target}) | torchcfm / ctflow (target >= {target}) | "
        "flow_matching / ctflow fused | torchcfm / ctflow fused | floor / ctflow | "
        "loss max abs diff |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    training = bench_training(args.quick)

    widths = WIDTHS[:1] if args.quick else WIDTHS
    nets = {width: pretrained_net(width) for width in widths}

    print(f"\nSampling, {METHOD} with step {STEP_SIZE}, no gradients (s per solve, median)\n")
    target = TARGETS["sampling"]
    print(
        "| MLP | points | NFE (ctflow/fm/tdq) | ctflow | flow_matching | torchcfm (torchdiffeq) | "
        f"floor | flow_matching / ctflow (target >= {target}) | "
        f"torchcfm / ctflow (target >= {target}) | floor / ctflow | max abs diff |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    sampling = bench_sampling(nets, args.quick)

    print(f"\nExact log-likelihood, {METHOD} with step {STEP_SIZE}, t = 1 -> 0 (s per call)\n")
    print(
        "| MLP | points | ctflow | flow_matching | flow_matching / ctflow "
        f"(target >= {TARGETS['likelihood']}) | mean log p | max abs diff |"
    )
    print("|---|---|---|---|---|---|---|")
    likelihood = bench_likelihood(nets, args.quick)

    target = TARGETS["compiled"]
    print("\ntorch.compile: ctflow compiled against the eager peers (ms per step or solve)\n")
    print(
        "| what | MLP | batch/points | compile s | ctflow compiled | ctflow eager | "
        f"flow_matching | torchcfm | flow_matching / compiled (target >= {target}) | "
        f"torchcfm / compiled (target >= {target}) | ctflow eager / compiled |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    compiled = bench_compiled(nets[WIDTHS[0]], args.quick)

    growth = None
    if args.growth:
        print("\nGrowth curves\n")
        growth = bench_growth()
        growth_figure(growth, Path(args.out).with_name("flow_matching_growth.png"))

    result = {
        **versions,
        "quick": args.quick,
        "threads": 1,
        "lr": LR,
        "pretrain_steps": PRETRAIN_STEPS,
        "targets": TARGETS,
        "training": training,
        "sampling": sampling,
        "likelihood": likelihood,
        "compiled": compiled,
        "growth": growth,
    }
    write_report(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
