"""ctflow.plotting.maps (grids, cells, map figures), ctflow.flows.mle (fit, test NLL) and
ctflow.flows.independent (the independent-categorical baseline), checked against numpy/scipy
and closed forms, and the figures by what they draw."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree
from torch import nn

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from ctflow.flows.independent import (  # noqa: E402
    categorical_frequencies,
    independent_categorical_bits,
)
from ctflow.flows.mle import fit_density, nll_stats  # noqa: E402
from ctflow.plotting.maps import (  # noqa: E402
    cell_edges,
    cell_law_figure,
    density_panels_figure,
    map_comparison_figure,
    nearest_cells,
    plane_grid,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plane_grid_matches_numpy_meshgrid():
    grid = plane_grid((-1.0, 0.0), (2.0, 5.0), 7)
    xs, ys = np.meshgrid(np.linspace(-1, 2, 7), np.linspace(0, 5, 7), indexing="xy")
    expected = np.stack([xs, ys], -1).reshape(-1, 2)
    np.testing.assert_allclose(grid.numpy(), expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="n must be >= 2"):
        plane_grid((0, 0), (1, 1), 1)


def test_nearest_cells_matches_a_kd_tree():
    g = torch.Generator().manual_seed(0)
    points, anchors = torch.randn(500, 3, generator=g), torch.randn(9, 3, generator=g)
    _, expected = cKDTree(anchors.numpy()).query(points.numpy())
    assert nearest_cells(points, anchors).tolist() == expected.tolist()
    with pytest.raises(ValueError, match="share D"):
        nearest_cells(points, anchors[:, :2])


def test_cell_edges_by_hand():
    cells = torch.tensor([[0, 0, 1], [0, 0, 1], [2, 2, 2]])
    # (0, 1): right neighbour is cell 1; (1, 0) and (1, 1): the row above is cell 2
    assert cell_edges(cells).tolist() == [[False, True], [True, True]]
    assert not cell_edges(torch.zeros(4, 4, dtype=torch.long)).any()
    with pytest.raises(ValueError, match=r"\(n, n\)"):
        cell_edges(torch.zeros(4))


def test_density_panels_figure_draws_the_given_densities_and_edges():
    points = torch.randn(50, 3)
    densities = {"a": torch.rand(6, 6), "b": torch.rand(6, 6)}
    edges = {"b": cell_edges(torch.tensor([[0, 1] * 3] * 6))}
    fig = density_panels_figure(
        points, densities, 2.0, titles={"a": "model a"}, edges=edges, data_title="toy"
    )
    panels = fig.axes[:3]  # then one colour bar per density
    assert len(fig.axes) == 5
    assert [ax.get_title() for ax in panels] == ["toy", "model a", "b"]
    np.testing.assert_allclose(panels[0].collections[0].get_offsets(), points[:, :2].numpy())
    for ax, name in zip(panels[1:], densities):
        np.testing.assert_allclose(ax.images[0].get_array(), densities[name].numpy())
        assert ax.get_xlim() == (-2.0, 2.0)
    # the edge points of the second map: every column boundary, at x = -2 + 4/5 * col
    offsets = panels[2].collections[0].get_offsets()
    assert len(offsets) == int(edges["b"].sum())
    np.testing.assert_allclose(
        sorted(set(offsets[:, 0])), [-2 + 0.8 * c for c in range(5)], rtol=1e-6
    )


def test_density_panels_figure_samples_quantile_and_bad_input():
    samples = {"m": torch.randn(30, 2)}
    fig = density_panels_figure(torch.randn(10, 2), samples, 3.0, kind="samples")
    assert len(fig.axes) == 2  # no colour bar for samples
    np.testing.assert_allclose(fig.axes[1].collections[0].get_offsets(), samples["m"].numpy())
    density = torch.arange(100.0).reshape(10, 10)
    fig = density_panels_figure(torch.randn(10, 2), {"d": density}, 1.0, vmax_quantile=0.5)
    assert fig.axes[1].images[0].get_clim() == (0.0, float(np.quantile(np.arange(100.0), 0.5)))
    with pytest.raises(ValueError, match="kind"):
        density_panels_figure(torch.randn(5, 2), {}, 1.0, kind="contour")
    with pytest.raises(ValueError, match=r"\(n, n\)"):
        density_panels_figure(torch.randn(5, 2), {"d": torch.rand(4, 5)}, 1.0)
    with pytest.raises(ValueError, match="points"):
        density_panels_figure(torch.randn(5), {}, 1.0)


def test_map_comparison_figure_titles_carry_the_mean_squared_distance():
    target = torch.randn(40, 2)
    shift = torch.tensor([0.3, -0.4])  # |shift|^2 = 0.25 at every point
    fig = map_comparison_figure(target, {"id": target.clone(), "shifted": target + shift})
    assert [ax.get_title() for ax in fig.axes] == [
        "id: E|f - T|^2 = 0",
        "shifted: E|f - T|^2 = 0.25",
    ]
    assert len(fig.axes[1].lines) == 4  # one link per 10 points
    np.testing.assert_allclose(fig.axes[1].collections[1].get_offsets(), (target + shift).numpy())
    with pytest.raises(ValueError, match="need"):
        map_comparison_figure(target, {"short": target[:10]})
    with pytest.raises(ValueError, match="empty"):
        map_comparison_figure(target, {})


def test_cell_law_figure_panels():
    truth = torch.rand(4, 3)
    estimate = torch.rand(4, 3)
    anchors = torch.randn(4, 2)
    cells = nearest_cells(plane_grid((-2, -2), (2, 2), 20), anchors).reshape(20, 20)
    z, labels = torch.randn(25, 2), torch.randint(4, (25,))
    fig = cell_law_figure(truth, estimate, cells, (-2, 2, -2, 2), z, labels, anchors, title="law")
    assert len(fig.axes) == 4  # three panels and the shared colour bar
    assert fig.axes[0].get_title() == "law: P(x0, x1)"
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), truth.T.numpy())
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), estimate.T.numpy())
    assert fig.axes[2].images[0].get_array().tolist() == cells.tolist()
    with pytest.raises(ValueError, match="equal"):
        cell_law_figure(truth, estimate.T, cells, (-2, 2, -2, 2), z, labels, anchors)
    with pytest.raises(ValueError, match="labels"):
        cell_law_figure(truth, estimate, cells, (-2, 2, -2, 2), z, labels[:3], anchors)


def test_nll_stats_matches_numpy():
    log_prob = torch.randn(200, dtype=torch.float64)
    x = log_prob.numpy()
    nll, stderr = nll_stats(log_prob, offset=1.5)
    assert nll == pytest.approx(-x.mean() + 1.5, abs=1e-12)
    assert stderr == pytest.approx(x.std(ddof=1) / math.sqrt(200), abs=1e-12)
    with pytest.raises(ValueError, match=r"\(N,\)"):
        nll_stats(torch.zeros(3, 2))


class _Gaussian(nn.Module):
    """A learnable 1-D normal in zuko's convention (``model()`` is a distribution)."""

    def __init__(self):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1))
        self.log_scale = nn.Parameter(torch.zeros(1))

    def forward(self):
        return torch.distributions.Independent(
            torch.distributions.Normal(self.loc, self.log_scale.exp()), 1
        )


