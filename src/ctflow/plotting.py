"""Small, consistent figures (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are written to files
import matplotlib.pyplot as plt  # noqa: E402
from torch import Tensor  # noqa: E402

__all__ = ["density_sample_figure", "scatter_figure", "save_figure"]


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
    data: Tensor, samples: Tensor, density: Tensor, lim: float, title: str = ""
):
    """Three panels: data ``(N, 2)``, model samples ``(M, 2)``, model density on a ``(n, n)`` grid.

    The grid spans ``[-lim, lim]^2`` with rows along y (``meshgrid(..., indexing="xy")``).
    """
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2), dpi=80)
    _scatter(axes[0], data, lim, "data")
    _scatter(axes[1], samples, lim, "model samples")
    axes[2].imshow(
        density.cpu().numpy(),
        origin="lower",
        extent=(-lim, lim, -lim, lim),
        cmap="magma",
        interpolation="nearest",
    )
    axes[2].set_title("model density", fontsize=9)
    axes[2].set_xticks([])
    axes[2].set_yticks([])
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


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` as PNG and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
