"""``sdebnn-stl``: the sticking-the-landing claim on a problem with a known posterior.

A 1-D OU prior ``dw = -w dt + sigma dB`` from ``w_0 = 0`` is observed once, ``y ~ N(w_1, s^2)``.
The exact posterior is a linear SDE (:class:`~ctflow.bayes.ou.OUObservation`) inside the
variational family ``-w + theta_1 A(t) w + theta_2 B(t)`` at ``theta = (1, 1)``. Measured: the
variance over paths of the negative-ELBO gradient at the exact posterior for the STL, path-KL and
full Monte Carlo estimators as the Euler-Maruyama step count grows; the three gradients' means
away from the optimum (they must agree); and short training runs from ``theta = (0, 0)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..bayes import ESTIMATORS, OUObservation, OUObservationDrift
from ..bayes.estimator_study import estimator_gradients, paired_mean_z
from ..bayes.ou_gradients import ou_negative_elbo
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from ..plotting.curves import curve_panels_figure

__all__ = ["SDEBNNSTLConfig", "run", "build_models"]


@dataclass
class SDEBNNSTLConfig(ExperimentConfig):
    """Full size by default; see ``SIZES``."""

    sigma: float = 1.0
    obs_std: float = 0.5
    y: float = 1.0
    steps: tuple[int, ...] = (20, 50, 100, 300, 1000)
    n_paths: int = 4000
    theta_off: tuple[float, ...] = (0.5, 0.5)
    off_steps: int = 100
    train_iters: int = 200
    train_paths: int = 64
    train_steps: int = 50
    lr: float = 0.05

    def __post_init__(self):
        check_fields(self, at_least_one="n_paths off_steps train_iters train_paths train_steps")
        if not self.steps or min(self.steps) < 1:
            raise ValueError(f"steps must be positive integers, got {self.steps}")
        if len(self.theta_off) != 2:
            raise ValueError(f"theta_off must have two entries, got {self.theta_off}")
        check_fields(self, positive="sigma obs_std lr")


SIZES = {
    "smoke": dict(
        steps=(5, 10), n_paths=100, off_steps=10, train_iters=5, train_paths=16, train_steps=10
    ),
    "quick": dict(steps=(20, 100, 1000), n_paths=1500, train_iters=100),
}


def _problem(config: SDEBNNSTLConfig) -> OUObservation:
    return OUObservation(sigma=config.sigma, obs_std=config.obs_std, y=config.y)


def build_models(config: SDEBNNSTLConfig) -> dict[str, OUObservationDrift]:
    """One variational drift per estimator, started at ``theta = (0, 0)`` (the prior)."""
    return {f"{e}/ou": OUObservationDrift(_problem(config), theta=(0.0, 0.0)) for e in ESTIMATORS}


def run(config: SDEBNNSTLConfig, ctx: RunContext | None = None) -> Results:
    ctx = ctx or RunContext(seed=config.seed)
    torch.manual_seed(config.seed)
    problem = _problem(config)
    results = Results()
    m = results.metrics
    m["exact/ou/log_evidence"] = problem.log_evidence()
    variances = {e: [] for e in ESTIMATORS}
    for steps in config.steps:
        seed = ctx.seed_of("paths", steps)  # the same Brownian paths for every estimator
        grads = estimator_gradients(problem, (1.0, 1.0), config.n_paths, steps, seed)
        for estimator, (grad, loss) in grads.items():
            var = float(grad.var(0).sum())
            variances[estimator].append(var)
            m[f"{estimator}/ou/grad_var_steps{steps}"] = var
            m[f"{estimator}/ou/grad_mean_norm_steps{steps}"] = float(grad.mean(0).norm())
            if estimator == "path":  # the ELBO at the exact posterior vs the evidence
                elbo = -loss
                m[f"exact/ou/elbo_steps{steps}"] = float(elbo.mean())
                m[f"exact/ou/elbo_stderr_steps{steps}"] = float(elbo.std()) / math.sqrt(len(elbo))
    # away from the optimum the estimators must agree in mean (same paths: paired differences)
    seed = ctx.seed_of("paths", "off")
    off = estimator_gradients(problem, config.theta_off, config.n_paths, config.off_steps, seed)
    off = {e: grad for e, (grad, _) in off.items()}
    for e in ESTIMATORS:
        for i in range(2):
            m[f"{e}/ou/off_grad_mean_theta{i + 1}"] = float(off[e][:, i].mean())
        m[f"{e}/ou/off_grad_var"] = float(off[e].var(0).sum())
        if e != "full":
            m[f"{e}/ou/off_mean_diff_vs_full_max_z"] = paired_mean_z(off[e], off["full"])
    histories = _train(config, problem, ctx, results)
    results.figures["sdebnn_stl"] = curve_panels_figure(
        {
            "variance": {e: (config.steps, variances[e]) for e in ESTIMATORS},
            "training": {e: (range(len(h)), (h - 1.0).norm(dim=-1)) for e, h in histories.items()},
        },
        panel_size=(4.5, 3.6),
        titles=False,
        legend="all",
        suptitle="1-D OU prior, Gaussian observation at t = 1",
        style=["o-", "-"],
        styles={e: {"color": c} for e, c in zip(("stl", "path", "full"), ("C0", "C1", "C2"))},
        xscale=["log", "linear"],
        yscale="log",
        xlabel=["Euler-Maruyama steps", "training iteration"],
        ylabel=["gradient variance at the exact posterior", "|theta - theta*|"],
        legend_fontsize=10,
    )
    results.notes += [
        f"Gradient of the per-path negative ELBO w.r.t. theta = (theta_1, theta_2), "
        f"{config.n_paths} paths, Euler-Maruyama; variance = trace of the covariance over paths. "
        "All estimators see the same Brownian paths at each step count.",
        "path: int |u|^2/2 dt; full: + int u dB; stl: + int u dB with theta detached in u.",
        "Training: Adam from theta = (0, 0) (the prior); the exact posterior is theta = (1, 1).",
    ]
    return results


def _train(config, problem, ctx, results):
    models = build_models(config)
    ctx.track(models)
    histories = {}
    for estimator in ESTIMATORS:
        drift = models[f"{estimator}/ou"]
        gen = ctx.generator("data", estimator)
        history = []

        def loss_fn(step, drift=drift, gen=gen, estimator=estimator, history=history):
            history.append(drift.theta.detach().clone())
            loss = ou_negative_elbo(
                drift, problem, config.train_paths, config.train_steps, estimator, gen
            )
            return loss.mean()

        trained = ctx.fit(
            loss_fn,
            drift,
            tag=f"{estimator}/ou",
            generators=[gen],
            steps=config.train_iters,
            lr=config.lr,
            schedule="constant",
        )
        history.append(drift.theta.detach().clone())
        histories[estimator] = torch.stack(history)
        error = float((drift.theta.detach() - 1.0).norm())
        results.metrics[f"{estimator}/ou/train_theta_error"] = error
        tail = torch.stack(history[len(history) // 2 :])
        results.metrics[f"{estimator}/ou/train_theta_jitter"] = float(tail.std(0).norm())
        results.metrics[f"{estimator}/ou/train_seconds"] = trained.seconds
    results.models = models
    return histories


register(
    Experiment(
        name="sdebnn-stl",
        config_cls=SDEBNNSTLConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="SDE-BNN STL estimator on a known OU posterior: gradient variance vs steps",
    )
)
