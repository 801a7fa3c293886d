"""PPD: kernels, target paths, the log mass conservation residual, the loss, the Riemannian CNF
and geodesic flow matching, checked against closed forms, quadrature and finite differences."""

import math

import numpy as np
import pytest
import torch
from scipy import special

from ctflow.flows import RiemannianCNF, TangentField
from ctflow.manifolds import Euclidean, FlatTorus, Sphere
from ctflow.ops import divergence, rademacher_like
from ctflow.ppd import (
    KernelMixturePath,
    geodesic_fm_loss,
    geodesic_path,
    log_mass_residual,
    make_field,
    path_residual,
    ppd_loss,
    train_field,
    vmf_log_normalizer,
    vmf_log_prob,
    vmf_mean_resultant_length,
    vmf_sample,
    wrapped_normal_log_prob,
    wrapped_normal_sample,
)
from ctflow.solvers import SolverError, odeint

D64 = torch.float64


def s2_grid(n_lat: int = 200, n_lon: int = 400):
    """Midpoint quadrature on S^2: points (n, 3) and area weights (n,) summing to 4 pi."""
    lat = (torch.arange(n_lat, dtype=D64) + 0.5) / n_lat * math.pi - math.pi / 2
    lon = (torch.arange(n_lon, dtype=D64) + 0.5) / n_lon * 2 * math.pi
    la, lo = torch.meshgrid(lat, lon, indexing="ij")
    x = torch.stack([la.cos() * lo.cos(), la.cos() * lo.sin(), la.sin()], -1).reshape(-1, 3)
    w = (la.cos() * (math.pi / n_lat) * (2 * math.pi / n_lon)).reshape(-1)
    return x, w


def skew(dim: int, seed: int = 0) -> torch.Tensor:
    g = torch.randn(dim, dim, generator=torch.Generator().manual_seed(seed), dtype=D64)
    return g - g.T


class ConstNet(torch.nn.Module):
    """A "network" returning the constant ambient vector a (for TangentField)."""

    def __init__(self, a):
        super().__init__()
        self.a = torch.nn.Parameter(a)

    def forward(self, h):
        return self.a.expand(*h.shape[:-1], len(self.a))


# --------------------------------------------------------------------------- kernels
def test_vmf_normalizer_closed_form_matches_bessel_and_s1():
    kappa = torch.tensor([1e-4, 0.01, 0.5, 3.0, 50.0, 700.0], dtype=D64)
    closed = vmf_log_normalizer(kappa, 2)
    k = kappa.numpy()
    bessel = 0.5 * np.log(k) - 1.5 * np.log(2 * np.pi) - (np.log(special.ive(0.5, k)) + k)
    np.testing.assert_allclose(closed.numpy(), bessel, rtol=0, atol=1e-10)
    s1 = -np.log(2 * np.pi * special.ive(0, k)) - k  # von Mises: 1 / (2 pi I_0(kappa))
    np.testing.assert_allclose(vmf_log_normalizer(kappa, 1).numpy(), s1, rtol=0, atol=1e-10)


