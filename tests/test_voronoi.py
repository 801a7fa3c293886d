"""Voronoi tessellation, dequantization and mixtures against truth (float64)."""

import io
import math

import pytest
import torch

from ctflow.flows import (
    Dequantization,
    FlowMixture,
    VoronoiMixture,
    VoronoiTessellation,
    dequantization_posterior,
    make_dequantizer,
)

D64 = torch.float64


def _tess(box, K=9, D=3, seed=0):
    torch.manual_seed(seed)
    tess = VoronoiTessellation(K, D, box=box, scale=0.8).double()
    with torch.no_grad():
        tess.log_scale.normal_(0, 0.3)
        if box is not None:
            tess.box_center.normal_(0, 0.2)
            tess.box_log_half.add_(torch.randn(D, dtype=D64) * 0.2)
    return tess


def _inputs(tess, n=200, seed=1):
    g = torch.Generator().manual_seed(seed)
    # offsets over many scales: near the anchor, typical, and far out (alpha close to 1)
    v = torch.randn(n, tess.features, generator=g, dtype=D64)
    v = v * torch.logspace(-3, 3, n, dtype=D64)[:, None]
    k = torch.randint(tess.num_cells, (n,), generator=g)
    return v, k


@pytest.mark.parametrize("box", [1.5, None], ids=["box", "unbounded"])
def test_logdet_matches_autograd_slogdet(box):
    tess = _tess(box)
    v, k = _inputs(tess, n=40)
    _, ladj = tess.to_cell(v, k)
    for i in range(len(v)):
        jac = torch.autograd.functional.jacobian(
            lambda a, i=i: tess.to_cell(a[None], k[i : i + 1])[0][0], v[i]
        )
        sign, logabs = torch.linalg.slogdet(jac)
        assert sign > 0
        assert abs(float(logabs - ladj[i].detach())) < 1e-10
    # and the inverse's log-det is its negative, also against autograd
    z, _ = tess.to_cell(v, k)
    _, ladj_inv = tess.from_cell(z, k)
    torch.testing.assert_close(ladj_inv, -ladj, atol=1e-10, rtol=0)
    jac = torch.autograd.functional.jacobian(lambda a: tess.from_cell(a[None], k[:1])[0][0], z[0])
    assert abs(float(torch.linalg.slogdet(jac).logabsdet - ladj_inv[0].detach())) < 1e-10


@pytest.mark.parametrize("box", [1.5, None], ids=["box", "unbounded"])
def test_round_trip(box):
    tess = _tess(box)
    v, k = _inputs(tess, n=500)
    z, _ = tess.to_cell(v, k)
    v2, _ = tess.from_cell(z, k)
    rel = ((v2 - v).norm(dim=-1) / v.norm(dim=-1).clamp_min(1.0)).max()
    assert rel < 1e-10
    # the other way round: points of the cells, mapped back and forth
    g = torch.Generator().manual_seed(3)
    y = (torch.rand(500, 3, generator=g, dtype=D64) * 2 - 1) * 1.4
    if box is not None:
        lo, hi = tess.box()
        y = lo + (hi - lo) * torch.rand(500, 3, generator=g, dtype=D64)
    ky = tess.quantize(y)
    y2, _ = tess.to_cell(*tess.from_cell(y, ky)[:1], ky)
    assert (y2 - y).abs().max() < 1e-10


@pytest.mark.parametrize("box", [1.5, None], ids=["box", "unbounded"])
def test_every_mapped_point_lies_in_its_cell_and_the_box(box):
    tess = _tess(box, K=12, D=2)
    v, k = _inputs(tess, n=4000)
    z, _ = tess.to_cell(v, k)
    # the cell by its definition: 2 (x_i - x_k)^T z <= ||x_i||^2 - ||x_k||^2 for all i
    a = tess.anchors.detach()
    lhs = 2 * torch.einsum("nkd,nd->nk", a[None] - a[k][:, None], z)
    rhs = (a * a).sum(-1)[None] - (a[k] * a[k]).sum(-1)[:, None]
    assert (lhs <= rhs + 1e-12).all()
    assert (tess.quantize(z) == k).all()
    assert tess.in_box(z).all()
    if box is not None:  # the anchors themselves are inside the box
        assert tess.in_box(a).all()


