"""The light-harvesting V-system against its own equations and the reference notebook's numbers."""

import pytest
import torch

from ctflow.quantum.light_harvesting import LightHarvestingVSystem

REFERENCE_INIT = torch.tensor([-3.94139152, 28.68860986], dtype=torch.float64)


@pytest.fixture
def system():
    return LightHarvestingVSystem()


def test_steady_state_solves_the_rate_equations(system):
    params = torch.tensor([[-4.0, 28.0], [-9.0, 26.5]], dtype=torch.float64)
    x = system.steady_state(params)
    residual = (system.rate_matrix(params) @ x.unsqueeze(-1)).squeeze(-1) + system.source()
    assert residual.abs().max() < 1e-22  # rates ~ 1, x ~ 1e-9: the residual is round-off
    torch.testing.assert_close(
        system.steady_state(params[0], "fixed_point"), x[0], rtol=1e-9, atol=0
    )


def test_efficiency_matches_the_reference_start(system):
    # the reference notebook prints eta = 0.0973025 at this starting point
    assert abs(float(system.efficiency(REFERENCE_INIT)) - 0.0973025) < 1e-5


def test_implicit_gradient_matches_finite_differences_and_gradcheck(system):
    p = REFERENCE_INIT.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(system.efficiency(p), p)
    h = 1e-5
    fd = torch.stack(
        [
            (system.efficiency(REFERENCE_INIT + h * e) - system.efficiency(REFERENCE_INIT - h * e))
            / (2 * h)
            for e in torch.eye(2, dtype=torch.float64)
        ]
    )
    assert float((grad - fd).norm() / fd.norm()) < 1e-6
    assert torch.autograd.gradcheck(lambda q: system.efficiency(q), (p,))
    q = REFERENCE_INIT.clone().requires_grad_(True)
    (grad_fp,) = torch.autograd.grad(system.efficiency(q, "fixed_point"), q)
    torch.testing.assert_close(grad_fp, grad, rtol=1e-6, atol=0)


def test_gradient_ascent_follows_the_reference_trajectory(system):
    # the reference notebook (lr 0.5) prints eta = 0.92616 after 50 steps, 0.97293 after 100
    params = REFERENCE_INIT.clone()
    for _ in range(100):
        params.requires_grad_(True)
        (grad,) = torch.autograd.grad(system.efficiency(params), params)
        params = (params + 0.5 * grad).detach()
        if _ == 49:
            assert abs(float(system.efficiency(params)) - 0.92616) < 1e-3
    assert abs(float(system.efficiency(params)) - 0.97293) < 1e-3


def test_errors(system):
    with pytest.raises(ValueError, match="end in 2 values"):
        system.rate_matrix(torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="unknown method 'lu'"):
        system.steady_state(REFERENCE_INIT, "lu")
