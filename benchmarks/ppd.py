"""PPD training cost vs manifold dimension, against maximum likelihood and geodesic flow matching.

    python benchmarks/ppd.py [--quick] [--out runs/benchmarks/ppd.json]

Pinned configuration, float32, one CPU thread, medians of interleaved repeats. On flat tori T^d
(d = 2 ... 50) and spheres S^d (d = 2, 10), the same tangent field (MLP 3 x 64, silu) and a
batch of 256; the target path is a mixture of 4 wrapped-normal (torus) or vMF (sphere) kernels,
and on S^2 also a kernel density of 4096 points (the size of the earth experiments), where PPD's
closed-form target derivatives are timed against autograd through the same density
(``ppd-exact-autograd``: ``log_mass_residual`` on ``path.log_prob``).
One training iteration = loss, backward, Adam step:

- PPD: sample (t, x_t ~ p_t), the target's derivatives, the residual with the exact divergence
  (d backward passes, vmapped) or Hutchinson's (one Rademacher probe); no ODE solve.
- maximum likelihood: -log q(x) of a data batch through dopri5 (atol = rtol = 1e-5, as in the
  experiments), backpropagated through the solver, exact or Hutchinson divergence. Its cost
  depends on the field's stiffness; here it is measured at initialisation (the cheapest it gets).
- RFM: geodesic conditional flow matching (one field evaluation, no divergence).

The ratio columns divide each method's time by PPD's (Hutchinson) at the same dimension.
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

from ctflow.flows import RiemannianCNF, TangentField  # noqa: E402
from ctflow.manifolds import FlatTorus, Sphere  # noqa: E402
from ctflow.ppd import (  # noqa: E402
    KernelMixturePath,
    geodesic_fm_loss,
    log_mass_residual,
    ppd_loss,
)

BATCH = 256


def make_step(method: str, manifold, path, data, seed: int = 0):
    """A closure running one training iteration of ``method``."""
    torch.manual_seed(seed)
    field = TangentField(manifold, hidden=(64, 64, 64))
    opt = torch.optim.Adam(field.parameters(), lr=1e-4)  # small: keep the field near its init
    gen = torch.Generator().manual_seed(seed)
    kind, _, div = method.partition("-")
    div = "exact" if div == "exact-autograd" else div
    flow = RiemannianCNF(field, manifold, atol=1e-5, rtol=1e-5, divergence=div or "exact")

    def step():
        if method == "ppd-exact-autograd":
            t = 1e-4 + (1 - 2e-4) * torch.rand(BATCH, generator=gen)
            x = path.sample_x(t, gen)
            loss = log_mass_residual(field, path.log_prob, manifold, t, x).pow(2).mean()
        elif kind == "ppd":
            loss = ppd_loss(field, path, BATCH, divergence=div, generator=gen)
        elif kind == "rfm":
            loss = geodesic_fm_loss(field, manifold, data, generator=gen)
        else:
            loss = -flow().log_prob(data).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def bench(spaces, repeats: int, mle_max_dim: int):
    rows = []
    for name, manifold, n_centers in spaces:
        gen = torch.Generator().manual_seed(0)
        centers = manifold.random_uniform(n_centers, generator=gen)
        # a kernel density of many points gets the earth experiments' narrow kernels
        end = 0.5 if n_centers <= 4 else 0.05
        path = KernelMixturePath(manifold, centers, scale_start=1.5, scale_end=end)
        data = path.sample_x(torch.ones(BATCH), gen)
        methods = ["ppd-hutchinson", "ppd-exact", "rfm", "mle-hutchinson"]
        if manifold.dim <= mle_max_dim:
            methods.append("mle-exact")
        if n_centers > 4 and isinstance(manifold, Sphere):
            methods.append("ppd-exact-autograd")
        fns = {m: make_step(m, manifold, path, data) for m in methods}
        med = interleaved_medians(fns, repeats)
        base = med["ppd-hutchinson"]
        for m in methods:
            rows.append(
                {
                    "space": name,
                    "dim": manifold.dim,
                    "kernels": n_centers,
                    "method": m,
                    "ms": med[m] * 1e3,
                    "ratio_to_ppd_hutchinson": med[m] / base,
                }
            )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument("--out", default="runs/benchmarks/ppd.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    repeats = 3 if args.quick else 5
    dims = (2, 10) if args.quick else (2, 5, 10, 20, 50)
    spaces = [(f"T^{d}", FlatTorus(d), 4) for d in dims]
    spaces += [(f"S^{d}", Sphere(d), 4) for d in ((2,) if args.quick else (2, 10))]
    spaces.append(("S^2, 4096 kernels", Sphere(2), 4096))
    print(f"torch {torch.__version__}, 1 thread, float32, batch {BATCH}")
    rows = bench(spaces, repeats, mle_max_dim=10 if args.quick else 20)
    print("\nOne training iteration (ms; ratio = time / PPD-Hutchinson's)\n")
    print("| space | method | ms / iter | ratio |")
    print("|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['space']} | {r['method']} | {r['ms']:.1f} | {r['ratio_to_ppd_hutchinson']:.2f} |"
        )
    write_report(args.out, {"rows": rows, "batch": BATCH, "torch": torch.__version__})


if __name__ == "__main__":
    main()
