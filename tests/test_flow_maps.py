"""MeanFlow and shortcut losses, checked against a flow map known in closed form.

Gaussian data ``N(mu, sigma^2 I)`` with independent noise on the CondOT path has the marginal
state ``x_t ~ N(t mu, std(t)^2 I)``, ``std(t) = sqrt((1 - t)^2 + t^2 sigma^2)``, and its flow is
affine: ``x_t = t mu + std(t) / std(s) (x_s - s mu)``. So the exact average velocity is
``u(s, t, x) = (x_t - x) / (t - s)``, and ``v(t, x) = mu + (x - t mu) std'(t) / std(t)``.
"""

import math

import pytest
import torch

from ctflow.flows import (
    average_velocity_and_derivative,
    cfm_loss,
    flow_map_sample,
    meanflow_loss,
    shortcut_loss,
)
from ctflow.nn import FlowMapMLP
from ctflow.paths import CondOTPath

MU = torch.tensor([1.5, -0.5], dtype=torch.float64)
SIGMA = 0.3


def _std(t):
    return ((1 - t) ** 2 + (t * SIGMA) ** 2).sqrt()


def _d_std(t):
    return (-(1 - t) + t * SIGMA**2) / _std(t)


class GaussianFlowMap(torch.nn.Module):
    """The exact ``u(s, t, x)``; at ``s = t`` the exact velocity."""

    def forward(self, s, t, x):
        s = torch.as_tensor(s, dtype=x.dtype).expand(x.shape[:-1]).unsqueeze(-1)
        t = torch.as_tensor(t, dtype=x.dtype).expand(x.shape[:-1]).unsqueeze(-1)
        gap = t - s
        ratio = _std(t) / _std(s)
        jump = t * MU + ratio * (x - s * MU) - x
        # where the gap is 0 the limit is the velocity; torch.where keeps both branches finite
        safe_gap = torch.where(gap == 0, torch.ones_like(gap), gap)
        return torch.where(gap == 0, velocity(s, x), jump / safe_gap)


def velocity(t, x):
    return MU + (x - t * MU) * _d_std(t) / _std(t)