@pytest.mark.parametrize("dim", [2, 4])
def test_vmf_normalizer_gradient_matches_finite_differences(dim):
    kappa = torch.tensor([0.3, 2.0, 40.0], dtype=D64, requires_grad=True)
    (g,) = torch.autograd.grad(vmf_log_normalizer(kappa, dim).sum(), kappa)
    h = 1e-6
    with torch.no_grad():
        fd = (vmf_log_normalizer(kappa + h, dim) - vmf_log_normalizer(kappa - h, dim)) / (2 * h)
    torch.testing.assert_close(g, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kappa", [0.5, 8.0, 200.0])
def test_vmf_density_integrates_to_one_on_s2(kappa):
    x, w = s2_grid(400, 400)
    mu = torch.tensor([[0.3, -0.4, math.sqrt(0.75)]], dtype=D64)
    p = vmf_log_prob(x, mu, kappa).squeeze(-1).exp()
    assert abs(float((p * w).sum()) - 1) < 2e-3


def test_vmf_density_integrates_to_one_on_s3_by_importance_sampling():
    M = Sphere(3)
    x = M.random_uniform(200_000, generator=torch.Generator().manual_seed(0), dtype=D64)
    mu = M.projx(torch.ones(1, 4, dtype=D64))
    ratio = (vmf_log_prob(x, mu, 2.0).squeeze(-1) - M.uniform_logprob(x)).exp()
    se = float(ratio.std()) / math.sqrt(len(ratio))
    assert abs(float(ratio.mean()) - 1) < 4 * se


@pytest.mark.parametrize("dim, kappa", [(2, 0.7), (2, 30.0), (4, 0.7), (4, 30.0), (9, 5.0)])
def test_vmf_sampler_mean_resultant_length(dim, kappa):
    gen = torch.Generator().manual_seed(1)
    mu = Sphere(dim).random_uniform(1, generator=gen, dtype=D64).expand(40_000, -1)
    x = vmf_sample(mu, kappa, gen)
    assert bool(Sphere(dim).check_point(x, atol=1e-9).all())
    c = (x * mu).sum(-1)
    se = float(c.std()) / math.sqrt(len(c))
    assert abs(float(c.mean()) - vmf_mean_resultant_length(kappa, dim)) < 4 * se
    # and the orthogonal part is isotropic: its mean vanishes
    perp = x - c.unsqueeze(-1) * mu
    assert float(perp.mean(0).abs().max()) < 5 * float(perp.std()) / math.sqrt(len(c))


@pytest.mark.parametrize("sigma", [0.2, 1.0, 3.0])
def test_wrapped_normal_integrates_to_one_and_matches_its_sampler(sigma):
    theta = ((torch.arange(20_000, dtype=D64) + 0.5) / 20_000 * 2 * math.pi).unsqueeze(-1)
    mu = torch.tensor([[0.4]], dtype=D64)
    p = wrapped_normal_log_prob(theta, mu, sigma).squeeze(-1).exp()
    assert abs(float(p.mean() * 2 * math.pi) - 1) < 1e-9
    x = wrapped_normal_sample(mu.expand(50_000, 1), sigma, torch.Generator().manual_seed(0))
    c = torch.cos(x - mu).squeeze(-1)  # E cos(x - mu) = exp(-sigma^2 / 2)
    assert abs(float(c.mean()) - math.exp(-(sigma**2) / 2)) < 4 * float(c.std()) / math.sqrt(5e4)


# --------------------------------------------------------------------------- paths
def test_path_starts_uniform_and_each_marginal_is_normalised():
    M = Sphere(2)
    centers = M.random_uniform(7, generator=torch.Generator().manual_seed(0), dtype=D64)
    path = KernelMixturePath(M, centers, scale_start=1.0, scale_end=0.15)
    x, w = s2_grid(300, 300)
    torch.testing.assert_close(path.log_prob(0.0, x), M.uniform_logprob(x))
    for t in (0.3, 0.8, 1.0):
        assert abs(float((path.log_prob(t, x).exp() * w).sum()) - 1) < 2e-3, t
    torch.testing.assert_close(path.log_prob(1.0, x), path.data_log_prob(x))


def test_path_samples_match_the_density_by_quadrature():
    M = Sphere(2)
    gen = torch.Generator().manual_seed(3)
    centers = M.random_uniform(3, generator=gen, dtype=D64)
    path = KernelMixturePath(M, centers, scale_start=1.0, scale_end=0.2)
    x, w = s2_grid(300, 300)
    probe = centers[0]
    for t in (0.4, 0.9):
        exact = float((path.log_prob(t, x).exp() * w * (x @ probe)).sum())
        s = path.sample_x(torch.full((40_000,), t, dtype=D64), gen) @ probe
        assert abs(float(s.mean()) - exact) < 4 * float(s.std()) / math.sqrt(len(s)), t


@pytest.mark.parametrize("manifold", [Sphere(2), Sphere(3), FlatTorus(3)])
def test_path_derivatives_match_finite_differences(manifold):
    gen = torch.Generator().manual_seed(0)
    centers = manifold.random_uniform(5, generator=gen, dtype=D64)
    path = KernelMixturePath(manifold, centers, scale_start=1.2, scale_end=0.3)
    t = torch.tensor([0.2, 0.5, 0.9], dtype=D64)
    x = manifold.random_uniform(3, generator=gen, dtype=D64)
    point = path.derivatives(t, x)
    h = 1e-6
    fd_t = (path.log_prob(t + h, x) - path.log_prob(t - h, x)) / (2 * h)
    torch.testing.assert_close(point.dlogp_dt, fd_t, rtol=1e-6, atol=1e-7)
    # directional derivative along a tangent u: d/ds log p(exp_x(s u)) = <grad, u>
    u = manifold.proju(x, torch.randn(x.shape, generator=gen, dtype=D64))
    fd_x = (
        path.log_prob(t, manifold.expmap(x, h * u)) - path.log_prob(t, manifold.expmap(x, -h * u))
    ) / (2 * h)
    torch.testing.assert_close(manifold.inner(x, point.grad_logp, u), fd_x, rtol=1e-6, atol=1e-7)
    assert bool(manifold.check_tangent(x, point.grad_logp, atol=1e-12).all())


@pytest.mark.parametrize("dim", [2, 4])
def test_vmf_closed_form_derivatives_match_autograd(dim):
    # the closed form (and its floor on far centres) against autograd of log_prob, in float64,
    # with narrow kernels so most centres are far from most points, and t up to 1
    M = Sphere(dim)
    gen = torch.Generator().manual_seed(3)
    path = KernelMixturePath(
        M, M.random_uniform(200, generator=gen, dtype=D64), scale_start=1.0, scale_end=0.02
    )
    t = torch.tensor([1e-4, 0.3, 0.7, 0.99, 1.0], dtype=D64).repeat(4)
    x = torch.cat([path.sample_x(t[:10], gen), M.random_uniform(10, generator=gen, dtype=D64)])
    point = path.derivatives(t, x)
    t_ = t.clone().requires_grad_(True)
    x_ = x.clone().requires_grad_(True)
    logp = path.log_prob(t_, x_)
    dt, dx = torch.autograd.grad(logp.sum(), (t_, x_))
    torch.testing.assert_close(point.logp, logp.detach(), rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(point.grad_logp, M.proju(x, dx), rtol=1e-9, atol=1e-9)
    inside = t < 1  # autograd's d/dt log(1 - t) is 0 * inf = nan at t = 1
    torch.testing.assert_close(point.dlogp_dt[inside], dt[inside], rtol=1e-9, atol=1e-9)
    # at t = 1 the closed form is finite and equals its left limit (on points near the data:
    # far from every centre p_t jumps from U to the tiny K over (1 - 1e-10, 1])
    end = ~inside & (torch.arange(len(t)) < 10)
    near_end = path.derivatives(t[end] - 1e-10, x[end]).dlogp_dt
    torch.testing.assert_close(point.dlogp_dt[end], near_end, rtol=1e-6, atol=1e-6)


def test_path_errors():
    with pytest.raises(TypeError, match="Sphere or a FlatTorus"):
        KernelMixturePath(Euclidean(2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="centers must have shape"):
        KernelMixturePath(Sphere(2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="scale_end must be a positive"):
        KernelMixturePath(Sphere(2), torch.eye(3), scale_end=0.0)


# --------------------------------------------------------------------------- the residual
@pytest.mark.parametrize("dim", [2, 4])
@pytest.mark.parametrize("method", ["exact", "hutchinson"])
def test_rotation_field_transports_rotating_vmf_mixture_exactly(dim, method):
    """v(x) = A x (A skew) rotates p_0 into p_t(x) = p_0(exp(-tA) x): r = 0 to rounding."""
    M = Sphere(dim)
    A = skew(dim + 1)
    gen = torch.Generator().manual_seed(1)
    path = KernelMixturePath(M, M.random_uniform(4, generator=gen, dtype=D64), scale_end=0.3)

    def log_prob(t, x):  # the rotating mixture at a fixed width
        R = torch.linalg.matrix_exp(-t[:, None, None] * A)
        return path.kernel_log_prob((R @ x.unsqueeze(-1)).squeeze(-1), 0.3)

    t = torch.rand(64, generator=gen, dtype=D64)
    x = M.random_uniform(64, generator=gen, dtype=D64)
    probe = rademacher_like(x) if method == "hutchinson" else None
    r = log_mass_residual(lambda t, x: x @ A.T, log_prob, M, t, x, divergence=method, probe=probe)
    assert float(r.detach().abs().max()) < 1e-12
    # a wrong rotation speed leaves a residual
    r2 = log_mass_residual(lambda t, x: 1.1 * x @ A.T, log_prob, M, t, x)
    assert float(r2.detach().abs().max()) > 1e-2


def test_translation_transports_moving_wrapped_normal_on_torus_exactly():
    M = FlatTorus(3)
    c = torch.tensor([0.7, -1.1, 0.3], dtype=D64)
    gen = torch.Generator().manual_seed(2)
    path = KernelMixturePath(M, M.random_uniform(5, generator=gen, dtype=D64), scale_end=0.5)

    def log_prob(t, x):
        return path.kernel_log_prob(x - t.unsqueeze(-1) * c, 0.5)

    t, x = torch.rand(32, generator=gen, dtype=D64), M.random_uniform(32, generator=gen, dtype=D64)
    r = log_mass_residual(lambda t, x: c + 0 * x, log_prob, M, t, x)
    assert float(r.detach().abs().max()) < 1e-12


@pytest.mark.parametrize("case", ["sphere-killing", "torus-shear"])
def test_uniform_density_is_preserved_by_divergence_free_fields(case):
    gen = torch.Generator().manual_seed(0)
    if case == "sphere-killing":
        M, A = Sphere(3), skew(4)

        def field(t, x):
            return (1 + t.unsqueeze(-1)) * x @ A.T
    else:
        M = FlatTorus(2)

        def field(t, x):  # v1 depends only on x2 and v2 only on x1
            return torch.stack([torch.sin(x[:, 1] + t), torch.cos(2 * x[:, 0])], -1)

    t, x = torch.rand(50, generator=gen, dtype=D64), M.random_uniform(50, generator=gen, dtype=D64)
    r = log_mass_residual(field, lambda t, x: M.uniform_logprob(x), M, t, x)
    assert float(r.detach().abs().max()) < 1e-12


@pytest.mark.parametrize("dim", [2, 5])
def test_tangent_field_trace_is_the_riemannian_divergence(dim):
    """v = P_x a on S^n is grad_S <a, x>, whose divergence is the Laplacian -n <a, x>."""
    M = Sphere(dim)
    gen = torch.Generator().manual_seed(4)
    a = torch.randn(dim + 1, generator=gen, dtype=D64)
    field = TangentField(M, net=ConstNet(a)).double()
    x = M.random_uniform(40, generator=gen, dtype=D64)
    t = torch.zeros(40, dtype=D64)
    r = log_mass_residual(field, lambda t, x: M.uniform_logprob(x), M, t, x)  # r = div v
    torch.testing.assert_close(r, -dim * (x @ a), rtol=1e-10, atol=1e-10)
    # Hutchinson with ambient Rademacher probes is unbiased for it: average many probes
    xs = x[:1].expand(4000, -1)
    probes = rademacher_like(xs)
    est = log_mass_residual(
        field,
        lambda t, x: M.uniform_logprob(x),
        M,
        t[:1].expand(4000),
        xs,
        divergence="hutchinson",
        probe=probes,
    ).detach()
    assert abs(float(est.mean()) + dim * float(x[0] @ a)) < 4 * float(est.std()) / math.sqrt(4000)


def test_residual_integrates_to_the_log_density_ratio_along_a_trajectory():
    """d/dt [log q_t(x_t) - log p_t(x_t)] = -r_t(x_t) for any field: the KL bound's identity."""
    torch.manual_seed(0)
    M = Sphere(2)
    path = KernelMixturePath(M, M.random_uniform(6, dtype=D64), scale_start=1.0, scale_end=0.3)
    field = TangentField(M, hidden=(16, 16)).double()
    t0, t1 = 0.05, 0.95

    def dynamics(t, s):
        x = s[0]
        tt = t.expand(x.shape[:-1])
        with torch.enable_grad():
            r = path_residual(field, path.derivatives(tt, x), M)
            v, div = divergence(field, tt, x)
        return v.detach(), -div.detach(), r.detach()

    x0 = M.random_uniform(16, dtype=D64)
    logq0 = path.log_prob(t0, x0)  # start the flow on p_t0
    ts = torch.tensor([t0, t1], dtype=D64)
    with torch.no_grad():
        xs, lq, acc = odeint(
            dynamics,
            (x0, logq0, torch.zeros(16, dtype=D64)),
            ts,
            method="rk4",
            step_size=0.01,
            manifold=M,
        )
    lhs = lq[-1] - path.log_prob(t1, xs[-1])
    torch.testing.assert_close(lhs, -acc[-1], rtol=1e-6, atol=1e-6)


def test_ppd_loss_powers_gradients_and_errors():
    M = Sphere(2)
    torch.manual_seed(0)
    path = KernelMixturePath(M, M.random_uniform(30), scale_end=0.2)
    field = TangentField(M, hidden=(16, 16))
    loss2, r = ppd_loss(
        field, path, 64, generator=torch.Generator().manual_seed(0), return_residual=True
    )
    torch.testing.assert_close(loss2.detach(), r.pow(2).mean())
    loss1, r1 = ppd_loss(
        field, path, 64, power=1, generator=torch.Generator().manual_seed(0), return_residual=True
    )
    torch.testing.assert_close(r1, r)  # same seed, same pairs
    torch.testing.assert_close(loss1.detach(), r.abs().mean())
    loss1.backward()
    assert all(
        p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in field.parameters()
    )
    lh = ppd_loss(field, path, 64, divergence="hutchinson")
    assert torch.isfinite(lh)
    with pytest.raises(ValueError, match="power must be 1 or 2"):
        ppd_loss(field, path, 8, power=3)
    with pytest.raises(ValueError, match="unknown divergence"):
        ppd_loss(field, path, 8, divergence="nope")


# --------------------------------------------------------------------------- the CNF
def test_riemannian_cnf_density_integrates_to_one_on_s2():
    torch.manual_seed(0)
    M = Sphere(2)
    flow = RiemannianCNF(TangentField(M, hidden=(16, 16)), M, method="rk4", step_size=0.05)
    flow = flow.double()
    with torch.no_grad():
        x, w = s2_grid(60, 120)
        logp = flow().log_prob(x)
    assert float(logp.max() - logp.min()) > 0.5
    assert abs(float((logp.exp() * w).sum()) - 1) < 1e-3


def test_riemannian_cnf_log_prob_inverts_rsample_and_log_prob_on_torus():
    torch.manual_seed(1)
    M = FlatTorus(2)
    flow = RiemannianCNF(TangentField(M, hidden=(16,)), M, atol=1e-9, rtol=1e-9).double()
    with torch.no_grad():
        x, logp = flow().rsample_and_log_prob((20,))
        assert bool(M.check_point(x).all())
        torch.testing.assert_close(flow().log_prob(x), logp, rtol=1e-6, atol=1e-6)
        # and the torus density integrates to 1 (midpoint grid)
        g = (torch.arange(80, dtype=D64) + 0.5) / 80 * 2 * math.pi
        grid = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    flow.solver = dict(method="rk4", atol=1e-5, rtol=1e-5, step_size=0.05)
    with torch.no_grad():
        total = flow().log_prob(grid).exp().mean() * (2 * math.pi) ** 2
    assert abs(float(total) - 1) < 2e-3


def test_riemannian_cnf_gradients_and_errors():
    M = Sphere(2)
    flow = RiemannianCNF(
        TangentField(M, hidden=(8,)), M, method="rk4", step_size=0.25, divergence="hutchinson"
    )
    loss = -flow().log_prob(M.random_uniform(5)).mean()
    loss.backward()
    assert all(p.grad is not None for p in flow.parameters())
    with pytest.raises(ValueError, match="not compact"):
        RiemannianCNF(TangentField(Euclidean(2)), Euclidean(2))
    with pytest.raises(ValueError, match="unknown divergence"):
        RiemannianCNF(TangentField(M), M, divergence="nope")
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3\)"):
        flow().log_prob(torch.zeros(4, 2))


# --------------------------------------------------------------------------- geodesic FM
@pytest.mark.parametrize("manifold", [Sphere(2), FlatTorus(3)])
def test_geodesic_path_ends_and_velocity(manifold):
    gen = torch.Generator().manual_seed(0)
    x0 = manifold.random_uniform(10, generator=gen, dtype=D64)
    x1 = manifold.random_uniform(10, generator=gen, dtype=D64)
    t = torch.rand(10, generator=gen, dtype=D64) * 0.9
    xt, ut = geodesic_path(manifold, x0, x1, t)
    assert bool(manifold.check_point(xt, atol=1e-10).all())
    start, _ = geodesic_path(manifold, x0, x1, torch.zeros(10, dtype=D64))
    torch.testing.assert_close(manifold.logmap(x0, start), torch.zeros_like(x0), atol=1e-10, rtol=0)
    h = 1e-6
    fwd, _ = geodesic_path(manifold, x0, x1, t + h)
    bwd, _ = geodesic_path(manifold, x0, x1, t - h)
    fd = manifold.logmap(bwd, fwd) / (2 * h)
    torch.testing.assert_close(ut, fd, rtol=1e-4, atol=1e-5)


def test_geodesic_fm_loss_is_zero_only_for_the_right_field():
    M = FlatTorus(1)
    x1 = torch.full((100, 1), 1.0, dtype=D64)
    gen = torch.Generator().manual_seed(0)
    loss = geodesic_fm_loss(lambda t, x: torch.zeros_like(x), M, x1, generator=gen)
    assert float(loss) > 0.1
    with pytest.raises(ValueError, match="x1 must have shape"):
        geodesic_fm_loss(lambda t, x: x, M, torch.zeros(3, 2))


@pytest.mark.slow
def test_ppd_training_reaches_the_target_entropy_on_s2():
    """1500 PPD steps on a one-vMF path: the CNF's test NLL lands near the entropy."""
    torch.manual_seed(0)
    M = Sphere(2)
    mu = torch.tensor([[0.0, 0.0, 1.0]])
    path = KernelMixturePath(M, mu, scale_start=1.0, scale_end=0.4)
    field = TangentField(M, hidden=(64, 64))
    opt = torch.optim.Adam(field.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 1500)
    gen = torch.Generator().manual_seed(0)
    for _ in range(1500):
        loss = ppd_loss(field, path, 256, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    flow = RiemannianCNF(field, M, method="rk4", step_size=0.02)
    x = path.sample_x(torch.ones(2000), gen)
    with torch.no_grad():
        nll = float(-flow().log_prob(x).mean())
        entropy = float(-path.data_log_prob(x).mean())
    assert nll - entropy < 0.05


def test_diverged_maximum_likelihood_training_stops_with_a_clear_error():
    """A field so fast that dopri5 needs thousands of steps stops the run by name, rather than
    growing the backprop graph until memory runs out."""
    torch.manual_seed(0)
    M = Sphere(2)
    field = make_field(M, hidden=8, depth=1)
    with torch.no_grad():  # weights 3000x too large, as after a diverged update
        for p in field.parameters():
            p.mul_(3e3)
    data = M.random_uniform(64, generator=torch.Generator().manual_seed(1))
    with pytest.raises(SolverError, match=r"mle/test: the ODE solve failed: .*max_num_steps"):
        train_field(
            "mle",
            field,
            M,
            tag="mle/test",
            steps=2,
            lr=1e-3,
            batch_size=16,
            gen=torch.Generator().manual_seed(2),
            device=torch.device("cpu"),
            data=data,
        )


def test_old_divergence_keywords_still_work_with_a_warning():
    M = Sphere(2)
    path = KernelMixturePath(M, M.random_uniform(6), scale_end=0.3)
    field = TangentField(M, hidden=(8,))
    gen = torch.Generator().manual_seed(0)
    with pytest.warns(DeprecationWarning, match="renamed divergence="):
        old = ppd_loss(field, path, 16, divergence_method="exact", generator=gen)
    gen = torch.Generator().manual_seed(0)
    new = ppd_loss(field, path, 16, divergence="exact", generator=gen)
    torch.testing.assert_close(old, new)


@pytest.mark.parametrize("method", ["ppd", "mle", "rfm"])
def test_train_field_records_a_validation_curve_for_each_method(method):
    from ctflow.ppd import Curve
    from ctflow.train import SeriesLogger

    torch.manual_seed(0)
    M = Sphere(2)
    data = M.random_uniform(32, generator=torch.Generator().manual_seed(1))
    path = KernelMixturePath(M, data, scale_end=0.3)
    logger = SeriesLogger()
    result, curve = train_field(
        method,
        make_field(M, hidden=8, depth=1),
        M,
        tag=f"{method}/t",
        steps=4,
        lr=1e-3,
        batch_size=8,
        gen=torch.Generator().manual_seed(2),
        device=torch.device("cpu"),
        path=path,
        data=data,
        val_x=data[:8],
        eval_every=2,
        logger=logger,
    )
    assert curve.steps == [2, 4] and len(curve.val_nll) == 2
    assert curve.seconds[0] <= curve.seconds[1]
    assert [r["step"] for r in logger.rows if r["tag"] == f"{method}/t/val"] == [2, 4]
    assert curve.time_to(curve.val_nll[0]) == curve.seconds[0]
    assert math.isnan(Curve(seconds=[1.0], steps=[1], val_nll=[2.0]).time_to(1.0))


@pytest.mark.parametrize(
    ("method", "missing"),
    [("ppd", {"data": torch.zeros(4, 3)}), ("mle", {}), ("rfm", {"data": torch.zeros(0, 3)})],
)
def test_train_field_names_a_missing_path_or_data(method, missing):
    M = Sphere(2)
    with pytest.raises(ValueError, match=f"x/{method}: method '{method}' trains"):
        train_field(
            method,
            make_field(M, hidden=8, depth=1),
            M,
            tag=f"x/{method}",
            steps=1,
            lr=1e-3,
            batch_size=4,
            gen=torch.Generator().manual_seed(0),
            device=torch.device("cpu"),
            **missing,
        )


@pytest.mark.parametrize("keep_best", [False, True])
def test_train_field_keep_best_ends_on_the_lowest_validation_nll(keep_best):
    """With keep_best the returned field scores the curve's minimum again (the weights of that
    step, reloaded); without it, the last point."""
    from ctflow.ppd import make_flow, nll

    torch.manual_seed(0)
    M = Sphere(2)
    data = M.random_uniform(32, generator=torch.Generator().manual_seed(1))
    field = make_field(M, hidden=8, depth=1)
    result, curve = train_field(
        "rfm",
        field,
        M,
        tag="rfm/best",
        steps=12,
        lr=0.3,  # large enough that the curve goes up and down
        batch_size=8,
        gen=torch.Generator().manual_seed(2),
        device=torch.device("cpu"),
        data=data,
        val_x=data[:8],
        eval_every=2,
        keep_best=keep_best,
    )
    again = nll(make_flow(field, M, method="rk4", step_size=0.05), data[:8])[0]
    if keep_best:
        best = min(range(len(curve.val_nll)), key=curve.val_nll.__getitem__)
        assert best != len(curve.val_nll) - 1  # else this test could not tell the two apart
        assert again == pytest.approx(curve.val_nll[best], abs=1e-6)
        assert result.best["step"] == curve.steps[best]
    else:
        assert again == pytest.approx(curve.val_nll[-1], abs=1e-6)
        assert result.best is None


def test_train_field_keep_best_needs_a_validation_curve():
    M = Sphere(2)
    with pytest.raises(ValueError, match="keep_best selects on the validation curve"):
        train_field(
            "rfm",
            make_field(M, hidden=8, depth=1),
            M,
            tag="rfm/x",
            steps=1,
            lr=1e-3,
            batch_size=4,
            gen=torch.Generator().manual_seed(0),
            device=torch.device("cpu"),
            data=torch.nn.functional.normalize(torch.randn(4, 3), dim=-1),
            keep_best=True,
        )


def _known_mixture():
    from ctflow.ppd import VMFMixture

    mu = torch.nn.functional.normalize(
        torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.2], [-0.3, -0.2, -1.0]], dtype=torch.float64),
        dim=-1,
    )
    return VMFMixture(
        mu=mu,
        kappa=torch.tensor([20.0, 80.0, 5.0], dtype=torch.float64),
        log_weights=torch.log(torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)),
    )


