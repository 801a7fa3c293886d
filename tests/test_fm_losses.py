"""Flow-matching and diffusion losses, and predictor-to-velocity fields, against exact solutions."""

import pytest
import torch

from ctflow.flows import CNF
from ctflow.flows.matching import (
    VelocityFromEps,
    VelocityFromScore,
    cfm_loss,
    eps_loss,
    score_matching_loss,
)
from ctflow.nn import TimeMLP
from ctflow.ops import divergence
from ctflow.paths import CondOTPath, VEPath, VPPath, ot_coupling
from ctflow.solvers import odeint

F64 = torch.float64
PATHS = [CondOTPath(), CondOTPath(sigma_min=1e-2), VPPath(), VEPath()]
IDS = ["condot", "condot-smin", "vp", "ve"]


def _coefficients(path, t):
    """alpha, sigma and their derivatives at ``t`` (shape batch), padded for 1-D events."""
    return [f(t)[..., None] for f in (path.alpha, path.sigma, path.d_alpha, path.d_sigma)]


def _one_point_fields(path, m):
    """The exact score, noise and (conditional = marginal) velocity for the data set {m}."""

    def score(t, x):
        a, s, _, _ = _coefficients(path, t)
        return -(x - a * m) / s**2

    def eps(t, x):
        a, s, _, _ = _coefficients(path, t)
        return (x - a * m) / s

    def velocity(t, x):
        a, s, da, ds = _coefficients(path, t)
        return ds / s * (x - a * m) + da * m

    return score, eps, velocity


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_losses_vanish_at_the_exact_solution_for_one_data_point(path):
    m = torch.tensor([1.5, -0.5], dtype=F64)
    x1 = m.expand(512, 2)
    score, eps, velocity = _one_point_fields(path, m)
    assert cfm_loss(velocity, path, x1) < 1e-20
    assert score_matching_loss(score, path, x1) < 1e-20
    assert eps_loss(eps, path, x1) < 1e-20
    # and the exact solutions are minimisers: perturbing them costs
    assert cfm_loss(lambda t, x: velocity(t, x) + 0.1, path, x1) > 1e-3
    assert score_matching_loss(lambda t, x: score(t, x) * 1.1, path, x1) > 1e-4
    assert eps_loss(lambda t, x: eps(t, x) + 0.1, path, x1) > 1e-3


def test_cfm_loss_is_positive_for_more_than_one_data_point():
    path = CondOTPath()
    m = torch.tensor([1.5, -0.5], dtype=F64)
    x1 = torch.cat([m.expand(256, 2), -m.expand(256, 2)])
    _, _, velocity = _one_point_fields(path, m)  # right for half of the data only
    assert cfm_loss(velocity, path, x1) > 0.1


def test_cfm_loss_equals_the_mean_squared_error_against_the_conditional_target():
    path = VPPath()
    x1, x0 = torch.randn(6, 3), torch.randn(6, 3)
    t = torch.rand(6) * 0.9

    def model(t, x):
        return torch.sin(x) * t[:, None]

    sample = path.sample(x0, x1, t)
    expected = (model(t, sample.x_t) - sample.dx_t).square().mean()
    torch.testing.assert_close(cfm_loss(model, path, x1, x0=x0, t=t), expected)
    sigma = path.sigma(t)[:, None]
    expected = (sigma * model(t, sample.x_t) + x0).square().mean()
    torch.testing.assert_close(score_matching_loss(model, path, x1, x0=x0, t=t), expected)
    # VE: x0 comes from N(0, sigma_max^2 I) and the noise target is x0 / sigma_max
    ve = VEPath()
    x0 = x0 * ve.source_scale
    sample = ve.sample(x0, x1, t)
    expected = (model(t, sample.x_t) - x0 / ve.source_scale).square().mean()
    torch.testing.assert_close(eps_loss(model, ve, x1, x0=x0, t=t), expected)


