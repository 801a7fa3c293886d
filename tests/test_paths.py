"""Gaussian probability paths and minibatch OT couplings, checked against independent truths."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from ctflow.paths import (
    PATHS,
    AffineGaussianPath,
    CondOTPath,
    PathSample,
    VEPath,
    VPPath,
    ot_coupling,
    sinkhorn_plan,
)

F64 = torch.float64
ALL_PATHS = [CondOTPath(), CondOTPath(sigma_min=0.05), VPPath(), VPPath(0.5, 5.0, 0.99), VEPath()]
IDS = ["condot", "condot-smin", "vp", "vp-custom", "ve"]


def _grid(path, n=41, interior=False):
    lo, hi = path.t_range
    if interior:  # the conversions divide by alpha (0 at t=0 for CondOT) and sigma
        lo, hi = lo + 0.02, hi - 0.02
    return torch.linspace(lo, hi, n, dtype=F64)


def _elementwise_derivative(f, t):
    """d f(t)_i / d t_i by reverse-mode autograd, for an elementwise ``f``."""
    t = t.detach().requires_grad_(True)
    y = f(t)
    if not y.requires_grad:  # a constant, e.g. VE's alpha
        return torch.zeros_like(y)
    return torch.autograd.grad(y.sum(), t)[0]


@pytest.mark.parametrize("path", ALL_PATHS, ids=IDS)
def test_analytic_derivatives_match_autograd(path):
    t = _grid(path)
    for f, df in ((path.alpha, path.d_alpha), (path.sigma, path.d_sigma)):
        torch.testing.assert_close(df(t), _elementwise_derivative(f, t), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("path", ALL_PATHS, ids=IDS)
def test_target_velocity_is_the_time_derivative_of_x_t(path):
    t = _grid(path, n=12)
    x0 = torch.randn(12, 3, dtype=F64) * path.source_scale
    x1 = torch.randn(12, 3, dtype=F64)
    columns = [
        _elementwise_derivative(lambda s, j=j: path.sample(x0, x1, s).x_t[:, j], t)
        for j in range(3)
    ]
    dx_t = torch.stack(columns, dim=-1)
    torch.testing.assert_close(path.sample(x0, x1, t).dx_t, dx_t, rtol=1e-10, atol=1e-10)


def test_condot_endpoints_and_constant_target():
    path = CondOTPath(sigma_min=0.1)
    x0, x1 = torch.randn(5, 2, dtype=F64), torch.randn(5, 2, dtype=F64)
    torch.testing.assert_close(path.sample(x0, x1, 0.0).x_t, x0)
    torch.testing.assert_close(path.sample(x0, x1, 1.0).x_t, x1 + 0.1 * x0)
    for t in (0.0, 0.3, 1.0):
        torch.testing.assert_close(path.sample(x0, x1, t).dx_t, x1 - 0.9 * x0)
    assert path.t_range == (0.0, 1.0) and path.source_scale == 1.0


def test_vp_endpoints_are_noise_and_data_within_the_path_tolerance():
    path = VPPath()
    alpha0 = math.exp(-0.5 * (0.1 + 0.5 * 19.9))
    torch.testing.assert_close(path.alpha(0.0).double(), torch.tensor(alpha0, dtype=F64))
    x0, x1 = torch.randn(1000, 2, dtype=F64), torch.randn(1000, 2, dtype=F64)
    start, end = path.sample(x0, x1, 0.0).x_t, path.sample(x0, x1, path.t_max).x_t
    # |x_t - x0| <= alpha |x1| + (1 - sigma) |x0| at t = 0, and similarly at t_max
    assert (start - x0).abs().max() < 0.05
    assert (end - x1).abs().max() < 0.02
    assert float(path.sigma(path.t_max)) < 5e-3
    assert path.t_range == (0.0, 1.0 - 1e-5)
    # variance preserving: alpha^2 + sigma^2 = 1 everywhere
    t = _grid(path)
    torch.testing.assert_close(path.alpha(t) ** 2 + path.sigma(t) ** 2, torch.ones_like(t))


def test_ve_endpoints_and_source_scale():
    path = VEPath(sigma_min=0.01, sigma_max=10.0)
    assert path.source_scale == 10.0
    torch.testing.assert_close(path.sigma(1.0), torch.tensor(0.01))
    torch.testing.assert_close(path.sigma(0.0), torch.tensor(10.0))
    torch.testing.assert_close(path.alpha(torch.rand(7)), torch.ones(7))
    x1 = torch.randn(1, 2, dtype=F64).expand(20000, 2)
    x0 = torch.randn(20000, 2, dtype=F64) * path.source_scale
    end = path.sample(x0, x1, 1.0).x_t
    torch.testing.assert_close(end.mean(0), x1[0], atol=1e-3, rtol=0)  # mean x1 ...
    torch.testing.assert_close(end.std(0), torch.full((2,), 0.01, dtype=F64), rtol=0.03, atol=0)
    start = path.sample(x0, x1, 0.0).x_t  # ... and x1 + x0 at t = 0: the source, blurred data
    torch.testing.assert_close(start, x1 + x0)


@pytest.mark.parametrize("path", ALL_PATHS, ids=IDS)
def test_conversions_round_trip_and_recover_the_conditional_target(path):
    t = _grid(path, n=12, interior=True).reshape(3, 4)  # batch (3, 4), event (2,)
    x0 = torch.randn(3, 4, 2, dtype=F64) * path.source_scale
    x1 = torch.randn(3, 4, 2, dtype=F64)
    eps = x0 / path.source_scale
    s = path.sample(x0, x1, t)
    close = dict(rtol=1e-9, atol=1e-9)
    # given the true x1 (or eps), each conversion gives the conditional velocity
    torch.testing.assert_close(path.velocity_from_x1(s.x_t, x1, t), s.dx_t, **close)
    torch.testing.assert_close(path.velocity_from_eps(s.x_t, eps, t), s.dx_t, **close)
    torch.testing.assert_close(path.eps_from_velocity(s.x_t, s.dx_t, t), eps, **close)
    torch.testing.assert_close(path.x1_from_velocity(s.x_t, s.dx_t, t), x1, **close)
    # round trips with arbitrary predictions
    x, pred = torch.randn(3, 4, 2, dtype=F64), torch.randn(3, 4, 2, dtype=F64)
    v = path.velocity_from_eps(x, pred, t)
    torch.testing.assert_close(path.eps_from_velocity(x, v, t), pred, **close)
    v = path.velocity_from_x1(x, pred, t)
    torch.testing.assert_close(path.x1_from_velocity(x, v, t), pred, **close)
    # score = -eps / sigma, consistently
    score = path.score_from_eps(pred, t)
    torch.testing.assert_close(
        path.velocity_from_score(x, score, t), path.velocity_from_eps(x, pred, t), **close
    )
    torch.testing.assert_close(
        path.score_from_velocity(x, v, t),
        path.score_from_eps(path.eps_from_velocity(x, v, t), t),
        **close,
    )


@pytest.mark.parametrize("path", ALL_PATHS, ids=IDS)
def test_velocity_from_exact_score_of_one_point_is_the_conditional_field(path):
    # data = the single point m: p_t = N(a m, s^2 I), score -(x - a m)/s^2, and the marginal
    # velocity is the paper's conditional field (s'/s)(x - a m) + a' m
    t = _grid(path, n=20, interior=True)
    m = torch.tensor([0.7, -1.3], dtype=F64)
    x = torch.randn(20, 2, dtype=F64) * 2
    a, s = path.alpha(t)[:, None], path.sigma(t)[:, None]
    da, ds = path.d_alpha(t)[:, None], path.d_sigma(t)[:, None]
    score = -(x - a * m) / s**2
    field = ds / s * (x - a * m) + da * m
    torch.testing.assert_close(path.velocity_from_score(x, score, t), field, rtol=1e-9, atol=1e-9)


def test_time_broadcasting_over_arbitrary_batch_and_event_shapes():
    path = VPPath()
    x0, x1 = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    t = torch.rand(2, 3) * 0.9
    expected = path.alpha(t)[..., None, None] * x1 + path.sigma(t)[..., None, None] * x0
    for times in (t, t[:, :, None]):  # shape batch, or batch padded with ones
        torch.testing.assert_close(path.sample(x0, x1, times).x_t, expected)
    t_img = torch.rand(2) * 0.9  # (B,) against (B, C, H, W)
    expected = (
        path.alpha(t_img)[:, None, None, None] * x1 + path.sigma(t_img)[:, None, None, None] * x0
    )
    torch.testing.assert_close(path.sample(x0, x1, t_img).x_t, expected)
    for scalar in (0.3, torch.tensor(0.3), torch.tensor(0.3, dtype=F64)):
        out = path.sample(x0, x1, scalar)
        assert out.x_t.shape == x1.shape and out.x_t.dtype == torch.float32
        assert isinstance(out, PathSample) and out.t.shape == ()
    assert path.alpha(1).dtype == torch.get_default_dtype()  # ints become floats


def test_path_parameter_validation():
    for bad in (-0.1, 1.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="sigma_min"):
            CondOTPath(sigma_min=bad)
    with pytest.raises(TypeError, match="sigma_min"):
        CondOTPath(sigma_min="0.1")
    with pytest.raises(ValueError, match="beta_min"):
        VPPath(beta_min=0.0)
    with pytest.raises(ValueError, match="beta_max"):
        VPPath(beta_min=1.0, beta_max=1.0)
    for bad in (0.0, 1.0, 1.2):
        with pytest.raises(ValueError, match="t_max"):
            VPPath(t_max=bad)
    with pytest.raises(ValueError, match="sigma_min"):
        VEPath(sigma_min=0.0)
    with pytest.raises(ValueError, match="sigma_max"):
        VEPath(sigma_min=1.0, sigma_max=0.5)
    assert PATHS["vp"] is VPPath and issubclass(PATHS["ve"], AffineGaussianPath)
    assert VPPath() == VPPath(0.1, 20.0)  # frozen dataclasses: comparable, printable
    assert "sigma_max=10.0" in repr(VEPath())


def test_sample_and_conversion_input_validation():
    path = CondOTPath()
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match="same shape"):
        path.sample(torch.randn(4, 3), x, 0.5)
    with pytest.raises(TypeError, match="dtype"):
        path.sample(x.double(), x, 0.5)
    with pytest.raises(TypeError, match="floating"):
        path.sample(torch.ones(4, 2, dtype=torch.long), x, 0.5)
    with pytest.raises(ValueError, match="t must be"):
        path.sample(x, x, torch.rand(3))
    with pytest.raises(ValueError, match="t must be"):
        path.sample(x, x, torch.rand(4, 2, 1))
    with pytest.raises(TypeError, match="t must be"):
        path.sample(x, x, "0.5")
    with pytest.raises(TypeError, match="t must be"):
        path.alpha(True)
    with pytest.raises(ValueError, match="same shape"):
        path.velocity_from_eps(x, torch.randn(4, 3), 0.5)


def _total_cost(x0, x1):
    return (x0 - x1).square().sum().item()


def test_exact_coupling_minimises_the_total_cost_over_all_permutations():
    x0, x1 = torch.randn(6, 2, dtype=F64), torch.randn(6, 2, dtype=F64) + 1
    best = min(_total_cost(x0[list(p)], x1) for p in itertools.permutations(range(6)))
    paired, same = ot_coupling(x0, x1)
    assert same is x1
    assert _total_cost(paired, x1) == pytest.approx(best, rel=1e-12)
    # a permutation of x0's rows
    assert sorted(map(tuple, paired.tolist())) == sorted(map(tuple, x0.tolist()))


def test_exact_coupling_handles_event_shapes_and_keeps_gradients():
    x0 = torch.randn(5, 2, 3, requires_grad=True)
    x1 = torch.randn(5, 2, 3)
    paired, _ = ot_coupling(x0, x1)
    assert paired.shape == (5, 2, 3)
    paired.sum().backward()
    torch.testing.assert_close(x0.grad, torch.ones_like(x0))


def test_sinkhorn_plan_has_uniform_marginals():
    x, y = torch.randn(16, 2, dtype=F64), torch.randn(12, 2, dtype=F64)
    cost = torch.cdist(x, y).square()
    plan = sinkhorn_plan(cost / cost.mean(), reg=0.05, n_iter=200)
    assert plan.shape == (16, 12) and (plan >= 0).all()
    torch.testing.assert_close(plan.sum(1), torch.full((16,), 1 / 16, dtype=F64), atol=1e-4, rtol=0)
    torch.testing.assert_close(plan.sum(0), torch.full((12,), 1 / 12, dtype=F64), atol=1e-4, rtol=0)


def test_sinkhorn_plan_matches_pot():
    ot = pytest.importorskip("ot")
    cost = torch.rand(7, 5, dtype=F64)
    a, b = torch.full((7,), 1 / 7, dtype=F64), torch.full((5,), 1 / 5, dtype=F64)
    expected = ot.sinkhorn(a.numpy(), b.numpy(), cost.numpy(), 0.1, numItermax=5000, stopThr=1e-12)
    plan = sinkhorn_plan(cost, reg=0.1, n_iter=5000, tol=1e-12)
    torch.testing.assert_close(plan, torch.from_numpy(expected), atol=1e-9, rtol=1e-6)


def test_sinkhorn_cost_approaches_the_exact_cost_as_reg_decreases():
    x, y = torch.randn(10, 2, dtype=F64), torch.randn(10, 2, dtype=F64) + 0.5
    cost = torch.cdist(x, y).square()
    cost = cost / cost.mean()
    rows, cols = linear_sum_assignment(cost.numpy())
    exact = cost[rows, cols].mean().item()  # the permutation plan has mass 1/n per pair
    costs = [(sinkhorn_plan(cost, reg, 3000) * cost).sum().item() for reg in (1.0, 0.1, 0.01)]
    assert costs[0] > costs[1] > costs[2] >= exact - 1e-9
    assert costs[2] - exact < 0.05 * exact


def test_sinkhorn_coupling_draws_rows_of_x0_reproducibly():
    x0, x1 = torch.randn(32, 2), torch.randn(40, 2) + 2  # unequal sizes are allowed
    draw = lambda: ot_coupling(  # noqa: E731
        x0, x1, method="sinkhorn", generator=torch.Generator().manual_seed(3)
    )[0]
    first, second = draw(), draw()
    assert first.shape == (40, 2)
    torch.testing.assert_close(first, second)
    assert all(any(torch.equal(row, r) for r in x0) for row in first)
    # with little regularisation the draw is (almost surely) the exact matching
    y0 = torch.randn(8, 2, dtype=F64)
    y1 = torch.randn(8, 2, dtype=F64)
    exact, _ = ot_coupling(y0, y1)
    sharp, _ = ot_coupling(y0, y1, method="sinkhorn", reg=1e-3, n_iter=5000)
    assert _total_cost(sharp, y1) <= _total_cost(exact, y1) * 1.05


def test_coupling_validation():
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match="equal size"):
        ot_coupling(x, torch.randn(5, 2))
    with pytest.raises(ValueError, match="unknown method"):
        ot_coupling(x, x, method="greedy")
    with pytest.raises(ValueError, match="event shape"):
        ot_coupling(x, torch.randn(4, 3))
    with pytest.raises(TypeError, match="x1"):
        ot_coupling(x, x.long())
    with pytest.raises(ValueError, match="reg"):
        ot_coupling(x, x, method="sinkhorn", reg=0.0)
    with pytest.raises(ValueError, match="n_iter"):
        sinkhorn_plan(torch.rand(3, 3), 0.1, 0)
    with pytest.raises(ValueError, match=r"\(n, m\)"):
        sinkhorn_plan(torch.rand(3), 0.1)
    with pytest.raises(ValueError, match="NaN"):
        sinkhorn_plan(torch.full((2, 2), float("nan")), 0.1)


def _two_conditions(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    x1 = torch.randn(n, 2, generator=g, dtype=torch.float64) * 0.3
    x1[:, 0] += torch.where(labels == 0, -5.0, 5.0).double()
    x0 = torch.randn(n, 2, generator=g, dtype=torch.float64)
    return x0, x1, labels


def test_conditional_exact_coupling_is_optimal_within_each_condition():
    ot = pytest.importorskip("ot")
    x0, x1, labels = _two_conditions(64)
    paired, same = ot_coupling(x0, x1, condition=labels)
    assert same is x1
    cost = (paired - x1).square().sum(-1)
    for c in (0, 1):
        rows = (labels == c).nonzero().squeeze(1)
        # every x1 row of condition c is paired with an x0 row of its own group
        assert set(map(tuple, paired[rows].tolist())) <= set(map(tuple, x0[rows].tolist()))
        m = torch.cdist(x0[rows], x1[rows]).square().numpy()
        w = np.full(len(rows), 1 / len(rows))
        assert float(cost[rows].mean()) == pytest.approx(ot.emd2(w, w, m), abs=1e-6)


def test_a_conditional_coupling_keeps_the_source_independent_of_the_condition():
    # a global coupling sends the noise on the left to the condition on the left, so a model
    # trained on it learns to ignore the condition (class accuracy 0.99 -> 0.34 on digits)
    x0, x1, labels = _two_conditions(512)
    left = labels == 0
    global_pairs, _ = ot_coupling(x0, x1)
    within, _ = ot_coupling(x0, x1, condition=labels)
    assert float(global_pairs[left, 0].mean()) < -0.5
    assert abs(float(within[left, 0].mean())) < 4 / math.sqrt(256)
    sinkhorn, _ = ot_coupling(x0, x1, method="sinkhorn", condition=labels.float()[:, None])
    assert abs(float(sinkhorn[left, 0].mean())) < 4 / math.sqrt(256)


def test_a_coupling_refuses_a_context_it_cannot_honour():
    from ctflow.flows import cfm_loss
    from ctflow.nn import TimeMLP

    x1, context = torch.randn(16, 2), torch.randn(16, 3)  # continuous: no two rows equal
    with pytest.raises(ValueError, match="continuous context"):
        cfm_loss(TimeMLP(2, context=3), CondOTPath(), x1, coupling="exact", context=context)
    labels = torch.nn.functional.one_hot(torch.arange(16) % 4, 4).float()
    loss = cfm_loss(TimeMLP(2, context=4), CondOTPath(), x1, coupling="exact", context=labels)
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match="equal size"):
        ot_coupling(
            torch.randn(8, 2), torch.randn(6, 2), method="sinkhorn", condition=torch.arange(6) % 2
        )
