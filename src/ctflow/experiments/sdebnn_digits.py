"""``sdebnn-digits``: SDE-BNN vs an ODE net and a mean-field BNN on scikit-learn's 8x8 digits.

The three models share the encoder, the continuous-depth trunk (``state`` hidden units, a field
with ``field_hidden`` units whose weights are the random quantity) and the head; they differ only
in where the trunk's weights come from: an SDE posterior over weight paths (SDE-BNN), one learned
vector (ODE net), or a factorised Gaussian held constant in depth (MFVI). Reported per model:
test accuracy, NLL and ECE of the Monte Carlo predictive, out-of-distribution AUROC (predictive
entropy, clean test digits vs corrupted ones), and accuracy / ECE as the solver step count changes
at test time (the models were trained with ``steps``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..bayes import SDEBNN, MeanFieldBNN, ODENet
from ..bayes.scores import classification_scores
from ..data import load_digits_split
from ..data.corruptions import CORRUPTIONS, digits_to_signed
from ..data.corruptions import corrupt_images as corrupt
from ..device import select_device
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from ..metrics import reliability_diagram_data
from ..nn import parameter_count
from ..plotting.calibration import reliability_figure, setting_sweep_figure

__all__ = ["SDEBNNDigitsConfig", "run", "build_models", "corrupt"]

MODELS = ("sdebnn", "odenet", "mfvi")
N_CLASSES, D = 10, 64


@dataclass
class SDEBNNDigitsConfig(ExperimentConfig):
    """Full size by default (sized for a shared 2-core CPU); see ``SIZES``."""

    models: tuple[str, ...] = MODELS
    state: int = 16
    field_hidden: int = 16
    hyper_hidden: int = 32
    sigma: float = 0.1
    estimator: str = "stl"
    shared_path: bool = False
    mfvi_prior_std: float = 1.0
    steps: int = 10
    iters: int = 1000
    batch_size: int = 128
    lr: float = 3e-3
    eval_samples: int = 16
    eval_steps: tuple[int, ...] = (2, 5, 10, 20, 50)
    noise_std: float = 0.5
    n_test: int = 359  # the whole test split
    bins: int = 10

    def __post_init__(self):
        bad = [m for m in self.models if m not in MODELS]
        if bad or not self.models:
            raise ValueError(
                f"unknown model {bad[0] if bad else None!r}; choose from: {', '.join(MODELS)}"
            )
        for name in (
            "state", "field_hidden", "hyper_hidden", "steps", "iters", "batch_size",
            "eval_samples", "n_test", "bins",
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_fields(self, positive="sigma lr noise_std mfvi_prior_std")


SIZES = {
    "smoke": dict(
        iters=8,
        field_hidden=8,
        hyper_hidden=8,
        steps=4,
        eval_samples=2,
        eval_steps=(2,),
        n_test=40,
        batch_size=32,
    ),  # fmt: skip
    "quick": dict(iters=300, eval_samples=8, eval_steps=(2, 10, 50)),
}


def build_models(config: SDEBNNDigitsConfig) -> dict[str, torch.nn.Module]:
    """The untrained models, keyed ``<model>/digits``."""
    common = dict(state=config.state, field_hidden=config.field_hidden, steps=config.steps)
    makers = {
        "sdebnn": lambda: SDEBNN(
            D,
            N_CLASSES,
            hyper_hidden=(config.hyper_hidden,),
            sigma=config.sigma,
            estimator=config.estimator,
            shared_path=config.shared_path,
            **common,
        ),
        "odenet": lambda: ODENet(D, N_CLASSES, **common),
        "mfvi": lambda: MeanFieldBNN(D, N_CLASSES, prior_std=config.mfvi_prior_std, **common),
    }
    return {f"{m}/digits": makers[m]() for m in config.models}


def run(config: SDEBNNDigitsConfig, ctx: RunContext | None = None) -> Results:
    ctx = ctx or RunContext(seed=config.seed)
    device = select_device(config.device)
    torch.manual_seed(config.seed)
    x_train, y_train = load_digits_split("train", seed=0)
    x_test, y_test = load_digits_split("test", seed=0)
    x_train = digits_to_signed(x_train).to(device)
    x_test = digits_to_signed(x_test[: config.n_test]).to(device)
    y_train, y_test = y_train.to(device), y_test[: config.n_test].to(device)
    ood_gen = ctx.generator("test", "corruptions")
    ood = {k: corrupt(x_test.cpu(), k, ood_gen, config.noise_std).to(device) for k in CORRUPTIONS}
    models = build_models(config)
    ctx.track(models)
    results = Results(models=models)
    reliability, sweeps = {}, {}
    for name in config.models:
        model = models[f"{name}/digits"].to(device)
        # batches, weight draws and Brownian paths, on the device the model trains on
        gen = torch.Generator(device=device).manual_seed(ctx.seed_of("data", name))

        def loss_fn(step, model=model, gen=gen):
            idx = torch.randint(0, len(x_train), (config.batch_size,), generator=gen, device=device)
            return model.loss(x_train[idx], y_train[idx], len(x_train), generator=gen)

        trained = ctx.fit(
            loss_fn,
            model,
            tag=f"{name}/digits",
            generators=[gen],
            device=device,
            steps=config.iters,
            lr=config.lr,
            schedule="cosine",
            warmup=min(100, config.iters // 10),
            grad_clip=10.0,
        )
        seeds = [ctx.seed_of("eval", part) for part in ("test", "ood", "steps")]
        metrics, probs, sweep = classification_scores(
            model, x_test, y_test, ood, config.eval_samples, config.eval_steps, config.bins,
            seeds, device,
        )  # fmt: skip
        metrics["train_seconds"] = trained.seconds
        metrics["final_train_loss"] = trained.final_loss
        metrics["n_parameters"] = parameter_count(model)
        results.metrics.update({f"{name}/digits/{k}": float(v) for k, v in metrics.items()})
        reliability[name] = reliability_diagram_data(probs.cpu(), y_test.cpu(), config.bins)
        sweeps[name] = sweep
    results.figures["sdebnn_digits_reliability"] = reliability_figure(reliability)
    results.figures["sdebnn_digits_steps"] = setting_sweep_figure(
        config.eval_steps,
        sweeps,
        {"accuracy": "test accuracy", "ece": "ECE"},
        f"solver steps at test time (trained with {config.steps})",
    )
    results.notes += [
        f"Predictive: mean of softmax over {config.eval_samples} samples (one weight draw or "
        f"path per example; the ODE net is deterministic). ECE: {config.bins} equal-width "
        "bins, top label. NLL: -log of the predictive probability of the true class.",
        f"OOD AUROC: predictive entropy separating the {config.n_test} clean test digits from "
        f"the same digits corrupted ('noise': Gaussian, std {config.noise_std} of the pixel "
        "range, clipped; 'shuffle': pixels permuted per image). 0.5 is chance.",
        f"All models trained with {config.steps} solver steps; *_steps<n> metrics re-evaluate "
        "the same weights with n steps.",
    ]
    return results


register(
    Experiment(
        name="sdebnn-digits",
        config_cls=SDEBNNDigitsConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="SDE-BNN vs ODE net vs mean-field BNN on digits: accuracy, NLL, ECE, OOD",
    )
)
