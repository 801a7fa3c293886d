"""One contract every density model in ctflow meets (zuko's test_flows is the model).

Add a factory to DENSITIES when a new density lands. Each builds a float64 model with an
optional context size and an exact enough solver for the comparisons below.
"""

import io

import pytest
import torch

from ctflow.flows import CNF, CPFlow
from ctflow.nn import TimeMLP

D = 3


def cnf_exact(context):
    return CNF(TimeMLP(D, context=context, hidden=(16, 16), act="tanh"), D, atol=1e-9, rtol=1e-9)


def cnf_fixed_step(context):
    return CNF(
        TimeMLP(D, context=context, hidden=(16,), act="softplus"), D, method="rk4", step_size=0.1
    )


def cnf_adjoint(context):
    return CNF(TimeMLP(D, context=context, hidden=(16,)), D, atol=1e-8, rtol=1e-8, adjoint=True)


def cpflow_exact(context):
    return CPFlow(D, context=context, blocks=2, hidden=(8, 8), inverse_tol=1e-9)


def cpflow_stochastic(context):
    # the CG-surrogate gradient with the exact log-det value (D <= 16)
    return CPFlow(D, context=context, blocks=1, hidden=(8,), logdet="stochastic")


DENSITIES = {
    "cnf": cnf_exact,
    "cnf-rk4": cnf_fixed_step,
    "cnf-adjoint": cnf_adjoint,
    "cpflow": cpflow_exact,
    "cpflow-stochastic": cpflow_stochastic,
}


@pytest.fixture(params=sorted(DENSITIES), ids=str)
def factory(request):
    return DENSITIES[request.param]


@pytest.mark.parametrize("context", [0, 2])
def test_shapes(factory, context):
    model = factory(context).double()
    c = torch.randn(4, context, dtype=torch.float64) if context else None
    dist = model(c)
    batch = (4,) if context else ()
    x = dist.sample((5,))
    assert x.shape == (5, *batch, D) and not x.requires_grad
    assert dist.log_prob(x).shape == (5, *batch)
    xr, lp = dist.rsample_and_log_prob((2,))
    assert xr.shape == (2, *batch, D) and lp.shape == (2, *batch)


def test_every_parameter_gets_a_gradient(factory):
    model = factory(2).double()
    x = torch.randn(6, D, dtype=torch.float64)
    c = torch.randn(6, 2, dtype=torch.float64)
    model(c).log_prob(x).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_rsample_gradient_reaches_parameters(factory):
    model = factory(0).double()
    model().rsample((4,)).pow(2).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_rsample_and_log_prob_consistent_with_log_prob(factory):
    model = factory(0).double()
    x, lp = model().rsample_and_log_prob((8,))
    torch.testing.assert_close(lp, model().log_prob(x), atol=1e-5, rtol=1e-5)


def normalizing_map(model):
    """``(x -> z, base log-density)``: the map to the base that each model's log_prob inverts."""
    if isinstance(model, CNF):
        from ctflow.solvers import odeint

        t = torch.tensor([model.t1, model.t0], dtype=torch.float64)
        return (
            lambda x: odeint(lambda t, y: model.velocity(t, y), x, t, **model.solver)[-1],
            model.base().log_prob,
        )
    dist = model()  # zuko-style flows: data -> base through dist.transform
    return dist.transform, dist.base.log_prob


def test_log_prob_matches_autograd_jacobian(factory):
    """log p(x) = log p0(T x) + log |det dT/dx| for the map T to the base, Jacobian by autograd."""
    model = factory(0).double()
    x = torch.randn(3, D, dtype=torch.float64)
    to_base, base_log_prob = normalizing_map(model)
    for xi, lp in zip(x, model().log_prob(x)):
        jac = torch.autograd.functional.jacobian(to_base, xi)
        truth = base_log_prob(to_base(xi)) + torch.linalg.slogdet(jac).logabsdet
        torch.testing.assert_close(lp, truth, atol=1e-5, rtol=1e-5)


def test_save_load_roundtrip(factory):
    model = factory(0).double()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = factory(0).double()
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    x = torch.randn(4, D, dtype=torch.float64)
    torch.testing.assert_close(model().log_prob(x), fresh().log_prob(x))


def test_eval_equals_train(factory):
    model = factory(0).double()
    x = torch.randn(4, D, dtype=torch.float64)
    model.train()
    a = model().log_prob(x)
    model.eval()
    torch.testing.assert_close(a, model().log_prob(x))
