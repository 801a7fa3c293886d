"""Discrete flow matching: ctflow against the flow_matching peer (Meta), speed and sampler accuracy.

    python benchmarks/discrete_flow_matching.py [--quick] [--out PATH]

Writes ``runs/benchmarks/discrete_flow_matching.json`` by default. One CPU thread; medians of
repeats run in a seeded shuffled order (``bench_timing``).

1. Training step (path sample, forward, generalised KL loss, backward, Adam) on a mask-source
   mixture path with ``kappa(t) = t^2``: ctflow's ``discrete_fm_loss`` against the peer's
   ``MixtureDiscreteProbPath`` + ``MixturePathGeneralizedKL``, the same ``SequenceTransformer``
   body for both (the peer's reads logits over the mask token too, as its loss requires).
2. Sampling 128 sequences of 32 characters (65 + mask tokens) in 64 steps: ctflow's
   ``discrete_sample`` against the peer's ``MixtureDiscreteEulerSolver``.
3. Sampler accuracy with the exact posterior of a known target (the 4^3 HyperGrid reward
   distribution, posterior by Bayes' rule): total variation between 200,000 samples and the
   target, per number of steps. ctflow redraws each token with the step's exact switching
   probability ``(kappa(s) - kappa(t)) / (1 - kappa(t))``; the peer jumps with
   ``1 - exp(-h kappa'/(1 - kappa))``. With the exact posterior, the remaining error is the
   factorisation of simultaneous jumps, which shrinks with the step.
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

from ctflow.flows import ExactMaskedPosterior, discrete_fm_loss, discrete_sample  # noqa: E402
from ctflow.gfn import HyperGrid  # noqa: E402
from ctflow.nn import SequenceTransformer  # noqa: E402
from ctflow.paths import MixtureDiscretePath  # noqa: E402

VOCAB, POWER = 65, 2.0


def _peer_path():
    from flow_matching.path import MixtureDiscreteProbPath
    from flow_matching.path.scheduler import PolynomialConvexScheduler

    return MixtureDiscreteProbPath(scheduler=PolynomialConvexScheduler(n=POWER))


class _PeerModel(torch.nn.Module):
    """The peer's model convention: ``model(x=..., t=...)`` returns probabilities."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, t, **extras):
        return torch.softmax(self.net(t, x), -1)


def bench_training(repeats: int, shapes) -> list[dict]:
    from flow_matching.loss import MixturePathGeneralizedKL

    path = MixtureDiscretePath(VOCAB, "mask", power=POWER)
    peer_path = _peer_path()
    peer_loss = MixturePathGeneralizedKL(peer_path)
    rows = []
    print("| batch x length | width x depth | ctflow ms | flow_matching ms | peer / ctflow |")
    print("|---|---|---|---|---|")
    for batch, length, width, depth in shapes:
        size = dict(length=length, width=width, depth=depth, heads=4)
        torch.manual_seed(0)
        ours = SequenceTransformer(VOCAB + 1, VOCAB, **size)
        torch.manual_seed(0)
        theirs = SequenceTransformer(VOCAB + 1, VOCAB + 1, **size)
        gen = torch.Generator().manual_seed(1)
        x1 = torch.randint(VOCAB, (batch, length), generator=gen)
        opt_a = torch.optim.Adam(ours.parameters(), lr=1e-3)
        opt_b = torch.optim.Adam(theirs.parameters(), lr=1e-3)

        def ctflow_step():
            for _ in range(3):
                opt_a.zero_grad()
                discrete_fm_loss(ours, path, x1).backward()
                opt_a.step()

        def peer_step():
            for _ in range(3):
                opt_b.zero_grad()
                t = torch.rand(batch) * (1 - 1e-3)
                x0 = torch.full_like(x1, VOCAB)
                sample = peer_path.sample(x_0=x0, x_1=x1, t=t)
                logits = theirs(sample.t, sample.x_t)
                peer_loss(logits, x1, sample.x_t, sample.t).backward()
                opt_b.step()

        med = interleaved_medians({"ctflow": ctflow_step, "peer": peer_step}, repeats)
        a, b = med["ctflow"] / 3 * 1e3, med["peer"] / 3 * 1e3
        rows.append(
            dict(
                batch=batch,
                length=length,
                width=width,
                depth=depth,
                ctflow_ms=a,
                peer_ms=b,
                peer_over_ctflow=b / a,
            )
        )
        print(
            f"| {batch} x {length} | {width} x {depth} | {a:.2f} | {b:.2f} | {b / a:.2f} |",
            flush=True,
        )
    return rows