def test_inverse_ray_distance_is_the_distance_to_the_boundary():
    tess = _tess(1.5, K=6, D=2)
    g = torch.Generator().manual_seed(5)
    k = torch.randint(6, (50,), generator=g)
    u = torch.nn.functional.normalize(torch.randn(50, 2, generator=g, dtype=D64), dim=-1)
    lam = 1 / tess.inverse_ray_distance(k, u).detach()
    x_k = tess.anchors.detach()[k]
    inside = x_k + (1 - 1e-9) * lam[:, None] * u
    outside = x_k + (1 + 1e-6) * lam[:, None] * u
    assert ((tess.quantize(inside) == k) & tess.in_box(inside)).all()
    assert (~((tess.quantize(outside) == k) & tess.in_box(outside))).all()


def test_gradients_reach_anchors_box_and_scales():
    tess = _tess(1.5)
    v, k = _inputs(tess, n=64)
    z, ladj = tess.to_cell(v, k)
    (z.sum() + ladj.sum()).backward()
    for name, p in tess.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_anchor_gradient_matches_finite_differences():
    tess = _tess(1.5, K=5, D=2)
    v, k = _inputs(tess, n=8)

    def f():
        z, ladj = tess.to_cell(v, k)
        return (z.pow(2).sum() + ladj.sum()).item()

    out = tess.to_cell(v, k)
    (out[0].pow(2).sum() + out[1].sum()).backward()
    grad = tess.anchor_raw.grad.clone()
    eps = 1e-6
    for idx in [(0, 0), (2, 1), (4, 0)]:
        with torch.no_grad():
            tess.anchor_raw[idx] += eps
            up = f()
            tess.anchor_raw[idx] -= 2 * eps
            down = f()
            tess.anchor_raw[idx] += eps
        assert abs((up - down) / (2 * eps) - grad[idx]) < 1e-5 * max(1.0, abs(grad[idx]))


@pytest.mark.parametrize("kind", ["voronoi", "uniform", "argmax"])
@pytest.mark.parametrize("K", [2, 5, 17, 65])
def test_quantize_inverts_dequantize_always(kind, K):
    torch.manual_seed(K)
    deq = make_dequantizer(kind, K, dim=3).double()
    x = torch.arange(K).repeat(300)
    v = torch.randn(len(x), deq.dim, dtype=D64) * torch.logspace(-4, 4, len(x), dtype=D64)[:, None]
    z, ladj = deq(v, x)
    assert torch.isfinite(z).all() and torch.isfinite(ladj).all()
    assert (deq.quantize(z) == x).all()


@pytest.mark.parametrize("kind", ["uniform", "argmax"])
def test_baseline_logdets_match_autograd(kind):
    deq = make_dequantizer(kind, 11).double()
    v = torch.randn(5, deq.dim, dtype=D64)
    x = torch.randint(11, (5,))
    _, ladj = deq(v, x)
    for i in range(5):
        jac = torch.autograd.functional.jacobian(
            lambda a, i=i: deq(a[None], x[i : i + 1])[0][0], v[i]
        )
        assert abs(float(torch.linalg.slogdet(jac).logabsdet - ladj[i])) < 1e-10


def _dequantization(kind, K=4, V=2):
    import zuko

    torch.manual_seed(0)
    deqs = [make_dequantizer(kind, K, dim=2) for _ in range(V)]
    F = sum(d.dim for d in deqs)
    prior = zuko.flows.NSF(F, transforms=2, hidden_features=(16,))
    posterior = dequantization_posterior(F, K * V, transforms=2, hidden_features=(16,))
    return Dequantization(deqs, prior, posterior).double()


