"""SDE-BNN: Girsanov KL against closed forms, the STL estimator, adjoint gradients, the models."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from ctflow.bayes import (
    SDEBNN,
    MeanFieldBNN,
    ODENet,
    OUObservation,
    OUObservationDrift,
    WeightedMLPField,
    WeightPosteriorDrift,
    girsanov_sdeint,
    ou_drift,
    ou_path_kl,
)

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class _LinearDrift(nn.Module):
    """``a w + b`` with known constants."""

    def __init__(self, a: float, b: float) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a, dtype=F64))
        self.b = nn.Parameter(torch.tensor(b, dtype=F64))

    def forward(self, t, w):
        return self.a * w + self.b


# --- the KL ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("estimator", ["path", "stl", "full"])
def test_kl_is_zero_when_posterior_equals_prior(estimator):
    drift = WeightPosteriorDrift(7)  # zero-initialised hypernetwork: f_q = -w = f_p
    w0 = torch.randn(5, 7, generator=_gen(0))
    sol = girsanov_sdeint(
        drift, ou_drift, 0.3, w0, steps=13, estimator=estimator, generator=_gen(1)
    )
    assert torch.equal(sol.logratio, torch.zeros(5))
    model = SDEBNN(4, 3, field_hidden=4, steps=4)
    _, kl = model.sample(torch.randn(6, 4))
    assert torch.equal(kl, torch.zeros(6))


def test_ou_path_kl_closed_form_special_cases():
    assert ou_path_kl(-1.0, 0.0, 0.7, m0=2.0, v0=0.5) == 0.0
    # a = -1: u = b / sigma is constant, KL = b^2 T / (2 sigma^2)
    assert math.isclose(ou_path_kl(-1.0, 0.4, 0.5, horizon=2.0), 0.4**2 * 2 / (2 * 0.25))
    # continuous across a = 0 (the formula divides by a; keep |a| >> 1e-6)
    near = [ou_path_kl(a, 0.3, 0.8, prior_rate=0.5) for a in (-1e-3, 1e-3)]
    assert math.isclose(near[0], near[1], rel_tol=1e-2)


@pytest.mark.parametrize("a, b, m0", [(-3.0, 0.5, 1.0), (0.5, -1.0, 0.0), (-0.2, 0.0, 2.0)])
def test_path_kl_matches_ou_closed_form(a, b, m0):
    sigma, n, steps = 0.6, 4000, 400
    w0 = torch.full((n, 1), m0, dtype=F64)
    sol = girsanov_sdeint(_LinearDrift(a, b), ou_drift, sigma, w0, steps=steps, generator=_gen(2))
    estimate = sol.logratio.detach()
    truth = ou_path_kl(a, b, sigma, m0=m0)
    stderr = float(estimate.std()) / math.sqrt(n)
    # Monte Carlo error plus the O(dt) bias of Euler-Maruyama moments
    assert abs(float(estimate.mean()) - truth) < 4 * stderr + 2e-3 * (1 + truth), (truth, stderr)


def test_full_and_stl_estimators_average_to_the_kl():
    sigma, n = 0.6, 4000
    w0 = torch.ones(n, 1, dtype=F64)
    truth = ou_path_kl(-2.0, 0.5, sigma, m0=1.0)
    for estimator in ("full", "stl"):
        sol = girsanov_sdeint(
            _LinearDrift(-2.0, 0.5),
            ou_drift,
            sigma,
            w0,
            steps=200,
            estimator=estimator,
            generator=_gen(3),
        )
        est = sol.logratio.detach()
        assert abs(float(est.mean()) - truth) < 4 * float(est.std()) / math.sqrt(n) + 5e-3


# --- sticking the landing -------------------------------------------------------------------------

PROBLEM = OUObservation(sigma=1.0, obs_std=0.5, y=1.0)


def _per_path_gradients(estimator: str, steps: int, theta, n: int = 2000, seed: int = 4):
    """Gradient of the negative ELBO w.r.t. theta for each of ``n`` paths, shape ``(n, 2)``."""
    drift = OUObservationDrift(PROBLEM, theta=theta, n_paths=n)
    w0 = torch.full((n, 1), PROBLEM.x0, dtype=F64)
    sol = girsanov_sdeint(
        drift, ou_drift, PROBLEM.sigma, w0, steps=steps, estimator=estimator, generator=_gen(seed)
    )
    loss = -PROBLEM.log_likelihood(sol.w[:, 0]) + sol.logratio
    (grad,) = torch.autograd.grad(loss.sum(), drift.theta)
    return grad, loss.detach()


def test_stl_gradient_has_the_mean_of_the_full_estimator():
    theta = (0.3, 0.5)  # away from the optimum, where the gradient is not zero
    grads = {e: _per_path_gradients(e, 50, theta, n=4000)[0] for e in ("full", "stl", "path")}
    for other in ("stl", "path"):
        diff = grads[other] - grads["full"]  # same Brownian paths: compare paired differences
        stderr = diff.std(0) / math.sqrt(diff.shape[0])
        assert (diff.mean(0).abs() < 4 * stderr + 1e-9).all(), (other, diff.mean(0), stderr)
    assert (grads["full"].mean(0).abs() > 10 * grads["full"].std(0) / math.sqrt(4000)).any()


def test_stl_gradient_variance_vanishes_at_the_exact_posterior():
    var = {}
    for estimator in ("stl", "path", "full"):
        for steps in (20, 200):
            grad, loss = _per_path_gradients(estimator, steps, (1.0, 1.0))
            var[estimator, steps] = float(grad.var(0).sum())
            if steps == 200:  # the exact posterior attains the evidence
                stderr = float(loss.std()) / math.sqrt(len(loss))
                assert abs(float(-loss.mean()) - PROBLEM.log_evidence()) < 4 * stderr + 5e-3
    assert var["stl", 200] < var["stl", 20] / 5
    assert var["stl", 200] < 0.02 * var["path", 200]
    for estimator in ("path", "full"):  # no such decay for the others
        assert var[estimator, 200] > 0.5 * var[estimator, 20]


# --- the solver -----------------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [3, 7, 10, 33])
@pytest.mark.parametrize("estimator", ["path", "stl"])
def test_solver_reaches_t1_exactly(steps, estimator):
    times = []

    def clock(t, h, w):  # dh/dt = 1, so h(1) = 1 only if the solve covers all of [0, 1]
        times.append(float(t))
        return torch.ones_like(h)

    drift = WeightPosteriorDrift(3).double()
    sol = girsanov_sdeint(
        drift,
        ou_drift,
        0.1,
        torch.zeros(2, 3, dtype=F64),
        field=clock,
        h0=torch.zeros(2, 1, dtype=F64),
        steps=steps,
        estimator=estimator,
    )
    assert float(sol.t1) == 1.0 and sol.steps == steps
    torch.testing.assert_close(sol.h, torch.ones(2, 1, dtype=F64), rtol=0, atol=1e-12)
    assert len(times) == steps and math.isclose(max(times), 1 - 1 / steps, abs_tol=1e-12)


def test_shared_path_uses_one_weight_path_for_the_batch():
    torch.manual_seed(0)
    x = torch.randn(1, 5).expand(6, 5)
    shared = SDEBNN(5, 3, field_hidden=4, steps=4, shared_path=True, sigma=1.0)
    outputs, kl = shared.sample(x, generator=_gen(5))
    assert kl.shape == () and torch.allclose(outputs, outputs[:1].expand_as(outputs))
    per_example = SDEBNN(5, 3, field_hidden=4, steps=4, sigma=1.0)
    outputs, kl = per_example.sample(x, generator=_gen(5))
    assert kl.shape == (6,) and not torch.allclose(outputs, outputs[:1].expand_as(outputs))
    # predictions draw a path per example even for a model trained with a shared one
    probs = shared.predict(x, samples=3, generator=_gen(6)).probs
    assert probs.shape == (6, 3)


def test_native_and_torchsde_agree_and_adjoint_matches_backprop():
    import torchsde

    torch.manual_seed(1)
    model = SDEBNN(3, 2, state=4, field_hidden=4, hyper_hidden=(8,), sigma=0.7).double()
    with torch.no_grad():  # leave the prior so that the KL has a gradient
        model.posterior.net[-1].weight.normal_(0, 0.1)
    x = torch.randn(5, 3, dtype=F64, generator=_gen(7))
    h0 = model.encoder(x)
    w0 = model.w0.expand(5, -1)
    size = (5, h0.shape[-1] + w0.shape[-1] + 1)
    params = [p for name, p in model.named_parameters() if not name.startswith("head")]

    def grads(steps, **kw):
        bm = torchsde.BrownianInterval(0.0, 1.0, size=size, dtype=F64, entropy=11)
        sol = girsanov_sdeint(
            model.posterior,
            ou_drift,
            model.sigma,
            w0,
            field=model.field,
            h0=h0,
            steps=steps,
            bm=bm,
            **kw,
        )
        loss = (model.head(sol.h) ** 2).sum() + sol.logratio.sum()
        flat = torch.autograd.grad(loss, params, retain_graph=True)
        return torch.cat([g.flatten() for g in flat])

    # a dyadic step keeps both backends' step times, hence Brownian queries, bit-identical
    torch.testing.assert_close(grads(64), grads(64, backend="torchsde"), rtol=1e-7, atol=1e-9)
    # the adjoint discretises a backward SDE: it matches backprop up to O(dt)
    errors = []
    for steps in (64, 256):
        direct = grads(steps, backend="torchsde")
        adjoint = grads(steps, backend="torchsde", adjoint=True)
        errors.append(float((adjoint - direct).abs().max() / direct.abs().max()))
    assert errors[1] < 0.01 and errors[1] < errors[0] / 2, errors


def test_model_level_adjoint_training_matches_direct():
    torch.manual_seed(2)
    kw = dict(state=4, field_hidden=4, hyper_hidden=(8,), steps=64, backend="torchsde")
    direct = SDEBNN(3, 2, **kw).double()
    adjoint = SDEBNN(3, 2, adjoint=True, **kw).double()
    adjoint.load_state_dict(direct.state_dict())
    x, y = torch.randn(6, 3, dtype=F64), torch.randint(0, 2, (6,))
    grads = []
    for model in (direct, adjoint):
        loss, _ = model.loss(x, y, n_data=50, generator=_gen(8))
        grads.append(torch.autograd.grad(loss, list(model.parameters())))
    for a, b in zip(*grads):  # O(dt) apart, see above
        torch.testing.assert_close(b, a, rtol=0.05, atol=0.02)


# --- the models -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: SDEBNN(4, 3, field_hidden=5, steps=3, estimator="stl"),
        lambda: SDEBNN(4, 3, field_hidden=5, steps=3, shared_path=True),
        lambda: ODENet(4, 3, field_hidden=5, steps=3),
        lambda: MeanFieldBNN(4, 3, field_hidden=5, steps=3),
    ],
)
def test_every_parameter_gets_a_gradient_and_predict_gives_probabilities(make):
    torch.manual_seed(3)
    model = make()
    if isinstance(model, SDEBNN):  # the hypernetwork's first layer needs a non-zero last layer
        with torch.no_grad():
            model.posterior.net[-1].weight.normal_(0, 0.1)
    loss, extras = model.loss(torch.randn(8, 4), torch.randint(0, 3, (8,)), n_data=100)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    predictive = model.predict(torch.randn(10, 4), samples=5)
    probs = predictive.probs  # a Categorical, like the Gaussian case's mixture
    assert probs.shape == (10, 3)
    torch.testing.assert_close(probs.sum(-1), torch.ones(10))
    # precision is tunable at test time
    assert model.predict(torch.randn(10, 4), samples=2, steps=17).probs.shape == (10, 3)
    assert predictive.log_prob(torch.zeros(10, dtype=torch.long)).shape == (10,)


def test_regression_predictive_is_a_mixture():
    model = SDEBNN(1, 1, field_hidden=4, steps=3, likelihood="gaussian", sigma=1.0)
    x = torch.linspace(-1, 1, 7).unsqueeze(-1)
    loss, _ = model.loss(x, x.squeeze(-1) ** 2, n_data=7)
    assert torch.isfinite(loss)
    pred = model.predict(x, samples=6)
    assert pred.mean.shape == (7, 1) and (pred.variance > model.log_noise.exp() ** 2 - 1e-6).all()
    assert pred.log_prob(x).shape == (7,)


def test_mean_field_kl_matches_torch_distributions():
    model = MeanFieldBNN(3, 2, field_hidden=4, prior_std=0.7, init_std=0.05)
    with torch.no_grad():
        model.mu.normal_()
    truth = kl_divergence(Normal(model.mu, model.std()), Normal(0.0, 0.7)).sum()
    torch.testing.assert_close(model.kl(), truth)


def test_weighted_field_matches_per_example_loop():
    field = WeightedMLPField(3, hidden=5)
    h = torch.randn(4, 3)
    w = torch.stack([field.initial_weights(_gen(i)) for i in range(4)])
    batched = field(torch.tensor(0.2), h, w)
    for i in range(4):
        torch.testing.assert_close(batched[i], field(torch.tensor(0.2), h[i : i + 1], w[i])[0])


def test_bad_options_raise():
    with pytest.raises(ValueError, match="estimator='path' only"):
        SDEBNN(2, 2, estimator="stl", backend="torchsde")
    with pytest.raises(ValueError, match="unknown estimator"):
        girsanov_sdeint(ou_drift, ou_drift, 1.0, torch.zeros(2, 1), estimator="sticky")
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        ODENet(2, 2).predict(torch.zeros(1, 2), steps=0)
    with pytest.raises(ValueError, match="field and h0 go together"):
        girsanov_sdeint(ou_drift, ou_drift, 1.0, torch.zeros(2, 1), h0=torch.zeros(2, 1))
