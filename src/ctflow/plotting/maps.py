"""Maps of the plane: grids of points, Voronoi cells on a grid, density panels beside data,
where two maps send the same points, and a categorical law beside its learned cells.

Grids follow ``meshgrid(..., indexing="xy")``: row ``i`` is the ``i``-th y value, so an
``(n, n)`` map drawn with ``imshow(origin="lower")`` has x to the right and y up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from torch import Tensor

__all__ = [
    "plane_grid",
    "nearest_cells",
    "cell_edges",
    "density_panels_figure",
    "map_comparison_figure",
    "cell_law_figure",
    "heatmap_panels_figure",
]


def plane_grid(
    low: Sequence[float], high: Sequence[float], n: int, device: torch.device | str | None = None
) -> Tensor:
    """The ``n x n`` points of the box ``[low[0], high[0]] x [low[1], high[1]]``, row-major in y.

    Args:
        low: lower corner ``(x, y)``.
        high: upper corner ``(x, y)``.
        n: points per side (>= 2).
        device: where to put the points.

    Returns:
        ``(n * n, 2)``; ``grid.reshape(n, n, 2)[i, j] == (xs[j], ys[i])``.

    Examples:
        >>> plane_grid((0, 0), (1, 2), 2).tolist()
        [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [1.0, 2.0]]
    """
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    xs = torch.linspace(float(low[0]), float(high[0]), n)
    ys = torch.linspace(float(low[1]), float(high[1]), n)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    return grid if device is None else grid.to(device)


def nearest_cells(points: Tensor, anchors: Tensor) -> Tensor:
    """The Voronoi cell of each point: the index of its nearest anchor (Euclidean).

    Args:
        points: ``(N, D)``.
        anchors: ``(K, D)``.

    Returns:
        ``(N,)`` long indices into ``anchors`` (the first anchor on ties).

    Examples:
        >>> nearest_cells(torch.tensor([[0.1, 0.0], [0.9, 1.0]]), torch.eye(2)).tolist()
        [0, 1]
    """
    if points.ndim != 2 or anchors.ndim != 2 or points.shape[1] != anchors.shape[1]:
        raise ValueError(
            f"points (N, D) and anchors (K, D) must share D, got {tuple(points.shape)} "
            f"and {tuple(anchors.shape)}"
        )
    return (points[:, None, :] - anchors).pow(2).sum(-1).argmin(-1)


def cell_edges(cells: Tensor) -> Tensor:
    """Where a map of cell labels changes: a grid point whose right or upper neighbour lies in
    another cell.

    Args:
        cells: ``(n, n)`` labels, row ``i`` at the ``i``-th y (see :func:`plane_grid`).

    Returns:
        ``(n - 1, n - 1)`` bool; ``torch.nonzero(edges, as_tuple=True)`` gives ``(rows, cols)``.

    Examples:
        >>> cell_edges(torch.tensor([[0, 1], [0, 1]])).tolist()
        [[True]]
    """
    if cells.ndim != 2:
        raise ValueError(f"cells must be (n, n), got shape {tuple(cells.shape)}")
    here = cells[:-1, :-1]
    return (cells[1:, :-1] != here) | (cells[:-1, 1:] != here)


def _plain_axes(ax, limit: float) -> None:
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def density_panels_figure(
    points: Tensor,
    panels: Mapping[str, Tensor],
    limit: float,
    *,
    kind: str = "density",
    data_title: str = "data",
    titles: Mapping[str, str] | None = None,
    edges: Mapping[str, Tensor] | None = None,
    cmap: str = "viridis",
    vmax_quantile: float | None = None,
    panel_size: tuple[float, float] = (3.0, 3.0),
    dpi: int = 72,
):
    """Data beside one panel per model: its density on a grid, or its samples.

    Args:
        points: data ``(N, >= 2)``; the first 2000 rows' first two coordinates are drawn.
        panels: model name to an ``(n, n)`` density on the grid of ``[-limit, limit]^2``
            (``kind="density"``) or to samples ``(M, 2)`` (``kind="samples"``).
        limit: the half-width of the square shown.
        kind: ``"density"`` or ``"samples"``.
        data_title: title of the data panel.
        titles: panel titles by name (default: the name).
        edges: per name, an ``(n - 1, n - 1)`` bool map (:func:`cell_edges`) drawn over it.
        cmap: colour map of the densities.
        vmax_quantile: clip the colour scale at this quantile (a few spikes hide the rest).
        panel_size: ``(width, height)`` of one panel in inches.
        dpi: resolution.

    Returns:
        The figure: ``1 + len(panels)`` panels, with a colour bar per density.
    """
    if kind not in ("density", "samples"):
        raise ValueError(f"kind must be 'density' or 'samples', got {kind!r}")
    if points.ndim != 2 or points.shape[1] < 2:
        raise ValueError(f"points must be (N, >= 2), got shape {tuple(points.shape)}")
    titles = titles or {}
    edges = edges or {}
    count = len(panels) + 1
    fig, axes = plt.subplots(
        1, count, figsize=(panel_size[0] * count, panel_size[1]), dpi=dpi, squeeze=False
    )
    axes = axes[0]
    data = points[:2000, :2].detach().cpu()
    axes[0].scatter(data[:, 0], data[:, 1], s=1, alpha=0.5)
    axes[0].set_title(data_title, fontsize=9)
    for ax, (name, value) in zip(axes[1:], panels.items()):
        value = value.detach().cpu()
        if kind == "samples":
            ax.scatter(value[:, 0], value[:, 1], s=1, alpha=0.5, color="C1")
        else:
            if value.ndim != 2 or value.shape[0] != value.shape[1]:
                raise ValueError(f"density {name!r} must be (n, n), got {tuple(value.shape)}")
            vmax = None
            if vmax_quantile is not None:
                vmax = float(torch.quantile(value.flatten(), vmax_quantile))
            image = ax.imshow(
                value.numpy(),
                origin="lower",
                extent=(-limit, limit, -limit, limit),
                cmap=cmap,
                vmin=0 if vmax is not None else None,
                vmax=vmax,
            )
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=7)
            if name in edges:  # grid point (i, j) sits at (x_j, y_i)
                rows, cols = torch.nonzero(edges[name].cpu(), as_tuple=True)
                step = 2 * limit / (value.shape[0] - 1)
                ax.scatter(
                    -limit + cols * step,
                    -limit + rows * step,
                    s=0.6,
                    c="cyan",
                    alpha=0.8,
                    linewidths=0,
                )
        ax.set_title(titles.get(name, name), fontsize=9)
    for ax in axes:
        _plain_axes(ax, limit)
    fig.tight_layout()
    return fig


def map_comparison_figure(
    target: Tensor, maps: Mapping[str, Tensor], limit: float = 3.5, link_every: int = 10
):
    """Where learned maps send points, against where a reference map sends them.

    Args:
        target: ``(N, 2)`` images of ``N`` points under the reference map.
        maps: name to ``(>= N, 2)`` images of the same points (in the same order) under a
            learned map; the first ``N`` rows are drawn.
        limit: the half-width of the square shown.
        link_every: a red segment joins the two images of every ``link_every``-th point.

    Returns:
        The figure, one panel per map, titled with ``E|f - T|^2`` over the ``N`` points.
    """
    if not maps:
        raise ValueError("maps is empty")
    if target.ndim != 2 or target.shape[1] != 2:
        raise ValueError(f"target must be (N, 2), got shape {tuple(target.shape)}")
    target = target.detach().cpu()
    fig, axes = plt.subplots(1, len(maps), figsize=(3.3 * len(maps), 3.3), dpi=72, squeeze=False)
    axes = axes[0]
    for ax, (name, learned) in zip(axes, maps.items()):
        learned = learned[: len(target)].detach().cpu()
        if learned.shape != target.shape:
            raise ValueError(f"map {name!r} has {tuple(learned.shape)}, need {tuple(target.shape)}")
        ax.scatter(target[:, 0], target[:, 1], s=4, c="lightgray", label="optimal T(x)")
        ax.scatter(learned[:, 0], learned[:, 1], s=4, c="C0", label="learned f(x)")
        for i in range(0, len(target), link_every):
            ax.plot([target[i, 0], learned[i, 0]], [target[i, 1], learned[i, 1]], "r-", lw=0.5)
        mse = float((learned - target).pow(2).sum(-1).mean())
        ax.set_title(f"{name}: E|f - T|^2 = {mse:.3g}", fontsize=9)
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
        ax.set_aspect("equal")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def cell_law_figure(
    truth: Tensor,
    estimate: Tensor,
    cells: Tensor,
    extent: tuple[float, float, float, float],
    points: Tensor,
    labels: Tensor,
    anchors: Tensor,
    title: str = "",
    estimate_title: str = "model samples",
    cells_title: str = "cells of x0, samples of q(z0 | x)",
):
    """A joint law of two categorical variables, an estimate of it, and the cells of the first
    variable's labels in a continuous plane with points coloured by label.

    Args:
        truth: ``(K0, K1)`` probabilities ``P(x0, x1)``.
        estimate: ``(K0, K1)`` estimated probabilities, on the same colour scale as ``truth``.
        cells: ``(n, n)`` label of each point of the :func:`plane_grid` over ``extent``.
        extent: ``(x_low, x_high, y_low, y_high)`` of the cell map.
        points: ``(M, 2)`` points of the plane, e.g. posterior samples.
        labels: ``(M,)`` label of each point.
        anchors: ``(K, 2)`` the cells' anchors (marked with crosses).
        title: name of the law (first panel's title).
        estimate_title: title of the estimate's panel.
        cells_title: title of the cells' panel.

    Returns:
        The figure, three panels.
    """
    if truth.shape != estimate.shape or truth.ndim != 2:
        raise ValueError(
            f"truth and estimate must be equal (K0, K1), got {tuple(truth.shape)} "
            f"and {tuple(estimate.shape)}"
        )
    if len(points) != len(labels):
        raise ValueError(f"{len(points)} points but {len(labels)} labels")
    truth, estimate, cells, points, labels, anchors = (
        t.detach().cpu().numpy() for t in (truth, estimate, cells, points, labels, anchors)
    )
    fig, axes = plt.subplots(1, 3, figsize=(9, 3))
    vmax = float(truth.max())
    axes[0].imshow(truth.T, origin="lower", cmap="viridis", vmin=0, vmax=vmax)
    axes[0].set_title(f"{title}: P(x0, x1)", fontsize=9)
    image = axes[1].imshow(estimate.T, origin="lower", cmap="viridis", vmin=0, vmax=vmax)
    # the two panels share one scale (vmin, vmax)
    fig.colorbar(image, ax=axes[1], fraction=0.046, pad=0.04).ax.tick_params(labelsize=7)
    axes[1].set_title(estimate_title, fontsize=9)
    classes = len(anchors)
    colours = dict(cmap="tab10" if classes <= 10 else "tab20", vmin=0, vmax=classes - 1)
    axes[2].imshow(cells, origin="lower", extent=extent, alpha=0.35, **colours)
    axes[2].scatter(points[:, 0], points[:, 1], c=labels, s=1.5, **colours)
    axes[2].scatter(anchors[:, 0], anchors[:, 1], c="k", marker="x", s=12)
    axes[2].set_xlim(extent[0], extent[1])
    axes[2].set_ylim(extent[2], extent[3])
    axes[2].set_title(cells_title, fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def heatmap_panels_figure(
    panels: Mapping[str, Tensor],
    *,
    suptitle: str = "",
    cmap: str = "viridis",
    panel_size: tuple[float, float] = (2.4, 2.6),
    dpi: int = 80,
):
    """A row of 2-D maps, each on its own colour scale with its own colour bar (e.g. a target
    distribution on a grid beside each model's).

    Args:
        panels: ``title -> (NY, NX)`` values; row ``i`` is drawn at height ``i`` (origin at the
            bottom left), column ``j`` at ``x = j``.
        suptitle: Figure title.
        cmap: Colour map.
        panel_size: Size of one panel in inches.
        dpi: Resolution.

    Returns:
        The figure, one image axes per panel followed by one colour-bar axes per panel.

    Raises:
        ValueError: If ``panels`` is empty or a map is not 2-D.

    Examples:
        >>> fig = heatmap_panels_figure({"a": torch.eye(3), "b": torch.ones(3, 4)})
        >>> fig.axes[1].images[0].get_array().shape
        (3, 4)
    """
    if not panels:
        raise ValueError("need at least one panel")
    n = len(panels)
    fig, axes = plt.subplots(
        1, n, figsize=(panel_size[0] * n, panel_size[1]), dpi=dpi, squeeze=False
    )
    for ax, (name, values) in zip(axes[0], panels.items()):
        values = torch.as_tensor(values).detach().cpu()
        if values.ndim != 2:
            raise ValueError(f"map {name!r} must be 2-D, got shape {tuple(values.shape)}")
        image = ax.imshow(values.numpy(), origin="lower", cmap=cmap)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=6)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return fig
