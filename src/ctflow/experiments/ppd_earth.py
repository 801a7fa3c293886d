"""``ppd-earth``: Riemannian CNFs on the four earth datasets (S^2), trained three ways.

For each dataset (seeded 80/10/10 split): the target path is the uniform law mixed into a vMF
kernel density of the training points (at most ``max_centers`` of them, a fixed random subset,
to bound the cost of a PPD step) whose width shrinks from ``scale_start`` to ``s1``; ``s1``
is chosen from ``scales`` by the validation NLL of the kernel density itself (validation data
only). A mixture of von Mises-Fisher densities fitted by EM (its size chosen on validation) is
the classical baseline. The same tangent-field network is then trained by PPD (no ODE solve),
by maximum likelihood (dopri5, tol 1e-5, an ODE solve per step) and by geodesic Riemannian flow
matching.
Test NLL by dopri5 (tol 1e-5). Validation NLL is tracked against training wall time to measure
how long each method takes to reach a given level. Each method has its own learning rate (chosen
on seed 0's validation split). CPU-scale: 6000 simulation-free steps, 400 maximum-likelihood steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.earth import EARTH_DATASETS, earth_split, latlon_grid, load_earth
from ..device import select_device
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from ..manifolds import Sphere
from ..plotting import sphere_density_maps_figure
from ..ppd import (
    METHODS,
    KernelMixturePath,
    VMFMixture,
    choose_kernel_width,
    make_field,
    make_flow,
    nll,
    time_to_common_level,
    train_field,
)

__all__ = ["PPDEarthConfig", "run", "build_models"]


@dataclass
class PPDEarthConfig(ExperimentConfig):
    datasets: tuple[str, ...] = ("volcano", "earthquake", "flood", "fire")
    data_root: str = ""  # empty: $CTFLOW_DATA/earth or ../shared/data/earth
    methods: tuple[str, ...] = METHODS
    scales: tuple[float, ...] = (0.05, 0.08, 0.12)
    scale_start: float = 1.0
    max_centers: int = 4096
    hidden: int = 64
    depth: int = 3
    ppd_steps: int = 6000
    rfm_steps: int = 6000
    mle_steps: int = 400
    batch_size: int = 256
    # each method's Adam learning rate, chosen on seed 0's validation split (docs/results/ppd.md)
    ppd_lr: float = 5e-3
    mle_lr: float = 5e-2
    rfm_lr: float = 2e-2
    power: int = 2
    eval_every: int = 200
    mle_eval_every: int = 20
    n_val_curve: int = 256
    val_step_size: float = 0.05  # rk4 step of the validation curve
    keep_best: bool = False  # end each method on its best validation-curve state
    test_tol: float = 1e-5
    grid: int = 60
    # the classical baseline: a vMF mixture by EM, its size chosen on validation (empty: none)
    vmf_components: tuple[int, ...] = (5, 10, 20, 50, 100, 200, 500, 1000)

    def __post_init__(self):
        check_fields(
            self,
            at_least_one="hidden depth batch_size eval_every "
            "mle_eval_every n_val_curve grid max_centers",
            non_negative="ppd_steps rfm_steps mle_steps",
            positive="ppd_lr mle_lr rfm_lr test_tol val_step_size",
        )
        unknown = set(self.datasets) - set(EARTH_DATASETS)
        if unknown or not self.datasets:
            raise ValueError(
                f"datasets must be some of {', '.join(EARTH_DATASETS)}, got {self.datasets}"
            )
        if set(self.methods) - set(METHODS) or not self.methods:
            raise ValueError(f"methods must be some of {', '.join(METHODS)}, got {self.methods}")
        if any(not isinstance(k, int) or k < 1 for k in self.vmf_components):
            raise ValueError(f"vmf_components must be positive integers, got {self.vmf_components}")
        if not self.scales or any(s <= 0 for s in self.scales) or self.scale_start <= 0:
            raise ValueError("scales and scale_start must be positive")
        if self.power not in (1, 2):
            raise ValueError(f"power must be 1 or 2, got {self.power}")


SIZES = {
    "smoke": dict(
        datasets=("volcano",),
        hidden=16,
        depth=2,
        ppd_steps=10,
        rfm_steps=10,
        mle_steps=2,
        batch_size=64,
        eval_every=10,
        mle_eval_every=2,
        n_val_curve=32,
        test_tol=1e-3,
        grid=12,
        scales=(0.05, 0.1),
        max_centers=256,
        vmf_components=(2, 4),
    ),
    "quick": dict(
        datasets=("volcano", "flood"),
        ppd_steps=1500,
        rfm_steps=1500,
        mle_steps=60,
        eval_every=100,
        mle_eval_every=10,
        grid=40,
        max_centers=2048,
        vmf_components=(5, 20, 100),
    ),
}


def build_models(config: PPDEarthConfig) -> dict[str, torch.nn.Module]:
    torch.manual_seed(config.seed)
    M = Sphere(2)
    return {
        f"{m}-{ds}": make_flow(make_field(M, config.hidden, config.depth), M, tol=config.test_tol)
        for ds in config.datasets
        for m in config.methods
    }


def run(config: PPDEarthConfig, ctx: RunContext | None = None) -> Results:
    ctx = ctx or RunContext(seed=config.seed)
    device = select_device(config.device)
    models = build_models(config)
    ctx.track(models)
    results = Results()
    M = Sphere(2)
    m = results.metrics
    lat, lon, grid_x = latlon_grid(config.grid, 2 * config.grid)
    grid_x = grid_x.to(device)
    for ds in config.datasets:
        points = load_earth(ds, config.data_root or None).float()
        train_x, val_x, test_x = (p.to(device) for p in earth_split(points, config.seed))
        # kernel centres: the training points, a fixed random subset of them on big datasets.
        # The split, the centres and the validation subsample follow the seed alone, so that
        # under torchrun every rank fits the same target and selects on the same points
        gen_c = torch.Generator().manual_seed(config.seed)
        centers = train_x[torch.randperm(len(train_x), generator=gen_c)[: config.max_centers]]
        scale, scores = choose_kernel_width(M, centers, val_x, config.scales, config.scale_start)
        path = KernelMixturePath(M, centers, scale_start=config.scale_start, scale_end=scale)
        with torch.no_grad():
            kde_test = float(-path.data_log_prob(test_x).mean())
        m[f"kde/{ds}/test_nll"] = kde_test
        m[f"kde/{ds}/scale"] = scale
        m[f"kde/{ds}/val_nll"] = scores[scale]
        if config.vmf_components:
            _vmf_baseline(m, ds, train_x, val_x, test_x, config.vmf_components, ctx)
        gen_val = torch.Generator().manual_seed(config.seed)
        val_curve_x = val_x[torch.randperm(len(val_x), generator=gen_val)[: config.n_val_curve]]
        curves, maps = {}, {}
        for method in config.methods:
            field_ = models[f"{method}-{ds}"].to(device).field
            gen = ctx.generator("data", ds, method)
            steps = {"ppd": config.ppd_steps, "mle": config.mle_steps, "rfm": config.rfm_steps}
            every = config.mle_eval_every if method == "mle" else config.eval_every
            trained, curve = train_field(
                method,
                field_,
                M,
                tag=f"{method}/{ds}",
                steps=steps[method],
                lr=getattr(config, f"{method}_lr"),
                batch_size=config.batch_size,
                gen=gen,
                device=device,
                path=path,
                data=train_x,
                power=config.power,
                val_x=val_curve_x,
                eval_every=every,
                eval_step_size=config.val_step_size,
                keep_best=config.keep_best,
                fit=ctx.fit,
                logger=ctx.logger,
            )
            curves[method] = curve
            flow = make_flow(field_, M, tol=config.test_tol)
            test_nll, test_se, _ = nll(flow, test_x)
            m[f"{method}/{ds}/test_nll"] = test_nll
            m[f"{method}/{ds}/test_nll_stderr"] = test_se
            m[f"{method}/{ds}/train_seconds"] = trained.seconds
            m[f"{method}/{ds}/ms_per_iter"] = 1e3 * trained.seconds / max(steps[method], 1)
            m[f"{method}/{ds}/best_val_nll_curve"] = min(curve.val_nll, default=float("nan"))
            if trained.best is not None:
                m[f"{method}/{ds}/kept_step"] = float(trained.best["step"])
            grid_flow = make_flow(field_, M, method="rk4", step_size=0.05)
            maps[method] = -nll(grid_flow, grid_x)[2].reshape(config.grid, 2 * config.grid)
        with torch.no_grad():
            maps["target (kde)"] = path.data_log_prob(grid_x).reshape(config.grid, 2 * config.grid)
        if "ppd" in curves and "mle" in curves:
            _time_to_target(m, ds, curves["ppd"], curves["mle"])
        results.figures[f"ppd-earth_{ds}"] = sphere_density_maps_figure(
            maps, test_x, f"{ds}: log-density (test points in cyan)"
        )
    results.models = models
    results.notes.append(
        "kde = the path's end p_1 (kernel density of the training points at the width chosen on "
        "validation); val NLLs on the curves use rk4 (20 steps) on a validation subsample, test "
        "NLL dopri5. time_to_target: training seconds until the validation NLL first reaches the "
        "worse of the two methods' best levels (eval time excluded)."
    )
    return results


def _vmf_baseline(m: dict, ds: str, train_x, val_x, test_x, grid, ctx: RunContext) -> None:
    seed = ctx.common_seed_of("vmf-mixture", ds)
    mix, scores = VMFMixture.select(train_x.double().cpu(), val_x.double().cpu(), grid, seed=seed)
    m[f"vmf/{ds}/components"] = float(len(mix.mu))
    m[f"vmf/{ds}/val_nll"] = scores[len(mix.mu)]
    m[f"vmf/{ds}/test_nll"] = float(-mix.log_prob(test_x.double().cpu()).mean())


def _time_to_target(m: dict, ds: str, ppd_curve, mle_curve) -> None:
    common = time_to_common_level(ppd_curve, mle_curve)
    if common is None:
        return
    m[f"ratio/{ds}/target_val_nll"], t_ppd, t_mle = common
    m[f"ppd/{ds}/seconds_to_target"] = t_ppd
    m[f"mle/{ds}/seconds_to_target"] = t_mle
    m[f"ratio/{ds}/mle_over_ppd_seconds_to_target"] = t_mle / t_ppd if t_ppd > 0 else float("nan")


register(
    Experiment(
        name="ppd-earth",
        config_cls=PPDEarthConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="PPD vs maximum likelihood vs geodesic flow matching on the earth data (S^2)",
    )
)
