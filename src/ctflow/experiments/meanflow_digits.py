"""``meanflow-digits``: one- and few-step class-conditional generation of 8x8 digits (64-d).

The same class-conditional MLP trains by flow matching, MeanFlow and the shortcut loss on
scikit-learn's digits (uniformly dequantized, mapped to [-1, 1]). Each model then draws one image
per test image, conditioned on its label, at 1, 2 and 4 evaluations (flow matching: Euler steps)
and flow matching also with 100 (midpoint), the quality reference. Quality:
- exact W2 between the samples and the test images, in model units, beside the W2 between as
  many training images and the test images (the floor);
- class accuracy: a logistic-regression classifier trained on the real training images labels
  the samples (real test images: about 0.96);
- the 1-NN two-sample accuracy (:func:`ctflow.metrics.nn1_accuracy`) of telling the samples from
  the test images: 0.5 is indistinguishable. W2 and class accuracy both reward a sampler that
  returns each class's mean image (one Euler step of a flow-matching field nearly does); the
  1-NN test does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data import DIGITS_LEVELS, load_digits_split
from ..device import select_device
from ..flows.flow_map_training import budget_samples, check_flow_map_options, flow_map_step_loss
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from ..metrics import mmd, nn1_accuracy, wasserstein2
from ..nn import FlowMapMLP, TimeMLP
from ..paths import CondOTPath
from ..plotting import image_grid_figure
from ..train import (
    cosine_fit_options,
    dequantized_batch,
    fit_logistic_classifier,
    level_centres,
    to_levels,
)

__all__ = ["MeanFlowDigitsConfig", "run", "build_models"]

N_CLASSES = 10
D = 64
# Gaussian-kernel widths for 64-d images in [-1, 1] units (typical distances between images: 5-8)
MMD_BANDWIDTHS = (2.0, 5.0, 10.0, 20.0)


@dataclass
class MeanFlowDigitsConfig(ExperimentConfig):
    """Full size by default; see ``SIZES``."""

    methods: tuple[str, ...] = ("fm", "meanflow", "shortcut")
    steps: int = 8000
    batch_size: int = 256
    lr: float = 1e-3
    hidden: int = 256
    depth: int = 3
    equal_fraction: float = 0.75
    adaptive_power: float = 0.0
    consistency_fraction: float = 0.25
    min_step: float = 1 / 128
    few_steps: tuple[int, ...] = (1, 2, 4)
    reference_nfe: int = 100
    n_test: int = 359  # the whole test split

    def __post_init__(self):
        check_flow_map_options(
            self.methods,
            self.few_steps,
            self.reference_nfe,
            equal_fraction=self.equal_fraction,
            consistency_fraction=self.consistency_fraction,
            lr=self.lr,
            adaptive_power=self.adaptive_power,
        )
        check_fields(self, at_least_one="steps batch_size hidden depth n_test")


SIZES = {
    "smoke": dict(steps=10, hidden=32, depth=2, n_test=30),
    "quick": dict(steps=2500),
}


def build_models(config: MeanFlowDigitsConfig) -> dict[str, torch.nn.Module]:
    """A class-conditional network per method (context: the 10-way one-hot label)."""
    hidden = (config.hidden,) * config.depth
    return {
        f"{m}/digits": (
            TimeMLP(D, context=N_CLASSES, hidden=hidden)
            if m == "fm"
            else FlowMapMLP(D, context=N_CLASSES, hidden=hidden)
        )
        for m in config.methods
    }


def run(config: MeanFlowDigitsConfig, ctx: RunContext | None = None) -> Results:
    """Metrics: ``<method>/digits/{w2,class_accuracy}_<n>step`` (flow matching: Euler),
    ``fm/digits/{w2,class_accuracy}_ref`` (midpoint), ``data/digits/w2_train_vs_test``,
    ``data/digits/class_accuracy_real`` and ``<method>/digits/w2_1step_over_ref``."""
    ctx = ctx or RunContext(seed=config.seed)
    device = select_device(config.device)
    torch.manual_seed(config.seed)
    x_train, y_train = load_digits_split("train", seed=0)
    x_test, y_test = load_digits_split("test", seed=0)
    x_test, y_test = x_test[: config.n_test], y_test[: config.n_test]
    classifier = fit_logistic_classifier(x_train, y_train, scale=16.0)
    z_test = level_centres(x_test, DIGITS_LEVELS)
    z_train = level_centres(x_train[: len(x_test)], DIGITS_LEVELS)  # the floors' real sample
    models = build_models(config)
    ctx.track(models)
    results = Results(models=models)
    m = results.metrics
    m["data/digits/w2_train_vs_test"] = float(wasserstein2(z_train.double(), z_test.double()))
    m["data/digits/nn1_train_vs_test"] = nn1_accuracy(z_train, z_test)
    m["data/digits/mmd_train_vs_test"] = float(mmd(z_train, z_test, MMD_BANDWIDTHS))
    results.metrics["data/digits/class_accuracy_real"] = float(
        (classifier(x_test.float()) == y_test).float().mean()
    )
    gen = ctx.generator("eval")  # the shared starting noise
    x0 = torch.randn(len(x_test), D, generator=gen).to(device)
    context = F.one_hot(y_test, N_CLASSES).float().to(device)
    grids = {"real": x_test[: N_CLASSES * 2].float()}
    for method in config.methods:
        net = models[f"{method}/digits"].to(device)
        train_gen = ctx.generator("data", method)  # batches, dequantization, noise and times

        def draw(train_gen=train_gen):
            z, idx = dequantized_batch(x_train, DIGITS_LEVELS, config.batch_size, train_gen)
            return z.to(device), F.one_hot(y_train[idx], N_CLASSES).float().to(device)

        ctx.fit(
            flow_map_step_loss(method, net, CondOTPath(), draw, train_gen, **_loss_options(config)),
            net,
            tag=f"{method}/digits",
            generators=[train_gen],
            device=device,
            **cosine_fit_options(config.steps, config.lr, warmup_cap=200),
        )
        budgets = budget_samples(method, net, x0, config.few_steps, config.reference_nfe, context)
        for label, z in budgets.items():
            pixels = to_levels(z.cpu(), DIGITS_LEVELS)
            key = f"{method}/digits"
            results.metrics[f"{key}/w2_{label}"] = float(
                wasserstein2(z.cpu().double(), z_test.double())
            )
            results.metrics[f"{key}/class_accuracy_{label}"] = float(
                (classifier(pixels) == y_test).float().mean()
            )
            results.metrics[f"{key}/nn1_{label}"] = nn1_accuracy(z.cpu(), z_test)
            results.metrics[f"{key}/mmd_{label}"] = float(mmd(z.cpu(), z_test, MMD_BANDWIDTHS))
            if label in ("1step", "ref"):
                grids[f"{method} {label}"] = pixels[: N_CLASSES * 2]
    ref = results.metrics["fm/digits/w2_ref"]
    for method in config.methods:
        results.metrics[f"{method}/digits/w2_1step_over_ref"] = (
            results.metrics[f"{method}/digits/w2_1step"] / ref
        )
    results.figures["digits_samples"] = image_grid_figure(
        grids,
        shape=(8, 8),
        title="digits: real test images, then each method's samples for the same labels",
    )
    results.notes += [
        f"W2: exact, {len(x_test)} samples (one per test image, with its label) against the test "
        "images in [-1, 1] units (grey level g -> 2 (g + 0.5) / 17 - 1); the floor is the same "
        "distance from as many training images.",
        "Class accuracy: a logistic-regression classifier trained on the real training images.",
        f"mmd: kernel MMD with Gaussian widths {MMD_BANDWIDTHS} against the test images; "
        "data/digits/mmd_train_vs_test is its floor.",
        "nn1: leave-one-out 1-nearest-neighbour accuracy of telling samples from test images "
        "(0.5: indistinguishable, 1: separable); data/digits/nn1_train_vs_test is its floor.",
        f"fm/digits/*_ref: flow matching sampled with midpoint, {config.reference_nfe} NFE.",
    ]
    return results


def _loss_options(config) -> dict[str, float]:
    keys = ("equal_fraction", "adaptive_power", "consistency_fraction", "min_step")
    return {k: getattr(config, k) for k in keys}


register(
    Experiment(
        name="meanflow-digits",
        config_cls=MeanFlowDigitsConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="one- and few-step conditional digits (MeanFlow, shortcut) vs flow matching",
    )
)
