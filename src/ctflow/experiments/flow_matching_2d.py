"""``flow-matching-2d``: the paper's central claim at CPU scale (arXiv 2210.02747).

Flow matching on the conditional OT path (FM-OT), flow matching on the VP diffusion path (FM-VP)
and denoising score matching on the VP path (its probability-flow ODE) train the same MLP on the
pinned checkerboard and 8 Gaussians. Each is sampled with dopri5 at two tolerances (NFE counted)
and with midpoint at a fixed budget of 4 and 8 NFE, and its exact NLL is compared with the data's
entropy. The claim: the OT path needs fewer function evaluations at equal or better quality.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data import TOY_DATASETS, read_points
from ..data.point_sets import PointData, plane, point_datasets
from ..data.toy_quality import sample_quality
from ..device import select_device
from ..flows import CNF
from ..flows.matching import VelocityFromScore, cfm_loss, score_matching_loss
from ..flows.solver_budgets import mean_nll, sample_at_budgets
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from ..nn import TimeMLP
from ..paths import CondOTPath, VPPath
from ..plotting import sample_grid_figure, trajectory_figure
from ..solvers import odeint
from ..train import cosine_fit_options

__all__ = ["FlowMatching2DConfig", "METHODS", "OPTIONAL_METHODS", "run", "build_models"]

# flow matching on the OT and VP paths, and score matching on the VP path
METHODS = ("fm-ot", "fm-vp", "score-vp")
# optional: FM-OT trained on minibatch-OT couplings of (x0, x1) (exact assignment per batch)
OPTIONAL_METHODS = ("fm-ot-minibatch",)


@dataclass
class FlowMatching2DConfig(ExperimentConfig):
    """Full size by default (the CPU-scale setting of the paper note); see ``SIZES``."""

    datasets: tuple[str, ...] = ("checkerboard", "8gaussians")
    # a .npy or .csv file of points (N, D) to train on instead of the toy datasets
    data: str = ""
    methods: tuple[str, ...] = METHODS
    steps: int = 6000
    batch_size: int = 1024
    lr: float = 1e-3
    hidden: int = 128
    depth: int = 4
    act: str = "silu"
    sigma_min: float = 0.0
    vp_t_max: float = 1 - 1e-5
    n_eval: int = 2048
    tols: tuple[float, ...] = (1e-5, 1e-3)
    midpoint_nfe: tuple[int, ...] = (4, 8)
    max_nfe: int = 20000
    n_trajectories: int = 64

    def __post_init__(self):
        bad = [d for d in self.datasets if d not in TOY_DATASETS]
        if bad or not self.datasets:
            raise ValueError(
                f"unknown toy dataset {bad[0] if bad else None!r}; "
                f"choose from: {', '.join(TOY_DATASETS)}"
            )
        valid = METHODS + OPTIONAL_METHODS
        bad = [m for m in self.methods if m not in valid]
        if bad or not self.methods:
            raise ValueError(
                f"unknown method {bad[0] if bad else None!r}; choose from: {', '.join(valid)}"
            )
        check_fields(self, at_least_one="steps batch_size hidden depth n_eval max_nfe")
        if self.data:
            read_points(self.data, min_rows=10)  # refuse a bad file before any training
        if any(n < 2 or n % 2 for n in self.midpoint_nfe):
            raise ValueError(f"midpoint_nfe must be even numbers >= 2, got {self.midpoint_nfe}")
        if not 0 < self.vp_t_max <= 1 or not 0 <= self.sigma_min < 1 or not self.lr > 0:
            raise ValueError("need 0 < vp_t_max <= 1, 0 <= sigma_min < 1 and lr > 0")


SIZES = {
    "smoke": dict(
        datasets=("checkerboard",),
        steps=25,
        batch_size=128,
        hidden=32,
        depth=2,
        n_eval=128,
        tols=(1e-3,),
        n_trajectories=16,
    ),
    "quick": dict(
        datasets=("checkerboard",), steps=3000, batch_size=512, hidden=128, depth=3, n_eval=1024
    ),
}


def _path(method: str, config: FlowMatching2DConfig):
    if method.startswith("fm-ot"):
        return CondOTPath(sigma_min=config.sigma_min)
    return VPPath(t_max=config.vp_t_max)


def build_models(config: FlowMatching2DConfig) -> dict[str, CNF]:
    """One density per (method, dataset), keyed ``"<method>/<dataset>"``: a :class:`CNF` over the
    trained network (the velocity itself, or the probability-flow ODE of a score network),
    integrating to the path's end time with dopri5 at the smallest evaluation tolerance."""
    tol = min(config.tols)
    models = {}
    for method in config.methods:
        for data in point_datasets(config.datasets, config.data, config.seed):
            network = TimeMLP(data.dim, hidden=(config.hidden,) * config.depth, act=config.act)
            path = _path(method, config)
            field = VelocityFromScore(network, path) if method == "score-vp" else network
            models[f"{method}/{data.name}"] = CNF(
                field,
                data.dim,
                t1=path.t_range[1],
                method="dopri5",
                atol=tol,
                rtol=tol,
                options={"max_num_steps": config.max_nfe},
            )
    return models


def network_of(flow: CNF) -> torch.nn.Module:
    """The trained network inside a model of :func:`build_models`."""
    return flow.field.model if isinstance(flow.field, VelocityFromScore) else flow.field


