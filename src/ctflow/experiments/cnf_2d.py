"""``cnf-2d``: a continuous normalizing flow trained by maximum likelihood on 2D toys.

Each training step solves the log-density ODE (fixed-step RK4, exact 2D divergence) and
backpropagates through the solver. Evaluation uses an adaptive solver and compares the test
NLL with the data's entropy (the best achievable NLL), plus exact W2 and MMD on samples.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from ..data import TOY_DATASETS, sample_toy
from ..flows import CNF
from ..metrics import wasserstein2
from ..nn import TimeMLP
from ..plotting import density_sample_figure
from ..solvers import METHODS, odeint
from ..train import select_device
from .base import ExperimentConfig, Results, RunContext
from .config import check_fields
from .registry import Experiment, register
from .toy_eval import density_grid, entropy_of, sample_quality

__all__ = ["CNF2DConfig", "run", "build_models"]


@dataclass
class CNF2DConfig(ExperimentConfig):
    """Full size by default; ``smoke`` and ``quick`` override fields (see ``SIZES``)."""

    datasets: tuple[str, ...] = ("checkerboard", "8gaussians")
    steps: int = 3000
    batch_size: int = 256
    lr: float = 2e-3
    hidden: int = 64
    depth: int = 3
    act: str = "silu"
    train_method: str = "rk4"
    train_step_size: float = 0.125
    eval_method: str = "dopri5"
    eval_tol: float = 1e-5
    eval_step_size: float | None = None
    n_eval: int = 2048
    grid: int = 100
    grid_limit: float = 4.6

    def __post_init__(self):
        unknown = [d for d in self.datasets if d not in TOY_DATASETS]
        if unknown or not self.datasets:
            raise ValueError(
                f"unknown toy dataset {unknown[0] if unknown else None!r}; "
                f"choose from: {', '.join(TOY_DATASETS)}"
            )
        check_fields(
            self,
            at_least_one="steps batch_size hidden depth n_eval grid",
            positive="lr train_step_size eval_tol grid_limit",
        )
        for name in ("train_method", "eval_method"):
            if getattr(self, name) not in METHODS:
                raise ValueError(
                    f"unknown {name} {getattr(self, name)!r}; choose one of: {', '.join(METHODS)}"
                )


SIZES = {
    "smoke": dict(
        steps=12,
        batch_size=64,
        hidden=16,
        depth=2,
        eval_method="rk4",
        eval_step_size=0.125,
        n_eval=128,
        grid=20,
    ),
    "quick": dict(steps=250, batch_size=256, n_eval=1024, grid=48, eval_tol=1e-4),
}


def _build_flow(
    config: CNF2DConfig,
    method: str,
    step_size: float | None,
    tol: float,
    field: torch.nn.Module | None = None,
) -> CNF:
    if field is None:
        field = TimeMLP(2, hidden=(config.hidden,) * config.depth, act=config.act)
    return CNF(field, 2, method=method, step_size=step_size, atol=tol, rtol=tol)


def build_models(config: CNF2DConfig) -> dict[str, CNF]:
    """One untrained flow per dataset, with the training solver."""
    return {
        ds: _build_flow(config, config.train_method, config.train_step_size, 1e-5)
        for ds in config.datasets
    }


def run(config: CNF2DConfig, ctx: RunContext | None = None) -> Results:
    """Train one CNF per dataset and evaluate it. Metrics are keyed ``cnf/<dataset>/<metric>``."""
    ctx = ctx or RunContext()
    device = select_device(config.device)
    torch.manual_seed(config.seed)
    results = Results()
    models = build_models(config)
    ctx.track(models)
    for index, dataset in enumerate(config.datasets):
        flow = models[dataset].to(device)
        # each rank draws its own share of the batch under torchrun; evaluation is the same on all
        train_gen = torch.Generator().manual_seed(config.seed * 1000 + index + 7919 * ctx.rank)
        test_gen = torch.Generator().manual_seed(10**6 + config.seed * 1000 + index)

        def loss_fn(step: int, flow=flow, dataset=dataset, gen=train_gen):
            x = sample_toy(dataset, config.batch_size, generator=gen).to(device)
            return -flow().log_prob(x).mean()

        trained = ctx.fit(
            loss_fn,
            flow,
            tag=f"cnf/{dataset}",
            generators=[train_gen],
            device=device,
            steps=config.steps,
            lr=config.lr,
            schedule="cosine",
            warmup=min(50, config.steps // 10),
            grad_clip=10.0,
        )
        evaluator = _build_flow(
            config, config.eval_method, config.eval_step_size, config.eval_tol, field=flow.field
        ).to(device)
        metrics = _evaluate(evaluator, dataset, config, test_gen, device)
        metrics["train_seconds"] = trained.seconds
        metrics["final_train_loss"] = trained.final_loss
        results.metrics.update({f"cnf/{dataset}/{k}": float(v) for k, v in metrics.items()})
        results.figures[f"cnf_{dataset}"] = _figure(evaluator, dataset, config, test_gen, device)
    results.models = models
    results.notes.append(
        "NLL in nats; the entropy is the lowest NLL any model can reach "
        "(checkerboard: exact, ln(8/0.45^2); 8gaussians: Monte Carlo with 200k samples)."
    )
    return results


@torch.no_grad()
def _evaluate(
    flow: CNF, dataset: str, config: CNF2DConfig, gen: torch.Generator, device: torch.device
) -> dict[str, float]:
    x_test = sample_toy(dataset, config.n_eval, generator=gen).to(device)
    start = time.perf_counter()
    logp = flow().log_prob(x_test)
    nll_seconds = time.perf_counter() - start
    entropy = entropy_of(dataset, gen)
    x0 = torch.randn(config.n_eval, 2, generator=gen).to(device)
    t = torch.tensor([flow.t0, flow.t1], device=device)
    xs, stats = odeint(flow.field, x0, t, return_stats=True, **flow.solver)
    samples = xs[-1]
    x_ref = sample_toy(dataset, config.n_eval, generator=gen).to(device)
    out = {
        "test_nll": float(-logp.mean()),
        "test_nll_stderr": float(logp.std() / math.sqrt(len(logp))),
        "entropy": entropy,
        "nll_gap": float(-logp.mean()) - entropy,
        "sample_nfe": stats.nfe,
        "nll_seconds": nll_seconds,
        **sample_quality(samples, x_ref, dataset),
        "w2_data_vs_data": float(
            wasserstein2(
                sample_toy(dataset, config.n_eval, generator=gen).double(), x_ref.cpu().double()
            )
        ),
    }
    return out


@torch.no_grad()
def _figure(
    flow: CNF, dataset: str, config: CNF2DConfig, gen: torch.Generator, device: torch.device
):
    lim = config.grid_limit
    density, mass = density_grid(lambda x: flow().log_prob(x), lim, config.grid, device)
    samples = flow().sample((config.n_eval,)).cpu()
    data = sample_toy(dataset, config.n_eval, generator=gen)
    return density_sample_figure(
        data,
        samples,
        density,
        lim,
        title=f"CNF (max. likelihood) on {dataset}; grid mass {mass:.3f}",
    )


register(
    Experiment(
        name="cnf-2d",
        config_cls=CNF2DConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="maximum-likelihood CNF on 2D toys: test NLL vs the entropy, W2, MMD, figures",
    )
)