def test_vmf_mixture_density_is_normalised_and_matches_the_kernel():
    """One component equals vmf_log_prob; the mixture integrates to 1 over S^2 (quadrature on
    a fine latitude-longitude grid with the sin(theta) area element)."""
    mix = _known_mixture()
    x = Sphere(2).random_uniform(7, generator=torch.Generator().manual_seed(0)).double()
    single = vmf_log_prob(x, mix.mu[:1], mix.kappa[0])[:, 0]
    torch.testing.assert_close(mix.component_log_prob(x)[:, 0], single)
    n_th, n_ph = 1200, 2400
    th = (torch.arange(n_th, dtype=torch.float64) + 0.5) * math.pi / n_th
    ph = (torch.arange(n_ph, dtype=torch.float64) + 0.5) * 2 * math.pi / n_ph
    T, P = torch.meshgrid(th, ph, indexing="ij")
    pts = torch.stack([T.sin() * P.cos(), T.sin() * P.sin(), T.cos()], -1).reshape(-1, 3)
    area = (T.sin() * (math.pi / n_th) * (2 * math.pi / n_ph)).reshape(-1)
    assert float((mix.log_prob(pts).exp() * area).sum()) == pytest.approx(1.0, abs=1e-4)


def test_vmf_mixture_em_recovers_a_known_mixture():
    from ctflow.ppd import VMFMixture

    truth = _known_mixture()
    x = truth.sample(20000, generator=torch.Generator().manual_seed(1))
    fitted = VMFMixture.fit(x, 3, generator=torch.Generator().manual_seed(2))
    # match components by their means
    order = (fitted.mu @ truth.mu.T).argmax(0)
    assert sorted(order.tolist()) == [0, 1, 2]
    angles = torch.arccos((fitted.mu[order] * truth.mu).sum(-1).clamp(max=1.0))
    assert float(angles.max()) < 0.03
    torch.testing.assert_close(fitted.kappa[order], truth.kappa, rtol=0.08, atol=0)
    torch.testing.assert_close(
        fitted.log_weights[order].exp(), truth.log_weights.exp(), rtol=0, atol=0.02
    )
    # and its held-out likelihood is the truth's to within sampling noise
    y = truth.sample(20000, generator=torch.Generator().manual_seed(3))
    gap = float(truth.log_prob(y).mean() - fitted.log_prob(y).mean())
    assert abs(gap) < 0.01