def bench_sampling(repeats: int) -> dict:
    from flow_matching.solver import MixtureDiscreteEulerSolver

    n, length, steps = 128, 32, 64
    path = MixtureDiscretePath(VOCAB, "mask", power=POWER)
    torch.manual_seed(0)
    net = SequenceTransformer(VOCAB + 1, VOCAB + 1, length=length, width=64, depth=2).eval()
    ours = lambda t, x: net(t, x)[..., :VOCAB]  # noqa: E731 (the same body, data logits)
    solver = MixtureDiscreteEulerSolver(_PeerModel(net), _peer_path(), vocabulary_size=VOCAB + 1)
    x_init = torch.full((n, length), VOCAB)
    fns = {
        "ctflow": lambda: discrete_sample(ours, path, n, length, steps=steps),
        "peer": lambda: solver.sample(x_init=x_init, step_size=1 / steps),
    }
    with torch.no_grad():
        med = interleaved_medians(fns, repeats)
    a, b = med["ctflow"] * 1e3, med["peer"] * 1e3
    print("\n| sampler | ms per 128 x 32 tokens, 64 steps | peer / ctflow |")
    print("|---|---|---|")
    print(f"| ctflow `discrete_sample` | {a:.1f} | {b / a:.2f} |")
    print(f"| flow_matching `MixtureDiscreteEulerSolver` | {b:.1f} | 1.00 |", flush=True)
    return dict(
        sequences=n, length=length, steps=steps, ctflow_ms=a, peer_ms=b, peer_over_ctflow=b / a
    )


def bench_accuracy(samples: int) -> list[dict]:
    from flow_matching.solver import MixtureDiscreteEulerSolver

    v, length = 4, 3
    env = HyperGrid(ndim=length, height=v)
    states, target = env.reward_distribution()
    order = (states * v ** torch.arange(length - 1, -1, -1)).sum(-1).argsort()
    states, target = states[order], target[order]
    oracle = ExactMaskedPosterior(states, target, v)
    radix = v ** torch.arange(length - 1, -1, -1)
    path = MixtureDiscretePath(v, "mask", power=POWER)

    def peer_model(x, t, **extras):
        probs = oracle(t, x).exp()
        return torch.cat([probs, torch.zeros(*probs.shape[:-1], 1, dtype=probs.dtype)], -1)

    class Wrapped(torch.nn.Module):
        def forward(self, x, t, **extras):
            return peer_model(x, t)

    solver = MixtureDiscreteEulerSolver(Wrapped(), _peer_path(), vocabulary_size=v + 1)

    def tv(x):
        law = torch.bincount((x * radix).sum(-1), minlength=v**length).double() / len(x)
        return float(0.5 * (law - target).abs().sum())

    rows = []
    print("\n| steps | ctflow TV | flow_matching TV |")
    print("|---|---|---|")
    torch.manual_seed(0)
    for steps in (2, 4, 8, 16, 64):
        a = tv(
            discrete_sample(
                oracle,
                path,
                samples,
                length,
                steps=steps,
                generator=torch.Generator().manual_seed(steps),
            )
        )
        with torch.no_grad():
            b = tv(
                solver.sample(
                    x_init=torch.full((samples, length), v),
                    step_size=1 / steps,
                    dtype_categorical=torch.float64,
                )
            )
        rows.append(dict(steps=steps, ctflow_tv=a, peer_tv=b))
        print(f"| {steps} | {a:.4f} | {b:.4f} |", flush=True)
    # the sampling noise floor: two exact draws of the same size
    floor = tv(states[torch.multinomial(target, samples, True)])
    print(f"\nnoise floor (exact draws of {samples}): {floor:.4f}")
    return [*rows, dict(steps=None, noise_floor=floor)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and samples")
    parser.add_argument("--out", default="runs/benchmarks/discrete_flow_matching.json")
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
    shapes = [(128, 16, 64, 2)] if args.quick else [(128, 16, 64, 2), (64, 64, 128, 4)]
    training = bench_training(repeats, shapes)
    sampling = bench_sampling(repeats)
    accuracy = bench_accuracy(20_000 if args.quick else 200_000)
    write_report(
        args.out,
        {
            **versions,
            "threads": 1,
            "training": training,
            "sampling": sampling,
            "accuracy": accuracy,
        },
    )
    return 0


if __name__ == "__main__":
    # run as a script, this folder comes first on sys.path; keep it behind site-packages so that
    # `import flow_matching` finds the peer, not benchmarks/flow_matching.py
    if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
        sys.path.append(sys.path.pop(0))
    sys.exit(main())
