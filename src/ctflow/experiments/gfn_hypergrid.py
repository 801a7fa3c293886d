"""``gfn-hypergrid``: trajectory balance vs detailed balance vs sub-trajectory balance.

The same policy network (one pass gives ``P_F``, ``P_B`` and ``log F``) is trained on the
hypergrid with each objective, on-policy, and the exact L1 distance between its terminal
distribution (dynamic programming over every state) and ``R(x)/Z`` is tracked against the
iteration. The flow-matching objective is available as ``fm``. (arXiv 2209.02606 casts these
objectives as the constraints a GFlowNet satisfies; SubTB is arXiv 2209.12782.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..device import select_device
from ..gfn import OBJECTIVES, GFlowNetPolicy, HyperGrid, gfn_loss, sample_trajectories
from ..gfn.env import terminal_distribution
from ..gfn.marginals import grid_marginal
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from ..plotting.curves import curves_figure
from ..plotting.maps import heatmap_panels_figure
from ..train import Evaluate

__all__ = ["GFNHypergridConfig", "run", "build_models"]

DATASET = "hypergrid"


@dataclass
class GFNHypergridConfig(ExperimentConfig):
    """Full size by default (4-D grid of height 8: 4096 terminal states)."""

    objectives: tuple[str, ...] = ("tb", "db", "subtb")
    ndim: int = 4
    height: int = 8
    r0: float = 0.1
    iterations: int = 4000
    batch_size: int = 16
    lr: float = 1e-3
    log_z_lr_scale: float = 100.0
    hidden: int = 256
    depth: int = 2
    epsilon: float = 0.0
    subtb_lambda: float = 0.9
    eval_every: int = 100

    def __post_init__(self):
        bad = [o for o in self.objectives if o not in OBJECTIVES]
        if bad or not self.objectives:
            raise ValueError(
                f"unknown objective {bad[0] if bad else None!r}; "
                f"choose from: {', '.join(OBJECTIVES)}"
            )
        check_fields(self, at_least_one="ndim iterations batch_size hidden depth eval_every")
        if self.height < 2:
            raise ValueError(f"height must be >= 2, got {self.height}")
        if self.height**self.ndim > 200_000:
            raise ValueError("height^ndim above 200000 states is too many to enumerate exactly")
        if not (self.lr > 0 and self.log_z_lr_scale > 0 and self.r0 > 0 and self.subtb_lambda > 0):
            raise ValueError("lr, log_z_lr_scale, r0 and subtb_lambda must be > 0")
        if not 0 <= self.epsilon <= 1:
            raise ValueError(f"epsilon must lie in [0, 1], got {self.epsilon}")


SIZES = {
    "smoke": dict(ndim=2, height=4, iterations=40, hidden=32, eval_every=20),
    "quick": dict(ndim=2, height=8, iterations=1500, hidden=128, eval_every=50),
}


def make_env(config: GFNHypergridConfig) -> HyperGrid:
    return HyperGrid(config.ndim, config.height, r0=config.r0)


def build_models(config: GFNHypergridConfig) -> dict[str, torch.nn.Module]:
    torch.manual_seed(config.seed)
    env = make_env(config)
    return {
        obj: GFlowNetPolicy.for_env(
            env, hidden=(config.hidden,) * config.depth, log_z_scale=config.log_z_lr_scale
        )
        for obj in config.objectives
    }


def run(config: GFNHypergridConfig, ctx: RunContext | None = None) -> Results:
    ctx = ctx or RunContext(seed=config.seed)
    device = select_device(config.device)
    env = make_env(config)
    models = build_models(config)
    ctx.track(models)
    results = Results(models=models)
    _, target = env.reward_distribution()
    log_z_true = env.log_partition()
    curves, finals = {}, {}
    for obj, policy in models.items():
        policy.to(device)
        # the trajectories' stream, on the policy's device
        gen = torch.Generator(device=device).manual_seed(ctx.seed_of("data", obj))

        def l1_now(policy=policy) -> float:
            _, p = terminal_distribution(env, policy)
            return float((p.cpu() - target).abs().sum())

        def loss_fn(step: int, obj=obj, policy=policy, gen=gen):
            traj = sample_trajectories(
                env, policy, config.batch_size, epsilon=config.epsilon, generator=gen
            )
            return gfn_loss(obj, env, policy, traj, config.subtb_lambda)

        start = time.perf_counter()
        trained = ctx.fit(
            loss_fn,
            policy,
            tag=f"{obj}/{DATASET}",
            generators=[gen],
            device=device,
            steps=config.iterations,
            lr=config.lr,
            schedule="constant",
            # the L1 distance to the target every eval_every steps and at the end
            callbacks=[Evaluate(lambda m, l1_now=l1_now: l1_now(), config.eval_every, "l1")],
        )
        seconds = time.perf_counter() - start
        curve = [(int(row["step"]), row["l1"]) for row in trained.metrics]
        final = curve[-1][1]
        curves[obj] = curve
        finals[obj] = terminal_distribution(env, policy)[1].cpu()
        metrics = {
            "l1": final,
            "l1_best": min(v for _, v in curve),
            "log_z_error": abs(float(policy.log_z.detach()) - log_z_true),
            "train_seconds": trained.seconds,
            "ms_per_iteration": 1e3 * seconds / max(1, config.iterations),
        }
        results.metrics.update({f"{obj}/{DATASET}/{k}": float(v) for k, v in metrics.items()})
    results.metrics[f"exact/{DATASET}/log_z"] = log_z_true
    results.metrics[f"exact/{DATASET}/states"] = float(len(target))
    uniform = torch.full_like(target, 1 / len(target))
    results.metrics[f"uniform/{DATASET}/l1"] = float((uniform - target).abs().sum())
    results.figures["gfn_hypergrid_l1"] = curves_figure(
        {obj: tuple(zip(*curve)) for obj, curve in curves.items()},
        yscale="log",
        xlabel="iteration",
        ylabel="exact L1 to R/Z",
        title=f"hypergrid {config.height}^{config.ndim}, batch {config.batch_size}",
        legend_fontsize=8,
    )
    states = env.terminal_states()  # marginals over the first two coordinates
    results.figures["gfn_hypergrid_distributions"] = heatmap_panels_figure(
        {
            name: grid_marginal(states, p, env.height).T
            for name, p in {"R(x)/Z": target, **finals}.items()
        },
        suptitle="terminal distribution (marginal over the first two coordinates)",
    )
    results.notes.append(
        "l1: sum_x |P_T(x) - R(x)/Z| over every terminal state, exact (dynamic programming over "
        "the grid). uniform/l1 is the distance of the uniform distribution, for scale."
    )
    return results


register(
    Experiment(
        name="gfn-hypergrid",
        config_cls=GFNHypergridConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="GFlowNets on the hypergrid: TB vs DB vs SubTB, exact L1 to R/Z",
    )
)
