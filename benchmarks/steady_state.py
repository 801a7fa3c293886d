"""Differentiable steady states: ctflow vs QuTiP, gradient cost, and implicit gradient vs BPTT.

    python benchmarks/steady_state.py [--quick] [--out runs/benchmarks/steady_state.json]

Random Lindbladians from ``random_lindbladian(n, k=2, seed=n)``, complex128, one CPU thread.
Times are medians over repeats, with the implementations interleaved within each repeat so that
machine noise hits all of them alike.

- forward: ``steady_state(L, method="direct")`` given ``L`` ("solve only") and with ``L`` built
  by ``liouvillian`` inside the timing ("build + solve"), vs ``qutip.steadystate(H, c_ops)`` with
  its default method (its Qobjs are built outside the timing). Ratio: qutip / ctflow.
- gradient cost: ``H = H0 + sum_p theta_p V_p`` (P - k random Hermitian ``V_p``) and collapse
  operators scaled by ``exp(theta_{P-k+j} / 2)`` (the log-rates), ``P = 8``, objective
  ``Re Tr(O rho_ss)`` for a random Hermitian ``O``. Forward (no graph) vs forward + backward, and
  central finite differences over all ``P`` parameters (``2P`` forwards) vs forward + backward.
- implicit vs BPTT: the same model at ``n = 3``; fixed-step RK4 on ``vec(rho)`` from the
  maximally mixed state over a fixed time ``T`` (so that the final state is converged) in
  ``steps`` steps, differentiated by backprop through every step, vs ``steady_state`` + its
  implicit backward. Memory is the bytes of the tensors that autograd saves for backward
  (``saved_tensors_hooks``; distinct storages, so the Liouvillian that every step reuses counts
  once), plus the LU factors that ``steady_state`` keeps on its autograd node.
- at scale: a driven, damped Kerr cavity of ``n`` levels (sparse H and collapse operator, as
  users model cavities and chains), ``n`` = 10 to 150. ``steady_state_of(H, c, method="sparse")``
  (sparse Liouvillian + SuperLU, build included) vs ``qutip.steadystate(H, c_ops)`` (which builds
  its Liouvillian inside); the dense path where it fits; the gradient of the photon number
  w.r.t. the drive (forward + implicit backward) against the forward; memory as the bytes of
  the sparse Liouvillian and of its LU factors. A figure of time against ``n`` goes next to the
  JSON.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
# Run as a script, this folder comes first on sys.path, and benchmarks/flow_matching.py would
# shadow the flow_matching package: move that entry behind site-packages (as in solvers.py).
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.append(sys.path.pop(0))

import torch  # noqa: E402
from bench_timing import interleaved_medians, write_report  # noqa: E402

from ctflow.quantum import (  # noqa: E402
    liouvillian,
    random_lindbladian,
    sparse_liouvillian,
    steady_state,
    steady_state_of,
    vec,
)

SIZES = (3, 5, 10, 20, 30, 40)
QUICK_SIZES = (3, 10, 20)
N_PARAMS = 8
N_COLLAPSE = 2
FD_EPS = 1e-6
BPTT_N = 3
HORIZONS = (1_000, 10_000, 100_000)
QUICK_HORIZONS = (1_000, 10_000)
# Final state of the time evolution must be this close (max abs) to rho_ss.
EVOLUTION_TOL = 1e-8


def repeats_for(n: int) -> int:
    return 3 if n >= 30 else (7 if n >= 20 else 21)


# --------------------------------------------------------------------------------------------
# 1. forward solve vs qutip


def bench_forward(sizes: tuple[int, ...]) -> list[dict]:
    import qutip

    rows = []
    for n in sizes:
        H, c_ops = random_lindbladian(n, k=N_COLLAPSE, seed=n)
        L = liouvillian(H, c_ops)
        Hq = qutip.Qobj(H.numpy())
        cq = [qutip.Qobj(c.numpy()) for c in c_ops]
        with torch.no_grad():
            rho = steady_state(L, method="direct")
            rho_q = qutip.steadystate(Hq, cq).full()
            max_diff = float((rho - torch.from_numpy(rho_q)).abs().max())
            med = interleaved_medians(
                {
                    "solve": lambda: steady_state(L, method="direct"),
                    "build_solve": lambda: steady_state(liouvillian(H, c_ops), method="direct"),
                    "qutip": lambda: qutip.steadystate(Hq, cq),
                },
                repeats_for(n),
            )
        row = {
            "n": n,
            "dim_L": n * n,
            "repeats": repeats_for(n),
            "solve_ms": med["solve"] * 1e3,
            "build_solve_ms": med["build_solve"] * 1e3,
            "qutip_ms": med["qutip"] * 1e3,
            "qutip_over_solve": med["qutip"] / med["solve"],
            "qutip_over_build_solve": med["qutip"] / med["build_solve"],
            "max_abs_diff": max_diff,
        }
        rows.append(row)
        print(
            f"| {n} | {n * n} | {row['solve_ms']:.3f} | {row['build_solve_ms']:.3f} | "
            f"{row['qutip_ms']:.3f} | {row['qutip_over_solve']:.2f} | "
            f"{row['qutip_over_build_solve']:.2f} | {max_diff:.1e} |",
            flush=True,
        )
    return rows


# --------------------------------------------------------------------------------------------
# 1b. at scale: a Kerr cavity, sparse path vs qutip

SCALE_SIZES = (10, 20, 40, 60, 100, 150)
QUICK_SCALE_SIZES = (20, 60)
DENSE_LIMIT = 40  # the dense path's L has n^4 entries: 41 MB at n = 40, 8 GB at 150


def kerr_cavity(n: int, drive):
    a = torch.diag(torch.arange(1, n, dtype=torch.float64).sqrt(), 1).to(torch.complex128)
    ad = a.mH
    H = -0.5 * ad @ a + 0.1 * ad @ ad @ a @ a + drive * (a + ad)
    return H, [a]


def bench_scale(sizes: tuple[int, ...]) -> list[dict]:
    import qutip
    from scipy.sparse.linalg import splu

    from ctflow.quantum.sparse import _bordered

    rows = []
    for n in sizes:
        drive = torch.tensor(0.8, dtype=torch.float64)
        H, c_ops = kerr_cavity(n, drive)
        # CSR, as qutip.destroy(n) gives: a Qobj made from a NumPy array holds dense data, and
        # qutip then solves densely (65 s at n = 100 instead of 73 ms)
        Hq = qutip.Qobj(H.numpy()).to("csr")
        cq = [qutip.Qobj(c.numpy()).to("csr") for c in c_ops]
        number = torch.arange(n, dtype=torch.float64)

        def grad():
            d = drive.clone().requires_grad_(True)
            Hd, cd = kerr_cavity(n, d)
            photons = torch.diagonal(steady_state_of(Hd, cd, method="sparse")).real @ number
            photons.backward()
            return d.grad

        fns = {
            "sparse": lambda: steady_state_of(H, c_ops, method="sparse"),
            "grad": grad,
            "qutip": lambda: qutip.steadystate(Hq, cq),
        }
        if n <= DENSE_LIMIT:
            fns["dense"] = lambda: steady_state(liouvillian(H, c_ops))
        with torch.no_grad():
            rho = steady_state_of(H, c_ops, method="sparse")
            max_diff = float((rho - torch.from_numpy(qutip.steadystate(Hq, cq).full())).abs().max())
        med = interleaved_medians(fns, 5 if n >= 60 else 9)
        L = sparse_liouvillian(H, c_ops)
        # the factors the forward keeps for the backward, with the forward's options
        lu = splu(
            _bordered(L, n),
            permc_spec="MMD_AT_PLUS_A",
            diag_pivot_thresh=0.1,
            options={"SymmetricMode": True},
        )
        row = {
            "n": n,
            "dim_L": n * n,
            "nnz_L": int(L.nnz),
            "lu_mb": (lu.L.nnz + lu.U.nnz) * 16 / 1e6,
            "sparse_ms": med["sparse"] * 1e3,
            "grad_ms": med["grad"] * 1e3,
            "grad_over_forward": med["grad"] / med["sparse"],
            "qutip_ms": med["qutip"] * 1e3,
            "qutip_over_sparse": med["qutip"] / med["sparse"],
            "dense_ms": med["dense"] * 1e3 if "dense" in med else None,
            "max_abs_diff": max_diff,
        }
        rows.append(row)
        dense = f"{row['dense_ms']:.1f}" if row["dense_ms"] is not None else "-"
        print(
            f"| {n} | {n * n} | {row['nnz_L']} | {row['lu_mb']:.1f} | {dense} | "
            f"{row['sparse_ms']:.1f} | {row['qutip_ms']:.1f} | {row['qutip_over_sparse']:.2f} | "
            f"{row['grad_ms']:.1f} | {row['grad_over_forward']:.2f} | {max_diff:.1e} |",
            flush=True,
        )
    return rows


def scale_figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["n"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=80)
    ax.loglog(n, [r["qutip_ms"] for r in rows], "s-", label="qutip.steadystate")
    ax.loglog(n, [r["sparse_ms"] for r in rows], "o-", label="ctflow sparse (build + solve)")
    ax.loglog(n, [r["grad_ms"] for r in rows], "o--", label="ctflow sparse, forward + gradient")
    dense = [(r["n"], r["dense_ms"]) for r in rows if r["dense_ms"] is not None]
    if dense:
        ax.loglog(*zip(*dense), "^:", label="ctflow dense (build + solve)")
    ax.set_xlabel("levels n (Liouvillian n^2 x n^2)")
    ax.set_ylabel("ms (median)")
    ax.set_title("Kerr cavity steady state, one CPU thread", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {path}")


# --------------------------------------------------------------------------------------------
# 2. gradient cost


class Model:
    """``theta -> (H, c_ops)``: Hamiltonian directions and log-rates around a random system."""

    def __init__(self, n: int, n_params: int = N_PARAMS, k: int = N_COLLAPSE, seed: int = 0):
        self.n, self.k = n, k
        self.H0, self.c0 = random_lindbladian(n, k=k, seed=seed)
        g = torch.Generator().manual_seed(seed + 1)
        a = torch.randn(n_params - k + 1, n, n, generator=g, dtype=torch.complex128)
        herm = (a + a.mH) / (2 * n**0.5)
        self.V, self.O = herm[:-1], herm[-1]
        self.theta0 = 0.1 * torch.randn(n_params, generator=g, dtype=torch.float64)

    def operators(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, log_rates = theta[: -self.k], theta[-self.k :]
        H = self.H0 + torch.einsum("p,pij->ij", h.to(torch.complex128), self.V)
        c_ops = self.c0 * torch.exp(0.5 * log_rates).to(torch.complex128)[:, None, None]
        return H, c_ops

    def build_L(self, theta: torch.Tensor) -> torch.Tensor:
        return liouvillian(*self.operators(theta))

    def observable(self, rho: torch.Tensor) -> torch.Tensor:
        return torch.einsum("ij,ji->", self.O, rho).real

    def objective(self, theta: torch.Tensor) -> torch.Tensor:
        return self.observable(steady_state(self.build_L(theta), method="direct"))


def forward_only(model: Model, theta: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.objective(theta)


def forward_backward(model: Model, theta: torch.Tensor) -> torch.Tensor:
    theta = theta.detach().requires_grad_()
    model.objective(theta).backward()
    return theta.grad


def finite_differences(model: Model, theta: torch.Tensor, eps: float = FD_EPS) -> torch.Tensor:
    grad = torch.empty_like(theta)
    with torch.no_grad():
        for p in range(theta.numel()):
            step = torch.zeros_like(theta)
            step[p] = eps
            grad[p] = (model.objective(theta + step) - model.objective(theta - step)) / (2 * eps)
    return grad


def bench_gradient(sizes: tuple[int, ...]) -> list[dict]:
    rows = []
    for n in sizes:
        model = Model(n, seed=n)
        theta = model.theta0
        g_ad = forward_backward(model, theta)
        g_fd = finite_differences(model, theta)
        rel = float((g_ad - g_fd).norm() / g_ad.norm())
        med = interleaved_medians(
            {
                "forward": lambda: forward_only(model, theta),
                "forward_backward": lambda: forward_backward(model, theta),
                "fd": lambda: finite_differences(model, theta),
            },
            repeats_for(n),
        )
        row = {
            "n": n,
            "P": N_PARAMS,
            "repeats": repeats_for(n),
            "forward_ms": med["forward"] * 1e3,
            "forward_backward_ms": med["forward_backward"] * 1e3,
            "fd_ms": med["fd"] * 1e3,
            "fwdbwd_over_forward": med["forward_backward"] / med["forward"],
            "fd_over_fwdbwd": med["fd"] / med["forward_backward"],
            "grad_vs_fd_rel_diff": rel,
        }
        rows.append(row)
        print(
            f"| {n} | {row['forward_ms']:.3f} | {row['forward_backward_ms']:.3f} | "
            f"{row['fwdbwd_over_forward']:.2f} | {row['fd_ms']:.2f} | "
            f"{row['fd_over_fwdbwd']:.1f} | {rel:.1e} |",
            flush=True,
        )
    return rows


# --------------------------------------------------------------------------------------------
# 3. implicit gradient vs backprop through time


def rk4_final_state(L: torch.Tensor, n: int, t_final: float, steps: int) -> torch.Tensor:
    """Fixed-step RK4 for ``d x/dt = L x`` from the maximally mixed state; returns rho(T)."""
    h = t_final / steps
    x = vec(torch.eye(n, dtype=torch.complex128) / n)
    for _ in range(steps):
        k1 = torch.mv(L, x)
        k2 = torch.mv(L, x + (0.5 * h) * k1)
        k3 = torch.mv(L, x + (0.5 * h) * k2)
        k4 = torch.mv(L, x + h * k3)
        x = x + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
    return x.reshape(n, n).transpose(0, 1)


def bptt_objective(model: Model, theta: torch.Tensor, t_final: float, steps: int):
    rho = rk4_final_state(model.build_L(theta), model.n, t_final, steps)
    return model.observable(rho), rho


def bptt_grad(model: Model, theta: torch.Tensor, t_final: float, steps: int) -> torch.Tensor:
    theta = theta.detach().requires_grad_()
    bptt_objective(model, theta, t_final, steps)[0].backward()
    return theta.grad


class SavedBytes:
    """Distinct storages that autograd saves for backward, while the hooks are active."""

    def __init__(self):
        self.storages: dict[int, int] = {}
        self.packed = 0

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        self.packed += 1
        storage = t.untyped_storage()
        self.storages[storage.data_ptr()] = storage.nbytes()
        return t

    @property
    def nbytes(self) -> int:
        return sum(self.storages.values())


def _ctx_factor_bytes(root) -> int:
    """Bytes of tensors that autograd.Function nodes keep as plain ctx attributes (LU factors)."""
    seen, stack, total = set(), [root], 0
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        factors = getattr(node, "factors", None)
        if factors is not None:
            total += sum(f.untyped_storage().nbytes() for f in factors)
        stack.extend(nxt for nxt, _ in node.next_functions)
    return total


def saved_bytes(make_loss, ctx_factors: bool = False) -> tuple[int, int]:
    """(bytes saved for backward, number of packed tensors) of the graph that make_loss builds.

    ``ctx_factors`` also walks the graph for LU factors kept on autograd nodes (only for short
    graphs: walking the 10^5-step BPTT graph from Python crashes the interpreter).
    """
    counter = SavedBytes()
    with torch.autograd.graph.saved_tensors_hooks(counter.pack, lambda t: t):
        loss = make_loss()
    total = counter.nbytes + (_ctx_factor_bytes(loss.grad_fn) if ctx_factors else 0)
    del loss
    return total, counter.packed


def relaxation_time(model: Model, theta: torch.Tensor) -> tuple[float, float]:
    """Spectral gap of L and a horizon T after which every state is within EVOLUTION_TOL."""
    with torch.no_grad():
        ev = torch.linalg.eigvals(model.build_L(theta))
    rates = (-ev.real).sort().values
    gap = float(rates[1])  # rates[0] ~ 0 is the steady state
    return gap, 1.5 * math.log(1 / EVOLUTION_TOL) / gap


def bench_bptt(horizons: tuple[int, ...]) -> tuple[list[dict], dict]:
    model = Model(BPTT_N, seed=BPTT_N)
    theta = model.theta0
    gap, t_final = relaxation_time(model, theta)
    with torch.no_grad():
        L = model.build_L(theta)
        rho_ss = steady_state(L)
        radius = float(torch.linalg.eigvals(L).abs().max())
    g_imp = forward_backward(model, theta)

    def implicit_loss():
        th = theta.detach().requires_grad_()
        return model.objective(th)

    imp_bytes, imp_packed = saved_bytes(implicit_loss, ctx_factors=True)
    imp_time = interleaved_medians({"implicit": lambda: forward_backward(model, theta)}, 101)
    implicit = {
        "time_ms": imp_time["implicit"] * 1e3,
        "saved_bytes": imp_bytes,
        "packed_tensors": imp_packed,
    }
    info = {
        "n": BPTT_N,
        "P": N_PARAMS,
        "spectral_gap": gap,
        "t_final": t_final,
        "max_abs_eigenvalue": radius,
    }
    print(
        f"n = {BPTT_N}, P = {N_PARAMS}, spectral gap {gap:.4f}, T = {t_final:.1f} "
        f"(same T for every horizon, dt = T / steps), max |eig L| = {radius:.3f}\n"
    )
    print(
        "| steps | dt | final max abs(rho(T) - rho_ss) | BPTT time (s) | BPTT saved MB | "
        "implicit time (ms) | implicit saved MB | BPTT / implicit time | BPTT / implicit "
        "memory | grad rel diff |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for steps in horizons:
        dt = t_final / steps

        def bptt_loss():
            th = theta.detach().requires_grad_()
            return bptt_objective(model, th, t_final, steps)[0]

        nbytes, packed = saved_bytes(bptt_loss)
        with torch.no_grad():
            _, rho_T = bptt_objective(model, theta, t_final, steps)
        residual = float((rho_T - rho_ss).abs().max())
        if steps <= 10_000:
            med = interleaved_medians(
                {"bptt": lambda: bptt_grad(model, theta, t_final, steps)}, repeats=3
            )
            g_bptt = bptt_grad(model, theta, t_final, steps)
        else:  # one run, no warm-up: it is both the timing and the gradient
            t0 = time.perf_counter()
            g_bptt = bptt_grad(model, theta, t_final, steps)
            med = {"bptt": time.perf_counter() - t0}
        rel = float((g_bptt - g_imp).norm() / g_imp.norm())
        row = {
            "steps": steps,
            "dt": dt,
            "final_residual": residual,
            "bptt_time_s": med["bptt"],
            "bptt_saved_bytes": nbytes,
            "bptt_packed_tensors": packed,
            "implicit_time_ms": implicit["time_ms"],
            "implicit_saved_bytes": imp_bytes,
            "time_ratio": med["bptt"] / imp_time["implicit"],
            "memory_ratio": nbytes / imp_bytes,
            "grad_rel_diff": rel,
        }
        rows.append(row)
        print(
            f"| {steps:.0e} | {dt:.3g} | {residual:.1e} | {med['bptt']:.2f} | "
            f"{nbytes / 2**20:.2f} | {implicit['time_ms']:.3f} | {imp_bytes / 2**20:.4f} | "
            f"{row['time_ratio']:.0f} | {row['memory_ratio']:.0f} | {rel:.1e} |",
            flush=True,
        )
    return rows, {**info, "implicit": implicit}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="sizes 3, 10, 20 and horizons up to 1e4 only"
    )
    parser.add_argument(
        "--only",
        choices=("forward", "scale", "gradient", "bptt"),
        default=None,
        help="run one part",
    )
    parser.add_argument("--out", default="runs/benchmarks/steady_state.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sizes = QUICK_SIZES if args.quick else SIZES
    horizons = QUICK_HORIZONS if args.quick else HORIZONS
    try:
        import qutip

        qutip_version = qutip.__version__
    except ImportError:
        qutip_version = None
    print(f"torch {torch.__version__}, qutip {qutip_version}, 1 thread, complex128\n")

    forward_rows: list[dict] = []
    if args.only in (None, "forward"):
        print("Forward steady-state solve, ms (median); ratios qutip / ctflow (higher is better)\n")
        print(
            "| n | dim L | ctflow solve only (L given) | ctflow build L + solve | "
            "qutip.steadystate | qutip / solve only | qutip / build + solve (target >= 1) | "
            "max abs diff |"
        )
        print("|---|---|---|---|---|---|---|---|")
        if qutip_version is None:
            print("qutip is not installed: forward rows skipped")
        else:
            forward_rows = bench_forward(sizes)

    scale_rows: list[dict] = []
    if args.only in (None, "scale") and qutip_version is not None:
        print("\nAt scale: a Kerr cavity of n levels, ms (median); ratio qutip / ctflow sparse\n")
        print(
            "| n | dim L | nnz L | LU factors (MB) | ctflow dense | ctflow sparse | "
            "qutip.steadystate | qutip / sparse (target >= 1) | sparse fwd + grad | "
            "(fwd + grad) / fwd (target <= 2) | max abs diff |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        scale_rows = bench_scale(QUICK_SCALE_SIZES if args.quick else SCALE_SIZES)
        scale_figure(scale_rows, Path(args.out).with_name("steady_state_scale.png"))

    gradient_rows: list[dict] = []
    if args.only in (None, "gradient"):
        print(
            f"\nGradient of Re Tr(O rho_ss) over P = {N_PARAMS} parameters (ms, median); "
            "forward has no graph\n"
        )
        print(
            "| n | forward | forward + backward | (fwd + bwd) / fwd (target <= 2) | "
            f"central FD ({2 * N_PARAMS} forwards) | FD / (fwd + bwd) | grad vs FD rel diff |"
        )
        print("|---|---|---|---|---|---|---|")
        gradient_rows = bench_gradient(sizes)

    bptt_rows: list[dict] = []
    bptt_info: dict = {}
    if args.only in (None, "bptt"):
        print(
            "\nImplicit gradient vs backprop through RK4 time evolution (memory: saved tensors)\n"
        )
        bptt_rows, bptt_info = bench_bptt(horizons)

    write_report(
        args.out,
        {
            "torch": torch.__version__,
            "qutip": qutip_version,
            "forward": forward_rows,
            "scale": scale_rows,
            "gradient": gradient_rows,
            "bptt": {**bptt_info, "rows": bptt_rows},
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
