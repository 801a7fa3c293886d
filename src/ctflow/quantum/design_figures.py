"""The figure of a multi-start design ascent: per objective, the landscape over two design
coordinates with every start's path, the objective per iteration, and the best start's
parameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ..plotting.curves import figure_grid, plot_curves, plot_landscape, plot_traces

__all__ = ["design_ascent_figure"]


@torch.no_grad()
def design_ascent_figure(
    landscapes: Mapping[str, tuple[Tensor, Tensor, Tensor]],
    histories: Mapping[str, tuple[Tensor, Tensor]],
    lower: Tensor,
    upper: Tensor,
    names: Sequence[str],
    period: float | None = None,
    plane_labels: tuple[str, str] | None = None,
):
    """One row per objective: landscape with paths, value traces, the best start's parameters.

    Args:
        landscapes: ``objective title -> (x, y, values)``: the objective over the first two
            design coordinates, ``x (NX,)``, ``y (NY,)``, ``values (NY, NX)``.
        histories: ``objective title -> (values (T, K), designs (T, K, D))`` of ``K`` starts
            over ``T`` iterations, as :func:`~ctflow.quantum.design.projected_adam_ascent`
            returns them; the best start is the best at the last iteration.
        lower: ``(D,)`` box lower bounds; coordinates bounded on both sides are drawn as their
            position in the box (0-1), the others as they are.
        upper: ``(D,)`` box upper bounds.
        names: ``D`` coordinate names.
        period: If given, the first two coordinates are drawn modulo it (angles).
        plane_labels: Axis labels of the landscape (default: the first two names).

    Returns:
        A matplotlib figure with ``len(landscapes)`` rows of three panels.

    Raises:
        ValueError: If the two mappings have different keys or ``names`` the wrong length.
    """
    if list(landscapes) != list(histories) or not landscapes:
        raise ValueError("landscapes and histories need the same, non-empty, objective keys")
    if len(names) != len(lower) or len(lower) != len(upper):
        raise ValueError(f"need one name per coordinate, got {len(names)} for {len(lower)}")
    fig, axes = figure_grid(len(landscapes), 3, (12, 3.5 * len(landscapes)), dpi=72)
    bounded = [bool(torch.isfinite(lo) and torch.isfinite(hi)) for lo, hi in zip(lower, upper)]
    for row, title in enumerate(landscapes):
        x, y, values = landscapes[title]
        trace, designs = histories[title]
        best = int(trace[-1].argmax())
        plane = designs[..., :2] % period if period is not None else designs[..., :2]
        plot_landscape(
            axes[row, 0],
            x,
            y,
            values,
            paths=plane,
            highlight=best,
            end_marker="*",
            xlabel=(plane_labels or names)[0],
            ylabel=(plane_labels or names)[1],
            title=f"{title}: slice at the best design",
        )
        plot_traces(
            axes[row, 1],
            trace,
            highlight=best,
            highlight_label="best start",
            xlabel="iteration",
            ylabel=title,
            title=f"{title} per iteration, every start",
        )
        path = designs[:, best]
        steps = range(len(path))
        curves = {}
        for i, name in enumerate(names):
            if bounded[i]:
                position = (path[:, i] - lower[i]) / (upper[i] - lower[i])
                curves[f"{name} (0-1: box position)"] = (steps, position)
            else:
                curves[name] = (steps, path[:, i])
        plot_curves(
            axes[row, 2],
            curves,
            xlabel="iteration",
            ylabel="value / box position",
            title="parameters of the best start",
        )
    fig.tight_layout()
    return fig