class _Recorder(torch.nn.Module):
    """A zero field that remembers what it was called with."""

    def forward(self, t, x, c=None):
        self.t, self.x, self.c = t, x, c
        return torch.zeros_like(x)


def test_default_draws_per_example_times_in_t_range_and_scaled_source_noise():
    model, x1 = _Recorder(), torch.zeros(4000, 2)
    for path in (VPPath(t_max=0.5), VEPath(sigma_max=4.0)):
        cfm_loss(model, path, x1)
        lo, hi = path.t_range
        assert model.t.shape == (4000,) and lo <= model.t.min() and model.t.max() < hi
        assert abs(model.t.mean().item() - (lo + hi) / 2) < 0.02  # uniform
    # at x1 = 0 on VE, x_t = sigma_t * x0 / sigma_max with x0 ~ N(0, 4^2): std sigma_t
    ratio = model.x / VEPath(sigma_max=4.0).sigma(model.t)[:, None]
    assert abs(ratio.std().item() - 1.0) < 0.05


def test_generator_makes_losses_reproducible():
    model, path, x1 = TimeMLP(2, hidden=(8,)), CondOTPath(), torch.randn(32, 2)
    for loss in (cfm_loss, score_matching_loss, eps_loss):
        a = loss(model, path, x1, generator=torch.Generator().manual_seed(1))
        b = loss(model, path, x1, generator=torch.Generator().manual_seed(1))
        c = loss(model, path, x1, generator=torch.Generator().manual_seed(2))
        assert a == b and a != c
    a = cfm_loss(model, path, x1, coupling="sinkhorn", generator=torch.Generator().manual_seed(1))
    b = cfm_loss(model, path, x1, coupling="sinkhorn", generator=torch.Generator().manual_seed(1))
    assert a == b


def test_coupling_re_pairs_the_source_by_minibatch_ot():
    path = CondOTPath()
    x1, x0 = torch.randn(2, 5, 3), torch.randn(2, 5, 3)  # batch (2, 5): coupled as 10 rows
    t = torch.rand(2, 5)

    def model(t, x):
        return torch.tanh(x) * t[..., None]

    paired, _ = ot_coupling(x0.reshape(10, 3), x1.reshape(10, 3))
    expected = cfm_loss(model, path, x1, x0=paired.reshape(2, 5, 3), t=t)
    torch.testing.assert_close(cfm_loss(model, path, x1, x0=x0, t=t, coupling="exact"), expected)
    g = torch.Generator().manual_seed(5)
    paired, _ = ot_coupling(x0.reshape(10, 3), x1.reshape(10, 3), method="sinkhorn", generator=g)
    expected = cfm_loss(model, path, x1, x0=paired.reshape(2, 5, 3), t=t)
    got = cfm_loss(
        model,
        path,
        x1,
        x0=x0,
        t=t,
        coupling="sinkhorn",
        generator=torch.Generator().manual_seed(5),
    )
    torch.testing.assert_close(got, expected)
    # the OT pairing shortens the straight paths: the CondOT targets x1 - x0 get smaller
    x1, x0 = torch.randn(64, 2) + 3, torch.randn(64, 2)
    zero = lambda t, x: torch.zeros_like(x)  # noqa: E731
    independent = cfm_loss(zero, path, x1, x0=x0)
    assert cfm_loss(zero, path, x1, x0=x0, coupling="exact") < independent


