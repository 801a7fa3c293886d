"""Bar charts of one number per named method: a row of panels (one per data set), an optional
second value per bar drawn as a tick (e.g. the training loss over the test loss), and pairs of
bounds joined by a line.

Values may be floats, 0-d tensors or numpy scalars; the order of a mapping is the order drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["plot_bars", "bar_panels_figure", "bound_pairs_figure"]


def _check_names(values: Mapping[str, Any], other: Mapping[str, Any], what: str) -> None:
    if list(other) != list(values):
        raise ValueError(f"{what} must name the bars in order {list(values)}, got {list(other)}")


def plot_bars(
    ax,
    values: Mapping[str, float],
    *,
    colors: Sequence[str] | Mapping[str, str] | None = None,
    ticks: Mapping[str, float] | None = None,
    label: str | None = None,
    ticks_label: str | None = None,
    ylabel: str = "",
    title: str = "",
    symlog_above: float | None = None,
    tick_params: Mapping[str, Any] | None = None,
    legend: bool = False,
):
    """Draw one bar per name on ``ax``, optionally with a second value per bar as a black tick.

    Args:
        ax: A matplotlib axes.
        values: ``name -> bar height`` (``K`` bars, drawn in this order).
        colors: One colour per bar: a sequence of ``K`` or a ``name -> colour`` mapping.
        ticks: ``name -> value`` for the same names in the same order, drawn as a horizontal
            tick over each bar (e.g. the training value over the test value).
        label: Legend label of the bars.
        ticks_label: Legend label of the ticks.
        ylabel: Y-axis label.
        title: Axes title (font size 9).
        symlog_above: When the largest value (bars and ticks) exceeds this many times
            ``max(1, smallest |value|)``, the y axis becomes symlog, so one outlier does not
            flatten the others.
        tick_params: Keywords for ``ax.tick_params`` (e.g. ``{"axis": "x", "rotation": 30}``).
        legend: Whether to draw a legend (font size 7).

    Returns:
        ``ax``.

    Raises:
        ValueError: If ``values`` is empty, or ``colors`` / ``ticks`` do not match its names.
    """
    if not values:
        raise ValueError("need at least one bar")
    names = list(values)
    heights = [float(v) for v in values.values()]
    if isinstance(colors, Mapping):
        colors = [colors[n] for n in names]
    elif colors is not None and len(colors) != len(names):
        raise ValueError(f"need {len(names)} colours, got {len(colors)}")
    ax.bar(names, heights, color=colors, label=label)
    everything = list(heights)
    if ticks is not None:
        _check_names(values, ticks, "ticks")
        marks = [float(v) for v in ticks.values()]
        ax.plot(names, marks, "k_", ms=20, mew=2, ls="none", label=ticks_label)
        everything += marks
    if ylabel:
        ax.set_ylabel(ylabel)
    if symlog_above is not None:
        if max(everything) > symlog_above * max(1.0, min(abs(v) for v in everything)):
            ax.set_yscale("symlog")
    if title:
        ax.set_title(title, fontsize=9)
    if tick_params:
        ax.tick_params(**tick_params)
    if legend:
        ax.legend(fontsize=7)
    return ax


def bar_panels_figure(
    panels: Mapping[str, Mapping[str, float]],
    *,
    ticks: Mapping[str, Mapping[str, float]] | None = None,
    titles: Mapping[str, str] | None = None,
    panel_size: tuple[float, float] = (3.2, 2.6),
    dpi: int | None = None,
    **kwargs: Any,
):
    """A row of bar charts, one per panel (e.g. one per data set, a bar per method).

    Args:
        panels: ``panel name -> (bar name -> value)``.
        ticks: ``panel name -> (bar name -> value)`` drawn as ticks over that panel's bars.
        titles: ``panel name -> title``; the panel name when missing.
        panel_size: Size of one panel in inches; the figure is ``len(panels)`` panels wide.
        dpi: Resolution (matplotlib's default when ``None``).
        **kwargs: Passed to :func:`plot_bars` for every panel (``colors``, ``ylabel``, ...).

    Returns:
        The matplotlib figure, one axes per panel.

    Raises:
        ValueError: If ``panels`` is empty or a panel is invalid for :func:`plot_bars`.

    Examples:
        >>> fig = bar_panels_figure({"wine": {"a": 1.0, "b": 2.0}, "iris": {"a": 0.5, "b": 1.5}})
        >>> [float(p.get_height()) for p in fig.axes[1].patches]
        [0.5, 1.5]
    """
    import matplotlib.pyplot as plt

    if not panels:
        raise ValueError("need at least one panel")
    n = len(panels)
    options = {} if dpi is None else {"dpi": dpi}
    fig, axes = plt.subplots(
        1, n, figsize=(panel_size[0] * n, panel_size[1]), squeeze=False, **options
    )
    for ax, (name, values) in zip(axes[0], panels.items()):
        marks = None if ticks is None else ticks[name]
        plot_bars(ax, values, ticks=marks, title=(titles or {}).get(name, name), **kwargs)
    fig.tight_layout()
    return fig


def bound_pairs_figure(
    lower: Mapping[str, float],
    upper: Mapping[str, float],
    *,
    lower_label: str = "lower",
    upper_label: str = "upper",
    ylabel: str = "",
    figsize: tuple[float, float] = (4.2, 3.0),
    dpi: int = 72,
):
    """Two values per name joined by a grey line, e.g. an ELBO and an importance-weighted bound
    per model: the line's length is the gap between them, its height how good both are.

    Args:
        lower: ``name -> value`` drawn as a blue dot.
        upper: ``name -> value`` for the same names in the same order, drawn as a red dot.
        lower_label: Legend label of the lower values.
        upper_label: Legend label of the upper values.
        ylabel: Y-axis label.
        figsize: Figure size in inches.
        dpi: Resolution.

    Returns:
        The matplotlib figure (one axes, the names on the x axis).

    Raises:
        ValueError: If ``lower`` is empty or ``upper`` names other models.

    Examples:
        >>> fig = bound_pairs_figure({"a": -90.0, "b": -85.0}, {"a": -88.0, "b": -84.0})
        >>> fig.axes[0].lines[1].get_ydata().tolist()
        [-85.0, -84.0]
    """
    import matplotlib.pyplot as plt

    if not lower:
        raise ValueError("need at least one pair")
    _check_names(lower, upper, "upper")
    names = list(lower)
    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    for i, name in enumerate(names):
        low, high = float(lower[name]), float(upper[name])
        ax.plot([i, i], [low, high], color="0.6", lw=2, zorder=1)
        ax.scatter([i], [low], color="C0", zorder=2, label=lower_label if i == 0 else None)
        ax.scatter([i], [high], color="C3", zorder=2, label=upper_label if i == 0 else None)
    ax.set_xticks(range(len(names)), names)
    ax.set_xlim(-0.5, len(names) - 0.5)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
