"""Scoring the Monte Carlo predictive of a continuous-depth BNN (:class:`ctflow.bayes.TrunkNet`
and subclasses): classification accuracy, NLL, calibration, out-of-distribution detection and
solver-step sweeps; regression NLL, RMSE, band coverage and the predictive spread off the data.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ..metrics import auroc, expected_calibration_error, predictive_entropy
from .baselines import ODENet
from .trunk_net import TrunkNet

__all__ = ["predictive_samples", "predict_probs", "classification_scores", "regression_scores"]


def predictive_samples(model: TrunkNet, samples: int) -> int:
    """``samples``, or 1 for a deterministic model (an :class:`ODENet`): more passes would only
    repeat it."""
    return 1 if isinstance(model, ODENet) else samples


@torch.no_grad()
def predict_probs(
    model: TrunkNet,
    x: Tensor,
    samples: int,
    steps: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> Tensor:
    """Class probabilities of the predictive, averaged over ``samples`` passes.

    Args:
        model: a classifier (categorical likelihood).
        x: inputs ``(n, in_features)``.
        samples: Monte Carlo passes per input (1 for an :class:`ODENet`).
        steps: solver steps for this call (default: the model's).
        seed: seeds the passes' noise, a generator on ``device``.
        device: the model's device.

    Returns:
        ``(n, classes)``.
    """
    gen = torch.Generator(device=device).manual_seed(seed)
    n = predictive_samples(model, samples)
    return model.predict(x, samples=n, steps=steps, generator=gen).probs


def _accuracy(probs: Tensor, labels: Tensor) -> float:
    return float((probs.argmax(-1) == labels).float().mean())


@torch.no_grad()
def classification_scores(
    model: TrunkNet,
    x_test: Tensor,
    y_test: Tensor,
    ood: Mapping[str, Tensor],
    samples: int,
    eval_steps: Sequence[int] = (),
    bins: int = 10,
    seeds: tuple[int, int, int] = (0, 1, 2),
    device: torch.device | str | None = None,
) -> tuple[dict[str, float], Tensor, dict[str, list[float]]]:
    """Scores of a classifier's predictive on test data, on shifted data and across step counts.

    Args:
        model: a trained classifier.
        x_test: test inputs ``(n, in_features)``.
        y_test: labels ``(n,)``.
        ood: ``{name: inputs (m, in_features)}`` out-of-distribution sets.
        samples: Monte Carlo passes per input.
        eval_steps: solver step counts to re-evaluate the test set with.
        bins: equal-width bins of the ECE (top label).
        seeds: seeds of the test, OOD and step-sweep predictions (common random numbers when
            several models share them).
        device: the model's device.

    Returns:
        ``(metrics, probs, sweep)``: metrics ``accuracy``, ``nll`` (-log of the true class's
        probability), ``ece``, ``predict_seconds``, ``auroc_<name>`` (predictive entropy
        separating clean from OOD inputs; 0.5 is chance) and ``accuracy_steps<k>``,
        ``ece_steps<k>``; the test probabilities ``(n, classes)``; and
        ``{"accuracy": [...], "ece": [...]}`` over ``eval_steps``.
    """
    test_seed, ood_seed, steps_seed = seeds
    start = time.perf_counter()
    probs = predict_probs(model, x_test, samples, None, test_seed, device)
    seconds = time.perf_counter() - start
    p_true = probs[torch.arange(len(y_test)), y_test]
    metrics = {
        "accuracy": _accuracy(probs, y_test),
        "nll": float(-p_true.clamp_min(1e-12).log().mean()),
        "ece": float(expected_calibration_error(probs.cpu(), y_test.cpu(), bins)),
        "predict_seconds": seconds,
    }
    clean_entropy = predictive_entropy(probs).cpu()
    for kind, x_ood in ood.items():
        ood_probs = predict_probs(model, x_ood, samples, None, ood_seed, device)
        metrics[f"auroc_{kind}"] = auroc(clean_entropy, predictive_entropy(ood_probs).cpu())
    sweep: dict[str, list[float]] = {"accuracy": [], "ece": []}
    for steps in eval_steps:
        p = predict_probs(model, x_test, samples, steps, steps_seed, device)
        acc = _accuracy(p, y_test)
        ece = float(expected_calibration_error(p.cpu(), y_test.cpu(), bins))
        metrics[f"accuracy_steps{steps}"], metrics[f"ece_steps{steps}"] = acc, ece
        sweep["accuracy"].append(acc)
        sweep["ece"].append(ece)
    return metrics, probs, sweep


@torch.no_grad()
def regression_scores(
    model: TrunkNet,
    x_test: Tensor,
    y_test: Tensor,
    grid: Tensor,
    samples: int,
    generator: torch.Generator | None = None,
    support: tuple[float, float] = (0.5, 2.0),
    outside: float = 2.5,
) -> tuple[dict[str, float], tuple[Tensor, Tensor]]:
    """Scores of a 1-D regression model's predictive, and its band on a grid.

    Args:
        model: a trained model with a Gaussian likelihood, one input and one output.
        x_test: test inputs ``(n, 1)``.
        y_test: targets ``(n,)``.
        grid: inputs ``(g, 1)`` for the band and the spread ratios.
        samples: Monte Carlo passes per input.
        generator: noise of the passes (test points first, then the grid).
        support: ``|x|`` range of the training data; below it is the gap.
        outside: ``|x|`` beyond which the grid is outside the data.

    Returns:
        ``(metrics, (grid_mean, grid_std))``: metrics ``test_nll``, ``rmse``, ``coverage95``
        (share of targets within ``1.96`` predictive std), ``noise_scale``, and
        ``std_gap_ratio`` / ``std_out_ratio``, the mean predictive std in the gap / outside
        over that on the support; the band arrays are ``(g,)``.
    """
    n = predictive_samples(model, samples)
    pred = model.predict(x_test, samples=n, generator=generator)
    mean, std = pred.mean[:, 0], pred.variance[:, 0].sqrt()
    inside = ((y_test - mean).abs() < 1.96 * std).float().mean()
    g = model.predict(grid, samples=n, generator=generator)
    g_mean, g_std = g.mean[:, 0], g.variance[:, 0].sqrt()
    ax = grid[:, 0].abs()
    on_support = (ax >= support[0]) & (ax <= support[1])
    metrics = {
        "test_nll": float(-pred.log_prob(y_test.unsqueeze(-1)).mean()),
        "rmse": float((mean - y_test).pow(2).mean().sqrt()),
        "coverage95": float(inside),
        "noise_scale": float(model.log_noise.exp()),
        "std_gap_ratio": float(g_std[ax < support[0]].mean() / g_std[on_support].mean()),
        "std_out_ratio": float(g_std[(ax > outside)].mean() / g_std[on_support].mean()),
    }
    return metrics, (g_mean, g_std)
