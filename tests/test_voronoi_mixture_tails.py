"""The Voronoi mixture's component tails (Gaussian vs radial Student-t) against truth (float64).

The cell map sends ``||v|| -> infinity`` as ``x`` approaches its cell's boundary, so the tails of
the component base decide the mixture density there: with a radial Student-t of ``nu`` degrees of
freedom ``log p -> log pi_k + log C + (nu + D) / 2 log nu + (1 - nu) log t + nu log s_k
+ (nu + D) log rho(u)`` (``C`` the t's normaliser; exact once the spline is the identity), which
for ``nu = 1`` is a finite limit; with the Gaussian base ``log p ~ -||v||^2 / 2``.
"""

import math

import pytest
import torch
from scipy import stats

from ctflow.flows import FlowMixture, VoronoiMixture
from ctflow.flows.voronoi_mixture import RadialStudentT

D64 = torch.float64
ANCHORS = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.5, -1.5]], dtype=D64)


def _mixture(cls=VoronoiMixture, tails="student", df=1.0, context=0, seed=0):
    torch.manual_seed(seed)
    kw = {"anchors": ANCHORS} if cls is VoronoiMixture else {}
    m = cls(4, 2, context, tails=tails, df=df, hidden_features=(16,), **kw).double()
    with torch.no_grad():
        m.logits.normal_()
        if cls is VoronoiMixture:
            m.tessellation.log_scale.normal_(0, 0.3)
    return m


