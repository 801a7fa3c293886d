"""CP-Flow: convexity, invertibility, exact and stochastic log-determinants, implicit inverse
gradients, the Krylov helpers, against dense linear algebra and finite differences (float64)."""

import math

import pytest
import torch

from ctflow.flows import CPFlow
from ctflow.flows.cpflow import ConvexPotential, ConvexPotentialTransform
from ctflow.nn import ICNN
from ctflow.ops import conjugate_gradient, lanczos_logdet


@pytest.fixture(autouse=True)
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def hessian(f, x):
    return torch.autograd.functional.hessian(f, x)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("activation", ["softplus", "gaussian_softplus"])
def test_icnn_is_convex_for_random_parameters(seed, activation):
    torch.manual_seed(seed)
    f = ICNN(3, hidden=(8, 8), activation=activation)
    for p in f.parameters():  # random, far from the initialisation
        p.data.normal_(0, 2)
    for x in torch.randn(5, 3) * 3:
        assert torch.linalg.eigvalsh(hessian(f, x)).min() > -1e-10


def test_partially_input_convex_icnn_is_convex_in_x_for_every_context():
    torch.manual_seed(0)
    f = ICNN(2, context=3, hidden=(8,))
    for p in f.parameters():
        p.data.normal_(0, 2)
    for c in torch.randn(4, 3):
        x = torch.randn(2)
        assert torch.linalg.eigvalsh(hessian(lambda y, c=c: f(y, c), x)).min() > -1e-10


def test_gated_picnn_is_convex_in_x_and_depends_on_the_context():
    torch.manual_seed(0)
    f = ICNN(2, context=3, hidden=(8, 8), context_gating=True).double()
    for p in f.parameters():
        p.data.normal_(0, 2)
    hessians = []
    for c in torch.randn(6, 3, dtype=torch.float64):
        x = torch.randn(2, dtype=torch.float64)
        H = hessian(lambda y, c=c: f(y, c), x)
        assert torch.linalg.eigvalsh(H).min() > -1e-12
        a, b = torch.randn(2, 2, dtype=torch.float64) * 3  # midpoint convexity along a chord
        assert f((a + b) / 2, c) <= (f(a, c) + f(b, c)) / 2 + 1e-12
        hessians.append(hessian(lambda y, c=c: f(y, c), torch.zeros(2, dtype=torch.float64)))
    assert max((h - hessians[0]).abs().max() for h in hessians) > 1e-3


def test_potential_hessian_is_bounded_below_by_the_modulus():
    torch.manual_seed(1)
    F = ConvexPotential(3, hidden=(8, 8), modulus=0.3)
    for x in torch.randn(4, 3):
        eig = torch.linalg.eigvalsh(hessian(F, x))
        assert eig.min() >= float(F.modulus.detach()) - 1e-10


def flow(features=3, **kw):
    torch.manual_seed(0)
    model = CPFlow(features, blocks=2, hidden=(16, 16), inverse_tol=1e-10, **kw)
    model.initialize(torch.randn(64, features) * 1.5 + 0.5)
    return model


def test_inverse_of_forward_is_identity():
    d = flow()()
    x = torch.randn(20, 3) * 2
    assert float((d.transform.inv(d.transform(x)) - x).abs().max()) < 1e-6


def test_exact_log_prob_matches_autograd_jacobian():
    d = flow()()
    x = torch.randn(4, 3)
    for xi, lp in zip(x, d.log_prob(x)):
        J = torch.autograd.functional.jacobian(d.transform, xi)
        truth = d.base.log_prob(d.transform(xi)) + torch.linalg.slogdet(J).logabsdet
        torch.testing.assert_close(lp, truth, rtol=1e-12, atol=1e-12)


def test_inverse_jacobian_is_the_inverse_hessian_and_parameter_gradients_are_implicit():
    model = flow()
    d = model()
    z = torch.randn(3)
    J_inv = torch.autograd.functional.jacobian(d.transform.inv, z)
    J_fwd = torch.autograd.functional.jacobian(d.transform, d.transform.inv(z))
    torch.testing.assert_close(J_inv, torch.linalg.inv(J_fwd), rtol=1e-8, atol=1e-8)
    # d/dtheta of a sample's coordinates, against central differences in one parameter
    param = model.transform.transforms[1].potential.w1
    (grad,) = torch.autograd.grad(model().transform.inv(z).sum(), param)
    h = 1e-4  # the inverse is solved to ~1e-12: smaller steps would measure its tolerance
    with torch.no_grad():
        param += h
        plus = model().transform.inv(z).sum()
        param -= 2 * h
        minus = model().transform.inv(z).sum()
        param += h
    assert float(grad) == pytest.approx(float((plus - minus) / (2 * h)), rel=1e-6)


def logdet_gradient(transform, x, params):
    _, ladj = transform.call_and_ladj(x)
    grads = torch.autograd.grad(ladj.sum(), params, allow_unused=True, materialize_grads=True)
    return torch.cat([g.flatten() for g in grads])


