"""The library functions moved out of the ncl, sdebnn, cnf-2d and smac experiments, checked
against closed forms, hand-computed values and independent implementations (scipy, sklearn)."""

import math

import matplotlib
import numpy as np
import pytest
import torch
from scipy import stats
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.distributions import Categorical, Independent, Normal

from ctflow.bayes.estimator_study import estimator_gradients, paired_mean_z
from ctflow.bayes.ou import OUObservation
from ctflow.bayes.ou_gradients import ou_per_path_gradients
from ctflow.bayes.scores import classification_scores, regression_scores
from ctflow.data.corruptions import corrupt_images, digits_to_signed
from ctflow.data.toy1d import toy_regression_data
from ctflow.fields import GaussianMixtureFlux, MatrixField
from ctflow.fields.euler import taylor_green, taylor_green_pressure
from ctflow.fields.euler_training import euler_loss, evaluate_euler, torus_time_points
from ctflow.fields.hodge import HodgeProblem, PotentialNet
from ctflow.fields.hodge_training import curl_loss, hodge_scores, potential_loss
from ctflow.fields.mixture_transport import evaluate_mixture_transport, mixture_transport_loss
from ctflow.fields.ot_pairs import endpoint_pair, reference_w2_squared, sample_mixture
from ctflow.rl.control_tasks import task_history, train_log_summary
from ctflow.rl.loop import TrainLog
from ctflow.rl.variants import agent_variant

matplotlib.use("Agg")
NU = 0.1


class ExactTaylorGreen(nn.Module):
    """The exact vortex ``(v_1, v_2, p)`` as a stand-in Euler model."""

    problem, method = "taylor-green", "pinn"

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))  # so .double() has something to cast

    def single(self, y):
        v = taylor_green(y[0], y[1:], NU)
        return torch.cat([v, taylor_green_pressure(y[0], y[1:], NU)[None]])


class StillDensity(ExactTaylorGreen):
    """``rho = 2 + sin x sin y`` at rest: a steady solution of the variable-density equations."""

    problem = "variable-density"

    def single(self, y):
        rho = 2 + torch.sin(y[1]) * torch.sin(y[2])
        return torch.stack([rho, 0 * rho, 0 * rho, 0 * rho])


def test_torus_time_points_are_uniform_in_the_box():
    y = torus_time_points(4000, 0.5, torch.Generator().manual_seed(0))
    assert y.shape == (4000, 3) and y.min() >= 0
    assert y[:, 0].max() <= 0.5 and y[:, 1:].max() < 2 * math.pi
    assert abs(float(y[:, 0].mean()) - 0.25) < 0.01  # mean of U[0, 0.5]
    assert (torus_time_points(3, 0.0, torch.Generator())[:, 0] == 0).all()


def test_exact_taylor_green_has_zero_loss_and_error():
    gen = torch.Generator().manual_seed(1)
    model = ExactTaylorGreen().double()
    y = torus_time_points(16, 1.0, gen, dtype=torch.float64)
    y0 = torus_time_points(16, 0.0, gen, dtype=torch.float64)
    loss, extra = euler_loss(model, y, y0, NU)
    assert float(loss) < 1e-20 and extra["div"] < 1e-20
    metrics, curve = evaluate_euler(model, 1.0, NU, grid=8, times=3, n_residual=16)
    assert metrics["rel_error_final"] < 1e-12 and metrics["momentum_rms"] < 1e-12
    assert curve["t"] == [0.0, 0.5, 1.0] and len(curve["rel_error"]) == 3


def test_still_density_keeps_its_exact_mass():
    metrics, curve = evaluate_euler(StillDensity(), 1.0, grid=8, times=2, n_residual=8)
    assert curve["mass"][0] == pytest.approx(2 * (2 * math.pi) ** 2, rel=1e-12)
    assert metrics["mass_drift_max"] == 0.0 and metrics["continuity_rms"] < 1e-12
    assert metrics["min_density"] == pytest.approx(1.0)  # the 8-grid hits sin x sin y = -1
    with pytest.raises(ValueError, match="times must be >= 2"):
        evaluate_euler(StillDensity(), 1.0, times=1)


