"""``cnf-2d``: a continuous normalizing flow trained by maximum likelihood on 2D toys.

Each training step solves the log-density ODE (fixed-step RK4, exact 2D divergence) and
backpropagates through the solver. Evaluation uses an adaptive solver and compares the test
NLL with the data's entropy (the best achievable NLL), plus exact W2 and MMD on samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data import TOY_DATASETS, read_points
from ..data.point_sets import point_datasets
from ..device import select_device
from ..flows import CNF
from ..flows.cnf_scores import cnf_point_figure, cnf_point_scores
from ..flows.mle import fit_density
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from ..nn import TimeMLP
from ..solvers import METHODS

__all__ = ["CNF2DConfig", "run", "build_models"]


@dataclass
class CNF2DConfig(ExperimentConfig):
    """Full size by default; ``smoke`` and ``quick`` override fields (see ``SIZES``)."""

    datasets: tuple[str, ...] = ("checkerboard", "8gaussians")
    # a .npy or .csv file of points (N, D) to train on instead of the toy datasets
    data: str = ""
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
        if self.data:
            read_points(self.data, min_rows=10)  # refuse a bad file before any training


FLOOR_DRAWS = 4  # independent data samples whose mean W2 to the reference is the floor

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
    dim: int = 2,
) -> CNF:
    if field is None:
        field = TimeMLP(dim, hidden=(config.hidden,) * config.depth, act=config.act)
    return CNF(field, dim, method=method, step_size=step_size, atol=tol, rtol=tol)


def build_models(config: CNF2DConfig) -> dict[str, CNF]:
    """One untrained flow per dataset, with the training solver."""
    return {
        data.name: _build_flow(
            config, config.train_method, config.train_step_size, 1e-5, dim=data.dim
        )
        for data in point_datasets(config.datasets, config.data, config.seed)
    }


def run(config: CNF2DConfig, ctx: RunContext | None = None) -> Results:
    """Train one CNF per dataset and evaluate it. Metrics are keyed ``cnf/<dataset>/<metric>``."""
    ctx = ctx or RunContext(seed=config.seed)
    device = select_device(config.device)
    torch.manual_seed(config.seed)
    results = Results()
    models = build_models(config)
    ctx.track(models)
    for data in point_datasets(config.datasets, config.data, config.seed):
        dataset = data.name
        flow = models[dataset].to(device)
        # under torchrun each rank draws its own batches (and test points; rank 0 reports)
        train_gen = ctx.generator("data", dataset)
        test_gen = ctx.generator("test", dataset)

        trained = fit_density(
            flow,
            lambda step, data=data, gen=train_gen: data.sample(config.batch_size, gen),
            steps=config.steps,
            lr=config.lr,
            device=device,
            fit_fn=ctx.fit,
            tag=f"cnf/{dataset}",
            generators=[train_gen],
        )
        evaluator = _build_flow(
            config,
            config.eval_method,
            config.eval_step_size,
            config.eval_tol,
            field=flow.field,
            dim=data.dim,
        ).to(device)
        metrics = cnf_point_scores(evaluator, data, config.n_eval, test_gen, device, FLOOR_DRAWS)
        metrics["train_seconds"] = trained.seconds
        metrics["final_train_loss"] = trained.final_loss
        results.metrics.update({f"cnf/{dataset}/{k}": float(v) for k, v in metrics.items()})
        results.figures[f"cnf_{dataset}"] = cnf_point_figure(
            evaluator, data, config.n_eval, config.grid, config.grid_limit, test_gen, device
        )
    results.models = models
    results.notes.append(
        "NLL in nats; the entropy is the lowest NLL any model can reach "
        "(checkerboard: exact, ln(8/0.45^2); 8gaussians: Monte Carlo with 200k samples)."
    )
    return results


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
