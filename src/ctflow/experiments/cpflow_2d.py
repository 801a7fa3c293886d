"""``cpflow-2d``: CP-Flow density estimation on 2D toys against zuko's MAF and NSF of about the
same parameter count (test NLL in nats, next to the data's entropy; density and sample figures)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data import TOY_DATASETS, read_points
from ..data.point_sets import plane, point_datasets
from ..data.toy_quality import density_grid
from ..device import select_device
from ..flows import CPFlow
from ..flows.baselines import BASELINES, matched_baseline
from ..flows.mle import fit_density, nll_stats
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from ..nn import parameter_count
from ..plotting.maps import density_panels_figure

__all__ = ["CPFlow2DConfig", "run", "build_models"]


@dataclass
class CPFlow2DConfig(ExperimentConfig):
    datasets: tuple[str, ...] = ("8gaussians", "checkerboard")
    # a .npy or .csv file of points (N, D) to train on instead of the toy datasets
    data: str = ""
    steps: int = 2000
    batch_size: int = 256
    lr: float = 5e-3
    blocks: int = 4
    hidden: int = 32
    depth: int = 2
    baseline_transforms: int = 4
    n_test: int = 4096
    grid: int = 80
    grid_limit: float = 4.5

    def __post_init__(self):
        unknown = [d for d in self.datasets if d not in TOY_DATASETS]
        if unknown or not self.datasets:
            raise ValueError(
                f"unknown toy dataset {unknown[0] if unknown else None!r}; "
                f"choose from: {', '.join(TOY_DATASETS)}"
            )
        check_fields(
            self,
            at_least_one="steps batch_size blocks hidden depth n_test grid",
            positive="lr grid_limit",
        )
        if self.data:
            read_points(self.data, min_rows=10)  # refuse a bad file before any training


SIZES = {
    "smoke": dict(
        datasets=("8gaussians",), steps=10, batch_size=64, blocks=1, hidden=8, n_test=256, grid=16
    ),
    "quick": dict(datasets=("8gaussians",), steps=600, n_test=2048, grid=48),
}

METHODS = ("cpflow",) + BASELINES


def build_models(config: CPFlow2DConfig) -> dict[str, torch.nn.Module]:
    torch.manual_seed(config.seed)
    models = {}
    for data in point_datasets(config.datasets, config.data, config.seed):
        cp = CPFlow(data.dim, blocks=config.blocks, hidden=(config.hidden,) * config.depth)
        models[f"cpflow_{data.name}"] = cp
        for kind in BASELINES:
            models[f"{kind}_{data.name}"] = matched_baseline(
                kind, data.dim, parameter_count(cp), config.baseline_transforms
            )
    return {k: m.double() for k, m in models.items()}


def run(config: CPFlow2DConfig, ctx: RunContext | None = None) -> Results:
    ctx = ctx or RunContext(seed=config.seed)
    device = select_device(config.device)
    models = build_models(config)
    ctx.track(models)
    results = Results()
    for data in point_datasets(config.datasets, config.data, config.seed):
        ds = data.name
        test_gen = ctx.generator("test", ds)
        x_test = data.held_out(config.n_test, test_gen).double().to(device)
        entropy = data.entropy(test_gen)
        densities = {}
        limit = config.grid_limit if data.is_toy else data.plot_limit()
        for method in METHODS:
            model = models[f"{method}_{ds}"].to(device)
            gen = ctx.generator("data", method, ds)
            if method == "cpflow":  # data-dependent ActNorm initialisation
                model.initialize(data.sample(1024, gen).double().to(device))
            trained = fit_density(
                model,
                lambda step, gen=gen, data=data: data.sample(config.batch_size, gen).double(),
                steps=config.steps,
                lr=config.lr,
                device=device,
                fit_fn=ctx.fit,
                tag=f"{method}/{ds}",
                generators=[gen],
            )
            with torch.no_grad():
                logp = model().log_prob(x_test)
            # in the file's units (log_scale is 0 for a toy)
            nll, nll_stderr = nll_stats(logp, data.log_scale)
            metrics = {
                "test_nll": nll,
                "test_nll_stderr": nll_stderr,
                "parameters": parameter_count(model),
                "train_seconds": trained.seconds,
            }
            if entropy is not None:
                metrics["nll_gap"] = nll - entropy
            results.metrics.update({f"{method}/{ds}/{k}": float(v) for k, v in metrics.items()})
            with torch.no_grad():
                if data.dim == 2:
                    densities[method] = density_grid(
                        lambda x, model=model: model().log_prob(x.double()),
                        limit,
                        config.grid,
                        device,
                    )[0]
                else:  # beyond the plane: the first two coordinates of samples
                    samples = model().sample((min(2000, config.n_test),))
                    densities[method] = plane(samples).cpu()
        if entropy is not None:
            results.metrics[f"exact/{ds}/entropy"] = entropy
        titles = {
            method: f"{method} ({int(results.metrics[f'{method}/{ds}/parameters'])} params): "
            f"NLL {results.metrics[f'{method}/{ds}/test_nll']:.3f}"
            for method in densities
        }
        results.figures[f"cpflow_{ds}"] = density_panels_figure(
            plane(x_test[:2000].cpu()),
            densities,
            limit,
            kind="density" if data.dim == 2 else "samples",
            data_title=f"{ds}: data" + ("" if data.dim == 2 else " (first 2 coords)"),
            titles=titles,
        )
    results.models = models
    results.notes.append(
        "NLL in nats on held-out samples; the entropy is the least NLL any model can reach. "
        "Baselines: zuko MAF / NSF with hidden widths chosen to match CP-Flow's parameter count."
    )
    return results


register(
    Experiment(
        name="cpflow-2d",
        config_cls=CPFlow2DConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="CP-Flow density estimation on 2D toys vs zuko MAF / NSF",
    )
)
