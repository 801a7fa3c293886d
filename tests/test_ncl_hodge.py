"""The ncl-hodge test problem against autograd and quadrature, and its config checks."""

import math

import pytest
import torch

from ctflow.experiments.ncl_hodge import NCLHodgeConfig
from ctflow.fields import HodgeProblem, PotentialNet, relative_l2_error, torus_integral


def _jacobian(fn, x):
    return torch.func.vmap(torch.func.jacrev(fn))(x)


@pytest.mark.parametrize("d", [3, 5])
@pytest.mark.parametrize("swap", [False, True])
def test_hodge_problem_parts_match_their_definitions(d, swap):
    problem = HodgeProblem(d, waves=4, seed=7, swap=swap)
    x = (
        2
        * math.pi
        * torch.rand(64, d, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    )
    jac_w = _jacobian(problem.divfree_part, x)
    jac_g = _jacobian(problem.gradient_part, x)
    # w is divergence-free, grad phi is curl-free, and divergence() is div f by autograd
    assert torch.diagonal(jac_w, dim1=-2, dim2=-1).sum(-1).abs().max() < 1e-12
    assert (jac_g - jac_g.transpose(-1, -2)).abs().max() < 1e-12
    div_f = torch.diagonal(_jacobian(problem.field, x), dim1=-2, dim2=-1).sum(-1)
    torch.testing.assert_close(problem.divergence(x), div_f, rtol=0, atol=1e-12)


def test_hodge_problem_parts_have_unit_mean_square_and_are_orthogonal():
    problem = HodgeProblem(3, waves=4, seed=3)
    periods = (2 * math.pi,) * 3
    volume = (2 * math.pi) ** 3
    # the rectangle rule on 8^3 points is exact for these degree-<=2 trigonometric products

    def moments(x):
        g, w = problem.gradient_part(x), problem.divfree_part(x)
        return torch.stack([(g**2).sum(-1), (w**2).sum(-1), (g * w).sum(-1)], -1)

    ms_g, ms_w, cross = torus_integral(moments, periods, 8) / volume
    assert abs(float(ms_g) - 1) < 1e-12 and abs(float(ms_w) - 1) < 1e-12
    assert abs(float(cross)) < 1e-12


def test_swap_exchanges_the_wave_vectors_only():
    plain, swapped = HodgeProblem(5, 4, seed=11), HodgeProblem(5, 4, seed=11, swap=True)
    assert torch.equal(plain.q, swapped.k) and torch.equal(plain.k, swapped.q)
    assert torch.equal(plain.e, swapped.e) and torch.equal(plain.c, swapped.c)
    assert not torch.equal(plain.q, plain.k)


@pytest.mark.parametrize("field", ["ncl_lr", "potential_lr"])
def test_config_rejects_a_non_positive_learning_rate(field):
    with pytest.raises(ValueError, match=field):
        NCLHodgeConfig(**{field: 0.0})


def test_potential_net_gradient_and_laplacian_match_autograd_and_are_periodic():
    torch.manual_seed(0)
    net = PotentialNet(3, (16, 16), "tanh").double()
    x = 2 * math.pi * torch.rand(5, 3, dtype=torch.float64)
    grad, lap = net.gradient_and_laplacian(x)
    hess = torch.func.vmap(torch.func.hessian(lambda p: net(p)))(x)
    torch.testing.assert_close(grad, _jacobian(lambda p: net(p)[None], x)[:, 0], rtol=0, atol=1e-12)
    torch.testing.assert_close(
        lap, torch.diagonal(hess, dim1=-2, dim2=-1).sum(-1), rtol=0, atol=1e-10
    )
    shifted = x + 2 * math.pi * torch.tensor([1.0, -2.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(net(shifted), net(x), rtol=0, atol=1e-12)


def test_relative_l2_error_is_zero_at_the_truth_and_one_at_zero():
    truth = torch.randn(10, 3, dtype=torch.float64)
    assert relative_l2_error(truth, truth) == 0.0
    assert abs(relative_l2_error(torch.zeros_like(truth), truth) - 1.0) < 1e-15
