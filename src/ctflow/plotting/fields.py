"""Figures of flows of vector fields: samples carried along a 2-D flow, with their source and
target samples. (A field solver's error over time or dimension is a curve: use
:func:`ctflow.plotting.curves.curves_figure` with ``yscale="log"``.)"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
from torch import Tensor

__all__ = ["transport_paths_figure"]


def transport_paths_figure(
    panels: Mapping[str, tuple[Tensor, Tensor, Tensor]],
    lim: float = 4.5,
    n_paths: int = 60,
    n_points: int = 400,
):
    """Samples transported by a 2-D flow: their paths, start, end and a target sample.

    Args:
        panels: ``{title: (x0, paths, target)}`` with source samples ``x0`` ``(N, 2)``, their
            positions over time ``paths`` ``(K, N, 2)`` (``paths[-1]`` is where they end) and
            target samples ``target`` ``(M, 2)``.
        lim: each panel shows ``[-lim, lim]^2``.
        n_paths: how many paths to draw (the first ones).
        n_points: how many points of each sample to scatter (the first ones).

    Returns:
        The matplotlib figure, one panel per entry; the first carries the legend.

    Examples:
        >>> import torch
        >>> x0 = torch.zeros(3, 2)
        >>> paths = torch.stack([x0, x0 + 1])
        >>> fig = transport_paths_figure({"shift": (x0, paths, x0 + 1)}, n_paths=2)
        >>> len(fig.axes[0].lines)
        2
    """
    if not isinstance(panels, Mapping) or not panels:
        raise ValueError(f"panels must be a non-empty dict, got {panels!r}")
    for name, (x0, paths, _target) in panels.items():
        if x0.dim() != 2 or paths.dim() != 3 or paths.shape[1:] != x0.shape:
            raise ValueError(
                f"panels[{name!r}]: x0 must be (N, 2) and paths (K, N, 2), got "
                f"{tuple(x0.shape)} and {tuple(paths.shape)}"
            )
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.2), squeeze=False)
    for ax, (name, (x0, xs, target)) in zip(axes[0], panels.items()):
        for i in range(min(n_paths, x0.shape[0])):
            ax.plot(xs[:, i, 0], xs[:, i, 1], "-", color="0.6", lw=0.5)
        k = n_points
        ax.scatter(x0[:k, 0], x0[:k, 1], s=2, c="tab:blue", label="p0 samples")
        ax.scatter(target[:k, 0], target[:k, 1], s=2, c="tab:green", label="p1 samples")
        ax.scatter(xs[-1, :k, 0], xs[-1, :k, 1], s=2, c="tab:red", label="transported")
        ax.set_title(name, fontsize=9)
        ax.set_aspect("equal")
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    axes[0][0].legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    return fig