def test_cg_surrogate_gradient_is_unbiased_and_its_error_falls_like_one_over_sqrt_probes():
    torch.manual_seed(2)
    potential = ConvexPotential(4, hidden=(8,), modulus=0.5)
    params = list(potential.parameters())
    x = torch.randn(6, 4)
    exact = logdet_gradient(ConvexPotentialTransform(potential, logdet="exact"), x, params)
    one = torch.stack(
        [
            logdet_gradient(
                ConvexPotentialTransform(potential, logdet="stochastic", cg_tol=1e-12), x, params
            )
            for _ in range(300)
        ]
    )
    # unbiased: the mean of single-probe estimates is within Monte Carlo error of the truth
    se = one.std(0) / math.sqrt(len(one))
    z = (one.mean(0) - exact).abs() / se.clamp_min(1e-12)
    assert float(z.max()) < 4.5
    # averaging probes: relative error ~ 1/sqrt(probes)
    many = ConvexPotentialTransform(potential, logdet="stochastic", probes=64, cg_tol=1e-12)
    err_1 = float((one - exact).norm(dim=1).mean() / exact.norm())
    err_64 = float(
        torch.stack([(logdet_gradient(many, x, params) - exact).norm() for _ in range(5)]).mean()
        / exact.norm()
    )
    assert err_1 / err_64 == pytest.approx(8.0, rel=0.5)


def test_conjugate_gradient_solves_spd_systems():
    g = torch.Generator().manual_seed(3)
    A = torch.randn(5, 6, 6, generator=g)
    H = A @ A.mT + 0.1 * torch.eye(6)
    b = torch.randn(5, 6, generator=g)
    w = conjugate_gradient(lambda v: (H @ v[..., None])[..., 0], b, atol=1e-12, max_iter=50)
    torch.testing.assert_close(w, torch.linalg.solve(H, b), rtol=1e-9, atol=1e-9)


def test_lanczos_logdet_bias_shrinks_with_steps_at_d50():
    g = torch.Generator().manual_seed(4)
    D = 50
    Q, _ = torch.linalg.qr(torch.randn(D, D, generator=g))
    eig = torch.logspace(-1, 1, D)
    H = (Q * eig) @ Q.T
    truth = float(eig.log().sum())
    probes = 1500  # one probe per row of a batch of copies of H

    def bias(steps):
        est = lanczos_logdet(
            lambda v: v @ H, (probes, D), steps=steps, generator=torch.Generator().manual_seed(5)
        )
        return abs(float(est.mean()) - truth), float(est.std() / math.sqrt(probes))

    b2, _ = bias(2)
    b5, _ = bias(5)
    b50, se50 = bias(50)
    assert b2 > b5 > b50
    assert b50 < 4 * se50  # no quadrature bias left at steps = D: only the probes' noise


def test_stochastic_mode_reports_lanczos_value_above_16_dims():
    torch.manual_seed(0)  # over 40 seeds the largest difference was 0.15
    model = CPFlow(20, blocks=1, hidden=(8,), logdet="stochastic", lanczos_steps=20)
    x = torch.randn(3, 20)
    exact = CPFlow(20, blocks=1, hidden=(8,), logdet="exact")
    exact.load_state_dict(model.state_dict())
    # 20 Lanczos steps in 20 dimensions: exact up to the probe (the quadrature is exact)
    with torch.no_grad():
        a, b = model().log_prob(x), exact().log_prob(x)
    assert float((a - b).abs().max()) < 0.5  # one probe: unbiased but noisy


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="convex"):
        ICNN(2, activation="relu6")
    with pytest.raises(ValueError, match="features"):
        ICNN(2)(torch.randn(4, 3))
    with pytest.raises(ValueError, match="context"):
        ICNN(2, context=2)(torch.randn(4, 2))
    with pytest.raises(ValueError, match="logdet"):
        CPFlow(2, logdet="trace")
    with pytest.raises(ValueError, match="blocks"):
        CPFlow(2, blocks=0)
    with pytest.raises(ValueError, match="unknown options"):
        CPFlow(2).set_options(tolerance=1)


def test_log_prob_refuses_non_finite_points_and_wrong_sizes():
    flow = CPFlow(2, hidden=(8,))
    with pytest.raises(ValueError, match="NaN or inf"):
        flow().log_prob(torch.tensor([[float("nan"), 1.0]]))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        flow().log_prob(torch.randn(3, 3))
    assert flow().log_prob(torch.randn(3, 2)).shape == (3,)


def test_matched_baseline_is_the_closest_width_by_brute_force():
    from ctflow.flows import matched_baseline, zuko_flow
    from ctflow.nn import parameter_count

    for kind, target in (("maf", 3000), ("nsf", 12000)):
        found = parameter_count(matched_baseline(kind, 3, target, transforms=2))
        counts = [parameter_count(zuko_flow(kind, 3, w, 2)) for w in range(4, 257, 2)]
        assert abs(found - target) == min(abs(c - target) for c in counts)
    with pytest.raises(ValueError, match="unknown baseline"):
        matched_baseline("realnvp", 3, 1000, transforms=2)
    with pytest.raises(ValueError, match="positive parameter count"):
        matched_baseline("maf", 3, 0, transforms=2)