def test_posterior_density_integrates_to_one_over_each_cell():
    """log q(z | x) = log q(v | x) - log |det dz/dv| is a density on the cell of x: its integral
    over the cell (a grid over the box) is 1, and it agrees with the log q that sampling returns."""
    model = _dequantization("voronoi", K=4, V=1)
    tess = model.dequantizers[0]
    lo, hi = (b.detach()[0] for b in tess.box())
    n = 500
    axes = [torch.linspace(lo[i], hi[i], n + 1, dtype=D64) for i in range(2)]
    mids = [(a[1:] + a[:-1]) / 2 for a in axes]
    grid = torch.cartesian_prod(*mids)
    cell = tess.quantize(grid)
    area = float((axes[0][1] - axes[0][0]) * (axes[1][1] - axes[1][0]))
    with torch.no_grad():
        for k in range(4):
            pts = grid[cell == k]
            x = torch.full((len(pts), 1), k)
            v, ladj = tess.from_cell(pts, x[:, 0])
            assert tess.in_box(pts).all()
            log_q = model.posterior(model.one_hot(x)).log_prob(v) + ladj
            assert abs(float(log_q.exp().sum()) * area - 1) < 1e-2
            z, log_q_sampled = model.sample_posterior(x[:5], samples=3)
            v, ladj = tess.from_cell(z[..., :], x[:5, 0].expand(3, 5))
            log_q_again = model.posterior(model.one_hot(x[:5])).log_prob(v) + ladj
            torch.testing.assert_close(log_q_sampled, log_q_again, atol=1e-8, rtol=1e-8)


@pytest.mark.parametrize("kind", ["voronoi", "uniform", "argmax"])
def test_bounds_hold_in_expectation(kind):
    """E[ELBO] <= E[IWAE_k] <= log P(x), with P(x) the prior's mass on the region of x (Monte
    Carlo from the prior, restricted to the box for Voronoi); P sums to 1 for uniform."""
    model = _dequantization(kind)
    x = torch.cartesian_prod(torch.arange(4), torch.arange(4))
    torch.manual_seed(1)
    reps, k = 20, 16
    with torch.no_grad():
        elbo = model.elbo(x, samples=reps * k).mean()
        logw = model.log_weights(x, reps * k).reshape(reps, k, len(x))
        iw = (torch.logsumexp(logw, 1) - math.log(k)).mean(0)
        z = model.prior().sample((50000,))
        q = model.quantize(z)
        keep = torch.ones(len(z), dtype=torch.bool)
        if kind == "voronoi":
            for deq, part in zip(model.dequantizers, z.split(model.dims, -1)):
                keep &= deq.in_box(part)
        p_mc = torch.zeros(4, 4, dtype=D64)
        p_mc.index_put_((q[keep, 0], q[keep, 1]), torch.ones(int(keep.sum()), dtype=D64), True)
        p_mc = (p_mc / len(z))[x[:, 0], x[:, 1]]
    assert elbo <= iw.mean()
    if kind == "uniform":
        assert abs(float(p_mc.sum()) - 1) < 1e-12
    big = p_mc > 0.02
    se = torch.sqrt((1 - p_mc) / (p_mc * len(z)))
    # a mean of 20 IWAE estimates: heavy-tailed weights of an untrained q allow some noise
    assert (iw[big] <= p_mc[big].log() + 4 * se[big] + 0.15).all()
    assert float(torch.logsumexp(iw, 0)) <= math.log(float(p_mc.sum()) + 0.01)


