"""Figures of samples and densities: scatters, sample grids, trajectories, images and maps
on the sphere."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from torch import Tensor

__all__ = [
    "density_sample_figure",
    "scatter_figure",
    "sample_grid_figure",
    "scatter_panels_figure",
    "trajectory_figure",
    "overlay_figure",
    "image_grid_figure",
    "sphere_density_maps_figure",
    "save_figure",
]


def _scatter(ax, points: Tensor, lim: float, title: str) -> None:
    pts = points.detach().cpu().numpy()
    ax.scatter(pts[:, 0], pts[:, 1], s=1.5, alpha=0.5, linewidths=0)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def density_sample_figure(
    data: Tensor, samples: Tensor, density: Tensor | None, lim: float, title: str = ""
):
    """Data ``(N, 2)``, model samples ``(M, 2)`` and, when given, the model density on an
    ``(n, n)`` grid with its colour bar.

    The grid spans ``[-lim, lim]^2`` with rows along y (``meshgrid(..., indexing="xy")``).
    """
    panels = 2 if density is None else 3
    fig, axes = plt.subplots(1, panels, figsize=(3.1 * panels, 3.2), dpi=80)
    _scatter(axes[0], data, lim, "data")
    _scatter(axes[1], samples, lim, "model samples")
    if density is not None:
        image = axes[2].imshow(
            density.cpu().numpy(),
            origin="lower",
            extent=(-lim, lim, -lim, lim),
            cmap="magma",
            interpolation="nearest",
        )
        axes[2].set_title("model density", fontsize=9)
        axes[2].set_xticks([])
        axes[2].set_yticks([])
        fig.colorbar(image, ax=axes[2], fraction=0.046, pad=0.04).ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def scatter_figure(samples: Tensor, lim: float | None = None, title: str = ""):
    """One scatter panel of 2D samples ``(N, 2)``."""
    fig, ax = plt.subplots(figsize=(3.5, 3.5), dpi=80)
    if lim is None:
        lim = float(samples.abs().max()) * 1.05 + 1e-6
    _scatter(ax, samples, lim, title)
    fig.tight_layout()
    return fig


def sample_grid_figure(samples: dict[str, dict[str, Tensor]], limit: float, title: str = ""):
    """A grid of 2D scatters: one row per method, one column per sampler setting.

    Args:
        samples: ``{row label: {column label: points (N, 2)}}``; rows may have different columns.
        limit: axes span ``[-limit, limit]^2``.
    """
    rows = list(samples)
    ncols = max(len(v) for v in samples.values())
    fig, axes = plt.subplots(
        len(rows), ncols, figsize=(2.2 * ncols, 2.3 * len(rows)), dpi=80, squeeze=False
    )
    for r, row in enumerate(rows):
        for c in range(ncols):
            ax = axes[r][c]
            items = list(samples[row].items())
            if c >= len(items):
                ax.axis("off")
                continue
            label, pts = items[c]
            _scatter(ax, pts, limit, label)
            if c == 0:
                ax.set_ylabel(row, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def scatter_panels_figure(panels: dict[str, Tensor], limit: float, title: str = ""):
    """One row of 2-D scatter plots, one per entry, each titled by its key.

    Args:
        panels: title -> points ``(N, 2)``; titles may span lines (``"\\n"``).
        limit: every panel shows ``[-limit, limit]^2``.
        title: an optional figure title.

    Returns:
        A matplotlib figure with ``len(panels)`` axes.

    Examples:
        >>> import torch
        >>> fig = scatter_panels_figure({"a": torch.zeros(3, 2), "b": torch.ones(3, 2)}, 2.0)
        >>> len(fig.axes)
        2
    """
    if not panels:
        raise ValueError("panels is empty: give at least one title -> points (N, 2)")
    for name, pts in panels.items():
        if pts.dim() != 2 or pts.shape[-1] != 2:
            raise ValueError(f"panel {name!r} must be points (N, 2), got {tuple(pts.shape)}")
    return sample_grid_figure({"": dict(panels)}, limit, title)


def trajectory_figure(trajectories: dict[str, Tensor], limit: float, title: str = ""):
    """One panel per method: paths ``(T, N, 2)`` from noise (light) to samples (dark dots)."""
    fig, axes = plt.subplots(
        1, len(trajectories), figsize=(3 * len(trajectories), 3.2), dpi=80, squeeze=False
    )
    for ax, (label, traj) in zip(axes[0], trajectories.items()):
        path = traj.detach().cpu().numpy()
        ax.plot(path[:, :, 0], path[:, :, 1], lw=0.6, alpha=0.5, color="tab:blue")
        ax.scatter(path[0, :, 0], path[0, :, 1], s=4, color="tab:gray", label="t = 0")
        ax.scatter(path[-1, :, 0], path[-1, :, 1], s=4, color="black", label="t = 1")
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
        ax.set_aspect("equal")
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].legend(fontsize=7, loc="lower left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def overlay_figure(
    rows: dict[str, tuple[Tensor, Tensor]],
    limit: float,
    marks: Tensor | None = None,
    labels: tuple[str, str] = ("target", "samples"),
    show: int = 600,
):
    """One panel per title: samples ``(N, 2)`` (blue) over reference points ``(M, 2)`` (grey),
    the first ``show`` of each, with optional marks ``(K, 2)`` (e.g. mixture means, as x)."""
    fig, axes = plt.subplots(1, len(rows), figsize=(2.4 * len(rows), 2.5), squeeze=False)
    for ax, (title, (samples, target)) in zip(axes[0], rows.items()):
        ax.scatter(*target[:show].T, s=2, c="0.7", label=labels[0])
        ax.scatter(*samples[:show].T, s=2, c="tab:blue", label=labels[1])
        if marks is not None:
            ax.scatter(*marks.T, marker="x", c="k", s=20)
        ax.set_title(title, fontsize=8)
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=6)
    axes[0][0].legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    return fig


def image_grid_figure(rows: dict[str, Tensor], shape: tuple[int, int], title: str = ""):
    """Small greyscale images: one row per label, each row ``(n, H * W)`` flattened images."""
    ncols = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(
        len(rows), ncols, figsize=(0.55 * ncols + 1.2, 0.6 * len(rows) + 0.4), dpi=80, squeeze=False
    )
    for r, (label, images) in enumerate(rows.items()):
        for c in range(ncols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(images):
                ax.imshow(
                    images[c].detach().cpu().reshape(shape).numpy(),
                    cmap="gray_r",
                    interpolation="nearest",
                )
            else:
                ax.axis("off")
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def sphere_density_maps_figure(maps: dict[str, Tensor], points: Tensor | None, title: str):
    """Equirectangular log-density maps on the sphere, side by side on one shared scale (the top
    8 nats), with optional points on each.

    Args:
        maps: ``{name: (n_lat, n_lon)}`` log-densities on :func:`ctflow.data.earth.latlon_grid`.
        points: ``(n, 3)`` points on the sphere to overlay, or None.
        title: the figure's title.
    """
    from ..data.earth import xyz_to_latlon

    fig, axes = plt.subplots(1, len(maps), figsize=(3.6 * len(maps), 2.2), dpi=80)
    axes = [axes] if len(maps) == 1 else list(axes)
    vmax = max(float(m.max()) for m in maps.values())
    for ax, (name, m) in zip(axes, maps.items()):
        image = ax.imshow(
            m.cpu().numpy(),
            origin="lower",
            extent=(-180, 180, -90, 90),
            cmap="magma",
            vmin=vmax - 8,
            vmax=vmax,
            aspect="auto",
            interpolation="nearest",
        )
        if points is not None:
            ll = xyz_to_latlon(points.double().cpu())
            ax.scatter(ll[:, 1], ll[:, 0], s=0.6, c="cyan", alpha=0.5, linewidths=0)
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    # one shared scale, the top 8 nats of log-density
    bar = fig.colorbar(image, ax=axes, fraction=0.02, pad=0.01)
    bar.set_label("log density", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    return fig


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` as PNG and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