def run(config: FlowMatching2DConfig, ctx: RunContext | None = None) -> Results:
    """Train every (method, dataset) pair, then evaluate. Metrics: ``<method>/<dataset>/<name>``,
    plus ``ratio/<dataset>/nfe_ot_over_vp_tol<tol>`` where both flow-matching paths ran."""
    ctx = ctx or RunContext(seed=config.seed)
    device = select_device(config.device)
    torch.manual_seed(config.seed)
    models = build_models(config)
    ctx.track(models)
    results = Results(models=models)
    for data in point_datasets(config.datasets, config.data, config.seed):
        dataset = data.name
        test_gen = ctx.generator("test", dataset)
        x_test = data.held_out(config.n_eval, test_gen).to(device)
        # a user's held-out points are the reference too: there is nothing else to draw from
        x_ref = data.held_out(config.n_eval, test_gen).to(device) if data.is_toy else x_test
        x0 = torch.randn(len(x_ref), data.dim, generator=test_gen).to(device)
        entropy = data.entropy(test_gen)
        grid_samples: dict[str, dict[str, torch.Tensor]] = {}
        trajectories = {}
        for method in config.methods:
            key = f"{method}/{dataset}"
            flow = models[key].to(device)
            _train(method, network_of(flow), data, config, ctx, device)
            metrics, samples, traj = _evaluate(flow, config, dataset, x_test, x_ref, x0, device)
            metrics["test_nll"] += data.log_scale  # in the file's units (0 for a toy)
            if entropy is not None:
                metrics["entropy"] = entropy
                metrics["nll_gap"] = metrics["test_nll"] - entropy
            results.metrics.update({f"{key}/{k}": float(v) for k, v in metrics.items()})
            grid_samples[method] = samples
            trajectories[method] = traj
        _ratios(results, config, dataset)
        limit = data.plot_limit()
        shown = ("" if data.dim == 2 else ", first two coordinates") + data.units
        results.figures[f"samples_{dataset}"] = sample_grid_figure(
            {m: {k: plane(v) for k, v in grid.items()} for m, grid in grid_samples.items()},
            limit=limit,
            title=f"{dataset}: samples by method (rows) and solver budget{shown}",
        )
        results.figures[f"trajectories_{dataset}"] = trajectory_figure(
            {m: plane(traj) for m, traj in trajectories.items()},
            limit=limit,
            title=f"{dataset}: sampling trajectories (rk4, 100 steps){shown}",
        )
    results.notes += [
        "NFE: dopri5 function evaluations to sample the fixed evaluation batch "
        f"({config.n_eval} points) at atol = rtol = tol. NLL: exact divergence, dopri5 at the "
        "smallest tol, in nats; the entropy is the best achievable NLL.",
        f"VP path integrated to t = {config.vp_t_max} (singular at 1).",
    ]
    return results


def _train(method, network, data: PointData, config, ctx, device) -> None:
    path = _path(method, config)
    gen = ctx.generator("data", method, data.name)  # batches, times and noise
    loss = score_matching_loss if method == "score-vp" else cfm_loss
    extra = {"coupling": "exact"} if method == "fm-ot-minibatch" else {}

    def loss_fn(step: int):
        x1 = data.sample(config.batch_size, gen).to(device)
        return loss(network, path, x1, generator=gen, **extra)

    ctx.fit(
        loss_fn,
        network,
        tag=f"{method}/{data.name}",
        generators=[gen],
        device=device,
        **cosine_fit_options(config.steps, config.lr),
    )


@torch.no_grad()
def _evaluate(flow: CNF, config, dataset, x_test, x_ref, x0, device):
    metrics: dict[str, float] = {}
    samples: dict[str, torch.Tensor] = {}
    field, t1 = flow.field, flow.t1
    budgets = sample_at_budgets(field, x0, t1, config.tols, config.midpoint_nfe, config.max_nfe)
    for b in budgets:
        if b.key.startswith("tol"):
            metrics[f"nfe_{b.key}"] = b.nfe
        samples[b.label] = b.samples.cpu()
        quality = sample_quality(b.samples, x_ref, dataset)  # NaN where the solve failed
        metrics.update({f"{k}_{b.key}": v for k, v in quality.items()})
    metrics.update(mean_nll(flow().log_prob, x_test))
    n = min(config.n_trajectories, len(x0))
    traj = odeint(field, x0[:n], torch.linspace(0, t1, 101, device=device), method="rk4")
    return metrics, samples, traj.cpu()


def _ratios(results: Results, config: FlowMatching2DConfig, dataset: str) -> None:
    if not {"fm-ot", "fm-vp"} <= set(config.methods):
        return
    for tol in config.tols:
        ot = results.metrics[f"fm-ot/{dataset}/nfe_tol{tol:g}"]
        vp = results.metrics[f"fm-vp/{dataset}/nfe_tol{tol:g}"]
        results.metrics[f"ratio/{dataset}/nfe_ot_over_vp_tol{tol:g}"] = ot / vp


register(
    Experiment(
        name="flow-matching-2d",
        config_cls=FlowMatching2DConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="flow matching (OT vs VP path) vs score matching on 2D toys: NFE, NLL, W2",
    )
)