def test_one_module_for_many_variables_matches_one_per_variable():
    torch.manual_seed(0)
    many = make_dequantizer("voronoi", 5, dim=2, variables=3).double()
    ones = [make_dequantizer("voronoi", 5, dim=2).double() for _ in range(3)]
    with torch.no_grad():
        for i, one in enumerate(ones):
            for name in ("anchor_raw", "box_center", "box_log_half", "log_scale"):
                getattr(one, name).copy_(getattr(many, name)[i : i + 1])
    v = torch.randn(7, 6, dtype=D64)
    x = torch.randint(5, (7, 3))
    z, ladj = many(v, x)
    assert (many.quantize(z) == x).all() and many.in_box(z).all()
    for i, one in enumerate(ones):
        zi, li = one(v[:, 2 * i : 2 * i + 2], x[:, i])
        torch.testing.assert_close(z[:, 2 * i : 2 * i + 2], zi, atol=1e-14, rtol=0)
        ladj = ladj - li
    torch.testing.assert_close(ladj, torch.zeros_like(ladj), atol=1e-12, rtol=0)
    v2, ladj_inv = many.from_cell(z, x)
    torch.testing.assert_close(v2, v, atol=1e-10, rtol=0)
    torch.testing.assert_close(ladj_inv, -many(v, x)[1], atol=1e-10, rtol=0)


def test_dequantization_gradients_and_sampling():
    model = _dequantization("voronoi", K=5, V=3)
    x = torch.randint(5, (8, 3))
    loss = -model.elbo(x).mean()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
    s = model.sample((6,))
    assert s.shape == (6, 3) and s.dtype == torch.long and (s >= 0).all() and (s < 5).all()
    with pytest.raises(TypeError, match="integer tensor"):
        model.elbo(x.double())
    with pytest.raises(ValueError, match="shape"):
        model.elbo(x[:, :2])
    with pytest.raises(ValueError, match="unknown dequantizer"):
        make_dequantizer("gumbel", 4)


# ---- the Voronoi mixture ------------------------------------------------------------------


def _mixture(cls=VoronoiMixture, K=6, context=0, **kw):
    torch.manual_seed(0)
    m = cls(K, 2, context, hidden_features=(16,), **kw).double()
    with torch.no_grad():
        m.logits.normal_()
    return m


@pytest.mark.parametrize("cls", [VoronoiMixture, FlowMixture])
def test_mixture_integrates_to_one(cls):
    kw = {"anchors": torch.randn(6, 2, generator=torch.Generator().manual_seed(0)) * 2}
    # a Gaussian base: the square grid holds all the mass (the Student-t default is checked over
    # the whole plane in tests/test_voronoi_mixture_tails.py)
    m = _mixture(cls, tails="normal", **(kw if cls is VoronoiMixture else {}))
    n, lim = 260, 8.0
    axis = torch.linspace(-lim, lim, n, dtype=D64)
    grid = torch.cartesian_prod(axis, axis)
    with torch.no_grad():
        mass = m().log_prob(grid).exp().sum() * (axis[1] - axis[0]) ** 2
    assert abs(float(mass) - 1) < 2e-3


def test_bounded_mixture_integrates_to_one_on_its_box():
    m = _mixture(box=1.0)
    lo, hi = (b.detach() for b in m.tessellation.box())
    g = torch.Generator().manual_seed(0)
    u = lo + (hi - lo) * torch.rand(200000, 2, generator=g, dtype=D64)
    with torch.no_grad():
        mass = m().log_prob(u).exp().mean() * (hi - lo).prod()
    assert abs(float(mass) - 1) < 0.03
    assert m().log_prob(hi[None] + 0.1).item() == -math.inf


