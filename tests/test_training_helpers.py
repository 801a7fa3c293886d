"""The training and evaluation helpers moved out of the flow-matching, MeanFlow, conditional and
GFlowNet-diffusion experiments, checked against closed forms and independent computations."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch
from scipy import stats

from ctflow.flows import GaussianMixtureVelocity, cfg_field, cfm_loss
from ctflow.flows.discrete_targets import (
    cfg_tilted_law,
    empirical_total_variation,
    sequence_codes,
)
from ctflow.flows.flow_map_training import (
    budget_samples,
    check_flow_map_options,
    flow_map_loss,
    flow_map_step_loss,
)
from ctflow.flows.mixture_targets import (
    cfg_tilt_samples,
    class_conditional_mixture_field,
    linear_reward_tilt_samples,
)
from ctflow.flows.solver_budgets import mean_nll, sample_at_budgets
from ctflow.gfn import DiffusionGFN, diffusion_loss, diffusion_nll_bounds, linear_betas
from ctflow.nn import TimeMLP
from ctflow.paths import CondOTPath
from ctflow.plotting import scatter_panels_figure
from ctflow.train import (
    cosine_fit_options,
    dequantized_batch,
    drop_labels,
    fit_logistic_classifier,
    level_centres,
    one_hot_with_null,
    to_levels,
)

matplotlib.use("Agg")


# --- flow maps --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(methods=("meanflow",)), "must include 'fm'"),
        (dict(methods=("fm", "nope")), "must include 'fm'"),
        (dict(few_steps=(0,)), "few_steps"),
        (dict(reference_nfe=5), "reference_nfe"),
        (dict(equal_fraction=1.5), "equal_fraction"),
        (dict(lr=0.0), "lr > 0"),
    ],
)
def test_flow_map_options_refused(kwargs, match):
    args = dict(methods=("fm", "shortcut"), few_steps=(1, 2), reference_nfe=100) | kwargs
    with pytest.raises(ValueError, match=match):
        check_flow_map_options(
            args.pop("methods"), args.pop("few_steps"), args.pop("reference_nfe"), **args
        )


def test_flow_map_loss_fm_is_cfm_and_step_loss_draws_context():
    torch.manual_seed(0)
    net = TimeMLP(2, context=3, hidden=(8,))
    x1, c = torch.randn(16, 2), torch.eye(3)[torch.arange(16) % 3]
    a = flow_map_loss("fm", net, CondOTPath(), x1, torch.Generator().manual_seed(1), context=c)
    b = cfm_loss(net, CondOTPath(), x1, generator=torch.Generator().manual_seed(1), context=c)
    assert torch.equal(a, b)
    loss_fn = flow_map_step_loss(
        "fm", net, CondOTPath(), lambda: (x1, c), torch.Generator().manual_seed(1)
    )
    assert torch.equal(loss_fn(0), b)
    with pytest.raises(ValueError, match="unknown method"):
        flow_map_loss("dsm", net, CondOTPath(), x1, context=c)


def test_budget_samples_closed_forms():
    x0 = torch.randn(5, 2, dtype=torch.float64)
    # v = -x: n Euler steps give (1 - 1/n)^n x0; 50 midpoint steps of h give (1 - h + h^2/2)^50
    out = budget_samples("fm", lambda t, x: -x, x0, (1, 2, 4), reference_nfe=100)
    assert set(out) == {"1step", "2step", "4step", "ref"}
    for n in (1, 2, 4):
        torch.testing.assert_close(out[f"{n}step"], (1 - 1 / n) ** n * x0)
    torch.testing.assert_close(out["ref"], (1 - 0.02 + 0.02**2 / 2) ** 50 * x0)
    # a constant average velocity u = 1: every budget lands on x0 + 1
    jumps = budget_samples("meanflow", lambda s, t, x: torch.ones_like(x), x0, (1, 3))
    assert set(jumps) == {"1step", "3step"}
    for x in jumps.values():
        torch.testing.assert_close(x, x0 + 1)


# --- solver budgets and NLL -------------------------------------------------------------------


def test_sample_at_budgets_against_exp():
    x0 = torch.ones(3, 1, dtype=torch.float64)
    out = sample_at_budgets(lambda t, x: -x, x0, 1.0, tols=(1e-8,), midpoint_nfe=(4,))
    assert [b.key for b in out] == ["tol1e-08", "midpoint4"]
    torch.testing.assert_close(out[0].samples, math.exp(-1) * x0, rtol=1e-6, atol=1e-6)
    assert out[0].nfe > 4 and f"({out[0].nfe} NFE)" in out[0].label
    torch.testing.assert_close(out[1].samples, 0.625**2 * x0)  # two steps of 1 - h + h^2/2
    assert out[1].nfe == 4.0


def test_sample_at_budgets_failure_and_bad_budget():
    def broken(t, x):
        raise RuntimeError("stiff")

    (b,) = sample_at_budgets(broken, torch.ones(2, 2), tols=(1e-3,))
    assert torch.isnan(b.samples).all() and math.isnan(b.nfe) and "failed" in b.label
    with pytest.raises(ValueError, match="even"):
        sample_at_budgets(lambda t, x: x, torch.ones(2, 2), midpoint_nfe=(3,))


def test_mean_nll_matches_scipy():
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)[:, None]
    normal = torch.distributions.Normal(0.0, 1.0)
    out = mean_nll(lambda z: normal.log_prob(z).sum(-1), x)
    logp = stats.norm.logpdf(x.numpy()[:, 0])
    assert out["test_nll"] == pytest.approx(-logp.mean())
    assert out["test_nll_stderr"] == pytest.approx(logp.std(ddof=1) / 3.0)
    assert out["nll_seconds"] >= 0

    def broken(z):
        raise AssertionError("underflow in dt")

    assert math.isnan(mean_nll(broken, x)["test_nll"])


# --- Gaussian-mixture and discrete targets ----------------------------------------------------

MEANS = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0]])


def test_class_conditional_mixture_field():
    field = class_conditional_mixture_field(MEANS, 0.5)
    x = torch.randn(6, 2, dtype=torch.float64)
    c = torch.eye(4, dtype=torch.float64)[torch.tensor([0, 1, 2, 3, 0, 3])]
    out = field(0.3, x, c)
    mixture = GaussianMixtureVelocity([1.0] * 3, MEANS, [0.5] * 3)
    for row, label in enumerate([0, 1, 2, 3, 0, 3]):
        if label == 3:  # null class: the whole mixture
            expected = mixture(0.3, x[row : row + 1])
        else:  # one Gaussian: the affine field m + (S'/S)(x - t m), S^2 = (1 - t)^2 + t^2 s^2
            t, s = 0.3, 0.5
            big_s = math.sqrt((1 - t) ** 2 + t**2 * s**2)
            ds = (t * s**2 - (1 - t)) / big_s
            m = MEANS[label].double()
            expected = (m + ds / big_s * (x[row] - t * m))[None]
        torch.testing.assert_close(out[row : row + 1], expected)
    with pytest.raises(ValueError, match="one-hot"):
        field(0.3, x, c[:, :3])


def test_cfg_tilt_samples_scale_one_and_zero():
    gen = torch.Generator().manual_seed(0)
    x = cfg_tilt_samples(MEANS, 0.5, 2, 1.0, 6000, gen)  # w = 1: the class itself
    assert x.dtype == torch.float64 and x.shape == (6000, 2)
    torch.testing.assert_close(x.mean(0), MEANS[2].double(), atol=0.03, rtol=0)
    torch.testing.assert_close(
        x.std(0), torch.full((2,), 0.5, dtype=torch.float64), atol=0.02, rtol=0
    )
    y = cfg_tilt_samples(MEANS, 0.5, 2, 0.0, 6000, gen)  # w = 0: the mixture
    torch.testing.assert_close(y.mean(0), MEANS.double().mean(0), atol=0.08, rtol=0)
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        cfg_tilt_samples(torch.zeros(2, 3), 0.5, 0, 1.0, 10)


def test_linear_reward_tilt_matches_closed_form_mean():
    a, lam, s = torch.tensor([1.0, 0.5]), 0.7, 0.5
    x = linear_reward_tilt_samples(MEANS, s, a, lam, 40000, torch.Generator().manual_seed(1))
    w = np.exp(lam * MEANS.numpy() @ a.numpy())
    w /= w.sum()
    expected = w @ MEANS.numpy() + lam * s**2 * a.numpy()
    np.testing.assert_allclose(x.mean(0).numpy(), expected, atol=0.03)


def test_sequence_codes_tilted_law_and_tv():
    x = torch.tensor([[0, 0, 1], [2, 1, 0], [1, 2, 2]])
    assert sequence_codes(x, 3).tolist() == [int("001", 3), int("210", 3), int("122", 3)]
    p, q = torch.tensor([0.1, 0.2, 0.7]), torch.tensor([0.3, 0.3, 0.4])
    torch.testing.assert_close(cfg_tilted_law(p, q, 1.0), p)
    torch.testing.assert_close(cfg_tilted_law(p, q, 0.0), q)
    w2 = p**2 / q
    torch.testing.assert_close(cfg_tilted_law(p, q, 2.0), w2 / w2.sum())
    samples = torch.tensor([[0], [0], [0], [2]])  # empirical (0.75, 0, 0.25)
    law = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    assert empirical_total_variation(samples, law, 3) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="V\\^L"):
        empirical_total_variation(samples, law[:2], 3)


def test_cfg_field_mixes_conditional_and_null():
    def field(t, x, c):  # a field whose value is its context's first column
        return c[:, :1].expand_as(x) * 1.0

    null = torch.tensor([0.0, 1.0])
    c = torch.tensor([[3.0, 0.0], [5.0, 0.0]])
    out = cfg_field(field, 2.0, null, c)(0.5, torch.zeros(2, 2))
    torch.testing.assert_close(out, torch.tensor([[6.0, 6.0], [10.0, 10.0]]))  # 0 + 2 (c - 0)


# --- labels, levels, recipes, classifier ------------------------------------------------------


def test_labels_one_hot_and_drop():
    assert one_hot_with_null(torch.tensor([1, 3]), 3).tolist() == [[0, 1, 0, 0], [0, 0, 0, 1]]
    labels = torch.arange(1000) % 5
    assert torch.equal(drop_labels(labels, 0.0, 9), labels)
    assert (drop_labels(labels, 1.0, 9) == 9).all()
    out = drop_labels(labels, 0.3, 9, torch.Generator().manual_seed(2))
    u = torch.rand(1000, generator=torch.Generator().manual_seed(2))
    assert torch.equal(out, torch.where(u < 0.3, 9, labels))
    with pytest.raises(ValueError, match="p must"):
        drop_labels(labels, 1.5, 9)


def test_levels_round_trip():
    x = torch.randint(0, 17, (50, 6)).float()
    z, idx = dequantized_batch(x, 17, 200, torch.Generator().manual_seed(0))
    assert z.shape == (200, 6) and idx.shape == (200,)
    assert (z >= -1).all() and (z < 1).all()
    torch.testing.assert_close(to_levels(z, 17), x[idx])
    torch.testing.assert_close(to_levels(level_centres(x, 17), 17), x)
    torch.testing.assert_close(level_centres(torch.tensor([8]), 17), torch.tensor([0.0]))


def test_cosine_fit_options():
    assert cosine_fit_options(4000, 2e-3, warmup_cap=200, grad_clip=None) == {
        "steps": 4000,
        "lr": 2e-3,
        "schedule": "cosine",
        "warmup": 200,
        "grad_clip": None,
    }
    assert cosine_fit_options(25, 1e-3)["warmup"] == 2


def test_logistic_classifier_separates_blobs():
    gen = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(40, 2, generator=gen) - 4, torch.randn(40, 2, generator=gen) + 4])
    y = torch.cat([torch.zeros(40), torch.ones(40)]).long()
    predict = fit_logistic_classifier(x, y, scale=4.0)
    assert torch.equal(predict(x), y)
    assert predict(torch.tensor([[-5.0, -5.0], [5.0, 5.0]])).tolist() == [0, 1]


# --- diffusion as a GFlowNet ------------------------------------------------------------------


def _diffusion(learn_variance: bool) -> DiffusionGFN:
    torch.manual_seed(0)
    net = TimeMLP(2, hidden=(8,))
    return DiffusionGFN(
        net, 2, linear_betas(4), variance="posterior", learn_variance=learn_variance
    )


def test_diffusion_loss_dispatch():
    model, x = _diffusion(False), torch.randn(8, 2)
    torch.manual_seed(3)
    expected = model.noise_loss(x)
    torch.manual_seed(3)
    assert torch.equal(diffusion_loss("ddpm", model, x), expected)
    loss, logged = diffusion_loss("mle-gfn", _diffusion(True), x, paths=2)
    assert loss.dim() == 0 and set(logged) == {"elbo"}
    with pytest.raises(ValueError, match="unknown objective"):
        diffusion_loss("vlb", model, x)


def test_diffusion_nll_bounds_match_direct_computation():
    model, x = _diffusion(True), torch.randn(10, 2)
    torch.manual_seed(5)
    out = diffusion_nll_bounds(model, x, paths=3, chunk=4)
    torch.manual_seed(5)
    with torch.no_grad():
        elbo = model.elbo(x[:4]), model.elbo(x[4:8]), model.elbo(x[8:])
    elbo = torch.cat(elbo)
    assert out["neg_elbo"] == pytest.approx(float(-elbo.mean()))
    assert out["neg_elbo_stderr"] == pytest.approx(float(elbo.std() / math.sqrt(10)))
    assert out["eval_paths"] == 3.0 and math.isfinite(out["neg_iwae"])


# --- panels figure ----------------------------------------------------------------------------


def test_scatter_panels_figure_draws_each_panel():
    panels = {"data": torch.randn(20, 2), "model\n-IWAE 3.70": torch.randn(30, 2)}
    fig = scatter_panels_figure(panels, limit=4.6, title="samples")
    assert len(fig.axes) == 2
    for ax, (name, pts) in zip(fig.axes, panels.items()):
        assert ax.get_title() == name
        np.testing.assert_array_equal(ax.collections[0].get_offsets(), pts.numpy())
        assert ax.get_xlim() == (-4.6, 4.6) and ax.get_ylim() == (-4.6, 4.6)
    assert fig._suptitle.get_text() == "samples"
    assert len(scatter_panels_figure({"one": torch.zeros(2, 2)}, 1.0).axes) == 1
    with pytest.raises(ValueError, match="empty"):
        scatter_panels_figure({}, 1.0)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        scatter_panels_figure({"bad": torch.zeros(3, 3)}, 1.0)
