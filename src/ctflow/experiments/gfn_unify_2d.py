"""``gfn-unify-2d``: a diffusion model trained as a GFlowNet by MLE-GFN (arXiv 2209.02606).

On the checkerboard, the same Gaussian diffusion (``T`` steps, noise network) is trained two
ways: as a GFlowNet by MLE-GFN (``P_F`` ascends ``E_{P_B(tau|x)} log P_F(tau)/P_B(tau|x)`` on
whole noising paths, with learned per-step variances), and as a standard DDPM (the simplified
noise-prediction loss, fixed posterior variances). Both are evaluated by the same GFlowNet bounds
(one-path ELBO and K-path importance-weighted bound on held-out points), next to the exact NLL of
flow matching on the OT path (the ``fm-ot`` model of ``flow-matching-2d``, trained here with the
same network size and steps) and the data's entropy (3.676 nats).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data import sample_toy
from ..data.toy_quality import entropy_of, sample_quality
from ..device import select_device
from ..gfn import DiffusionGFN, diffusion_loss, diffusion_nll_bounds, linear_betas
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from ..nn import TimeMLP
from ..plotting import scatter_panels_figure
from ..solvers import odeint
from ..train import cosine_fit_options
from .flow_matching_2d import FlowMatching2DConfig
from .flow_matching_2d import build_models as fm_build_models
from .flow_matching_2d import run as fm_run

__all__ = ["GFNUnify2DConfig", "run", "build_models", "METHODS"]

DATASET = "checkerboard"
METHODS = ("mle-gfn", "ddpm", "fm-ot")


@dataclass
class GFNUnify2DConfig(ExperimentConfig):
    """Full size by default (sized for about 10 minutes on one shared CPU core: MLE-GFN pays
    ``diffusion_steps`` network passes per data point per step); see ``SIZES``."""

    methods: tuple[str, ...] = METHODS
    steps: int = 2500
    batch_size: int = 256
    lr: float = 1e-3
    hidden: int = 128
    depth: int = 3
    diffusion_steps: int = 20
    train_paths: int = 1
    eval_paths: int = 64
    n_eval: int = 1024
    fm_tol: float = 1e-5

    def __post_init__(self):
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ValueError(
                f"unknown method {bad[0] if bad else None!r}; choose from: {', '.join(METHODS)}"
            )
        check_fields(
            self,
            at_least_one="steps batch_size hidden depth diffusion_steps train_paths eval_paths "
            "n_eval",
        )
        if not self.lr > 0 or not 0 < self.fm_tol < 1:
            raise ValueError("need lr > 0 and 0 < fm_tol < 1")


SIZES = {
    "smoke": dict(
        steps=20,
        batch_size=64,
        hidden=16,
        depth=2,
        diffusion_steps=8,
        eval_paths=4,
        n_eval=64,
        fm_tol=1e-3,
    ),
    "quick": dict(steps=600, diffusion_steps=10, eval_paths=16, n_eval=512),
}


def _fm_config(config: GFNUnify2DConfig) -> FlowMatching2DConfig:
    return FlowMatching2DConfig(
        seed=config.seed,
        device=config.device,
        datasets=(DATASET,),
        methods=("fm-ot",),
        steps=config.steps,
        batch_size=config.batch_size,
        lr=config.lr,
        hidden=config.hidden,
        depth=config.depth,
        n_eval=config.n_eval,
        tols=(config.fm_tol,),
        midpoint_nfe=(8,),
        n_trajectories=8,
    )


def build_models(config: GFNUnify2DConfig) -> dict[str, torch.nn.Module]:
    torch.manual_seed(config.seed)
    models: dict[str, torch.nn.Module] = {}
    for method in ("mle-gfn", "ddpm"):
        if method in config.methods:
            net = TimeMLP(2, hidden=(config.hidden,) * config.depth)
            models[method] = DiffusionGFN(
                net,
                2,
                linear_betas(config.diffusion_steps),
                variance="posterior",
                learn_variance=method == "mle-gfn",
            )
    if "fm-ot" in config.methods:
        models["fm-ot"] = fm_build_models(_fm_config(config))[f"fm-ot/{DATASET}"]
    return models


def run(config: GFNUnify2DConfig, ctx: RunContext | None = None) -> Results:
    ctx = ctx or RunContext(seed=config.seed)
    device = select_device(config.device)
    models = build_models(config)
    diffusions = {k: m for k, m in models.items() if k != "fm-ot"}
    ctx.track(diffusions)
    results = Results(models=models)
    test_gen = ctx.generator("test")
    x_test = sample_toy(DATASET, config.n_eval, generator=test_gen).to(device)
    x_ref = sample_toy(DATASET, config.n_eval, generator=test_gen).to(device)
    entropy = entropy_of(DATASET, test_gen)
    samples = {"data": {"data": x_ref.cpu()}}
    for method, model in diffusions.items():
        model.to(device)
        _train_diffusion(method, model, config, ctx, device)
        metrics, xs = _evaluate_diffusion(model, x_test, x_ref, config, ctx.seed_of("eval", method))
        metrics["entropy"] = entropy
        results.metrics.update({f"{method}/{DATASET}/{k}": float(v) for k, v in metrics.items()})
        samples[method] = {f"{method} (T = {model.T})": xs}
    if "fm-ot" in config.methods:
        fm_results = fm_run(_fm_config(config), RunContext(logger=ctx.logger, seed=config.seed))
        flow = fm_results.models[f"fm-ot/{DATASET}"]
        models["fm-ot"].load_state_dict(flow.state_dict())
        fm = {k.split("/", 2)[2]: v for k, v in fm_results.metrics.items()}
        tol = f"{config.fm_tol:g}"
        for name in ("test_nll", "test_nll_stderr", "entropy", "nll_seconds"):
            results.metrics[f"fm-ot/{DATASET}/{name}"] = float(fm[name])
        for name in ("w2", "mmd", "in_support"):
            results.metrics[f"fm-ot/{DATASET}/{name}"] = float(fm[f"{name}_tol{tol}"])
        with torch.no_grad():
            x0 = torch.randn(config.n_eval, 2, generator=test_gen).to(device)
            grid = torch.linspace(0.0, 1.0, 101, device=device)
            xs = odeint(flow.field, x0, grid, method="rk4")[-1]
        samples["fm-ot"] = {"fm-ot (rk4, 100 steps)": xs.cpu()}
    for method in diffusions:
        key = f"{method}/{DATASET}"
        results.metrics[f"{key}/iwae_gap"] = (
            results.metrics[f"{key}/neg_iwae"] - results.metrics[f"{key}/entropy"]
        )
    if {"mle-gfn", "ddpm"} <= set(config.methods):
        results.metrics[f"ratio/{DATASET}/neg_iwae_gfn_minus_ddpm"] = (
            results.metrics[f"mle-gfn/{DATASET}/neg_iwae"]
            - results.metrics[f"ddpm/{DATASET}/neg_iwae"]
        )
    panels = {
        _panel_title(method, label, results.metrics): pts
        for method, panel in samples.items()
        for label, pts in panel.items()
    }
    results.figures["gfn_unify_2d_samples"] = scatter_panels_figure(panels, limit=4.6)
    results.notes += [
        "neg_elbo / neg_iwae: -E log P_F(tau)/P_B(tau|x) with one / eval_paths noising paths per "
        "held-out point (upper bounds on the NLL, nats); fm-ot test_nll is an exact NLL (dopri5, "
        "exact divergence). The entropy is the best achievable NLL.",
        f"Both diffusions use T = {config.diffusion_steps} steps of DDPM's linear schedule "
        "rescaled to T; mle-gfn learns a log-variance offset per step, ddpm keeps the posterior "
        "variances.",
    ]
    return results


def _train_diffusion(method, model, config, ctx, device) -> None:
    gen = ctx.generator("data", method)  # batches
    torch.manual_seed(ctx.seed_of("noise", method))  # diffusion times, noise and paths

    def loss_fn(step: int):
        x = sample_toy(DATASET, config.batch_size, generator=gen).to(device)
        return diffusion_loss(method, model, x, config.train_paths)

    ctx.fit(
        loss_fn,
        model,
        tag=f"{method}/{DATASET}",
        generators=[gen],
        device=device,
        **cosine_fit_options(config.steps, config.lr, grad_clip=10.0 if method == "ddpm" else None),
    )


@torch.no_grad()
def _evaluate_diffusion(model: DiffusionGFN, x_test, x_ref, config, seed: int):
    torch.manual_seed(seed)  # the ELBO's and IWAE's paths and the samples (torch's global RNG)
    metrics = diffusion_nll_bounds(model, x_test, config.eval_paths)
    xs = model.sample(len(x_ref))[-1]
    metrics.update(sample_quality(xs, x_ref, DATASET))
    return metrics, xs.cpu()


def _panel_title(method: str, label: str, metrics: dict[str, float]) -> str:
    """The panel's label, with the model's NLL (flow) or its NLL bound (diffusions)."""
    if method == "fm-ot":
        return label + f"\nNLL {metrics[f'fm-ot/{DATASET}/test_nll']:.2f}"
    if method != "data":
        return label + f"\n-IWAE {metrics[f'{method}/{DATASET}/neg_iwae']:.2f}"
    return label


register(
    Experiment(
        name="gfn-unify-2d",
        config_cls=GFNUnify2DConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="diffusion as a GFlowNet (MLE-GFN) vs DDPM vs flow matching: likelihood bounds",
    )
)
