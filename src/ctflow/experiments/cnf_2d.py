"""``cnf-2d``: a continuous normalizing flow trained by maximum likelihood on 2D toys.

Each training step solves the log-density ODE (fixed-step RK4, exact 2D divergence) and
backpropagates through the solver. Evaluation uses an adaptive solver and compares the test
NLL with the data's entropy (the best achievable NLL), plus exact W2 and MMD on samples.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..data import TOY_DATASETS, read_points
from ..data.point_sets import PointData, plane, point_datasets
from ..data.toy_quality import density_grid, sample_quality
from ..device import select_device
from ..flows import CNF
from ..flows.mle import fit_density, nll_stats
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from ..metrics import wasserstein2
from ..nn import TimeMLP
from ..plotting import density_sample_figure
from ..solvers import METHODS, odeint

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
        metrics = _evaluate(evaluator, data, config, test_gen, device)
        metrics["train_seconds"] = trained.seconds
        metrics["final_train_loss"] = trained.final_loss
        results.metrics.update({f"cnf/{dataset}/{k}": float(v) for k, v in metrics.items()})
        results.figures[f"cnf_{dataset}"] = _figure(evaluator, data, config, test_gen, device)
    results.models = models
    results.notes.append(
        "NLL in nats; the entropy is the lowest NLL any model can reach "
        "(checkerboard: exact, ln(8/0.45^2); 8gaussians: Monte Carlo with 200k samples)."
    )
    return results


@torch.no_grad()
def _evaluate(
    flow: CNF, data: PointData, config: CNF2DConfig, gen: torch.Generator, device: torch.device
) -> dict[str, float]:
    x_test = data.held_out(config.n_eval, gen).to(device)
    start = time.perf_counter()
    logp = flow().log_prob(x_test)
    nll_seconds = time.perf_counter() - start
    entropy = data.entropy(gen)
    # a user's held-out points are the sample reference too (W2 needs equal sizes)
    x_ref = None if data.is_toy else x_test
    x0 = torch.randn(len(x_test), data.dim, generator=gen).to(device)
    t = torch.tensor([flow.t0, flow.t1], device=device)
    xs, stats = odeint(flow.field, x0, t, return_stats=True, **flow.solver)
    samples = xs[-1]
    if x_ref is None:
        x_ref = data.held_out(config.n_eval, gen).to(device)
    # the noise floor of W2 at this sample size: other data against the reference, averaged over
    # FLOOR_DRAWS draws (one draw's W2 varies by about 30% at 1024 points, which made a claim
    # that compares against it fail or pass by the draw)
    floors = [
        data.held_out(config.n_eval, gen) if data.is_toy else data.sample(len(x_ref), gen)
        for _ in range(FLOOR_DRAWS)
    ]
    nll, nll_stderr = nll_stats(logp, data.log_scale)  # in the file's units (0 for a toy)
    out = {
        "test_nll": nll,
        "test_nll_stderr": nll_stderr,
        "sample_nfe": stats.nfe,
        "nll_seconds": nll_seconds,
        **sample_quality(samples, x_ref, data.name),
        "w2_data_vs_data": sum(
            float(wasserstein2(f.double(), x_ref.cpu().double())) for f in floors
        )
        / FLOOR_DRAWS,
    }
    if entropy is not None:
        out["entropy"], out["nll_gap"] = entropy, nll - entropy
    return out


@torch.no_grad()
def _figure(
    flow: CNF, data: PointData, config: CNF2DConfig, gen: torch.Generator, device: torch.device
):
    if data.dim != 2:  # no density grid beyond the plane; scatter the first two coordinates
        samples = plane(flow().sample((config.n_eval,)).cpu())
        points = data.held_out(config.n_eval, gen) if data.is_toy else data.train[: config.n_eval]
        points = plane(points).float()
        title = f"CNF (max. likelihood) on {data.name}, first two coordinates{data.units}"
        return density_sample_figure(points, samples, None, data.plot_limit(), title=title)
    lim = config.grid_limit if data.is_toy else data.plot_limit()
    density, mass = density_grid(lambda x: flow().log_prob(x), lim, config.grid, device)
    samples = flow().sample((config.n_eval,)).cpu()
    return density_sample_figure(
        data.held_out(config.n_eval, gen) if data.is_toy else data.train[: config.n_eval].float(),
        samples,
        density,
        lim,
        title=f"CNF (max. likelihood) on {data.name}{data.units}; grid mass {mass:.3f}",
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