def test_arbitrary_batch_shapes_event_dims_and_context():
    model = _Recorder()
    x1 = torch.randn(2, 3, 4)
    cfm_loss(model, CondOTPath(), x1)
    assert model.t.shape == (2, 3) and model.x.shape == (2, 3, 4)
    images = torch.randn(5, 1, 3, 3)
    eps_loss(model, VPPath(), images, event_dims=3)
    assert model.t.shape == (5,) and model.x.shape == (5, 1, 3, 3)
    cfm_loss(model, CondOTPath(), x1, t=0.25)
    torch.testing.assert_close(model.t, torch.full((2, 3), 0.25))
    c = torch.randn(2, 3, 7)
    score_matching_loss(model, VEPath(), x1, context=c)
    assert model.c is c
    conditional = TimeMLP(4, context=7, hidden=(8,))
    with pytest.raises(ValueError, match="continuous context"):  # no coupling can honour it
        cfm_loss(conditional, CondOTPath(), x1, context=c, coupling="exact")
    labels = torch.nn.functional.one_hot(torch.tensor([[0, 1, 0], [1, 0, 1]]), 7).float()
    loss = cfm_loss(conditional, CondOTPath(), x1, context=labels, coupling="exact")
    loss.backward()
    grads = [p.grad for p in conditional.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_loss_input_validation():
    model, path, x1 = _Recorder(), CondOTPath(), torch.randn(4, 2)
    with pytest.raises(ValueError, match="coupling"):
        cfm_loss(model, path, x1, coupling="greedy")
    with pytest.raises(TypeError, match="path"):
        cfm_loss(model, "condot", x1)
    with pytest.raises(TypeError, match="model"):
        eps_loss(None, path, x1)
    with pytest.raises(TypeError, match="x1"):
        cfm_loss(model, path, x1.long())
    with pytest.raises(ValueError, match="x0"):
        cfm_loss(model, path, x1, x0=torch.randn(4, 3))
    with pytest.raises(ValueError, match="t must be"):
        cfm_loss(model, path, x1, t=torch.rand(3))
    with pytest.raises(ValueError, match="event_dims"):
        cfm_loss(model, path, x1, event_dims=0)
    with pytest.raises(ValueError, match="event_dims"):
        cfm_loss(model, path, x1, event_dims=3)
    with pytest.raises(ValueError, match="batch dimension"):
        cfm_loss(model, path, torch.randn(2), coupling="exact")
    with pytest.raises(ValueError, match="shape"):
        score_matching_loss(lambda t, x: x[..., :1], path, x1)


def _gaussian_marginal(path, m, s_data, t):
    """Mean and std of p_t for data N(m, s_data^2 I): N(a m, (a^2 s_data^2 + s^2) I)."""
    a, s, _, _ = _coefficients(path, t)
    return a * m, torch.sqrt(a**2 * s_data**2 + s**2)


def _gaussian_score(path, m, s_data):
    def score(t, x):
        mean, std = _gaussian_marginal(path, m, s_data, torch.as_tensor(t).expand(x.shape[:-1]))
        return -(x - mean) / std**2

    return score


def test_closed_form_condot_velocity_of_gaussian_data_transports_noise_to_data():
    path, m, s_data = CondOTPath(sigma_min=0.01), torch.tensor([2.0, -1.0], dtype=F64), 0.5

    def velocity(t, x):  # mu' + (S'/S)(x - mu) with mu = t m, S^2 = t^2 s_data^2 + sigma_t^2
        t = torch.as_tensor(t).expand(x.shape[:-1])
        a, s, da, ds = _coefficients(path, t)
        var = a**2 * s_data**2 + s**2
        return da * m + (a * da * s_data**2 + s * ds) / var * (x - a * m)

    # it is E[dx_t | x_t]: the path's conversion of the exact Gaussian score, for t > 0
    x, t = torch.randn(50, 2, dtype=F64), torch.rand(50, dtype=F64) * 0.98 + 0.01
    converted = path.velocity_from_score(x, _gaussian_score(path, m, s_data)(t, x), t)
    torch.testing.assert_close(velocity(t, x), converted, rtol=1e-9, atol=1e-9)

    x0 = torch.randn(20000, 2, dtype=F64)
    xs = odeint(velocity, x0, torch.tensor([0.0, 1.0], dtype=F64), method="rk4", step_size=0.05)
    std1 = (s_data**2 + 0.01**2) ** 0.5
    torch.testing.assert_close(xs[-1], m + std1 * x0, atol=1e-6, rtol=0)  # the affine OT map
    torch.testing.assert_close(xs[-1].mean(0), m, atol=0.03, rtol=0)
    torch.testing.assert_close(xs[-1].std(0), torch.full((2,), std1, dtype=F64), atol=0.01, rtol=0)


@pytest.mark.parametrize("path", [VPPath(), VEPath()], ids=["vp", "ve"])
def test_probability_flow_of_the_exact_score_transports_p0_to_the_data(path):
    m, s_data = torch.tensor([1.0, -2.0], dtype=F64), 0.5
    field = VelocityFromScore(_gaussian_score(path, m, s_data), path)
    t0, t1 = path.t_range
    mean0, std0 = _gaussian_marginal(path, m, s_data, torch.tensor(t0, dtype=F64))
    mean1, std1 = _gaussian_marginal(path, m, s_data, torch.tensor(t1, dtype=F64))
    z = torch.randn(4000, 2, dtype=F64)
    start = mean0 + std0 * z  # exactly p_t0 (N(0, I) up to alpha_0 m for VP; blurred for VE)
    xs = odeint(field, start, torch.tensor([t0, t1], dtype=F64), method="rk4", step_size=0.01)
    torch.testing.assert_close(xs[-1], mean1 + std1 * z, atol=1e-5, rtol=0)
    torch.testing.assert_close(xs[-1].mean(0), m, atol=0.03, rtol=0)
    torch.testing.assert_close(
        xs[-1].std(0), torch.full((2,), s_data, dtype=F64), atol=0.02, rtol=0
    )


def test_velocity_from_eps_transports_p0_to_the_data_also_through_cnf():
    path, m, s_data = VPPath(), torch.tensor([1.0, -2.0], dtype=F64), 0.5
    score = _gaussian_score(path, m, s_data)

    def eps(t, x):  # E[eps | x_t] = -sigma_t * score
        sigma = path.sigma(torch.as_tensor(t).expand(x.shape[:-1]))[..., None]
        return -sigma * score(t, x)

    field = VelocityFromEps(eps, path)
    t0, t1 = path.t_range
    mean0, std0 = _gaussian_marginal(path, m, s_data, torch.tensor(t0, dtype=F64))
    mean1, std1 = _gaussian_marginal(path, m, s_data, torch.tensor(t1, dtype=F64))
    z = torch.randn(500, 2, dtype=F64)
    xs = odeint(field, mean0 + std0 * z, [t0, t1], method="rk4", step_size=0.01)
    torch.testing.assert_close(xs[-1], mean1 + std1 * z, atol=1e-5, rtol=0)
    # from N(0, I), through CNF: the data, up to VP's p_0 ~ N(0, I) approximation
    flow = CNF(field, 2, t1=t1, method="rk4", step_size=0.02).double()
    x = flow().sample((4000,))
    torch.testing.assert_close(x.mean(0), m, atol=0.04, rtol=0)
    torch.testing.assert_close(x.std(0), torch.full((2,), s_data, dtype=F64), atol=0.02, rtol=0)


@pytest.mark.parametrize("wrapper", [VelocityFromScore, VelocityFromEps])
def test_wrappers_are_modules_with_a_closed_form_divergence(wrapper):
    model = TimeMLP(3, context=2, hidden=(16,), act="tanh").double()
    field = wrapper(model, VPPath())
    assert list(field.parameters()) == list(model.parameters())
    x, c = torch.randn(6, 3, dtype=F64), torch.randn(6, 2, dtype=F64)
    for t in (torch.tensor(0.4, dtype=F64), torch.rand(6, dtype=F64) * 0.9, 0.4):
        value, div = field.value_and_divergence(t, x, c)
        ref_value, ref_div = divergence(
            lambda t, x: field(t, x, c), torch.as_tensor(t), x, analytic=False
        )
        torch.testing.assert_close(value, ref_value)
        torch.testing.assert_close(div, ref_div)
    plain = wrapper(lambda t, x: torch.tanh(x), VPPath())
    with pytest.raises(NotImplementedError):
        plain.value_and_divergence(0.5, x)
    # CNF falls back to autograd for it
    flow = CNF(plain, 3, t1=0.9, method="rk4", step_size=0.1).double()
    assert torch.isfinite(flow().log_prob(x)).all()


def test_wrapper_validation():
    with pytest.raises(TypeError, match="path"):
        VelocityFromScore(TimeMLP(2), "vp")
    with pytest.raises(TypeError, match="model"):
        VelocityFromEps(None, VPPath())
    with pytest.raises(ValueError, match="event_dims"):
        VelocityFromEps(TimeMLP(2), VPPath(), event_dims=0)
    field = VelocityFromScore(TimeMLP(2), VPPath())
    with pytest.raises(ValueError, match="t must be"):
        field(torch.rand(3), torch.randn(4, 2))
    with pytest.raises(ValueError, match="shape"):
        VelocityFromScore(lambda t, x: x[..., :1], VPPath())(0.5, torch.randn(4, 2))


def test_classifier_free_guidance_combines_the_two_fields_as_written():
    from ctflow.flows import ClassifierFreeGuidance

    torch.manual_seed(0)
    net = TimeMLP(2, context=3).double()
    x, t = torch.randn(6, 2, dtype=torch.float64), torch.rand(6, dtype=torch.float64)
    c = torch.nn.functional.one_hot(torch.arange(6) % 2, 3).double()
    null = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    v_c, v_u = net(t, x, c), net(t, x, null.expand(6, 3))
    for w in (0.0, 1.0, 2.5, -0.5):
        torch.testing.assert_close(
            ClassifierFreeGuidance(net, w, null)(t, x, c), v_u + w * (v_c - v_u)
        )
    with pytest.raises(ValueError, match="shape"):
        ClassifierFreeGuidance(net, 2.0, null)(t, x, c[:, :2])
    with pytest.raises(ValueError, match="finite"):
        ClassifierFreeGuidance(net, float("nan"), null)


def test_guidance_of_exact_gaussian_fields_reaches_the_right_class():
    # exact OT-path velocities of two classes N(+-3, 0.25) and of their equal mixture's
    # Gaussian fit; w = 1 samples class c exactly, w = 0 the unconditional fit, w = 3 past c
    # (to 3.16; the tilted target p_c^3 p^-2 has mean 3.06: guided ODE samples are not that)
    from ctflow.flows import ClassifierFreeGuidance
    from ctflow.solvers import odeint

    def gaussian_velocity(m, var):
        return lambda t, x: m + ((t * var - (1 - t)) / (t * t * var + (1 - t) ** 2)) * (x - t * m)

    cls = {0: gaussian_velocity(-3.0, 0.25), 1: gaussian_velocity(3.0, 0.25)}
    unconditional = gaussian_velocity(0.0, 9.25)

    def field(t, x, c):
        label = c[..., :2].argmax(-1, keepdim=True)
        v = torch.where(label == 0, cls[0](t, x), cls[1](t, x))
        return torch.where(c[..., 2:] > 0, unconditional(t, x), v)

    null = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    c = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64).expand(4000, 3)
    x0 = torch.randn(4000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    grid = torch.tensor([0.0, 1.0 - 1e-6], dtype=torch.float64)
    means = {}
    for w in (0.0, 1.0, 3.0):
        guided = ClassifierFreeGuidance(field, w, null)
        x1 = odeint(lambda t, x, g=guided: g(t, x, c), x0, grid, method="dopri5", atol=1e-9,
                    rtol=1e-9)[-1]  # fmt: skip
        means[w] = float(x1.mean())
    assert abs(means[1.0] - 3.0) < 0.05 and abs(means[0.0]) < 0.2 and means[3.0] > means[1.0] + 0.1
