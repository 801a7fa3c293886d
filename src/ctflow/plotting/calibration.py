"""Figures of predictive uncertainty: reliability diagrams, metrics against a test-time setting,
and regression predictive bands."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor

from ..metrics.calibration import ReliabilityData

__all__ = ["reliability_figure", "setting_sweep_figure", "predictive_band_figure"]

# the margins every panel row of this module shares, so side-by-side figures line up
_MARGINS = dict(left=0.09, right=0.98, bottom=0.16, top=0.88, wspace=0.3)


def _check_panels(panels: Mapping, what: str) -> None:
    if not isinstance(panels, Mapping) or not panels:
        raise ValueError(f"{what} must be a non-empty dict of panels, got {panels!r}")


def reliability_figure(reliability: Mapping[str, ReliabilityData]):
    """One reliability diagram per model, side by side.

    Each panel shows the per-bin accuracy as bars (empty bins at 0), the diagonal of perfect
    calibration, and each bin's (mean confidence, accuracy) as a dot.

    Args:
        reliability: ``{title: ReliabilityData}`` as
            :func:`ctflow.metrics.reliability_diagram_data` returns (tensors of shape
            ``(n_bins,)``, edges ``(n_bins + 1,)``).

    Returns:
        The matplotlib figure, one axis per entry in the dict's order.

    Examples:
        >>> from ctflow.metrics import reliability_diagram_data
        >>> data = reliability_diagram_data(torch.tensor([[0.8, 0.2]]), torch.tensor([0]), 5)
        >>> len(reliability_figure({"model": data}).axes)
        1
    """
    _check_panels(reliability, "reliability")
    n = len(reliability)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), dpi=72, squeeze=False)
    for ax, (name, data) in zip(axes[0], reliability.items()):
        edges = data.bin_edges.numpy()
        centers, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
        acc = torch.nan_to_num(data.accuracy, nan=0.0).numpy()
        ax.bar(centers, acc, width=width * 0.9, color="C0", alpha=0.8, label="accuracy")
        ax.plot([0, 1], [0, 1], "k--", lw=1)
        ax.plot(data.confidence.numpy(), data.accuracy.numpy(), "o", color="C3", ms=3)
        ax.set_title(name)
        ax.set_xlabel("confidence")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("accuracy")
    fig.subplots_adjust(**_MARGINS)
    return fig


def setting_sweep_figure(
    settings: Sequence,
    sweeps: Mapping[str, Mapping[str, Sequence[float]]],
    metrics: Mapping[str, str],
    xlabel: str,
):
    """Metrics of several models as one test-time setting changes, one panel per metric.

    The settings are placed evenly (tick labels show their values), so a geometric sweep such
    as solver steps 2, 5, 10, 50 reads without a log axis.

    Args:
        settings: the ``S`` setting values, in sweep order (used as tick labels).
        sweeps: ``{model: {metric: values}}``, each list of length ``S``.
        metrics: ``{metric key: y-axis label}``, one panel per entry, in order.
        xlabel: the label of every panel's x axis.

    Returns:
        The matplotlib figure; the first panel carries the legend.

    Examples:
        >>> fig = setting_sweep_figure([2, 10], {"a": {"acc": [0.5, 0.7]}}, {"acc": "acc"}, "n")
        >>> fig.axes[0].lines[0].get_ydata().tolist()
        [0.5, 0.7]
    """
    _check_panels(sweeps, "sweeps")
    _check_panels(metrics, "metrics")
    for name, sweep in sweeps.items():
        for key in metrics:
            if key not in sweep or len(sweep[key]) != len(settings):
                raise ValueError(
                    f"sweeps[{name!r}][{key!r}] must hold {len(settings)} values, one per setting"
                )
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.2), dpi=72)
    axes = np.atleast_1d(axes)
    positions = list(range(len(settings)))
    for name, sweep in sweeps.items():
        for ax, key in zip(axes, metrics):
            ax.plot(positions, sweep[key], "o-", label=name)
    for ax, label in zip(axes, metrics.values()):
        ax.set_xticks(positions, [str(s) for s in settings])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
    axes[0].legend()
    fig.subplots_adjust(**_MARGINS)
    return fig


def predictive_band_figure(
    grid: Tensor,
    bands: Mapping[str, tuple[Tensor, Tensor]],
    x_train: Tensor,
    y_train: Tensor,
    truth: Tensor | None = None,
    ylim: tuple[float, float] = (-3.0, 3.0),
):
    """1-D regression: each model's predictive mean +- 2 std over a grid, with the data.

    Args:
        grid: inputs of shape ``(G, 1)`` (or ``(G,)``) where the bands are evaluated.
        bands: ``{model: (mean, std)}``, each of shape ``(G,)``.
        x_train: training inputs of shape ``(N, 1)`` (or ``(N,)``).
        y_train: training targets of shape ``(N,)``.
        truth: the noise-free function on ``grid``, shape ``(G,)``, drawn dotted; optional.
        ylim: the y range shared by the panels.

    Returns:
        The matplotlib figure, one panel per model, sharing the y axis.

    Examples:
        >>> g = torch.linspace(-1, 1, 5)
        >>> fig = predictive_band_figure(g, {"m": (g, g.abs())}, g[:2], g[:2])
        >>> fig.axes[0].get_title()
        'm'
    """
    _check_panels(bands, "bands")
    xs = grid.reshape(len(grid), -1)[:, 0].numpy()
    for name, (mean, std) in bands.items():
        if mean.shape != (len(xs),) or std.shape != (len(xs),):
            raise ValueError(f"bands[{name!r}] must be (mean, std) of shape ({len(xs)},)")
    n = len(bands)
    fig, axes = plt.subplots(1, n, figsize=(3.3 * n, 3.0), dpi=72, sharey=True, squeeze=False)
    for ax, (name, (mean, std)) in zip(axes[0], bands.items()):
        ax.fill_between(xs, mean - 2 * std, mean + 2 * std, color="C0", alpha=0.25, lw=0)
        ax.plot(xs, mean, color="C0", lw=1.5)
        if truth is not None:
            ax.plot(xs, truth.numpy(), "k:", lw=1)
        ax.plot(x_train.reshape(len(x_train), -1)[:, 0].numpy(), y_train.numpy(), "o",
                color="C3", ms=2.5)  # fmt: skip
        ax.set_title(name)
        ax.set_ylim(*ylim)
        ax.set_xlabel("x")
    axes[0][0].set_ylabel("y (mean +- 2 std)")
    fig.subplots_adjust(**_MARGINS)
    return fig