def _points(n=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    s = 0.8 * torch.rand(n, generator=gen, dtype=torch.float64)
    t = s + (1 - s) * torch.rand(n, generator=gen, dtype=torch.float64)
    return x, s, t


def test_jvp_matches_central_differences_in_float64():
    torch.manual_seed(0)
    model = FlowMapMLP(2, hidden=(16, 16)).double()
    x, s, t = _points()
    v = torch.randn(x.shape, dtype=torch.float64)
    u, du_ds = average_velocity_and_derivative(model, s, t, x, v)
    h = 1e-6
    with torch.no_grad():
        fd = (model(s + h, t, x + h * v) - model(s - h, t, x - h * v)) / (2 * h)
        torch.testing.assert_close(u, model(s, t, x))
    torch.testing.assert_close(du_ds, fd, rtol=1e-7, atol=1e-8)


def test_the_exact_flow_map_satisfies_the_meanflow_identity():
    """u = v + (t - s) du/ds holds for the exact u with the marginal v; a wrong sign fails."""
    x, s, t = _points(8)
    model = GaussianFlowMap()
    v = velocity(s.unsqueeze(-1), x)
    u, du_ds = average_velocity_and_derivative(model, s, t, x, v)
    target = v + (t - s).unsqueeze(-1) * du_ds
    torch.testing.assert_close(u, target, rtol=1e-10, atol=1e-10)
    assert (u - (v - (t - s).unsqueeze(-1) * du_ds)).abs().max() > 1e-2


def test_u_at_equal_times_is_the_instantaneous_velocity():
    x, s, _ = _points()
    model = GaussianFlowMap()
    torch.testing.assert_close(model(s, s, x), velocity(s.unsqueeze(-1), x))
    # and the limit of the jump: u(s, s + h, x) -> v(s, x) as h -> 0
    torch.testing.assert_close(
        model(s, s + 1e-7, x), velocity(s.unsqueeze(-1), x), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_sampling_the_exact_flow_map_transports_exactly(steps):
    x0 = torch.randn(5, 2, dtype=torch.float64)
    torch.testing.assert_close(flow_map_sample(GaussianFlowMap(), x0, steps), MU + SIGMA * x0)


def test_meanflow_loss_at_equal_times_is_plain_cfm():
    torch.manual_seed(1)
    model = FlowMapMLP(2, hidden=(16,)).double()
    x1 = torch.randn(32, 2, dtype=torch.float64)
    x0 = torch.randn(32, 2, dtype=torch.float64)
    t = torch.rand(32, dtype=torch.float64)
    ours = meanflow_loss(model, CondOTPath(), x1, x0=x0, s=t, t=t)
    plain = cfm_loss(lambda t_, x: model(t_, t_, x), CondOTPath(), x1, x0=x0, t=t)
    torch.testing.assert_close(ours, plain, rtol=1e-12, atol=0)


def test_meanflow_loss_gradient_vanishes_at_the_exact_map_for_one_data_point():
    """With a single data point the conditional velocity is the marginal one, so the exact
    flow map is a fixed point of the loss: its error is 0 at any (s, t)."""
    point = torch.tensor([[0.7, -1.2]], dtype=torch.float64)

    class PointMap(torch.nn.Module):  # x_t = t a + (1 - t)/(1 - s) (x - s a): affine, exact
        def forward(self, s, t, x):
            s = torch.as_tensor(s, dtype=x.dtype).expand(x.shape[:-1]).unsqueeze(-1)
            return (point - x) / (1 - s)  # the straight line to the point, at constant speed

    x1 = point.expand(16, 2)
    loss = meanflow_loss(PointMap(), CondOTPath(), x1, generator=torch.Generator().manual_seed(0))
    assert float(loss) < 1e-20


def test_meanflow_with_the_models_velocity_is_exact_at_the_exact_map_on_spread_data():
    """With many data points the conditional velocity is not the marginal one, so the paper's
    target is noisy even at the exact map; with the model's own velocity the loss is 0."""
    gen = torch.Generator().manual_seed(0)
    x1 = MU + SIGMA * torch.randn(64, 2, generator=gen, dtype=torch.float64)
    kwargs = dict(x0=torch.randn(64, 2, generator=gen, dtype=torch.float64), equal_fraction=0.0)
    model = GaussianFlowMap()
    own = meanflow_loss(model, CondOTPath(), x1, generator=gen, velocity="model", **kwargs)
    paper = meanflow_loss(model, CondOTPath(), x1, generator=gen, **kwargs)
    assert float(own) < 1e-20
    assert float(paper) > 1e-3
    with pytest.raises(ValueError, match="velocity"):
        meanflow_loss(model, CondOTPath(), x1, velocity="marginal")


def test_shortcut_consistency_holds_for_the_exact_map_and_fails_for_a_wrong_one():
    gen = torch.Generator().manual_seed(0)
    x1 = MU + SIGMA * torch.randn(64, 2, generator=gen, dtype=torch.float64)
    exact = shortcut_loss(
        GaussianFlowMap(), CondOTPath(), x1, generator=gen, consistency_fraction=1
    )
    assert float(exact) < 1e-20

    class Curved(GaussianFlowMap):  # exact at s = t, but its jumps are not the flow's
        def forward(self, s, t, x):
            gap = torch.as_tensor(t - s, dtype=x.dtype).expand(x.shape[:-1]).unsqueeze(-1)
            return super().forward(s, t, x) + gap * x

    wrong = shortcut_loss(Curved(), CondOTPath(), x1, generator=gen, consistency_fraction=1)
    assert float(wrong) > 1e-3


def test_shortcut_loss_without_consistency_is_plain_cfm():
    torch.manual_seed(2)
    model = FlowMapMLP(2, hidden=(16,)).double()
    x1 = torch.randn(32, 2, dtype=torch.float64)
    ours = shortcut_loss(
        model, CondOTPath(), x1, generator=torch.Generator().manual_seed(5), consistency_fraction=0
    )
    plain = cfm_loss(
        lambda t, x: model(t, t, x), CondOTPath(), x1, generator=torch.Generator().manual_seed(5)
    )
    torch.testing.assert_close(ours, plain, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, p, x: meanflow_loss(m, p, x, equal_fraction=1.5), "equal_fraction"),
        (lambda m, p, x: meanflow_loss(m, p, x, s=torch.ones(4) * 0.5), "both s and t"),
        (
            lambda m, p, x: meanflow_loss(m, p, x, s=torch.ones(4), t=torch.zeros(4)),
            "t must be >= s",
        ),
        (lambda m, p, x: shortcut_loss(m, p, x, min_step=0.3), "min_step"),
        (lambda m, p, x: flow_map_sample(m, x, steps=0), "steps must be a positive integer"),
        (lambda m, p, x: flow_map_sample(m, x * math.nan), "x0 contains NaN"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call(FlowMapMLP(2, hidden=(8,)), CondOTPath(), torch.randn(4, 2))


def test_a_context_reaches_the_model_in_every_loss_and_the_sampler():
    torch.manual_seed(3)
    model = FlowMapMLP(2, context=3, hidden=(16,)).double()
    x1 = torch.randn(12, 2, dtype=torch.float64)
    c = torch.nn.functional.one_hot(torch.arange(12) % 3, 3).double()
    x0 = torch.randn(12, 2, dtype=torch.float64)
    t = torch.rand(12, dtype=torch.float64)
    ours = meanflow_loss(model, CondOTPath(), x1, x0=x0, s=t, t=t, context=c)
    plain = cfm_loss(
        lambda t_, x, c_: model(t_, t_, x, c_), CondOTPath(), x1, x0=x0, t=t, context=c
    )
    torch.testing.assert_close(ours, plain, rtol=1e-12, atol=0)
    gen = torch.Generator().manual_seed(0)
    assert torch.isfinite(shortcut_loss(model, CondOTPath(), x1, generator=gen, context=c))
    a = flow_map_sample(model, x0, 2, context=c)
    b = flow_map_sample(model, x0, 2, context=c.roll(1, 0))
    assert (a - b).abs().max() > 1e-6  # the class changes the samples
    with pytest.raises(ValueError, match="needs a context"):
        model(t, t, x0)
    with pytest.raises(TypeError, match="context size"):
        FlowMapMLP(2, (16, 16))