def test_vmf_mixture_select_prefers_the_true_size_and_refuses_bad_input():
    from ctflow.ppd import VMFMixture

    truth = _known_mixture()
    train = truth.sample(3000, generator=torch.Generator().manual_seed(4))
    val = truth.sample(3000, generator=torch.Generator().manual_seed(5))
    mix, scores = VMFMixture.select(train, val, (1, 3, 8000))
    assert set(scores) == {1, 3} and len(mix.mu) == 3
    assert scores[3] < scores[1] - 0.5
    with pytest.raises(ValueError, match="unit vectors"):
        VMFMixture.fit(2 * train, 3)
    with pytest.raises(ValueError, match="NaN"):
        VMFMixture.fit(torch.full((4, 3), float("nan")), 2)
    with pytest.raises(ValueError, match="components must be"):
        VMFMixture.fit(train, 0)
    with pytest.raises(ValueError, match=r"x must be \(n, 3\)"):
        mix.log_prob(torch.zeros(4, 2))


def test_ppd_earth_config_refuses_bad_vmf_components():
    from ctflow.experiments.ppd_earth import PPDEarthConfig

    with pytest.raises(ValueError, match="vmf_components must be positive integers"):
        PPDEarthConfig(vmf_components=(10, 0))
    assert PPDEarthConfig(vmf_components=()).vmf_components == ()  # empty: no baseline