def test_fit_density_reaches_the_closed_form_maximum_likelihood():
    data = 2.0 + 0.5 * torch.randn(4000, 1, generator=torch.Generator().manual_seed(0))
    model = _Gaussian()
    g = torch.Generator().manual_seed(1)
    result = fit_density(
        model,
        lambda step: data[torch.randint(len(data), (256,), generator=g)],
        steps=300,
        lr=0.05,
        progress=False,
    )
    # the MLE of a normal: the sample mean and the (biased) sample std
    assert float(model.loc.detach()) == pytest.approx(float(data.mean()), abs=0.05)
    assert float(model.log_scale.detach().exp()) == pytest.approx(
        float(data.std(unbiased=False)), abs=0.05
    )
    assert result.steps == 300


def test_fit_density_passes_its_schedule_to_the_fit_call():
    seen = {}

    def fake_fit(loss_fn, model, **options):
        seen.update(options, loss=float(loss_fn(0).detach()))
        return "done"

    model = _Gaussian()
    x = torch.tensor([[0.0], [1.0]])
    out = fit_density(model, lambda step: x, steps=30, lr=0.1, fit_fn=fake_fit, tag="t")
    assert out == "done"
    assert seen["warmup"] == 3 and seen["schedule"] == "cosine" and seen["tag"] == "t"
    # -log N(x; 0, 1) averaged over x = 0, 1
    assert seen["loss"] == pytest.approx(0.5 * math.log(2 * math.pi) + 0.25)


def test_independent_categorical_bits_matches_numpy_per_variable_and_shared():
    g = torch.Generator().manual_seed(0)
    train, test = torch.randint(5, (300, 4), generator=g), torch.randint(5, (50, 4), generator=g)
    tr, te = train.numpy(), test.numpy()
    counts = np.stack([np.bincount(tr[:, v], minlength=5) for v in range(4)]) + 0.5
    probs = counts / counts.sum(1, keepdims=True)
    expected = -np.mean([np.log2(probs[v, te[:, v]]) for v in range(4)])
    assert independent_categorical_bits(train, test, 5) == pytest.approx(expected, abs=1e-12)
    shared = np.bincount(tr.ravel(), minlength=5) + 0.5
    expected = -np.log2(shared[te] / shared.sum()).mean()
    got = independent_categorical_bits(train, test, 5, per_variable=False)
    assert got == pytest.approx(expected, abs=1e-12)
    # a uniform law over 4 labels costs 2 bits
    uniform = torch.arange(4).repeat(10)
    assert independent_categorical_bits(uniform, uniform[None], 4, per_variable=False) == 2.0


def test_categorical_frequencies_rejects_bad_labels():
    freqs = categorical_frequencies(torch.tensor([[0, 2], [1, 2]]), 3, smoothing=1.0)
    assert freqs.tolist() == [[0.4, 0.4, 0.2], [0.2, 0.2, 0.6]]
    with pytest.raises(TypeError, match="integer"):
        categorical_frequencies(torch.zeros(3, 2), 3)
    with pytest.raises(ValueError, match="num_classes"):
        categorical_frequencies(torch.tensor([[0, 5]]), 3)
    with pytest.raises(ValueError, match=r"\(M, 2\)"):
        independent_categorical_bits(torch.tensor([[0, 1]]), torch.tensor([[0, 1, 1]]), 2)
