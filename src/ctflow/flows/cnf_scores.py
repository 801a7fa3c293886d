"""Held-out scores and a density figure for a continuous normalizing flow fitted to a point set
(:class:`ctflow.data.point_sets.PointData`: a 2-D toy or a user's file of points).
"""

from __future__ import annotations

import time

import torch
from matplotlib.figure import Figure

from ..data.point_sets import PointData, plane
from ..data.toy_quality import density_grid, sample_quality
from ..metrics import wasserstein2
from ..plotting import density_sample_figure
from ..solvers import odeint
from .cnf import CNF
from .mle import nll_stats

__all__ = ["cnf_point_scores", "cnf_point_figure"]


@torch.no_grad()
def cnf_point_scores(
    flow: CNF,
    data: PointData,
    n_eval: int,
    generator: torch.Generator,
    device: torch.device | str | None = None,
    floor_draws: int = 4,
) -> dict[str, float]:
    """Test NLL, sample quality and the sample-size floor of W2 of a flow on a point set.

    Args:
        flow: the flow with its evaluation solver.
        data: the point set; its held-out points are the test set (and, for a user's file,
            also the sample reference, as W2 needs equal sizes).
        n_eval: test points and samples.
        generator: a CPU generator for every draw (test points, base noise, floor samples).
        device: the flow's device.
        floor_draws: independent data samples whose mean W2 to the reference is the floor
            ``w2_data_vs_data`` (one draw's W2 varies by about 30% at 1024 points).

    Returns:
        ``test_nll`` and ``test_nll_stderr`` (in the file's units), ``sample_nfe``,
        ``nll_seconds``, the keys of :func:`ctflow.data.toy_quality.sample_quality`,
        ``w2_data_vs_data`` and, where the data's entropy is known, ``entropy`` and
        ``nll_gap``.
    """
    x_test = data.held_out(n_eval, generator).to(device)
    start = time.perf_counter()
    logp = flow().log_prob(x_test)
    nll_seconds = time.perf_counter() - start
    entropy = data.entropy(generator)
    x_ref = None if data.is_toy else x_test
    x0 = torch.randn(len(x_test), data.dim, generator=generator).to(device)
    t = torch.tensor([flow.t0, flow.t1], device=device)
    xs, stats = odeint(flow.field, x0, t, return_stats=True, **flow.solver)
    samples = xs[-1]
    if x_ref is None:
        x_ref = data.held_out(n_eval, generator).to(device)
    floors = [
        data.held_out(n_eval, generator) if data.is_toy else data.sample(len(x_ref), generator)
        for _ in range(floor_draws)
    ]
    nll, nll_stderr = nll_stats(logp, data.log_scale)
    ref = x_ref.cpu().double()
    out = {
        "test_nll": nll,
        "test_nll_stderr": nll_stderr,
        "sample_nfe": stats.nfe,
        "nll_seconds": nll_seconds,
        **sample_quality(samples, x_ref, data.name),
        "w2_data_vs_data": sum(float(wasserstein2(f.double(), ref)) for f in floors) / floor_draws,
    }
    if entropy is not None:
        out["entropy"], out["nll_gap"] = entropy, nll - entropy
    return out


@torch.no_grad()
def cnf_point_figure(
    flow: CNF,
    data: PointData,
    n_eval: int,
    grid: int,
    grid_limit: float,
    generator: torch.Generator,
    device: torch.device | str | None = None,
    label: str = "CNF (max. likelihood)",
) -> Figure:
    """Data, samples and (in 2-D) the density on a grid, with the grid's total mass.

    Args:
        flow: the flow with its evaluation solver.
        data: the point set (toys draw fresh held-out points; a file shows its first rows).
        n_eval: points and samples shown.
        grid: density grid points per side (2-D only).
        grid_limit: half-width of the plotted square for a toy (a file uses its own extent).
        generator: draws the toy's points.
        device: the flow's device.
        label: the method's name in the title.

    Returns:
        A :func:`ctflow.plotting.density_sample_figure`; beyond 2-D a scatter of the first two
        coordinates without a density.
    """
    if data.dim != 2:
        samples = plane(flow().sample((n_eval,)).cpu())
        points = data.held_out(n_eval, generator) if data.is_toy else data.train[:n_eval]
        title = f"{label} on {data.name}, first two coordinates{data.units}"
        return density_sample_figure(
            plane(points).float(), samples, None, data.plot_limit(), title=title
        )
    lim = grid_limit if data.is_toy else data.plot_limit()
    density, mass = density_grid(lambda x: flow().log_prob(x), lim, grid, device)
    samples = flow().sample((n_eval,)).cpu()
    return density_sample_figure(
        data.held_out(n_eval, generator) if data.is_toy else data.train[:n_eval].float(),
        samples,
        density,
        lim,
        title=f"{label} on {data.name}{data.units}; grid mass {mass:.3f}",
    )
