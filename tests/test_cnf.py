import math

import pytest
import torch

from ctflow.flows import CNF
from ctflow.nn import TimeMLP


class LinearField(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = torch.nn.Parameter(torch.as_tensor(a, dtype=torch.float64))

    def forward(self, t, x):
        return x @ self.a.T


def test_log_prob_of_linear_field_is_the_closed_form_gaussian():
    a = [[0.3, 0.1], [-0.2, 0.5]]
    flow = CNF(LinearField(a), 2, atol=1e-10, rtol=1e-10).double()
    x = torch.randn(7, 2, dtype=torch.float64)
    m = torch.linalg.matrix_exp(torch.tensor(a, dtype=torch.float64))
    truth = torch.distributions.MultivariateNormal(torch.zeros(2, dtype=torch.float64), m @ m.T)
    torch.testing.assert_close(flow().log_prob(x), truth.log_prob(x), atol=1e-8, rtol=0)


def test_density_integrates_to_one_on_a_grid():
    torch.manual_seed(0)
    flow = CNF(TimeMLP(2, hidden=(16, 16), act="tanh"), 2, method="rk4", step_size=0.1).double()
    with torch.no_grad():  # a non-trivial field
        for p in flow.parameters():
            p.mul_(2.0)
    lim, n = 7.0, 100
    axis = torch.linspace(-lim, lim, n, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), -1).reshape(-1, 2)
    with torch.no_grad():
        mass = flow().log_prob(grid).exp().sum() * (2 * lim / (n - 1)) ** 2
    assert abs(mass.item() - 1.0) < 1e-2


def test_hutchinson_log_prob_is_unbiased():
    torch.manual_seed(0)
    field = TimeMLP(3, hidden=(16,), act="tanh").double()
    exact = CNF(field, 3, method="rk4", step_size=0.25).double()
    hutch = CNF(field, 3, method="rk4", step_size=0.25, divergence="hutchinson").double()
    x = torch.randn(2, 3, dtype=torch.float64)
    with torch.no_grad():
        ref = exact().log_prob(x)
        est = hutch().log_prob(x.expand(3000, 2, 3))
    stderr = est.std(0) / math.sqrt(3000)
    assert ((est.mean(0) - ref).abs() < 4 * stderr).all()


def test_context_conditions_the_density():
    torch.manual_seed(0)
    flow = CNF(TimeMLP(2, context=3, hidden=(16,)), 2, method="rk4", step_size=0.25)
    c = torch.randn(4, 3)
    dist = flow(c)
    assert dist.batch_shape == (4,) and dist.event_shape == (2,)
    x = dist.sample((5,))
    assert x.shape == (5, 4, 2)
    lp = dist.log_prob(x)
    assert lp.shape == (5, 4)
    other = flow(c + 1.0).log_prob(x)
    assert not torch.allclose(lp, other)


def test_maximum_likelihood_training_lowers_nll():
    torch.manual_seed(0)
    flow = CNF(TimeMLP(2, hidden=(32, 32)), 2, method="rk4", step_size=0.25)
    data = torch.randn(256, 2) * torch.tensor([0.5, 2.0]) + torch.tensor([1.0, -1.0])
    opt = torch.optim.Adam(flow.parameters(), lr=1e-2)
    start = -flow().log_prob(data).mean().item()
    for _ in range(60):
        loss = -flow().log_prob(data).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    # the data's own Gaussian has entropy ~ 2.84 nats; the standard normal start is ~ 3.6
    assert loss.item() < start - 0.4


def test_bad_input():
    flow = CNF(TimeMLP(2), 2, method="rk4", step_size=0.5)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        flow().log_prob(torch.randn(3, 4))
    with pytest.raises(ValueError, match="NaN"):
        flow().log_prob(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(ValueError, match="unknown method"):
        CNF(TimeMLP(2), 2, method="rk45")
    with pytest.raises(ValueError, match="unknown divergence"):
        CNF(TimeMLP(2), 2, divergence="trace")


def test_adjoint_rsample_differentiates_the_context():
    torch.manual_seed(0)
    field = TimeMLP(2, context=3, hidden=(8,)).double()
    c = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    kw = dict(atol=1e-9, rtol=1e-9)
    torch.manual_seed(1)
    x = CNF(field, 2, adjoint=True, **kw).double()(c).rsample()
    (g_adjoint,) = torch.autograd.grad(x.sum(), c)
    torch.manual_seed(1)
    x = CNF(field, 2, **kw).double()(c).rsample()
    (g_direct,) = torch.autograd.grad(x.sum(), c)
    torch.testing.assert_close(g_adjoint, g_direct, atol=1e-6, rtol=1e-6)
