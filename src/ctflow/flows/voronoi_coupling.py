"""A coupling neural-spline flow whose base is a :class:`VoronoiMixture`, its anchors placed at
data points, and its density and cell boundaries on a grid of the plane.

The flow's layers act before the mixture: ``x -> transform(x) -> mixture base``, so the cells
pulled back to data space are curved."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from .voronoi_mixture import VoronoiMixture

__all__ = ["voronoi_coupling_flow", "place_anchors", "density_and_cell_maps"]


def voronoi_coupling_flow(
    features: int,
    cells: int | None = None,
    *,
    hidden: int = 48,
    transforms: int = 3,
    embedding: int = 8,
    tails: str = "student",
    df: float = 1.0,
    component_hidden: int = 32,
    component_transforms: int = 2,
) -> nn.Module:
    """zuko's coupling NSF (two passes) on a standard normal base, or, with ``cells``, on a
    :class:`VoronoiMixture` of ``cells`` components.

    Args:
        features: Data dimension ``D``.
        cells: Number of Voronoi cells; ``None`` keeps the normal base.
        hidden: Hidden width of the coupling conditioners (two layers).
        transforms: Coupling transforms.
        embedding: Cell-embedding size of the mixture.
        tails: The components' base, ``"student"`` (radial t with ``df``) or ``"normal"``.
        df: Degrees of freedom of the Student-t tails.
        component_hidden: Hidden width of each component's flow (two layers).
        component_transforms: Transforms of each component's flow.

    Returns:
        A zuko flow: ``flow().log_prob(x)`` for ``x (N, D)`` gives ``(N,)``.

    Examples:
        >>> flow = voronoi_coupling_flow(2, cells=3, hidden=8, transforms=1, component_hidden=4)
        >>> flow().log_prob(torch.zeros(5, 2)).shape
        torch.Size([5])
    """
    import zuko

    flow = zuko.flows.NSF(features, transforms=transforms, passes=2, hidden_features=(hidden,) * 2)
    if cells is None:
        return flow
    base = VoronoiMixture(
        cells,
        features,
        embedding=embedding,
        tails=tails,
        df=df,
        transforms=component_transforms,
        hidden_features=(component_hidden,) * 2,
        passes=2,
    )
    return zuko.flows.Flow(flow.transform, base)


@torch.no_grad()
def place_anchors(flow: nn.Module, points: Tensor) -> None:
    """Put the Voronoi anchors of ``flow`` (from :func:`voronoi_coupling_flow`) at the images of
    ``points`` ``(cells, D)`` under its transform: at data points, the cells start populated."""
    flow.base.tessellation.anchor_raw.copy_(flow.transform()(points))


@torch.no_grad()
def density_and_cell_maps(
    flows: Mapping[str, nn.Module], limit: float, n: int, device: torch.device | str = "cpu"
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Densities of 2-D flows on an ``(n, n)`` grid of ``[-limit, limit]^2``, and for each flow
    with a Voronoi base the boundaries of its cells pulled back to the plane.

    Args:
        flows: ``name -> flow`` on 2 features.
        limit: Half-width of the square.
        n: Grid points per side.
        device: Device of the flows.

    Returns:
        ``(densities, edges)``: ``name -> (n, n)`` density (rows follow y) on the CPU, and
        ``name -> (n - 1, n - 1)`` bool boundary map for the Voronoi-based flows; ready for
        :func:`ctflow.plotting.maps.density_panels_figure`.
    """
    from ..plotting.maps import cell_edges, plane_grid  # matplotlib only when mapping

    grid = plane_grid((-limit, -limit), (limit, limit), n, device)
    densities, edges = {}, {}
    for name, flow in flows.items():
        densities[name] = flow().log_prob(grid).reshape(n, n).cpu().exp()
        if isinstance(flow.base, VoronoiMixture):
            cells = flow.base.tessellation.quantize(flow.transform()(grid))
            edges[name] = cell_edges(cells.reshape(n, n).cpu())
    return densities, edges
