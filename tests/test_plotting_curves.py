"""Line figures of ctflow.plotting.curves (what is drawn) and the helpers moved out of the
experiments (against closed forms, hand-computed values and independent implementations)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from ctflow.bayes import OUObservation
from ctflow.bayes.ou_gradients import ou_per_path_gradients
from ctflow.gfn.marginals import grid_marginal
from ctflow.plotting.curves import (
    curve_panels_figure,
    curves_figure,
    figure_grid,
    histogram_panels_figure,
    plot_curves,
    plot_landscape,
    plot_traces,
)
from ctflow.quantum import HeatTransferVSystem
from ctflow.quantum.design import (
    central_difference_gradient,
    densest_grid_size,
    first_index_reaching,
    grid_search_max,
    projected_adam_ascent,
    relative_error,
)
from ctflow.quantum.design_figures import design_ascent_figure
from ctflow.quantum.heat_sweep import pump_sweep, pump_sweep_figure
from ctflow.rl.action_stats import histogram_entropy, mode_masses
from ctflow.rl.latent_gaussian import (
    linear_gaussian_conditional_entropy,
    linear_gaussian_entropy,
    linear_gaussian_log_prob,
    particle_entropy_bound,
)
from ctflow.rl.max_entropy import boltzmann_policy, grid_entropy, grid_expectation, grid_mode_masses


@pytest.fixture(autouse=True)
def _close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


# ---- figures ---------------------------------------------------------------------------------


def test_curves_figure_draws_the_input_and_reference_lines():
    x, y = torch.arange(5), torch.tensor([5.0, 3.0, 2.0, 1.5, 1.2])
    fig = curves_figure(
        {"loss": (x, y), "other": ([0, 4], [4.0, 1.0])},
        errors={"other": [0.1, 0.2]},
        hlines={"floor": 1.0, "_hidden": 0.5},
        yscale="log",
        xscale=("symlog", {"linthresh": 1.0}),
        xlabel="step",
        ylabel="loss",
        title="t",
    )
    (ax,) = fig.axes
    assert ax.get_title() == "t" and ax.get_xlabel() == "step" and ax.get_ylabel() == "loss"
    assert ax.get_yscale() == "log" and ax.get_xscale() == "symlog"
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_array_equal(lines["loss"].get_xdata(), x.numpy())
    np.testing.assert_array_equal(lines["loss"].get_ydata(), y.numpy())
    assert list(lines["floor"].get_ydata()) == [1.0, 1.0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(legend) == ["floor", "loss", "other"]  # "_hidden" stays out of the legend
    assert len(ax.containers) == 1  # one error-bar container, for "other"


def test_plot_curves_rejects_mismatched_lengths():
    _, axes = figure_grid(1, 1, (3, 3))
    with pytest.raises(ValueError, match="curve 'a'"):
        plot_curves(axes[0, 0], {"a": ([0, 1, 2], [1.0, 2.0])})


def test_curve_panels_one_axes_per_panel_with_per_panel_labels():
    panels = {
        "task-a": {"sac": ([0, 10], [1.0, 2.0]), "smac": ([0, 10], [1.5, 2.5])},
        "task-b": {"sac": ([0, 10], [3.0, 4.0])},
    }
    fig = curve_panels_figure(panels, xlabel="steps", ylabel=["return", ""], suptitle="s")
    assert len(fig.axes) == 2
    assert [ax.get_title() for ax in fig.axes] == ["task-a", "task-b"]
    assert [ax.get_ylabel() for ax in fig.axes] == ["return", ""]
    assert fig.axes[0].get_legend() is not None and fig.axes[1].get_legend() is None
    np.testing.assert_array_equal(fig.axes[1].get_lines()[0].get_ydata(), [3.0, 4.0])
    with pytest.raises(ValueError, match="2 panels"):
        curve_panels_figure(panels, ylabel=["only one"])
    with pytest.raises(ValueError, match="at least one"):
        curve_panels_figure({})


def test_histogram_panels_match_numpy_histogram_and_reference():
    gen = torch.Generator().manual_seed(0)
    samples = {"a": torch.rand(1000, generator=gen) * 2 - 1, "b": torch.randn(500, generator=gen)}
    grid = torch.linspace(-1, 1, 11)
    fig = histogram_panels_figure(
        samples,
        bins=20,
        range=(-1, 1),
        reference=(grid, torch.full_like(grid, 0.5)),
        titles={"a": "uniform"},
        yscale=("symlog", {"linthresh": 0.1}),
    )
    assert len(fig.axes) == 2
    assert [ax.get_title() for ax in fig.axes] == ["uniform", "b"]
    heights = [p.get_height() for p in fig.axes[0].patches]
    expected, _ = np.histogram(samples["a"].numpy(), bins=20, range=(-1, 1), density=True)
    np.testing.assert_allclose(heights, expected, rtol=1e-6)
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_xdata(), grid.numpy())
    assert fig.axes[0].get_yscale() == "symlog"
    with pytest.raises(ValueError, match="1-D"):
        histogram_panels_figure({"bad": torch.zeros(3, 2)})


def test_plot_landscape_checks_shape_and_draws_every_path():
    fig, axes = figure_grid(1, 1, (4, 3))
    x, y = torch.linspace(0, 1, 5), torch.linspace(0, 2, 4)
    values = y[:, None] + x[None, :]  # (len(y), len(x))
    paths = torch.rand(6, 3, 2, generator=torch.Generator().manual_seed(1))  # (T, K, 2)
    plot_landscape(axes[0, 0], x, y, values, paths=paths, highlight=1, end_marker="*")
    lines = axes[0, 0].get_lines()
    assert len(lines) == 6  # each of 3 paths plus its end marker
    np.testing.assert_allclose(lines[2].get_xdata(), paths[:, 1, 0].numpy())
    assert lines[2].get_color() == "r" and lines[0].get_color() == "w"
    assert len(fig.axes) == 2  # the colorbar
    with pytest.raises(ValueError, match="len\\(y\\), len\\(x\\)"):
        plot_landscape(axes[0, 0], x, y, values.T)


def test_plot_traces_highlights_one_run():
    _, axes = figure_grid(1, 1, (3, 3))
    traces = torch.arange(12.0).reshape(4, 3)
    plot_traces(axes[0, 0], traces, highlight=2, highlight_label="best start")
    lines = axes[0, 0].get_lines()
    assert len(lines) == 4
    np.testing.assert_array_equal(lines[-1].get_ydata(), traces[:, 2].numpy())
    assert [t.get_text() for t in axes[0, 0].get_legend().get_texts()] == ["best start"]
    with pytest.raises(ValueError, match="out of range"):
        plot_traces(axes[0, 0], traces, highlight=3)
    with pytest.raises(ValueError, match="\\(T, K\\)"):
        plot_traces(axes[0, 0], torch.zeros(3))


# ---- rl ----------------------------------------------------------------------------------------


def test_histogram_entropy_against_numpy_and_closed_form():
    gen = torch.Generator().manual_seed(0)
    x = 0.2 * torch.randn(200_000, generator=gen, dtype=torch.float64)
    counts, edges = np.histogram(x.numpy(), bins=400, range=(-1, 1))
    p = counts[counts > 0] / counts.sum()
    independent = -(p * np.log(p / np.diff(edges)[0])).sum()
    assert histogram_entropy(x) == pytest.approx(independent, rel=1e-9)
    assert histogram_entropy(x) == pytest.approx(stats.norm(scale=0.2).entropy(), abs=0.01)
    with pytest.raises(ValueError, match="no sample"):
        histogram_entropy(torch.tensor([5.0]))


def test_mode_masses_by_hand():
    a = torch.tensor([-0.75, -0.55, 0.69, 0.95, 0.0])
    assert mode_masses(a, (-0.7, 0.7), 0.2) == pytest.approx([0.4, 0.2])


def test_linear_gaussian_closed_forms_match_scipy():
    assert linear_gaussian_entropy(2.0, 0.5) == pytest.approx(
        stats.norm(scale=math.sqrt(4.25)).entropy()
    )
    assert linear_gaussian_conditional_entropy(0.5) == pytest.approx(
        stats.norm(scale=0.5).entropy()
    )
    a, z = torch.tensor([0.3, -1.0]), torch.tensor([0.1, 0.4])
    np.testing.assert_allclose(
        linear_gaussian_log_prob(a, z, 2.0, 0.5).numpy(),
        stats.norm(loc=2.0 * z.numpy(), scale=0.5).logpdf(a.numpy()),
        rtol=1e-6,
    )


def test_particle_entropy_bound_starts_at_the_conditional_entropy_and_stays_below():
    gen = torch.Generator().manual_seed(0)
    mean0, err0 = particle_entropy_bound(0, 20_000, gen, 2.0, 0.5, chunk=7000)
    assert abs(mean0 - linear_gaussian_conditional_entropy(0.5)) < 4 * err0
    mean32, _ = particle_entropy_bound(32, 20_000, gen, 2.0, 0.5)
    assert mean0 < mean32 < linear_gaussian_entropy(2.0, 0.5)
    with pytest.raises(ValueError):
        particle_entropy_bound(-1, 100, gen, 2.0, 0.5)


# ---- quantum.design ----------------------------------------------------------------------------


def test_central_difference_is_exact_on_a_quadratic():
    A = torch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    x = torch.tensor([0.5, -1.0], dtype=torch.float64)
    fd = central_difference_gradient(lambda v: 0.5 * v @ A @ v, x, 1e-3)
    torch.testing.assert_close(fd, A @ x)
    assert relative_error(fd, A @ x) < 1e-10
    assert relative_error(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 0.0])) == 1.0


def test_grid_helpers():
    assert first_index_reaching([0.1, 0.2], 0.5) != first_index_reaching([0.1, 0.2], 0.5)  # nan
    assert first_index_reaching([0.1, 0.6, 0.7], 0.5) == 1.0
    assert densest_grid_size(81, 1, 4) == 3 and densest_grid_size(1, 2, 4) == 2
    assert densest_grid_size(1000, 1, 3) == 10  # 1000 ** (1/3) is 9.999...: not rounded down
    axes = [torch.linspace(0, 1, 4), torch.linspace(-1, 1, 3)]
    f = lambda p: torch.sin(3 * p[:, 0]) * p[:, 1]  # noqa: E731
    xs, ys = np.meshgrid(axes[0].numpy(), axes[1].numpy(), indexing="ij")
    brute = float((np.sin(3 * xs) * ys).max())
    assert grid_search_max(f, axes, chunk=5) == pytest.approx(brute)


def test_projected_adam_ascent_reaches_the_clipped_maximum():
    target = torch.tensor([2.0, -0.5], dtype=torch.float64)
    start = torch.zeros(3, 2, dtype=torch.float64) + torch.tensor([[0.0], [0.3], [-0.3]])
    lower = torch.tensor([-math.inf, -0.2], dtype=torch.float64)
    upper = torch.tensor([1.0, math.inf], dtype=torch.float64)
    logged = []
    design, final, values, designs = projected_adam_ascent(
        lambda d: -((d - target) ** 2).sum(-1),
        start,
        lower,
        upper,
        lr=0.1,
        iterations=200,
        on_step=lambda step, v, d: logged.append(step),
    )
    expected = torch.tensor([1.0, -0.2], dtype=torch.float64)  # the box's closest point
    torch.testing.assert_close(design, expected.expand(3, 2), atol=1e-3, rtol=0)
    torch.testing.assert_close(final, -((design - target) ** 2).sum(-1))
    assert values.shape == (200, 3) and designs.shape == (200, 3, 2) and logged == list(range(200))
    torch.testing.assert_close(designs[0], start)


# ---- gfn, bayes --------------------------------------------------------------------------------


def test_grid_marginal_against_numpy_add_at():
    gen = torch.Generator().manual_seed(0)
    states = torch.randint(0, 4, (50, 3), generator=gen)
    probs = torch.rand(50, generator=gen)
    expected = np.zeros((4, 4))
    np.add.at(expected, (states[:, 0].numpy(), states[:, 1].numpy()), probs.double().numpy())
    np.testing.assert_allclose(grid_marginal(states, probs, 4).numpy(), expected)
    one_d = grid_marginal(states[:, :1], probs, 4)
    np.testing.assert_allclose(one_d[:, 0].numpy(), expected.sum(1))
    with pytest.raises(ValueError):
        grid_marginal(states, probs[:3], 4)


def test_ou_gradients_at_the_exact_posterior():
    problem = OUObservation(sigma=1.0, obs_std=0.5, y=1.0)
    grad, loss = ou_per_path_gradients(problem, (1.0, 1.0), 2000, 50, "stl", seed=0)
    assert grad.shape == (2000, 2) and loss.shape == (2000,)
    # at the exact posterior the ELBO equals the evidence (up to Euler-Maruyama error)
    elbo = -loss
    assert abs(float(elbo.mean()) - problem.log_evidence()) < 0.05
    assert float(grad.mean(0).norm()) < 0.1  # the optimum: the gradient vanishes on average


def test_boltzmann_policy_and_grid_summaries_match_closed_forms():
    c = 2.0  # reward r(a) = a at alpha = 1/c: pi*(a) = c exp(c a) / (2 sinh c) on [-1, 1]
    grid, density = boltzmann_policy(lambda a: a, 1 / c)
    exact = c * torch.exp(c * grid) / (2 * math.sinh(c))
    torch.testing.assert_close(density, exact, rtol=1e-8, atol=0)
    mean = 1 / math.tanh(c) - 1 / c
    assert grid_expectation(grid, density, grid) == pytest.approx(mean, rel=1e-8)
    log_z = math.log(2 * math.sinh(c) / c)
    assert grid_entropy(grid, density) == pytest.approx(log_z - c * mean, rel=1e-8)
    (mass,) = grid_mode_masses(grid, density, (0.0,), 0.5)
    assert mass == pytest.approx(math.sinh(c / 2) / math.sinh(c), rel=1e-4)
    with pytest.raises(ValueError):
        boltzmann_policy(lambda a: a, 0.0)


def test_design_ascent_figure_panels_and_checks():
    axis = torch.linspace(0, 3, 6, dtype=torch.float64)
    values = torch.rand(5, 3, generator=torch.Generator().manual_seed(0))
    designs = torch.rand(5, 3, 3, generator=torch.Generator().manual_seed(1))
    lower = torch.tensor([-math.inf, -math.inf, 0.0])
    upper = torch.tensor([math.inf, math.inf, 2.0])
    fig = design_ascent_figure(
        {"f": (axis, axis, torch.rand(6, 6))}, {"f": (values, designs)}, lower, upper, "abc"
    )
    assert len(fig.axes) == 4  # landscape, its colorbar, traces, parameters
    params = {line.get_label(): line for line in fig.axes[2].get_lines()}  # colorbar: last
    best = int(values[-1].argmax())
    np.testing.assert_allclose(params["c (0-1: box position)"].get_ydata(), designs[:, best, 2] / 2)
    np.testing.assert_allclose(params["a"].get_ydata(), designs[:, best, 0])
    with pytest.raises(ValueError, match="same"):
        design_ascent_figure(
            {"f": (axis, axis, values)}, {"g": (values, designs)}, lower, upper, "abc"
        )


def test_pump_sweep_jacobian_agrees_with_differences():
    device = HeatTransferVSystem()
    params = torch.tensor(
        [math.cos(0.3), math.sin(0.3), math.cos(1.2), math.sin(1.2), 0.1, math.log(0.01)],
        dtype=torch.float64,
    )
    log_n = torch.linspace(math.log(1e-2), math.log(10.0), 4, dtype=torch.float64)
    sweep, metrics = pump_sweep(device, params, log_n)
    assert sweep["rho"].shape == sweep["jac"].shape == (4, 3, 3)
    np.testing.assert_allclose(sweep["pump_rate"], (device.gamma * log_n.exp()).tolist())
    assert metrics["jacobian_vs_fd_max_rel_err"] < 1e-5
    assert metrics["sensitivity_peak_pump_rate"] in sweep["pump_rate"]
    fig = pump_sweep_figure(sweep)
    assert len(fig.axes) == 2 and fig.axes[0].get_xscale() == "log"
