"""CP-Flow costs: the inverse vs its tolerance, the log-det gradient (CG surrogate vs exact
Hessian) as the dimension grows, training speed against zuko's MAF and NSF, and VAE training
speed per posterior (Gaussian, zuko IAF, CP-Flow).

    python benchmarks/cpflow.py [--quick] [--parts inverse logdet training vae] [--out FILE]

Pinned configurations, one CPU thread, medians of interleaved repeats (float64 except the VAE):

- inverse: one CP-Flow block (ICNN 2 x 64, D = 2 and 10, initialised on standard normal data),
  batch 256: time of the L-BFGS (+ Newton) inverse and its achieved max |grad F(x) - y| per
  requested tolerance.
- log-det gradient: one block (ICNN 2 x 64), batch 64: forward + backward of sum(log det H) by
  the exact Hessian (D Hessian-vector products with graph, slogdet) vs the stochastic estimator
  (one Rademacher probe, CG to atol 1e-3, surrogate backward), over D; the crossover is the
  smallest D where the stochastic one is faster.
- training: iterations/s of one maximum-likelihood step (batch 256, D = 2) for CP-Flow (4 blocks,
  ICNN 2 x 32) vs zuko MAF and NSF with a matched parameter count; ratio = zuko / CP-Flow time.
- VAE posteriors: iterations/s of one ELBO training step (batch 128, float32, binarised digits)
  of the ``cpflow-vae`` models (full size, matched parameter counts): Gaussian, IAF (zuko MADE
  transforms) and CP-Flow posteriors (stochastic log-det gradient; also with the exact one);
  ratio = the model's time / the IAF model's.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.append(sys.path.pop(0))

import torch  # noqa: E402
from bench_timing import interleaved_medians, write_report  # noqa: E402

from ctflow.experiments import make_config  # noqa: E402
from ctflow.experiments.cpflow_vae import build_models, digits_data  # noqa: E402
from ctflow.flows import (
    CPFlow,  # noqa: E402
    matched_baseline,  # noqa: E402
)
from ctflow.flows.cpflow import ConvexPotential, ConvexPotentialTransform  # noqa: E402
from ctflow.nn import parameter_count  # noqa: E402


def block(D: int, hidden=(64, 64), seed: int = 0) -> ConvexPotential:
    torch.manual_seed(seed)
    potential = ConvexPotential(D, hidden=hidden).double()
    potential.icnn.initialize(torch.randn(512, D, dtype=torch.float64))
    return potential


def bench_inverse(dims, tolerances, repeats):
    rows = []
    for D in dims:
        potential = block(D)
        y = torch.randn(256, D, dtype=torch.float64) * 1.5
        for tol in tolerances:
            t = ConvexPotentialTransform(potential, inverse_tol=tol, inverse_max_iter=500)
            with torch.no_grad():
                x = t.inv(y)
                achieved = float((potential.gradient(x) - y).abs().max())
            med = interleaved_medians({"inverse": lambda t=t: t.inv(y)}, repeats)
            rows.append(
                {"D": D, "tol": tol, "ms": med["inverse"] * 1e3, "achieved_residual": achieved}
            )
    print("\nInverse (batch 256), ms per batch\n")
    print("| D | requested tol | time (ms) | achieved max abs(grad F(x) - y) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['D']} | {r['tol']:.0e} | {r['ms']:.1f} | {r['achieved_residual']:.1e} |")
    return rows


def bench_logdet(dims, repeats):
    rows = []
    for D in dims:
        potential = block(D)
        x = torch.randn(64, D, dtype=torch.float64)
        exact = ConvexPotentialTransform(potential, logdet="exact")
        stoch = ConvexPotentialTransform(potential, logdet="stochastic", cg_tol=1e-3)

        def step(t):
            potential.zero_grad()
            t.call_and_ladj(x)[1].sum().backward()

        # above 16 dims the stochastic mode's *value* is a Lanczos estimate; both are timed as
        # a training step would run them
        med = interleaved_medians(
            {"exact": lambda: step(exact), "stochastic": lambda: step(stoch)}, repeats
        )
        rows.append(
            {
                "D": D,
                "exact_ms": med["exact"] * 1e3,
                "stochastic_ms": med["stochastic"] * 1e3,
                "exact_over_stochastic": med["exact"] / med["stochastic"],
            }
        )
    print("\nLog-det forward + backward (batch 64), ms\n")
    print("| D | exact Hessian | CG surrogate (1 probe) | exact / stochastic |")
    print("|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['D']} | {r['exact_ms']:.1f} | {r['stochastic_ms']:.1f} | "
            f"{r['exact_over_stochastic']:.2f} |"
        )
    faster = [r["D"] for r in rows if r["exact_over_stochastic"] > 1]
    crossover = faster[0] if faster else None
    print(f"\ncrossover: the stochastic estimator is faster from D = {crossover}")
    return rows, crossover


def _time_training_steps(models, loss, repeats, reference, title):
    """Interleaved medians of one Adam step on ``loss(model)`` per model; prints a table of
    ms / step, iterations / s and time relative to ``models[reference]``."""
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in models.items()}

    def step(name):
        opts[name].zero_grad()
        loss(models[name]).backward()
        opts[name].step()

    med = interleaved_medians({k: (lambda k=k: step(k)) for k in models}, repeats)
    rows = [
        {
            "model": k,
            "parameters": parameter_count(m),
            "ms_per_step": med[k] * 1e3,
            "iterations_per_s": 1 / med[k],
            f"time_over_{reference}": med[k] / med[reference],
        }
        for k, m in models.items()
    ]
    print(f"\n{title}, matched parameter counts\n")
    print(f"| model | parameters | ms / step | iterations / s | time / {reference}'s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['parameters']} | {r['ms_per_step']:.1f} | "
            f"{r['iterations_per_s']:.1f} | {r[f'time_over_{reference}']:.2f} |"
        )
    return rows


def bench_training(repeats):
    torch.manual_seed(0)
    cp = CPFlow(2, blocks=4, hidden=(32, 32)).double()
    cp.initialize(torch.randn(512, 2, dtype=torch.float64))
    models = {"cpflow": cp}
    for kind in ("maf", "nsf"):
        models[kind] = matched_baseline(kind, 2, parameter_count(cp), 4).double()
    x = torch.randn(256, 2, dtype=torch.float64)
    return _time_training_steps(
        models,
        lambda m: -m().log_prob(x).mean(),
        repeats,
        "cpflow",
        "Training step (batch 256, D = 2)",
    )


def bench_vae(repeats):
    config = make_config("cpflow-vae")
    models = build_models(config)
    exact = build_models(config)["cpflow"]
    for layer in exact.posterior.layers:
        layer.options["logdet"] = "exact"
    models["cpflow-exact-logdet"] = exact
    x = digits_data(config.likelihood, 0, config.validation_fraction)[0][:128]
    return _time_training_steps(
        models,
        lambda m: -m.elbo(x).mean(),
        repeats * 3,
        "iaf",
        "VAE training step (batch 128, binarised digits, latent 8)",
    )


PARTS = ("inverse", "logdet", "training", "vae")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--out", default="runs/benchmarks/cpflow.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    repeats = 3 if args.quick else 7
    print(f"torch {torch.__version__}, 1 thread")
    report: dict = {"torch": torch.__version__}
    if "inverse" in args.parts:
        report["inverse"] = bench_inverse(
            (2,) if args.quick else (2, 10), (1e-2, 1e-4, 1e-6, 1e-8), max(2, repeats // 2)
        )
    if "logdet" in args.parts:
        dims = (2, 8, 32) if args.quick else (2, 4, 8, 16, 32, 64, 128)
        report["logdet"], report["crossover_dim"] = bench_logdet(dims, repeats)
    if "training" in args.parts:
        report["training"] = bench_training(repeats)
    if "vae" in args.parts:
        report["vae_posteriors"] = bench_vae(repeats)
    write_report(args.out, report)


if __name__ == "__main__":
    main()
