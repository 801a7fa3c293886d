"""Small, consistent figures (matplotlib's headless Agg backend, no display needed).

Each function returns a matplotlib figure; :func:`save_figure` writes it as PNG and closes it.
- ``samples``: scatters, sample grids, trajectories, image grids, maps on the sphere;
- ``curves``: curves over steps or a swept setting, panels of them, histograms, landscapes;
- ``maps``: 2-D densities beside samples, heat maps, transport maps, cells of a partition;
- ``bars``: bar panels with error ticks, pairs of bounds per model;
- ``calibration``: reliability diagrams, predictive bands, metric sweeps;
- ``fields``: paths of samples carried by a 2-D flow.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures are written to files; before any pyplot import

from .bars import bar_panels_figure, bound_pairs_figure, plot_bars  # noqa: E402
from .calibration import (  # noqa: E402
    predictive_band_figure,
    reliability_figure,
    setting_sweep_figure,
)
from .curves import (  # noqa: E402
    curve_panels_figure,
    curves_figure,
    figure_grid,
    histogram_panels_figure,
    plot_curves,
    plot_landscape,
    plot_traces,
)
from .fields import transport_paths_figure  # noqa: E402
from .maps import (  # noqa: E402
    cell_edges,
    cell_law_figure,
    density_panels_figure,
    heatmap_panels_figure,
    map_comparison_figure,
    nearest_cells,
    plane_grid,
)
from .samples import (  # noqa: E402
    density_sample_figure,
    image_grid_figure,
    overlay_figure,
    sample_grid_figure,
    save_figure,
    scatter_figure,
    scatter_panels_figure,
    sphere_density_maps_figure,
    trajectory_figure,
)

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
    "curves_figure",
    "curve_panels_figure",
    "histogram_panels_figure",
    "figure_grid",
    "plot_curves",
    "plot_landscape",
    "plot_traces",
    "density_panels_figure",
    "map_comparison_figure",
    "cell_law_figure",
    "plane_grid",
    "nearest_cells",
    "cell_edges",
    "reliability_figure",
    "setting_sweep_figure",
    "predictive_band_figure",
    "transport_paths_figure",
    "plot_bars",
    "bar_panels_figure",
    "bound_pairs_figure",
    "heatmap_panels_figure",
]