@pytest.mark.parametrize("cls", [VoronoiMixture, FlowMixture])
@pytest.mark.parametrize("context", [0, 2])
def test_mixture_density_contract(cls, context):
    """zuko's contract: shapes, every parameter gets a gradient, rsample_and_log_prob agrees with
    log_prob, save/load, eval == train."""
    m = _mixture(cls, context=context)
    c = torch.randn(4, context, dtype=D64) if context else None
    batch = (4,) if context else ()
    dist = m(c)
    x = dist.sample((5,))
    assert x.shape == (5, *batch, 2) and not x.requires_grad
    assert dist.log_prob(x).shape == (5, *batch)
    xr, lp = dist.rsample_and_log_prob((3,))
    assert xr.shape == (3, *batch, 2) and lp.shape == (3, *batch)
    torch.testing.assert_close(lp, dist.log_prob(xr), atol=1e-8, rtol=1e-8)
    m.zero_grad()
    xx = torch.randn(64, *batch, 2, dtype=D64)
    m(c).log_prob(xx).sum().backward()
    for name, p in m.named_parameters():
        if "embedding" in name:  # only the cells that hold a point get a gradient
            assert p.grad is not None and p.grad.abs().sum() > 0, name
            continue
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    buffer = io.BytesIO()
    torch.save(m.state_dict(), buffer)
    buffer.seek(0)
    fresh = _mixture(cls, context=context)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    torch.testing.assert_close(fresh(c).log_prob(xx), m(c).log_prob(xx))
    m.eval()
    a = m(c).log_prob(xx)
    m.train()
    torch.testing.assert_close(a, m(c).log_prob(xx))


def test_voronoi_mixture_as_the_base_of_a_coupling_flow():
    import zuko

    torch.manual_seed(0)
    anchors = torch.randn(5, 2) * 2
    base = VoronoiMixture(5, 2, tails="normal", hidden_features=(8,), anchors=anchors)
    flow = zuko.flows.Flow(zuko.flows.NSF(2, transforms=2, passes=2).transform, base).double()
    x = torch.randn(30, 2, dtype=D64)
    flow().log_prob(x).sum().backward()
    assert base.tessellation.anchor_raw.grad is not None
    # the composed density still integrates to one
    axis = torch.linspace(-9, 9, 300, dtype=D64)
    grid = torch.cartesian_prod(axis, axis)
    with torch.no_grad():
        mass = flow().log_prob(grid).exp().sum() * (axis[1] - axis[0]) ** 2
    assert abs(float(mass) - 1) < 5e-3


def test_voronoi_mixture_equals_mixture_when_one_cell():
    """With one cell and scale 1 the cell map is the identity: the Voronoi mixture is the flow."""
    vm = _mixture(K=1, anchors=torch.zeros(1, 2))
    fm = _mixture(FlowMixture, K=1)
    fm.load_state_dict({k: v for k, v in vm.state_dict().items() if "tessellation" not in k})
    x = torch.randn(10, 2, dtype=D64)
    torch.testing.assert_close(vm().log_prob(x), fm().log_prob(x))


def test_plus_law_is_the_papers_cluster10():
    from ctflow.data.grid_laws import joint_law

    p = joint_law("plus", 10)
    assert p.shape == (10, 10) and torch.isclose(p.sum(), torch.tensor(1.0, dtype=p.dtype))
    # four plus shapes, 20 cells: centres 1/8, arms 1/32, so H = (ln 8 + ln 32) / 2 = 4 ln 2
    assert int((p > 0).sum()) == 20
    assert p[2, 2] == p[7, 7] == 1 / 8 and p[1, 2] == p[7, 8] == 1 / 32
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    assert abs(float(entropy) - 4 * math.log(2)) < 1e-12
    with pytest.raises(ValueError, match="law"):
        joint_law("rings", 10)


def test_discrete2d_config_names_bad_values():
    from ctflow.experiments.voronoi_discrete2d import VoronoiDiscrete2DConfig

    with pytest.raises(ValueError, match="law"):
        VoronoiDiscrete2DConfig(law="rings")
    with pytest.raises(ValueError, match="prior"):
        VoronoiDiscrete2DConfig(prior="realnvp")
    with pytest.raises(ValueError, match="num_classes"):
        VoronoiDiscrete2DConfig(law="plus", num_classes=4)