def test_hodge_losses_and_scores_against_the_known_parts():
    x = torch.rand(32, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 6
    assert float(curl_loss(lambda p: p, lambda p: 0 * p, x)) == 0.0  # x = grad |x|^2 / 2
    rotation = lambda p: torch.stack([-p[1], p[0], 0 * p[2]])  # noqa: E731
    assert float(curl_loss(rotation, lambda p: 0 * p, x)) == pytest.approx(4.0)  # 2 (J - J^T)_01^2
    problem = HodgeProblem(3, 2, seed=0)
    pot = PotentialNet(3, (8,), "tanh").double()
    scores = hodge_scores(problem, problem.divfree_part, pot, x)
    assert scores["ncl:rel_error"] < 1e-12 and scores["ncl:curl_rms"] < 1e-12
    assert scores["ncl:div_rms"] < 1e-12
    # the baseline's loss: (div f - Lap phi)^2 with the Laplacian from autograd's Hessian
    lap = torch.stack([torch.autograd.functional.hessian(pot, p).trace() for p in x])
    expected = (problem.divergence(x) - lap).pow(2).mean()
    loss = potential_loss(problem.divergence, pot, x).detach()
    assert float(loss) == pytest.approx(float(expected))
    assert scores["potential:div_rms"] == pytest.approx(math.sqrt(float(expected)))


def test_reference_w2_closed_form_and_assignment():
    p0, p1 = endpoint_pair("gauss-iso")
    w2, how = reference_w2_squared(p0, p1, 10, torch.Generator())
    assert how == "closed form" and w2 == pytest.approx(9 + 2 * (1 - 0.4) ** 2)
    q0, q1 = endpoint_pair("two-blobs")
    w2, how = reference_w2_squared(q0, q1, 50, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    a, b = sample_mixture(q0, 50, gen).numpy(), sample_mixture(q1, 50, gen).numpy()
    cost = ((a[:, None] - b[None]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    assert "assignment" in how and w2 == pytest.approx(cost[rows, cols].mean())
    with pytest.raises(ValueError, match="unknown pair"):
        endpoint_pair("nope")


def test_sample_mixture_moments():
    p0, _ = endpoint_pair("gauss-aniso")
    x = sample_mixture(p0, 20000, torch.Generator().manual_seed(0))
    assert x.dtype == torch.float64
    assert torch.allclose(x.mean(0), torch.tensor([-1.5, 0.0], dtype=x.dtype), atol=0.03)
    assert torch.allclose(x.std(0), torch.tensor([1.0, 0.5], dtype=x.dtype), atol=0.02)


def test_mixture_transport_loss_and_evaluation_run_and_agree_with_the_reference():
    torch.manual_seed(0)
    field = MatrixField(3, net=GaussianMixtureFlux(1, (8,)))
    p0, p1 = endpoint_pair("gauss-iso")
    loss, extra = mixture_transport_loss(field, p0, p1, 16, 10.0, torch.Generator())
    assert float(loss) == pytest.approx(10 * (extra["kl0"] + extra["kl1"]) + extra["kinetic"])
    metrics, (x0, paths, target) = evaluate_mixture_transport(field, p0, p1, 20, 20, 4)
    assert metrics["w2sq_reference"] == pytest.approx(9.72)
    assert metrics["reference_is_closed_form"] == 1.0
    assert paths.shape == (5, 20, 2) and torch.equal(paths[0], x0) and target.shape == (20, 2)
    coupling = float((paths[-1] - x0).pow(2).sum(-1).mean())
    assert metrics["w2sq_coupling"] == pytest.approx(coupling)
    with pytest.raises(ValueError, match="GaussianMixtureFlux"):
        mixture_transport_loss(MatrixField(3), p0, p1, 4, 1.0, torch.Generator())


def test_digit_corruptions():
    assert digits_to_signed(torch.tensor([0, 4, 16])).tolist() == [-1.0, -0.5, 1.0]
    x = torch.zeros(2000, 64)
    noisy = corrupt_images(x, "noise", torch.Generator().manual_seed(0), noise_std=0.1)
    assert noisy.abs().max() <= 1 and float(noisy.std()) == pytest.approx(0.2, rel=0.02)
    x = torch.rand(5, 64, generator=torch.Generator().manual_seed(1))
    shuffled = corrupt_images(x, "shuffle", torch.Generator().manual_seed(2))
    assert torch.equal(shuffled.sort(-1).values, x.sort(-1).values)
    assert not torch.equal(shuffled, x)
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt_images(x, "blur", torch.Generator())


def test_toy_regression_data_has_its_gap():
    x, y = toy_regression_data(4000, 0.1, torch.Generator().manual_seed(0))
    assert x.shape == (4000, 1) and y.shape == (4000,)
    ax = x[:, 0].abs()
    assert (ax >= 0.5).all() and (ax <= 2).all()
    assert float((x[:, 0] > 0).float().mean()) == pytest.approx(0.5, abs=0.03)
    assert float((y - torch.sin(2 * x[:, 0])).std()) == pytest.approx(0.1, rel=0.05)


class FixedClassifier:
    """Returns the same class probabilities whatever the input's noise: a stand-in TrunkNet."""

    def __init__(self, probs, ood_probs):
        self.probs, self.ood_probs = probs, ood_probs

    def predict(self, x, samples=1, steps=None, generator=None):
        return Categorical(probs=self.ood_probs if x[0, 0] > 0 else self.probs)


def test_classification_scores_against_hand_values_and_sklearn():
    probs = torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9]])
    ood_probs = torch.tensor([[0.5, 0.5], [0.6, 0.4], [0.95, 0.05], [0.5, 0.5]])
    labels = torch.tensor([0, 1, 1, 1])
    model = FixedClassifier(probs, ood_probs)
    x, x_ood = -torch.ones(4, 3), torch.ones(4, 3)
    metrics, p, sweep = classification_scores(
        model, x, labels, {"flip": x_ood}, samples=2, eval_steps=(3,), bins=2
    )
    assert metrics["accuracy"] == 0.75 and torch.equal(p, probs)
    nll = -np.log([0.9, 0.7, 0.4, 0.9]).mean()
    assert metrics["nll"] == pytest.approx(nll)
    # two bins: confidences 0.9, 0.7, 0.6, 0.9 all land in (0.5, 1]: |mean conf - accuracy|
    assert metrics["ece"] == pytest.approx(0.775 - 0.75)
    entropy = lambda q: -(q * q.log()).sum(-1).numpy()  # noqa: E731
    scores = np.concatenate([entropy(probs), entropy(ood_probs)])
    auc = roc_auc_score([0] * 4 + [1] * 4, scores)
    assert metrics["auroc_flip"] == pytest.approx(auc)
    assert sweep == {"accuracy": [0.75], "ece": [metrics["ece"]]}
    assert metrics["accuracy_steps3"] == 0.75


class LinearRegressor:
    """Predictive ``N(sin 2x, (0.1 + |x|)^2)``: a stand-in Gaussian-likelihood TrunkNet."""

    log_noise = torch.tensor(math.log(0.1))

    def predict(self, x, samples=1, generator=None):
        return Independent(Normal(torch.sin(2 * x), 0.1 + x.abs()), 1)


def test_regression_scores_against_scipy():
    x = torch.tensor([[-1.0], [0.5], [2.0]])
    y = torch.tensor([0.0, 1.0, -0.5])
    grid = torch.linspace(-3, 3, 13)[:, None]
    metrics, (mean, std) = regression_scores(LinearRegressor(), x, y, grid, samples=4)
    loc, scale = np.sin(2 * x[:, 0].numpy()), 0.1 + np.abs(x[:, 0].numpy())
    assert metrics["test_nll"] == pytest.approx(-stats.norm.logpdf(y.numpy(), loc, scale).mean())
    assert metrics["rmse"] == pytest.approx(np.sqrt(((loc - y.numpy()) ** 2).mean()))
    inside = np.abs(y.numpy() - loc) < 1.96 * scale
    assert metrics["coverage95"] == pytest.approx(inside.mean())
    assert metrics["noise_scale"] == pytest.approx(0.1)
    g = np.abs(grid[:, 0].numpy())
    s = 0.1 + g
    support = s[(g >= 0.5) & (g <= 2)].mean()
    assert metrics["std_gap_ratio"] == pytest.approx(s[g < 0.5].mean() / support)
    assert metrics["std_out_ratio"] == pytest.approx(s[g > 2.5].mean() / support)
    assert torch.allclose(std, torch.tensor(s, dtype=std.dtype))


def test_estimator_gradients_share_paths_and_paired_z_matches_scipy():
    problem = OUObservation(sigma=1.0, obs_std=0.5, y=1.0)
    grads = estimator_gradients(problem, (0.5, 0.5), 64, 8, seed=3)
    grad, loss = ou_per_path_gradients(problem, (0.5, 0.5), 64, 8, "stl", 3)
    assert torch.equal(grads["stl"][0], grad) and torch.equal(grads["stl"][1], loss)
    # the path and full estimators' losses agree path by path up to int u dB (same paths)
    assert set(grads) == {"stl", "path", "full"}
    a, b = grads["stl"][0], grads["full"][0]
    t = stats.ttest_rel(a.numpy(), b.numpy()).statistic
    assert paired_mean_z(a, b) == pytest.approx(np.abs(t).max())
    with pytest.raises(ValueError, match="share a shape"):
        paired_mean_z(a, b[:3])


def test_agent_variants_and_training_summary():
    sac, latent, smac = (agent_variant(m, 4, 8, hidden=(16,), lr=0.01) for m in
                         ("sac", "latent-sac", "smac"))  # fmt: skip
    assert (sac.latent_dim, sac.particles) == (0, 0)
    assert (latent.latent_dim, latent.particles) == (4, 0)
    assert (smac.latent_dim, smac.particles, smac.hidden, smac.lr) == (4, 8, (16,), 0.01)
    with pytest.raises(ValueError, match="unknown agent"):
        agent_variant("ppo", 1, 1)
    assert task_history("pendulum", 4) == 1 and task_history("pendulum-flicker", 4) == 4
    with pytest.raises(ValueError, match="unknown task"):
        task_history("cartpole", 2)
    log = TrainLog([10, 20, 30], [-3.0, -1.0, 2.0], seconds=4.0, updates=8)
    assert train_log_summary(log) == {
        "final_return": 2.0,
        "last2_return": 0.5,
        "curve_mean_return": pytest.approx(-2 / 3),
        "train_seconds": 4.0,
        "updates_per_second": 2.0,
    }
    assert set(train_log_summary(TrainLog())) == {"train_seconds", "updates_per_second"}


def test_cnf_point_scores_and_figure():
    from ctflow.data.point_sets import point_datasets
    from ctflow.flows import CNF
    from ctflow.flows.cnf_scores import cnf_point_figure, cnf_point_scores
    from ctflow.nn import TimeMLP

    torch.manual_seed(0)
    data = point_datasets(("checkerboard",), "", 0)[0]
    flow = CNF(TimeMLP(2, hidden=(8,)), 2, method="rk4", step_size=0.5)
    scores = cnf_point_scores(flow, data, 64, torch.Generator().manual_seed(0), floor_draws=2)
    assert scores["sample_nfe"] == 8  # 2 RK4 steps of 4 evaluations
    assert scores["nll_gap"] == pytest.approx(scores["test_nll"] - scores["entropy"])
    assert scores["entropy"] == pytest.approx(math.log(8 / 0.45**2), rel=0.05)
    assert scores["w2_data_vs_data"] > 0
    fig = cnf_point_figure(flow, data, 64, 6, 4.0, torch.Generator(), label="my flow")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["data", "model samples", "model density", ""]  # the last: colorbar
    assert fig._suptitle.get_text().startswith("my flow on checkerboard")
    assert "grid mass" in fig._suptitle.get_text()
