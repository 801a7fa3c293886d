"""IntegralDynamics: the fixed-step solvers skip integrands at zero-weight stages, and nothing else
changes: every method returns what it returns for the plain tuple dynamics."""

import math

import pytest
import torch

from ctflow.flows import CNF
from ctflow.nn import TimeMLP
from ctflow.solvers import FIXED_STEP_METHODS, IntegralDynamics, odeint
from ctflow.solvers.tableaus import FIXED_STEP_TABLEAUS


def _rotation_and_energy():
    """A rotation field (``y`` stays on its circle) and ``g = |y|^2 + t`` as the integrand."""
    calls = {"field": 0, "both": 0}

    def field(t, y):
        calls["field"] += 1
        return torch.stack([-y[..., 1], y[..., 0]], -1)

    def both(t, y):
        calls["both"] += 1
        return torch.stack([-y[..., 1], y[..., 0]], -1), y.square().sum(-1) + t

    return field, both, calls


@pytest.mark.parametrize("method", [*FIXED_STEP_METHODS, "dopri5"])
def test_same_solution_as_the_plain_tuple_dynamics(method):
    field, both, _ = _rotation_and_energy()
    y0 = torch.tensor([[1.0, 0.0], [0.3, -2.0]], dtype=torch.float64)
    state = (y0, torch.zeros(2, dtype=torch.float64))
    kw = {"step_size": 0.05} if method in FIXED_STEP_METHODS else {}
    t = [0.0, 0.5, 1.0]
    ys, qs = odeint(IntegralDynamics(field, both), state, t, method=method, **kw)
    ys_ref, qs_ref = odeint(lambda t, s: both(t, s[0]), state, t, method=method, **kw)
    torch.testing.assert_close(ys, ys_ref, rtol=0, atol=1e-14)
    torch.testing.assert_close(qs, qs_ref, rtol=0, atol=1e-14)
    # truth: |y| is constant, so q(1) = |y0|^2 + 1/2 up to the method's error
    tol = 0.1 if method == "euler" else 1e-3  # first order: |y| grows by (1 + h^2)^(n/2)
    torch.testing.assert_close(qs[-1], y0.square().sum(-1) + 0.5, rtol=tol, atol=tol)


@pytest.mark.parametrize("method", FIXED_STEP_METHODS)
def test_integrands_only_at_stages_of_nonzero_weight(method):
    field, both, calls = _rotation_and_energy()
    state = (torch.ones(4, 2), torch.zeros(4))
    _, stats = odeint(
        IntegralDynamics(field, both),
        state,
        [0.0, 1.0],
        method=method,
        step_size=0.1,
        return_stats=True,
    )
    b = FIXED_STEP_TABLEAUS[method].b
    weighted = sum(bi != 0.0 for bi in b)
    assert calls["both"] == 10 * weighted
    assert calls["field"] == 10 * (len(b) - weighted)
    assert stats.nfe == 10 * len(b)  # each stage is still one evaluation


def test_midpoint_skips_the_first_stage_divergence_of_a_cnf():
    torch.manual_seed(0)
    net = TimeMLP(2, hidden=(16, 16)).double()
    flow = CNF(net, 2, method="midpoint", step_size=0.1)
    x = torch.randn(5, 2, dtype=torch.float64)
    seen = []
    original = net.value_and_divergence
    net.value_and_divergence = lambda *a: seen.append(1) or original(*a)
    log_p = flow().log_prob(x)
    assert len(seen) == 10  # one divergence per step, not two

    # the same number by a plain augmented solve with the divergence at every stage
    def full(t, s):
        v, div = original(t, s[0])
        return v, div

    x0, delta = odeint(
        full, (x, torch.zeros(5, dtype=torch.float64)), [1.0, 0.0], method="midpoint", step_size=0.1
    )
    ref = -0.5 * x0[-1].square().sum(-1) - math.log(2 * math.pi) + delta[-1]
    torch.testing.assert_close(log_p, ref, rtol=0, atol=1e-12)


def test_refuses_non_callables():
    with pytest.raises(TypeError, match="two callables"):
        IntegralDynamics(lambda t, y: y, None)