@pytest.mark.parametrize("df", [0.7, 1.0, 3.5])
@pytest.mark.parametrize("D", [1, 2, 5])
def test_radial_student_t_matches_scipy(df, D):
    g = torch.Generator().manual_seed(0)
    v = torch.randn(50, D, generator=g, dtype=D64) * torch.logspace(-2, 3, 50, dtype=D64)[:, None]
    ours = RadialStudentT(torch.zeros(D, dtype=D64), df).log_prob(v)
    ref = stats.multivariate_t(loc=[0.0] * D, shape=torch.eye(D).numpy(), df=df).logpdf(v.numpy())
    torch.testing.assert_close(ours, torch.as_tensor(ref, dtype=D64), atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("df", [1.0, 4.0])
def test_radial_student_t_samples_follow_its_density(df):
    """||v||^2 / D of a standard multivariate t is F(D, nu); a KS test at a fixed seed."""
    D = 3
    torch.manual_seed(0)
    v = RadialStudentT(torch.zeros(D, dtype=D64), df).sample((20000,))
    f = (v.pow(2).sum(-1) / D).numpy()
    assert stats.kstest(f, stats.f(D, df).cdf).pvalue > 1e-3


def test_radial_student_t_rejects_bad_df():
    with pytest.raises(ValueError, match="df"):
        RadialStudentT(torch.zeros(2), 0.0)
    with pytest.raises(ValueError, match="df"):
        VoronoiMixture(3, 2, df=-1.0)
    with pytest.raises(ValueError, match="tails"):
        FlowMixture(3, 2, tails="cauchy")


def _mass(model, n, c=2.0):
    """The integral over R^2 by the midpoint rule in x = c tan(u), u in (-pi/2, pi/2)^2: the
    Jacobian c / cos^2 u turns the heavy (Cauchy-like) tails into a bounded integrand."""
    h = math.pi / n
    u = -math.pi / 2 + h * (torch.arange(n, dtype=D64) + 0.5)
    x, jac = c * torch.tan(u), c / torch.cos(u) ** 2
    grid = torch.cartesian_prod(x, x)
    w = torch.outer(jac, jac).reshape(-1) * h * h
    with torch.no_grad():
        return float((model().log_prob(grid).exp() * w).sum())


@pytest.mark.parametrize("cls", [VoronoiMixture, FlowMixture])
@pytest.mark.parametrize("tails,df", [("student", 1.0), ("student", 3.0), ("normal", 1.0)])
def test_mixture_integrates_to_one_over_the_plane(cls, tails, df):
    """Quadrature error at these grid sizes is at most 3.4e-3 (measured against 500 x 500)."""
    n = 300 if cls is VoronoiMixture else 200  # the ordinary mixture evaluates all 4 components
    assert abs(_mass(_mixture(cls, tails, df), n) - 1) < 5e-3


@pytest.mark.parametrize("cls", [VoronoiMixture, FlowMixture])
@pytest.mark.parametrize("tails", ["student", "normal"])
@pytest.mark.parametrize("context", [0, 3])
def test_log_prob_inverts_sampling(cls, tails, context):
    """A sample's reported log-density is the log_prob of that sample, far-out samples included."""
    m = _mixture(cls, tails, 1.0, context)
    c = torch.randn(7, context, dtype=D64) if context else None
    torch.manual_seed(1)
    x, logp = m(c).rsample_and_log_prob((300,))
    assert torch.isfinite(logp).all()
    torch.testing.assert_close(logp, m(c).log_prob(x), atol=1e-7, rtol=1e-9)
    if tails == "student":  # the Cauchy base does reach far out
        assert x.abs().max() > 20


def _ray_to_boundary(m, eps):
    """Points of cell 0 at distance ``eps`` (along the ray) from its face towards cell 1, and the
    exact ``rho(u)`` and ``t`` of each point."""
    u = torch.tensor([1.0, 0.3], dtype=D64)
    u = u / u.norm()
    rho = m.tessellation.inverse_ray_distance(torch.zeros(1, dtype=torch.long), u[None])[0]
    lam = 1 / rho
    x = ANCHORS[0] + (lam - eps)[:, None] * u
    alpha = (lam - eps) / lam
    s = m.tessellation.log_scale[0].exp()
    t = alpha / (1 - alpha)
    return x, rho.detach(), t, s.detach()


def test_student_density_at_the_boundary_matches_its_asymptote():
    eps = torch.logspace(-5, -8, 4, dtype=D64)
    for df in (1.0, 2.5):
        m = _mixture(df=df)
        x, rho, t, s = _ray_to_boundary(m, eps)
        assert (m.tessellation.quantize(x) == 0).all()
        D, nu = 2, torch.tensor(df, dtype=D64)
        log_c = torch.lgamma((nu + D) / 2) - torch.lgamma(nu / 2) - D / 2 * torch.log(nu * math.pi)
        limit = m.log_weights()[0] + log_c + (nu + D) / 2 * torch.log(nu) + nu * torch.log(s)
        limit = limit + (1 - nu) * torch.log(t) + (nu + D) * torch.log(rho)
        with torch.no_grad():
            logp = m().log_prob(x)
        # the asymptote drops O(1 / t) = O(eps) terms: 1e-5 at the largest eps
        torch.testing.assert_close(logp, limit.detach(), atol=1e-4, rtol=0)
        if df == 1.0:  # bounded away from 0: the same finite value at every eps
            assert float(logp.max() - logp.min()) < 1e-4 and float(logp.min()) > -10


def test_normal_density_vanishes_at_the_boundary():
    """With the Gaussian base log p ~ -||v||^2 / 2 ~ -(t / (s rho))^2 / 2: x100 per decade."""
    m = _mixture(tails="normal")
    eps = torch.logspace(-2, -4, 3, dtype=D64)
    x, rho, t, s = _ray_to_boundary(m, eps)
    with torch.no_grad():
        logp = m().log_prob(x)
    assert float(logp[-1]) < -1e6
    ratio = logp[1:] / logp[:-1]
    assert ((ratio > 90) & (ratio < 110)).all()
    r = t / (s * rho)
    torch.testing.assert_close(logp / (-(r**2) / 2), torch.ones_like(logp), atol=0, rtol=1e-2)


def test_student_mixture_as_the_base_of_a_coupling_flow_integrates_to_one():
    import zuko

    base = _mixture()
    torch.manual_seed(2)
    flow = zuko.flows.Flow(zuko.flows.NSF(2, transforms=2, passes=2).transform, base).double()
    assert abs(_mass(flow, 300) - 1) < 5e-3


def test_float32_points_within_rounding_of_a_face_get_a_finite_density():
    """In float32 geometry about 7% of such points were assigned to a cell whose inverse map put
    them outside it (a NaN log-det); the mixture runs its geometry in float64."""
    torch.manual_seed(0)
    anchors = torch.randn(16, 2) * 2
    m = VoronoiMixture(16, 2, anchors=anchors, hidden_features=(16,))
    g = torch.Generator().manual_seed(0)
    i, j = torch.randint(16, (2, 5000), generator=g)
    i, j = i[i != j], j[i != j]
    normal = anchors[j] - anchors[i]
    tangent = torch.stack([-normal[:, 1], normal[:, 0]], -1)
    x = (anchors[i] + anchors[j]) / 2 + tangent * torch.randn(len(i), 1, generator=g) * 0.1
    x = x + normal * torch.randn(len(i), 1, generator=g) * 1e-7
    assert x.dtype == torch.float32
    with torch.no_grad():
        logp = m().log_prob(x)
    assert torch.isfinite(logp).all()
    assert logp.dtype == torch.float32
