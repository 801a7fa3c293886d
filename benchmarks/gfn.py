"""GFlowNet training speed: ctflow.gfn vs torchgfn on the same hypergrid, objective and batch.

    python benchmarks/gfn.py [--quick] [--out runs/benchmarks/gfn.json]

One training iteration = sample a batch of on-policy trajectories, compute the loss, backward,
one Adam step. Both sides use the same hypergrid (original reward, R0 = 0.1), the same k-hot
state encoding, ReLU MLPs with two hidden layers of 256 and the same batch; float32, one CPU
thread, medians of interleaved repeats (each repeat times a block of iterations).

- ctflow: one network whose single pass gives the forward logits, backward logits and log F;
  sampling a trajectory scores it under P_B and F at the same time.
- torchgfn (``gfn`` package): its recommended set-up, separate P_F / P_B (and log F) estimators
  sharing a trunk (``tied``) or not (``untied``), trajectories sampled with
  ``save_logprobs=True`` and the loss computed without recomputing the forward log-probs (the
  fastest on-policy path it offers); P_B and log F are evaluated in the loss, as torchgfn does.

Also checked: both libraries' hypergrid rewards agree on every state (printed).
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

from ctflow.gfn import GFlowNetPolicy, HyperGrid, gfn_loss, sample_trajectories  # noqa: E402

HIDDEN = 256


def ctflow_step_fn(ndim, height, objective, batch):
    torch.manual_seed(0)
    env = HyperGrid(ndim, height)
    policy = GFlowNetPolicy.for_env(env, hidden=(HIDDEN, HIDDEN))
    opt = torch.optim.Adam(
        [
            {"params": policy.net.parameters(), "lr": 1e-3},
            {"params": [policy.raw_log_z], "lr": 1e-1},
        ]
    )
    gen = torch.Generator().manual_seed(0)

    def step():
        traj = sample_trajectories(env, policy, batch, generator=gen)
        loss = gfn_loss(objective, env, policy, traj)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def torchgfn_step_fn(ndim, height, objective, batch, tied: bool):
    from gfn.estimators import DiscretePolicyEstimator, ScalarEstimator
    from gfn.gflownet import DBGFlowNet, SubTBGFlowNet, TBGFlowNet
    from gfn.gym import HyperGrid as TGHyperGrid
    from gfn.preprocessors import KHotPreprocessor
    from gfn.utils.modules import MLP

    torch.manual_seed(0)
    env = TGHyperGrid(
        ndim=ndim,
        height=height,
        reward_fn_kwargs={"R0": 0.1, "R1": 0.5, "R2": 2.0},
        validate_modes=False,
    )
    pre = KHotPreprocessor(height=height, ndim=ndim)
    mlp = dict(hidden_dim=HIDDEN, n_hidden_layers=2)
    module_pf = MLP(input_dim=pre.output_dim, output_dim=env.n_actions, **mlp)
    trunk = module_pf.trunk if tied else None
    module_pb = MLP(input_dim=pre.output_dim, output_dim=env.n_actions - 1, trunk=trunk, **mlp)
    pf = DiscretePolicyEstimator(module_pf, env.n_actions, preprocessor=pre, is_backward=False)
    pb = DiscretePolicyEstimator(module_pb, env.n_actions, preprocessor=pre, is_backward=True)
    if objective == "tb":
        gfn = TBGFlowNet(pf=pf, pb=pb, init_logZ=0.0)
    else:
        module_f = MLP(input_dim=pre.output_dim, output_dim=1, trunk=trunk, **mlp)
        logF = ScalarEstimator(module=module_f, preprocessor=pre)
        if objective == "db":
            gfn = DBGFlowNet(pf=pf, pb=pb, logF=logF)
        else:
            gfn = SubTBGFlowNet(pf=pf, pb=pb, logF=logF, weighting="geometric_within", lamda=0.9)
    logz = [p for n, p in gfn.named_parameters() if "logZ" in n]
    others = [p for n, p in gfn.named_parameters() if "logZ" not in n]
    groups = [{"params": others, "lr": 1e-3}]
    if logz:
        groups.append({"params": logz, "lr": 1e-1})
    opt = torch.optim.Adam(groups)

    def step():
        trajectories = gfn.sample_trajectories(env, n=batch, save_logprobs=True)
        samples = gfn.to_training_samples(trajectories)
        loss = gfn.loss(env, samples, recalculate_all_logprobs=False)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def bench(configs, objectives, batch, iters, repeats):
    try:
        import gfn  # noqa: F401

        have_peer = True
    except ImportError:
        have_peer = False
        print("torchgfn is not installed (make bench-deps): timing ctflow alone")
    rows = []
    for ndim, height in configs:
        for objective in objectives:
            fns = {"ctflow": ctflow_step_fn(ndim, height, objective, batch)}
            if have_peer:
                fns["torchgfn-tied"] = torchgfn_step_fn(ndim, height, objective, batch, True)
                fns["torchgfn-untied"] = torchgfn_step_fn(ndim, height, objective, batch, False)

            def block(fn):
                return lambda: [fn() for _ in range(iters)]

            med = interleaved_medians({k: block(f) for k, f in fns.items()}, repeats)
            row = {"ndim": ndim, "height": height, "objective": objective, "batch": batch}
            for name, seconds in med.items():
                row[f"{name}_ms"] = 1e3 * seconds / iters
            if have_peer:
                row["speedup_vs_tied"] = row["torchgfn-tied_ms"] / row["ctflow_ms"]
                row["speedup_vs_untied"] = row["torchgfn-untied_ms"] / row["ctflow_ms"]
            rows.append(row)
            print(_format(row), flush=True)
    return rows, have_peer


def _format(r):
    text = f"| {r['height']}^{r['ndim']} | {r['objective']} | {r['batch']} | {r['ctflow_ms']:.2f} |"
    if "torchgfn-tied_ms" in r:
        text += (
            f" {r['torchgfn-tied_ms']:.2f} | {r['torchgfn-untied_ms']:.2f} |"
            f" {r['speedup_vs_tied']:.2f} | {r['speedup_vs_untied']:.2f} |"
        )
    return text


def reward_cross_check():
    """The largest difference between the two libraries' rewards over every state of 8^2."""
    from gfn.gym import HyperGrid as TGHyperGrid

    env = HyperGrid(2, 8)
    tg = TGHyperGrid(ndim=2, height=8, validate_modes=False)
    x = env.all_states()
    ours = env.reward(x)
    theirs = tg.reward(tg.states_from_tensor(x))
    return float((ours - theirs.double()).abs().max())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one grid, fewer repeats")
    parser.add_argument("--out", default="runs/benchmarks/gfn.json")
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(1)
    configs = [(2, 8)] if args.quick else [(2, 8), (4, 8)]
    objectives = ("tb",) if args.quick else ("tb", "db", "subtb")
    repeats = 3 if args.quick else 5
    print(f"torch {torch.__version__}, 1 thread, float32, batch {args.batch}, MLP 2 x {HIDDEN}")
    print("\nms per training iteration (sample + loss + backward + Adam step)\n")
    print(
        "| grid | objective | batch | ctflow | torchgfn tied | torchgfn untied |"
        " speed-up vs tied | speed-up vs untied |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rows, have_peer = bench(configs, objectives, args.batch, 20, repeats)
    payload = {"rows": rows, "torch": torch.__version__, "batch": args.batch, "hidden": HIDDEN}
    if have_peer:
        import gfn

        payload["torchgfn"] = getattr(gfn, "__version__", "unknown")
        payload["reward_max_abs_diff"] = reward_cross_check()
        print(
            "\nreward functions agree: max |R_ctflow - R_torchgfn| = "
            f"{payload['reward_max_abs_diff']:.1e}"
        )
    write_report(args.out, payload)


if __name__ == "__main__":
    main()
