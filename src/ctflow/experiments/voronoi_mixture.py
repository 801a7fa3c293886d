"""``voronoi-mixture``: a coupling flow with and without a Voronoi mixture base.

The baseline is a coupling neural-spline flow (zuko's NSF with two passes) on a standard normal
base. The variant replaces the base by a :class:`~ctflow.flows.VoronoiMixture` with ``K`` cells
(each cell a small conditional coupling flow mapped into its cell), so the flow's layers act
before the mixture. ``tails`` picks the components' base: a radial Student-t (default, ``df``
degrees of freedom; the mixture density stays positive at the cell boundaries) or ``N(0, I)``
(the density vanishes like ``exp(-c / eps^2)`` at distance ``eps`` from a boundary). Both are
trained by maximum likelihood on 2D toys and on a real tabular set
(scikit-learn's breast-cancer measurements, 30 features, log-transformed and standardised, a fixed
80/20 split); we report test NLL (nats) and the time of one log-likelihood evaluation of the test
batch for each number of cells.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data import TOY_DATASETS, sample_toy
from ..data.tabular import load_table
from ..data.toy_quality import entropy_of
from ..device import select_device
from ..flows.mle import fit_density, nll_stats
from ..flows.voronoi_coupling import density_and_cell_maps, place_anchors, voronoi_coupling_flow
from ..flows.voronoi_mixture import TAILS
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from ..nn import parameter_count
from ..plotting.maps import density_panels_figure

__all__ = ["VoronoiMixtureConfig", "run", "build_models", "load_tabular"]

TABULAR = ("breast-cancer",)


def load_tabular(name: str) -> tuple[Tensor, Tensor]:
    """``(train, test)`` float32 rows of ``name`` (:func:`ctflow.data.load_table`): log1p of the
    features, standardised by the train split; the same 80/20 split (seed 0) in every run."""
    if name not in TABULAR:
        raise ValueError(f"unknown tabular dataset {name!r}; choose from: {', '.join(TABULAR)}")
    train, test = load_table(name.replace("-", "_"), seed=0, test_fraction=0.2, log1p=True)
    return train.float(), test.float()


@dataclass
class VoronoiMixtureConfig(ExperimentConfig):
    """Full size by default; ``smoke`` and ``quick`` override fields (see ``SIZES``)."""

    datasets: tuple[str, ...] = ("8gaussians", "breast-cancer")
    cells: tuple[int, ...] = (8, 64)
    tabular_cells: tuple[int, ...] = (16,)
    steps: int = 500
    tabular_steps: int = 300
    batch_size: int = 256
    lr: float = 3e-3
    hidden: int = 48
    transforms: int = 3
    component_hidden: int = 32
    component_transforms: int = 2
    embedding: int = 8
    tails: str = "student"  # the components' base: "student" (radial t, df) or "normal"
    df: float = 1.0
    n_eval: int = 4096
    timing_repeats: int = 7
    grid: int = 120
    grid_limit: float = 4.0

    def __post_init__(self):
        known = (*TOY_DATASETS, *TABULAR)
        bad = [d for d in self.datasets if d not in known]
        if bad or not self.datasets:
            raise ValueError(f"unknown dataset {bad[:1]}; choose from: {', '.join(known)}")
        if any(k < 1 for k in (*self.cells, *self.tabular_cells)):
            raise ValueError("every number of cells must be >= 1")
        if self.tails not in TAILS:
            raise ValueError(f"tails must be one of {TAILS}, got {self.tails!r}")
        check_fields(
            self,
            at_least_one="steps tabular_steps batch_size hidden transforms n_eval",
            positive="df grid_limit",
        )


SIZES = {
    "smoke": dict(
        datasets=("8gaussians", "breast-cancer"),
        cells=(4,),
        tabular_cells=(4,),
        steps=10,
        tabular_steps=5,
        batch_size=64,
        hidden=16,
        transforms=2,
        component_hidden=8,
        component_transforms=1,
        n_eval=256,
        timing_repeats=2,
        grid=30,
    ),
    "quick": dict(
        cells=(4, 32),
        steps=250,
        tabular_steps=150,
        n_eval=2048,
        timing_repeats=3,
        grid=60,
    ),
}


def _features(dataset: str) -> int:
    return 2 if dataset in TOY_DATASETS else 30


def _cells_for(config: VoronoiMixtureConfig, dataset: str) -> tuple[int, ...]:
    return config.cells if dataset in TOY_DATASETS else config.tabular_cells


def _model(config: VoronoiMixtureConfig, features: int, cells: int | None) -> nn.Module:
    return voronoi_coupling_flow(
        features,
        cells,
        hidden=config.hidden,
        transforms=config.transforms,
        embedding=config.embedding,
        tails=config.tails,
        df=config.df,
        component_hidden=config.component_hidden,
        component_transforms=config.component_transforms,
    )


def _name(cells: int | None) -> str:
    return "coupling" if cells is None else f"voronoi-mixture-{cells}"


def build_models(config: VoronoiMixtureConfig) -> dict[str, nn.Module]:
    """One untrained model per (dataset, baseline or number of cells)."""
    torch.manual_seed(config.seed)
    models = {}
    for ds in config.datasets:
        for cells in (None, *_cells_for(config, ds)):
            models[f"{ds}:{_name(cells)}"] = _model(config, _features(ds), cells)
    return models


def run(config: VoronoiMixtureConfig, ctx: RunContext | None = None) -> Results:
    """Metrics ``coupling/<dataset>/<m>`` and ``voronoi-mixture-<K>/<dataset>/<m>``."""
    ctx = ctx or RunContext(seed=config.seed)
    device = select_device(config.device)
    results = Results()
    models = build_models(config)
    ctx.track(models)
    for ds in config.datasets:
        toy = ds in TOY_DATASETS
        test_gen = ctx.generator("test", ds)
        if toy:
            x_test = sample_toy(ds, config.n_eval, generator=test_gen)
            train = None
        else:
            train, x_test = load_tabular(ds)
        x_test = x_test.to(device)
        entropy = entropy_of(ds, test_gen) if toy else None
        trained_models = {}
        for cells in (None, *_cells_for(config, ds)):
            name = _name(cells)
            model = models[f"{ds}:{name}"].to(device)
            gen = ctx.generator("data", name, ds)  # anchors and batches, this rank's own
            if cells is not None:  # anchors at random training points (the flow starts near id)
                place_anchors(model, _draw(ds, train, cells, gen).to(device))

            steps = config.steps if toy else config.tabular_steps
            trained = fit_density(
                model,
                lambda step, gen=gen, ds=ds, train=train: _draw(ds, train, config.batch_size, gen),
                steps=steps,
                lr=config.lr,
                device=device,
                warmup=100,
                fit_fn=ctx.fit,
                tag=f"{name}/{ds}",
                generators=[gen],
            )
            with torch.no_grad():
                logp = model().log_prob(x_test)
                seconds = _median_time(lambda m=model, x=x_test: m().log_prob(x), config)
            test_nll, test_nll_stderr = nll_stats(logp)
            metrics = {
                "test_nll": test_nll,
                "test_nll_stderr": test_nll_stderr,
                "eval_ms": 1000 * seconds,
                "train_seconds": trained.seconds,
                "iters_per_second": steps / max(trained.seconds, 1e-9),
                "n_params": float(parameter_count(model)),
                "cells": float(cells or 1),
            }
            if entropy is not None:  # a toy with a known (or Monte Carlo) entropy
                metrics["entropy"] = entropy
            results.metrics.update({f"{name}/{ds}/{k}": v for k, v in metrics.items()})
            trained_models[name] = model
        base_nll = results.metrics[f"coupling/{ds}/test_nll"]
        for cells in _cells_for(config, ds):
            key = f"{_name(cells)}/{ds}"
            results.metrics[f"{key}/nll_gain"] = base_nll - results.metrics[f"{key}/test_nll"]
        if toy:
            # densities of the baseline and each mixture, with the mixtures' cell boundaries
            lim = config.grid_limit
            densities, edges = density_and_cell_maps(trained_models, lim, config.grid, device)
            results.figures[f"density_{ds}"] = density_panels_figure(
                x_test,
                densities,
                lim,
                data_title=f"{ds} data",
                edges=edges,
                cmap="magma",
                vmax_quantile=0.995,
                panel_size=(2.6, 2.8),
                dpi=80,
            )
    results.models = models
    results.notes.append(
        "test NLL in nats (toys: fresh samples; breast-cancer: standardised log-features, "
        "held-out 20%); nll_gain = coupling NLL - Voronoi-mixture NLL; eval_ms: median wall "
        "time of one log-likelihood evaluation of the whole test batch (one CPU thread)."
    )
    return results


def _draw(ds: str, train: Tensor | None, n: int, gen: torch.Generator) -> Tensor:
    if train is None:
        return sample_toy(ds, n, generator=gen)
    return train[torch.randint(len(train), (n,), generator=gen)]


def _median_time(fn, config: VoronoiMixtureConfig) -> float:
    fn()  # warm-up
    times = []
    for _ in range(config.timing_repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


register(
    Experiment(
        name="voronoi-mixture",
        config_cls=VoronoiMixtureConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="coupling flow with and without a Voronoi mixture base: test NLL and "
        "log-likelihood time vs number of cells (2D toys, breast-cancer table)",
    )
)
