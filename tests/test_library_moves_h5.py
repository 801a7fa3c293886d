"""The library functions moved out of the experiments by h5: bar figures, heat-map panels,
width matching, posterior VAEs, the exact flow NLL, Voronoi coupling flows and the labelled
flow-matching loss, checked against hand-computed values and independent computations."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from ctflow.flows import CPFlow  # noqa: E402
from ctflow.flows.conditional_training import labelled_cfm_loss  # noqa: E402
from ctflow.flows.flow_nll import mean_nll_exact  # noqa: E402
from ctflow.flows.voronoi_coupling import (  # noqa: E402
    density_and_cell_maps,
    place_anchors,
    voronoi_coupling_flow,
)
from ctflow.nn import parameter_count  # noqa: E402
from ctflow.nn.width_search import matched_width  # noqa: E402
from ctflow.paths import CondOTPath  # noqa: E402
from ctflow.plotting.bars import bar_panels_figure, bound_pairs_figure, plot_bars  # noqa: E402
from ctflow.plotting.maps import heatmap_panels_figure  # noqa: E402
from ctflow.vi.builders import (  # noqa: E402
    matched_posterior_vaes,
    posterior_vae,
    vae_gallery_figure,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_bar_panels_draw_the_values_ticks_and_titles():
    panels = {"wine": {"a": 1.0, "b": 2.5, "c": 0.5}, "iris": {"a": 3.0, "b": 1.0, "c": 2.0}}
    ticks = {k: {n: v / 2 for n, v in p.items()} for k, p in panels.items()}
    fig = bar_panels_figure(panels, ticks=ticks, titles={"wine": "W"}, label="test", legend=True)
    assert len(fig.axes) == 2
    for ax, values in zip(fig.axes, panels.values()):
        assert [p.get_height() for p in ax.patches] == list(values.values())
        assert ax.lines[0].get_ydata().tolist() == [v / 2 for v in values.values()]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [ax.get_title() for ax in fig.axes] == ["W", "iris"]


def test_plot_bars_colours_symlog_and_bad_input():
    fig, ax = plt.subplots()
    plot_bars(ax, {"x": 1.0, "y": 100.0}, colors={"x": "red", "y": "blue"}, symlog_above=10)
    assert ax.get_yscale() == "symlog"
    assert matplotlib.colors.to_hex(ax.patches[0].get_facecolor()) == "#ff0000"
    fig, ax = plt.subplots()
    plot_bars(ax, {"x": 1.0, "y": 5.0}, symlog_above=10)
    assert ax.get_yscale() == "linear"
    with pytest.raises(ValueError, match="at least one bar"):
        plot_bars(ax, {})
    with pytest.raises(ValueError, match="colours"):
        plot_bars(ax, {"x": 1.0}, colors=["r", "g"])
    with pytest.raises(ValueError, match="ticks"):
        plot_bars(ax, {"x": 1.0, "y": 2.0}, ticks={"y": 1.0, "x": 2.0})
    with pytest.raises(ValueError, match="panel"):
        bar_panels_figure({})


def test_bound_pairs_figure_joins_each_pair():
    lower, upper = {"g": -90.0, "i": -85.0, "c": -80.0}, {"g": -88.0, "i": -84.0, "c": -79.5}
    fig = bound_pairs_figure(lower, upper, lower_label="ELBO", upper_label="IWAE")
    (ax,) = fig.axes
    assert [line.get_ydata().tolist() for line in ax.lines] == [[lower[k], upper[k]] for k in lower]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ELBO", "IWAE"]
    with pytest.raises(ValueError, match="upper"):
        bound_pairs_figure(lower, {"g": 0.0})


def test_heatmap_panels_show_each_map():
    maps = {"a": torch.arange(6.0).reshape(2, 3), "b": np.eye(3)}
    fig = heatmap_panels_figure(maps, suptitle="maps")
    images = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in images] == ["a", "b"]
    assert np.array_equal(images[0].images[0].get_array(), maps["a"].numpy())
    assert len(fig.axes) == 4  # two maps, two colour bars
    with pytest.raises(ValueError, match="2-D"):
        heatmap_panels_figure({"a": torch.ones(3)})


def test_matched_width_is_the_closest_by_brute_force():
    for target in (1, 7, 100, 999, 12345):
        count = lambda w: 3 * w * w + 5 * w  # noqa: E731
        brute = min(range(1, 200), key=lambda w: (abs(count(w) - target), w))
        assert matched_width(count, target) == brute
    with pytest.raises(ValueError):
        matched_width(lambda w: w, 0)


def test_matched_posterior_vaes_match_the_cpflow_budget():
    torch.manual_seed(0)
    kw = dict(hidden=(16,), flow_layers=1)
    models = matched_posterior_vaes(("gaussian", "iaf", "cpflow"), 64, 2, 8, 8, **kw)
    target = parameter_count(models["cpflow"])
    for kind in ("gaussian", "iaf"):
        w = matched_width(
            lambda w, kind=kind: parameter_count(posterior_vae(kind, 64, 2, 8, w, **kw)), target
        )
        gap = abs(parameter_count(models[kind]) - target)
        for other in (w - 1, w + 1):  # no neighbouring width is closer
            if other >= 1:
                model = posterior_vae(kind, 64, 2, 8, other, **kw)
                assert gap <= abs(parameter_count(model) - target)
    with pytest.raises(ValueError, match="posterior"):
        posterior_vae("nope", 64, 2, 8, 4)
    fig = vae_gallery_figure(models, torch.ones(5, 64), (8, 8), n=4, x_label="test")
    assert len(fig.axes) == (1 + 2 * len(models)) * 4


def test_mean_nll_exact_matches_brute_force_logdet():
    torch.manual_seed(0)
    flow = CPFlow(2, blocks=1, hidden=(8,)).double()
    x = torch.randn(6, 2, dtype=torch.float64)
    flow.set_options(logdet="stochastic")
    blocks = [t for t in flow.transform.transforms if hasattr(t, "options")]
    before = blocks[0].options["logdet"]
    value = mean_nll_exact(flow, x)
    assert blocks[0].options["logdet"] == before  # restored

    # independent: change of variables with the Jacobian from autograd, layer by layer
    def logp(xi):
        dist = flow()
        z, total = xi, torch.zeros(())
        for t in dist.transform.transforms:
            jac = torch.autograd.functional.jacobian(lambda v, t=t: t(v[None])[0], z)
            total = total + torch.linalg.slogdet(jac)[1]
            z = t(z[None])[0].detach()
        return dist.base.log_prob(z) + total

    expected = -float(torch.stack([logp(xi) for xi in x]).mean())
    assert value == pytest.approx(expected, abs=1e-6)


def test_voronoi_coupling_flow_anchors_and_maps():
    torch.manual_seed(0)
    plain = voronoi_coupling_flow(2, hidden=8, transforms=1)
    mixture = voronoi_coupling_flow(2, 3, hidden=8, transforms=1, component_hidden=4)
    points = torch.tensor([[0.0, 0.0], [1.0, 1.0], [-1.0, 2.0]])
    place_anchors(mixture, points)
    with torch.no_grad():
        images = mixture.transform()(points)
    assert torch.equal(mixture.base.tessellation.anchor_raw, images)
    densities, edges = density_and_cell_maps({"p": plain, "m": mixture}, 4.0, 40)
    assert set(densities) == {"p", "m"} and set(edges) == {"m"}
    assert densities["m"].shape == (40, 40) and edges["m"].shape == (39, 39)
    cell = (8.0 / 39) ** 2  # the densities integrate to about 1 on the grid
    assert float(densities["p"].sum()) * cell == pytest.approx(1.0, abs=0.1)


def test_labelled_cfm_loss_equals_the_hand_built_loss():
    from ctflow.flows import cfm_loss
    from ctflow.paths import ot_coupling
    from ctflow.train import drop_labels

    field = lambda t, x, c: x * c[:, :1]  # noqa: E731
    path = CondOTPath()
    x1, labels = torch.randn(16, 2), torch.randint(3, (16,))
    for coupling in ("independent", "exact", "global"):
        got = labelled_cfm_loss(
            field, path, x1, labels, 3, null_fraction=0.3, coupling=coupling,
            generator=torch.Generator().manual_seed(1),
        )  # fmt: skip
        gen = torch.Generator().manual_seed(1)
        c = F.one_hot(drop_labels(labels, 0.3, 3, gen), 4).float()
        x0 = torch.randn(16, 2, generator=gen)
        if coupling == "global":
            x0, _ = ot_coupling(x0, x1)
        method = "exact" if coupling == "exact" else None
        want = cfm_loss(field, path, x1, x0=x0, context=c, coupling=method, generator=gen)
        assert float(got) == float(want) and math.isfinite(float(got))
    with pytest.raises(ValueError, match="coupling"):
        labelled_cfm_loss(field, path, x1, labels, 3, null_fraction=0.1, coupling="bad")
