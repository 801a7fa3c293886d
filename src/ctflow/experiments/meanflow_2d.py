"""``meanflow-2d``: one- and few-step generation by average-velocity fields, on 2D toys.

MeanFlow (Geng et al., 2025) and shortcut models (Frans et al., 2024) train a flow map
``u(s, t, x)`` whose single evaluation jumps from noise to data. Both are compared with flow
matching trained on the same data for the same number of steps: sampled with 100 function
evaluations (midpoint), the quality reference, and with 1, 2 and 4 Euler steps, which is what a
plain velocity field gives at the flow map's budget. MeanFlow runs twice: with the paper's
target (``meanflow``) and with the model's own velocity in it where ``s < t``
(``meanflow-own``). Quality: exact W2 and MMD against held-out
points, beside the W2 between two held-out samples (the floor any sampler meets at this size).

The claim (issue 28's target): one MeanFlow step within 20% of 100-step flow matching on W2,
while one Euler step of flow matching is far off.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data import TOY_DATASETS, read_points
from ..data.point_sets import plane, point_datasets
from ..data.toy_quality import sample_quality
from ..device import select_device
from ..flows.flow_map_training import FLOW_MAP_METHODS as METHODS
from ..flows.flow_map_training import budget_samples, check_flow_map_options, flow_map_step_loss
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from ..metrics import wasserstein2
from ..nn import FlowMapMLP, TimeMLP
from ..paths import CondOTPath
from ..plotting import sample_grid_figure
from ..train import cosine_fit_options

__all__ = ["MeanFlow2DConfig", "METHODS", "run", "build_models"]


@dataclass
class MeanFlow2DConfig(ExperimentConfig):
    """Full size by default; see ``SIZES``."""

    datasets: tuple[str, ...] = ("8gaussians", "checkerboard")
    # a .npy or .csv file of points (N, D) to train on instead of the toy datasets
    data: str = ""
    methods: tuple[str, ...] = METHODS
    steps: int = 12000
    batch_size: int = 512
    lr: float = 1e-3
    hidden: int = 256
    depth: int = 4
    # MeanFlow: share of examples with s = t, and the adaptive loss weight's power
    equal_fraction: float = 0.75
    adaptive_power: float = 0.0
    # shortcut models: share of the batch in the consistency part, smallest half jump
    consistency_fraction: float = 0.25
    min_step: float = 1 / 128
    few_steps: tuple[int, ...] = (1, 2, 4)
    reference_nfe: int = 100
    n_eval: int = 2000

    def __post_init__(self):
        bad = [d for d in self.datasets if d not in TOY_DATASETS]
        if bad or not self.datasets:
            raise ValueError(
                f"unknown toy dataset {bad[0] if bad else None!r}; "
                f"choose from: {', '.join(TOY_DATASETS)}"
            )
        check_flow_map_options(
            self.methods,
            self.few_steps,
            self.reference_nfe,
            equal_fraction=self.equal_fraction,
            consistency_fraction=self.consistency_fraction,
            lr=self.lr,
            adaptive_power=self.adaptive_power,
        )
        check_fields(self, at_least_one="steps batch_size hidden depth n_eval")
        if self.data:
            read_points(self.data, min_rows=10)  # refuse a bad file before any training


SIZES = {
    "smoke": dict(
        datasets=("8gaussians",), steps=30, batch_size=128, hidden=32, depth=2, n_eval=200
    ),
    # the quick run keeps the earlier 3 x 128 widths, to stay near two minutes
    "quick": dict(datasets=("8gaussians",), steps=4000, n_eval=1000, hidden=128, depth=3),
}


def build_models(config: MeanFlow2DConfig) -> dict[str, torch.nn.Module]:
    """One network per (method, dataset), keyed ``"<method>/<dataset>"``: a :class:`TimeMLP`
    velocity for flow matching, a :class:`FlowMapMLP` average velocity for the others."""
    hidden = (config.hidden,) * config.depth
    models = {}
    for method in config.methods:
        for data in point_datasets(config.datasets, config.data, config.seed):
            net = (
                TimeMLP(data.dim, hidden=hidden)
                if method == "fm"
                else FlowMapMLP(data.dim, hidden=hidden)
            )
            models[f"{method}/{data.name}"] = net
    return models


def run(config: MeanFlow2DConfig, ctx: RunContext | None = None) -> Results:
    """Train every (method, dataset) pair, then sample at each budget. Metrics:
    ``<method>/<dataset>/{w2,mmd}_<n>step`` (flow matching: Euler), ``fm/<dataset>/w2_ref``
    (midpoint, ``reference_nfe``), ``data/<dataset>/w2_data_vs_data`` and
    ``<method>/<dataset>/w2_1step_over_ref``."""
    ctx = ctx or RunContext(seed=config.seed)
    device = select_device(config.device)
    torch.manual_seed(config.seed)
    models = build_models(config)
    ctx.track(models)
    results = Results(models=models)
    for data in point_datasets(config.datasets, config.data, config.seed):
        name = data.name
        eval_gen = ctx.generator("eval", name)
        x_ref = data.held_out(config.n_eval, eval_gen).to(device)
        x_floor = data.held_out(config.n_eval, eval_gen).to(device)
        x0 = torch.randn(len(x_ref), data.dim, generator=eval_gen).to(device)
        floor = float(wasserstein2(x_floor.cpu().double(), x_ref.cpu().double()))
        results.metrics[f"data/{name}/w2_data_vs_data"] = floor
        shown: dict[str, dict[str, torch.Tensor]] = {}
        for method in config.methods:
            net = models[f"{method}/{name}"].to(device)
            gen = ctx.generator("data", method, name)  # batches, noise and times
            loss_fn = flow_map_step_loss(
                method,
                net,
                CondOTPath(),
                lambda data=data, gen=gen: data.sample(config.batch_size, gen).to(device),
                gen,
                **_loss_options(config),
            )
            ctx.fit(
                loss_fn,
                net,
                tag=f"{method}/{name}",
                generators=[gen],
                device=device,
                **cosine_fit_options(config.steps, config.lr),
            )
            samples = budget_samples(method, net, x0, config.few_steps, config.reference_nfe)
            for label, x in samples.items():
                quality = sample_quality(x, x_ref, name)
                results.metrics.update(
                    {f"{method}/{name}/{k}_{label}": v for k, v in quality.items()}
                )
            shown[method] = {
                _title(method, label, config.reference_nfe): plane(x.cpu())
                for label, x in samples.items()
            }
        ref = results.metrics[f"fm/{name}/w2_ref"]
        for method in config.methods:
            one = results.metrics.get(f"{method}/{name}/w2_1step")
            if one is not None:
                results.metrics[f"{method}/{name}/w2_1step_over_ref"] = one / ref
        results.figures[f"samples_{name}"] = sample_grid_figure(
            shown,
            limit=data.plot_limit(),
            title=f"{name}: samples by method (rows) and evaluations{data.units}",
        )
    results.notes += [
        f"W2: exact, {config.n_eval} samples against {config.n_eval} held-out points; "
        "w2_data_vs_data is the same distance between two held-out samples (the floor).",
        f"fm/<dataset>/w2_ref: flow matching sampled with midpoint, {config.reference_nfe} NFE; "
        "fm/<dataset>/w2_<n>step: the same network, n Euler steps.",
    ]
    return results


def _loss_options(config) -> dict[str, float]:
    keys = ("equal_fraction", "adaptive_power", "consistency_fraction", "min_step")
    return {k: getattr(config, k) for k in keys}


def _title(method: str, label: str, reference_nfe: int) -> str:
    if label == "ref":
        return f"midpoint, {reference_nfe} NFE"
    n = label.removesuffix("step")
    plural = "" if n == "1" else "s"
    return f"{n} Euler step{plural}" if method == "fm" else f"{n} jump{plural}"


register(
    Experiment(
        name="meanflow-2d",
        config_cls=MeanFlow2DConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="one- and few-step generation (MeanFlow, shortcut) vs flow matching on 2D toys",
    )
)
