"""Line figures: named curves over steps, time or a swept parameter, histograms beside a
reference density, and 2-D landscapes with optimisation paths drawn over them.

The ``plot_*`` functions draw on a given matplotlib axes, so they compose into larger figures
(see :func:`figure_grid`); the ``*_figure`` functions build and return a whole figure. Inputs
may be tensors, arrays or lists. A curve or reference line whose label starts with ``"_"`` is
left out of the legend (matplotlib's convention).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = [
    "curve_panels_figure",
    "curves_figure",
    "figure_grid",
    "histogram_panels_figure",
    "plot_curves",
    "plot_landscape",
    "plot_traces",
]

Scale = str | tuple[str, dict[str, Any]]
Curves = Mapping[str, tuple[Any, Any]]


def _array(values: Any) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def _finish_axes(ax, xscale, yscale, xlabel: str, ylabel: str, title: str) -> None:
    _set_scale(ax, "x", xscale)
    _set_scale(ax, "y", yscale)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)


def _set_scale(ax, axis: str, scale: Scale) -> None:
    name, options = (scale, {}) if isinstance(scale, str) else scale
    getattr(ax, f"set_{axis}scale")(name, **options)


def figure_grid(rows: int, cols: int, figsize: tuple[float, float], dpi: int = 80):
    """A figure with a ``rows x cols`` grid of axes (headless backend).

    Args:
        rows: Number of rows of axes.
        cols: Number of columns of axes.
        figsize: Figure size in inches ``(width, height)``.
        dpi: Resolution.

    Returns:
        ``(fig, axes)`` with ``axes`` a ``(rows, cols)`` object array of matplotlib axes.

    Examples:
        >>> fig, axes = figure_grid(2, 3, (6, 4))
        >>> axes.shape
        (2, 3)
    """
    import matplotlib.pyplot as plt

    if rows < 1 or cols < 1:
        raise ValueError(f"need rows >= 1 and cols >= 1, got {rows}, {cols}")
    return plt.subplots(rows, cols, figsize=figsize, dpi=dpi, squeeze=False)


def plot_curves(
    ax,
    curves: Curves,
    *,
    style: str = "-",
    styles: Mapping[str, Mapping[str, Any]] | None = None,
    errors: Mapping[str, Any] | None = None,
    hlines: Mapping[str, float] | None = None,
    vlines: Mapping[str, float] | None = None,
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    xscale: Scale = "linear",
    yscale: Scale = "linear",
    legend: bool = True,
    legend_fontsize: float = 7,
    legend_loc: str = "best",
):
    """Draw named curves ``y(x)`` on ``ax``, with optional error bars and reference lines.

    Args:
        ax: A matplotlib axes.
        curves: ``label -> (x, y)``, each a 1-D sequence of the same length ``(N,)``.
        style: Matplotlib format string for every curve (e.g. ``"o-"``).
        styles: ``label -> keyword arguments`` for ``ax.plot``/``ax.axhline`` that override the
            defaults of that curve or reference line; a ``"fmt"`` entry replaces ``style``.
        errors: ``label -> yerr`` (``(N,)``): those curves are drawn with error bars.
        hlines: ``label -> y`` horizontal reference lines (grey dashed unless styled).
        vlines: ``label -> x`` vertical reference lines (grey dotted unless styled).
        xlabel: X-axis label.
        ylabel: Y-axis label.
        title: Axes title.
        xscale: ``"linear"``, ``"log"``, ... or ``(name, options)``, e.g.
            ``("symlog", {"linthresh": 1.0})``.
        yscale: As ``xscale``, for the y axis.
        legend: Whether to draw a legend.
        legend_fontsize: Legend font size.
        legend_loc: Legend location (matplotlib's ``loc``).

    Returns:
        ``ax``.

    Raises:
        ValueError: If some curve's ``x`` and ``y`` differ in length.
    """
    styles = styles or {}
    errors = errors or {}
    for label, (x, y) in curves.items():
        x, y = _array(x), _array(y)
        if x.shape != y.shape or x.ndim != 1:
            raise ValueError(
                f"curve {label!r}: x and y must be 1-D of one length, got {x.shape} and {y.shape}"
            )
        options = dict(styles.get(label, {}))
        fmt = options.pop("fmt", style)
        if label in errors:
            ax.errorbar(x, y, yerr=_array(errors[label]), fmt=fmt, label=label, **options)
        else:
            ax.plot(x, y, fmt, label=label, **options)
    for label, value in (hlines or {}).items():
        options = {"color": "gray", "ls": "--", "lw": 0.8, **styles.get(label, {})}
        ax.axhline(value, label=label, **options)
    for label, value in (vlines or {}).items():
        options = {"color": "gray", "ls": ":", "lw": 0.6, **styles.get(label, {})}
        ax.axvline(value, label=label, **options)
    _finish_axes(ax, xscale, yscale, xlabel, ylabel, title)
    if legend:
        ax.legend(fontsize=legend_fontsize, loc=legend_loc)
    return ax


def curves_figure(
    curves: Curves, *, figsize: tuple[float, float] = (4.8, 3.4), dpi: int = 80, **kwargs: Any
):
    """One axes of named curves, e.g. a validation loss against training time per method.

    Args:
        curves: ``label -> (x, y)``, 1-D of one length each.
        figsize: Figure size in inches.
        dpi: Resolution.
        **kwargs: Passed to :func:`plot_curves` (``style``, ``hlines``, labels, scales, ...).

    Returns:
        The matplotlib figure.

    Examples:
        >>> fig = curves_figure({"a": ([0, 1, 2], [3.0, 2.0, 1.5])}, hlines={"floor": 1.0})
        >>> fig.axes[0].lines[0].get_ydata().tolist()
        [3.0, 2.0, 1.5]
    """
    fig, axes = figure_grid(1, 1, figsize, dpi)
    plot_curves(axes[0, 0], curves, **kwargs)
    fig.tight_layout()
    return fig


def curve_panels_figure(
    panels: Mapping[str, Curves],
    *,
    panel_size: tuple[float, float] = (3.6, 3.0),
    dpi: int = 80,
    titles: bool = True,
    legend: str = "first",
    suptitle: str = "",
    **kwargs: Any,
):
    """A row of :func:`plot_curves` panels, e.g. one learning curve per task.

    Args:
        panels: ``panel title -> curves`` (``label -> (x, y)``).
        panel_size: Size of one panel in inches; the figure is ``len(panels)`` wide.
        dpi: Resolution.
        titles: Whether to title each panel with its key.
        legend: ``"first"`` (legend on the first panel only), ``"all"`` or ``"none"``.
        suptitle: Figure title.
        **kwargs: Passed to :func:`plot_curves`; a *list* value (e.g. ``ylabel=["return", ""]``)
            gives one value per panel.

    Returns:
        The matplotlib figure, one axes per panel.

    Raises:
        ValueError: If ``panels`` is empty, ``legend`` is unknown or a list argument does not
            have one entry per panel.
    """
    if not panels:
        raise ValueError("need at least one panel")
    if legend not in ("first", "all", "none"):
        raise ValueError(f"legend must be 'first', 'all' or 'none', got {legend!r}")
    n = len(panels)
    for key, value in kwargs.items():
        if isinstance(value, list) and len(value) != n:
            raise ValueError(f"{key} has {len(value)} entries for {n} panels")
    fig, axes = figure_grid(1, n, (panel_size[0] * n, panel_size[1]), dpi)
    for i, (ax, (name, curves)) in enumerate(zip(axes[0], panels.items())):
        options = {k: v[i] if isinstance(v, list) else v for k, v in kwargs.items()}
        show = legend == "all" or (legend == "first" and i == 0)
        plot_curves(ax, curves, title=name if titles else "", legend=show, **options)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def histogram_panels_figure(
    samples: Mapping[str, Any],
    *,
    bins: int = 100,
    range: tuple[float, float] | None = None,  # noqa: A002 - numpy's name for it
    reference: tuple[Any, Any] | None = None,
    reference_label: str = "reference",
    titles: Mapping[str, str] | None = None,
    xlabel: str = "",
    yscale: Scale = "linear",
    panel_size: tuple[float, float] = (3.2, 2.8),
    dpi: int = 80,
):
    """One density histogram per named sample, each beside an optional reference density.

    Args:
        samples: ``name -> values`` (``(N,)`` each).
        bins: Histogram bins.
        range: ``(low, high)`` of the bins; the samples' range when ``None``.
        reference: ``(x, density)`` (``(M,)`` each) drawn as a black line on every panel.
        reference_label: Legend label of the reference (legend on the first panel).
        titles: ``name -> panel title``; the name when missing.
        xlabel: X-axis label of every panel.
        yscale: Y scale, e.g. ``("symlog", {"linthresh": 0.1})``.
        panel_size: Size of one panel in inches.
        dpi: Resolution.

    Returns:
        The matplotlib figure, one axes per sample (shared y axis).

    Raises:
        ValueError: If ``samples`` is empty or a sample is not 1-D.
    """
    if not samples:
        raise ValueError("need at least one sample")
    n = len(samples)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, n, figsize=(panel_size[0] * n, panel_size[1]), dpi=dpi, sharey=True, squeeze=False
    )
    for ax, (name, values) in zip(axes[0], samples.items()):
        values = _array(values)
        if values.ndim != 1:
            raise ValueError(f"sample {name!r} must be 1-D, got shape {values.shape}")
        ax.hist(values, bins=bins, range=range, density=True, color="C0", alpha=0.7)
        if reference is not None:
            x, density = reference
            ax.plot(_array(x), _array(density), "k-", lw=0.8, label=reference_label)
        ax.set_title((titles or {}).get(name, name), fontsize=9)
        if xlabel:
            ax.set_xlabel(xlabel)
        _set_scale(ax, "y", yscale)
    if reference is not None:
        axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_landscape(
    ax,
    x: Any,
    y: Any,
    values: Any,
    *,
    paths: Any = None,
    highlight: int | None = None,
    path_style: Mapping[str, Any] | None = None,
    highlight_style: Mapping[str, Any] | None = None,
    end_marker: str | None = None,
    levels: int = 30,
    cmap: str = "viridis",
    colorbar_label: str | None = None,
    xscale: Scale = "linear",
    yscale: Scale = "linear",
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
):
    """A filled-contour landscape ``values[j, i] = f(x[i], y[j])`` with paths drawn over it.

    Args:
        ax: A matplotlib axes (its figure gets a colorbar).
        x: Grid coordinates ``(NX,)``.
        y: Grid coordinates ``(NY,)``.
        values: ``(NY, NX)``: rows follow ``y``, columns follow ``x``.
        paths: Optimisation paths, ``(T, K, 2)`` (``K`` paths of ``T`` points) or a sequence of
            ``(T_k, 2)`` arrays, in the coordinates of ``x`` and ``y``.
        highlight: Index of one path drawn with ``highlight_style`` (e.g. the best start).
        path_style: ``ax.plot`` keywords of the paths (default: small white dots).
        highlight_style: ``ax.plot`` keywords of the highlighted path (default: red dots).
        end_marker: A marker drawn at each path's last point, in the path's colour.
        levels: Contour levels.
        cmap: Colour map.
        colorbar_label: Label of the colorbar.
        xscale: X scale.
        yscale: Y scale.
        xlabel: X-axis label.
        ylabel: Y-axis label.
        title: Axes title.

    Returns:
        ``ax``.

    Raises:
        ValueError: If ``values`` is not ``(len(y), len(x))``.
    """
    x, y, values = _array(x), _array(y), _array(values)
    if values.shape != (len(y), len(x)):
        raise ValueError(
            f"values must be (len(y), len(x)) = {(len(y), len(x))}, got {values.shape}"
        )
    cs = ax.contourf(x, y, values, levels=levels, cmap=cmap)
    ax.figure.colorbar(cs, ax=ax, **({"label": colorbar_label} if colorbar_label else {}))
    if paths is not None:
        if isinstance(paths, (torch.Tensor, np.ndarray)):
            paths = [p for p in np.moveaxis(_array(paths), 1, 0)]  # (T, K, 2) -> K x (T, 2)
        base = {"color": "w", "marker": ".", "ls": "none", "ms": 1, "alpha": 0.6}
        base.update(path_style or {})
        best = {"color": "r", "marker": ".", "ls": "none", "ms": 2}
        best.update(highlight_style or {})
        for k, path in enumerate(paths):
            path = _array(path)
            style = best if k == highlight else base
            ax.plot(path[:, 0], path[:, 1], **style)
            if end_marker:
                ax.plot(path[-1, 0], path[-1, 1], end_marker, color=style["color"], ms=7)
    _finish_axes(ax, xscale, yscale, xlabel, ylabel, title)
    return ax


def plot_traces(
    ax,
    traces: Any,
    *,
    highlight: int | None = None,
    highlight_label: str = "best",
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
):
    """Many runs of one quantity over iterations in grey, one of them highlighted.

    Args:
        ax: A matplotlib axes.
        traces: ``(T, K)``: ``K`` runs (e.g. random starts) over ``T`` iterations.
        highlight: Column drawn in colour and put in the legend.
        highlight_label: Legend label of the highlighted run.
        xlabel: X-axis label.
        ylabel: Y-axis label.
        title: Axes title.

    Returns:
        ``ax``.

    Raises:
        ValueError: If ``traces`` is not 2-D or ``highlight`` is out of range.
    """
    traces = _array(traces)
    if traces.ndim != 2:
        raise ValueError(f"traces must be (T, K), got shape {traces.shape}")
    if highlight is not None and not 0 <= highlight < traces.shape[1]:
        raise ValueError(f"highlight {highlight} out of range for {traces.shape[1]} runs")
    ax.plot(traces, color="gray", lw=0.6)
    if highlight is not None:
        ax.plot(traces[:, highlight], color="C3", lw=1.2, label=highlight_label)
        ax.legend(fontsize=8)
    _finish_axes(ax, "linear", "linear", xlabel, ylabel, title)
    return ax
