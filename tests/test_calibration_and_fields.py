"""Library functions moved out of the sdebnn, ncl and compress experiments, against truth:
AUROC against pair counts and scikit-learn, entropy, Gaussian W2 and the transport cost of a
linear flow against closed forms (and POT), codec scoring helpers against hand-computed values,
and figures by what they draw."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ctflow.compress import blend_frames, inbetween_figure, lzma_at_rms, rate_error_figure  # noqa: E402
from ctflow.fields import transport_with_cost  # noqa: E402
from ctflow.metrics import (  # noqa: E402
    auroc,
    gaussian_brenier_map,
    gaussian_w2_squared,
    predictive_entropy,
    reliability_diagram_data,
)
from ctflow.plotting.calibration import (  # noqa: E402
    predictive_band_figure,
    reliability_figure,
    setting_sweep_figure,
)
from ctflow.plotting.fields import transport_paths_figure  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _spd(d: int, gen: torch.Generator) -> torch.Tensor:
    a = torch.randn(d, d, generator=gen, dtype=torch.float64)
    return a @ a.T + 0.5 * torch.eye(d, dtype=torch.float64)


# --- metrics -----------------------------------------------------------------------------


@pytest.mark.parametrize("ties", [False, True])
def test_auroc_is_the_pair_count_and_matches_sklearn(ties):
    from sklearn.metrics import roc_auc_score

    gen = torch.Generator().manual_seed(0)
    neg, pos = torch.randn(50, generator=gen), torch.randn(70, generator=gen) + 0.7
    if ties:  # coarse scores: many ties within and across the two sets
        neg, pos = neg.round(), pos.round()
    # the Mann-Whitney definition: P(pos > neg) + P(pos == neg) / 2 over all pairs
    above = (pos[:, None] > neg[None, :]).double().sum()
    equal = (pos[:, None] == neg[None, :]).double().sum()
    pairs = float((above + equal / 2) / (50 * 70))
    assert auroc(neg, pos) == pytest.approx(pairs, abs=1e-12)
    labels = np.r_[np.zeros(50), np.ones(70)]
    assert auroc(neg, pos) == roc_auc_score(labels, torch.cat([neg, pos]).numpy())


def test_auroc_extremes_and_bad_input():
    assert auroc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])) == 1.0
    assert auroc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 0.0
    assert auroc(torch.ones(3), torch.ones(4)) == 0.5
    with pytest.raises(ValueError, match="non-empty"):
        auroc(torch.tensor([]), torch.ones(2))
    with pytest.raises(ValueError, match="NaN"):
        auroc(torch.tensor([float("nan")]), torch.ones(2))


def test_predictive_entropy_closed_forms():
    probs = torch.tensor([[0.25] * 4, [1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    expected = torch.tensor([math.log(4), 0.0, math.log(2)])
    torch.testing.assert_close(predictive_entropy(probs), expected)


def test_gaussian_w2_squared_closed_forms():
    gen = torch.Generator().manual_seed(1)
    m0, m1 = torch.randn(3, generator=gen, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    # commuting (diagonal) covariances: sum_i (s0_i - s1_i)^2 over the standard deviations
    s0, s1 = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([0.25, 1.0, 16.0])
    w2 = gaussian_w2_squared(m0, torch.diag(s0).double(), m1, torch.diag(s1).double())
    expected = m0.pow(2).sum() + (s0.sqrt() - s1.sqrt()).pow(2).sum()
    assert float(w2) == pytest.approx(float(expected), rel=1e-12)
    # the N(0, I) shortcut equals the general formula
    cov = _spd(3, gen)
    eye = torch.eye(3, dtype=torch.float64)
    assert float(gaussian_w2_squared(m0, cov)) == pytest.approx(
        float(gaussian_w2_squared(m0, cov, m1, eye)), rel=1e-10
    )
    assert float(gaussian_w2_squared(m0, cov, m0, cov)) == pytest.approx(0.0, abs=1e-10)
    with pytest.raises(ValueError, match="mean must be"):
        gaussian_w2_squared(m0, torch.eye(2, dtype=torch.float64))


def test_gaussian_brenier_map_pushes_forward_and_costs_w2():
    gen = torch.Generator().manual_seed(2)
    m0, m1 = torch.randn(2, generator=gen, dtype=torch.float64), torch.tensor([1.0, -2.0]).double()
    s0, s1 = _spd(2, gen), _spd(2, gen)
    x = torch.randn(5, 2, generator=gen, dtype=torch.float64)
    # T(x) = m1 + A (x - m0) with A symmetric and A S0 A = S1: the push-forward is N(m1, S1)
    a = gaussian_brenier_map(torch.eye(2).double() + m0, m0, s0, m1, s1) - m1
    torch.testing.assert_close(a, a.T)
    torch.testing.assert_close(a @ s0 @ a, s1)
    torch.testing.assert_close(gaussian_brenier_map(x, m0, s0, m1, s1), m1 + (x - m0) @ a.T)
    # its cost E|T(X) - X|^2 is W2^2 (a trace identity, exact for the Gaussian)
    cost = (m1 - m0).pow(2).sum() + torch.trace(s0 - 2 * a @ s0 + a @ s0 @ a)
    assert float(cost) == pytest.approx(float(gaussian_w2_squared(m0, s0, m1, s1)), rel=1e-10)
    # N(0, I) target: the symmetric whitening
    w = gaussian_brenier_map(torch.eye(2).double() + m0, m0, s0)
    torch.testing.assert_close(w @ s0 @ w, torch.eye(2).double())


def test_gaussian_w2_squared_matches_pot_on_samples():
    ot = pytest.importorskip("ot")
    gen = torch.Generator().manual_seed(3)
    m0, s0 = torch.zeros(2).double(), torch.diag(torch.tensor([1.0, 0.25])).double()
    m1, s1 = torch.tensor([2.0, 0.0]).double(), torch.diag(torch.tensor([0.25, 1.0])).double()
    n = 400
    x = m0 + torch.randn(n, 2, generator=gen, dtype=torch.float64) @ s0.sqrt()
    y = m1 + torch.randn(n, 2, generator=gen, dtype=torch.float64) @ s1.sqrt()
    w = np.full(n, 1 / n)
    empirical = ot.emd2(w, w, ot.dist(x.numpy(), y.numpy()))
    assert empirical == pytest.approx(float(gaussian_w2_squared(m0, s0, m1, s1)), rel=0.15)


def test_transport_with_cost_matches_the_linear_flow_in_closed_form():
    # v(t, x) = a x: x_t = e^{a t} x_0 and int_0^1 |v|^2 dt = |x_0|^2 a (e^{2a} - 1) / 2
    a = 0.7
    x0 = torch.tensor([[1.0, 2.0], [0.0, -1.0]], dtype=torch.float64)
    paths, cost = transport_with_cost(lambda t, x: a * x, x0, 50)
    assert paths.shape == (51, 2, 2)
    torch.testing.assert_close(paths[-1], math.exp(a) * x0, rtol=1e-8, atol=0)
    exact = x0.pow(2).sum(-1) * a * (math.exp(2 * a) - 1) / 2
    torch.testing.assert_close(cost, exact, rtol=1e-3, atol=0)  # trapezoid error O(h^2)
    with pytest.raises(ValueError, match="steps"):
        transport_with_cost(lambda t, x: x, x0, 0)


# --- compress scoring ---------------------------------------------------------------------


def test_blend_frames_is_linear_interpolation():
    times = np.array([0.0, 1.0, 3.0])
    frames = np.array([[[0.0, 1.0], [2.0, 1.0], [6.0, -1.0]]])
    out = blend_frames(frames, times, np.array([0.0, 0.5, 2.0, 3.0]))
    np.testing.assert_allclose(out, [[[0.0, 1.0], [1.0, 1.0], [4.0, 0.0], [6.0, -1.0]]])
    with pytest.raises(ValueError, match="frames must be"):
        blend_frames(frames[0], times, times)


def test_lzma_at_rms_reaches_the_uniform_quantisation_error():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(size=(4, 200, 3)), axis=1)
    out = lzma_at_rms(x, 0.05)
    assert out["rms"] == pytest.approx(0.05, rel=0.1)  # step sqrt(12) rms: rounding error rms
    assert 0 < out["bits_per_frame"] < 4 * 3 * 16
    with pytest.raises(ValueError, match="rms"):
        lzma_at_rms(x, 0.0)


# --- figures ------------------------------------------------------------------------------


def test_reliability_figure_draws_one_panel_per_model():
    probs = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    data = reliability_diagram_data(probs, torch.tensor([0, 1, 1]), 5)
    fig = reliability_figure({"a": data, "b": data})
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    dots = fig.axes[0].lines[1]  # after the diagonal
    np.testing.assert_array_equal(dots.get_ydata(), data.accuracy.numpy())
    assert len(fig.axes[0].patches) == 5  # one bar per bin
    with pytest.raises(ValueError, match="non-empty"):
        reliability_figure({})


def test_setting_sweep_figure_plots_each_metric():
    sweeps = {"m1": {"acc": [0.1, 0.2, 0.3], "ece": [0.3, 0.2, 0.1]}, "m2": {"acc": [1, 2, 3],
              "ece": [3, 2, 1]}}  # fmt: skip
    fig = setting_sweep_figure([2, 5, 50], sweeps, {"acc": "accuracy", "ece": "ECE"}, "steps")
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "ECE"
    assert fig.axes[1].lines[1].get_ydata().tolist() == [3, 2, 1]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["2", "5", "50"]
    with pytest.raises(ValueError, match="one per setting"):
        setting_sweep_figure([2, 5], sweeps, {"acc": "accuracy"}, "steps")


def test_predictive_band_figure_draws_mean_truth_and_data():
    grid = torch.linspace(-1, 1, 7).unsqueeze(-1)
    mean, std = grid[:, 0] ** 2, torch.full((7,), 0.1)
    fig = predictive_band_figure(grid, {"m": (mean, std)}, grid[:3], mean[:3], truth=mean)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), mean.numpy())
    assert len(ax.lines) == 3 and ax.get_ylim() == (-3.0, 3.0)
    with pytest.raises(ValueError, match="shape"):
        predictive_band_figure(grid, {"m": (mean[:3], std)}, grid, mean)


def test_transport_paths_figure_draws_paths_and_checks_shapes():
    x0 = torch.randn(10, 2)
    paths = torch.stack([x0, x0 + 1, x0 + 2])
    fig = transport_paths_figure({"p": (x0, paths, x0 + 2)}, n_paths=4)
    ax = fig.axes[0]
    assert len(ax.lines) == 4 and len(ax.collections) == 3
    np.testing.assert_allclose(ax.lines[1].get_xdata(), paths[:, 1, 0].numpy())
    with pytest.raises(ValueError, match="paths"):
        transport_paths_figure({"p": (x0, paths[:, :5], x0)})


def test_compress_figures_draw_what_they_are_given():
    new = np.array([False, True, False, True, False])
    frames = np.random.default_rng(0).random((5, 16))
    fig = inbetween_figure({"truth": frames, "codec": frames}, new, 4, "balls")
    assert [ax.get_title() for ax in fig.axes] == ["balls: truth", "balls: codec"]
    assert fig.axes[0].images[0].get_array().shape == (4, 8)  # two in-between 4x4 frames
    m = {f"{c}/s/{k}": v for c in ("a", "b") for k, v in (("rms", 1.0), ("bits_per_frame", 8.0))}
    fig = rate_error_figure(m, ("a", "b"), {"s": "set"})
    assert fig.axes[0].get_title() == "set" and len(fig.axes[0].collections) == 2
    assert fig.axes[0].get_ylim()[1] == pytest.approx(1.15 * 8.0)
