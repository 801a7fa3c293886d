"""Property tests for ``ctflow.manifolds`` against closed-form truth (float64, fixed seeds)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from ctflow.manifolds import Euclidean, FlatTorus, Manifold, Product, Sphere

DT = torch.float64
MANIFOLDS = [Euclidean(3), Sphere(2), Sphere(5), FlatTorus(2), Product(Sphere(2), FlatTorus(1))]
COMPACT = [m for m in MANIFOLDS if not isinstance(m, Euclidean)]
BATCH_SHAPES = [(), (4,), (2, 3)]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _sample(M: Manifold, shape: tuple[int, ...], g: torch.Generator) -> Tensor:
    """Points on ``M``; Gaussian for Euclidean factors (which have no uniform law)."""
    if isinstance(M, Euclidean):
        return torch.randn(*shape, M.ambient_dim, generator=g, dtype=DT)
    if isinstance(M, Product):
        return torch.cat([_sample(m, shape, g) for m in M.manifolds], dim=-1)
    return M.random_uniform(*shape, generator=g, dtype=DT)


def _tangent(M: Manifold, x: Tensor, g: torch.Generator, max_norm: float = 3.0) -> Tensor:
    """Tangent vectors at ``x`` with norms uniform in ``(0.05, max_norm)``.

    ``max_norm < pi`` keeps every sphere and torus part inside the injectivity radius.
    """
    u = M.proju(x, torch.randn(x.shape, generator=g, dtype=DT))
    r = 0.05 + (max_norm - 0.05) * torch.rand(x.shape[:-1], generator=g, dtype=DT)
    return u * (r / M.norm(x, u)).unsqueeze(-1)


def _close(a: Tensor, b: Tensor, atol: float = 1e-10) -> None:
    torch.testing.assert_close(a, b, rtol=0.0, atol=atol)


@pytest.fixture(params=MANIFOLDS, ids=repr)
def M(request: pytest.FixtureRequest) -> Manifold:
    return request.param


# ---------------------------------------------------------------------------- projections


def test_projx_idempotent_and_on_manifold(M: Manifold) -> None:
    x = 3 * torch.randn(64, M.ambient_dim, generator=_gen(0), dtype=DT)
    p = M.projx(x)
    assert bool(M.check_point(p, atol=1e-12).all())
    _close(M.projx(p), p, atol=1e-12)
    on = _sample(M, (64,), _gen(1))
    _close(M.projx(on), on, atol=1e-12)


def test_proju_idempotent_and_tangent(M: Manifold) -> None:
    g = _gen(2)
    x = _sample(M, (64,), g)
    u = torch.randn(64, M.ambient_dim, generator=g, dtype=DT)
    v = M.proju(x, u)
    _close(M.proju(x, v), v, atol=1e-12)
    assert bool(M.check_tangent(x, v, atol=1e-12).all())


@pytest.mark.parametrize("dim", [2, 5])
def test_sphere_proju_is_orthogonal_projection(dim: int) -> None:
    g = _gen(3)
    M = Sphere(dim)
    x = _sample(M, (64,), g)
    u = torch.randn(64, dim + 1, generator=g, dtype=DT)
    v = M.proju(x, u)
    _close((x * v).sum(-1), torch.zeros(64, dtype=DT), atol=1e-12)
    # the removed part is parallel to x
    _close(u - v, (x * u).sum(-1, keepdim=True) * x, atol=1e-12)


def test_sphere_proju_exact_off_sphere() -> None:
    # intermediate Runge-Kutta stages are slightly off the sphere; the field must stay tangent
    M = Sphere(2)
    x = 1.01 * _sample(M, (16,), _gen(4))
    v = M.proju(x, torch.randn(16, 3, generator=_gen(5), dtype=DT))
    _close((x * v).sum(-1), torch.zeros(16, dtype=DT), atol=1e-12)


# ---------------------------------------------------------------------------- exp / log


def test_log_of_exp_is_identity(M: Manifold) -> None:
    g = _gen(6)
    x = _sample(M, (128,), g)
    u = _tangent(M, x, g)
    y = M.expmap(x, u)
    assert bool(M.check_point(y, atol=1e-12).all())
    _close(M.logmap(x, y), u, atol=1e-9)


def test_exp_of_log_is_identity(M: Manifold) -> None:
    g = _gen(7)
    x, y = _sample(M, (128,), g), _sample(M, (128,), g)
    v = M.logmap(x, y)
    assert bool(M.check_tangent(x, v, atol=1e-12).all())
    _close(M.expmap(x, v), y, atol=1e-9)


def test_sphere_expmap_matches_great_circle() -> None:
    # a rotation by t in the plane of two orthonormal vectors is the geodesic of speed 1
    M = Sphere(3)
    e0, e1 = torch.eye(4, dtype=DT)[0], torch.eye(4, dtype=DT)[1]
    for t in [1e-9, 0.3, 2.0, 3.1]:
        _close(M.expmap(e0, t * e1), math.cos(t) * e0 + math.sin(t) * e1, atol=1e-14)


def test_torus_logmap_is_shortest_signed_displacement() -> None:
    M = FlatTorus(2)
    v = M.logmap(torch.tensor([0.1, 3.0], dtype=DT), torch.tensor([6.2, 3.5], dtype=DT))
    _close(v, torch.tensor([6.1 - 2 * math.pi, 0.5], dtype=DT), atol=1e-14)
    d = torch.linspace(-20, 20, 1001, dtype=DT).unsqueeze(-1)
    w = FlatTorus(1).logmap(torch.zeros(1, dtype=DT), d)
    assert bool(((w > -math.pi) & (w <= math.pi)).all())
    _close(torch.cos(w), torch.cos(d), atol=1e-12)
    _close(torch.sin(w), torch.sin(d), atol=1e-12)


def test_torus_wrap_stays_half_open() -> None:
    # remainder(-tiny, 2 pi) rounds to exactly 2 pi; projx must still land in [0, 2 pi)
    for dtype in (torch.float32, torch.float64):
        x = torch.tensor([-1e-18, -1e-30, 2 * math.pi, 0.0], dtype=dtype)
        p = FlatTorus(4).projx(x)
        assert bool(((p >= 0) & (p < 2 * math.pi)).all()), p


def test_sphere_logmap_at_antipode_documented() -> None:
    M = Sphere(2)
    x = torch.tensor([0.0, 0.0, 1.0], dtype=DT)
    v = M.logmap(x, -x)
    assert bool(torch.isfinite(v).all())
    _close(v, torch.zeros(3, dtype=DT), atol=0.0)
    _close(M.dist(x, -x), torch.tensor(math.pi, dtype=DT), atol=1e-15)


# ---------------------------------------------------------------------------- distance


def test_dist_metric_properties(M: Manifold) -> None:
    g = _gen(8)
    x, y, z = (_sample(M, (128,), g) for _ in range(3))
    dxy = M.dist(x, y)
    assert dxy.shape == (128,)
    _close(dxy, M.dist(y, x), atol=1e-12)
    _close(M.dist(x, x), torch.zeros(128, dtype=DT), atol=1e-12)
    _close(dxy, M.norm(x, M.logmap(x, y)), atol=1e-10)
    assert bool((M.dist(x, z) <= dxy + M.dist(y, z) + 1e-12).all())


@pytest.mark.parametrize("dim", [2, 5])
def test_sphere_dist_matches_arccos(dim: int) -> None:
    M = Sphere(dim)
    g = _gen(9)
    x, y = _sample(M, (256,), g), _sample(M, (256,), g)
    dot = (x * y).sum(-1)
    keep = dot.abs() < 0.9  # arccos itself is only accurate away from +-1
    assert int(keep.sum()) > 100
    _close(M.dist(x, y)[keep], torch.arccos(dot[keep]), atol=1e-12)


def test_sphere_dist_accurate_near_zero_and_pi() -> None:
    M = Sphere(2)
    x = torch.tensor([1.0, 0.0, 0.0], dtype=DT)
    e = torch.tensor([0.0, 0.6, 0.8], dtype=DT)
    tiny = M.dist(x, M.expmap(x, 1e-9 * e))
    torch.testing.assert_close(tiny, torch.tensor(1e-9, dtype=DT), rtol=1e-6, atol=0.0)
    near_pi = M.dist(x, M.expmap(x, (math.pi - 1e-9) * e))
    _close(near_pi, torch.tensor(math.pi - 1e-9, dtype=DT), atol=1e-13)


def test_product_acts_per_factor() -> None:
    S, T = Sphere(2), FlatTorus(1)
    M = Product(S, T)
    assert (M.dim, M.ambient_dim) == (3, 4)
    g = _gen(10)
    x, y = _sample(M, (32,), g), _sample(M, (32,), g)
    (xs, xt), (ys, yt) = M.split(x), M.split(y)
    _close(M.dist(x, y), torch.sqrt(S.dist(xs, ys) ** 2 + T.dist(xt, yt) ** 2), atol=1e-14)
    _close(M.logmap(x, y), torch.cat([S.logmap(xs, ys), T.logmap(xt, yt)], -1), atol=1e-14)
    _close(M.uniform_logprob(x), S.uniform_logprob(xs) + T.uniform_logprob(xt), atol=1e-14)


# ---------------------------------------------------------------------------- uniform law


@pytest.mark.parametrize("M", COMPACT, ids=repr)
def test_random_uniform_on_manifold(M: Manifold) -> None:
    x = M.random_uniform(2, 50, generator=_gen(11), dtype=DT)
    assert x.shape == (2, 50, M.ambient_dim) and x.dtype == DT
    assert bool(M.check_point(x, atol=1e-12).all())
    assert M.random_uniform((3,)).dtype == torch.float32  # tuple size, default dtype
    a, b = (M.random_uniform(5, generator=_gen(1), dtype=DT) for _ in range(2))
    assert torch.equal(a, b)  # reproducible from the generator alone


@pytest.mark.parametrize("dim", [2, 5])
def test_sphere_uniform_moments(dim: int) -> None:
    n = 20000
    x = Sphere(dim).random_uniform(n, generator=_gen(12), dtype=DT)
    # per-entry standard errors are below 1/sqrt(n) ~ 0.007; tolerances are ~4 of those
    _close(x.mean(0), torch.zeros(dim + 1, dtype=DT), atol=0.03)
    _close(x.T @ x / n, torch.eye(dim + 1, dtype=DT) / (dim + 1), atol=0.02)


def test_torus_uniform_moments() -> None:
    x = FlatTorus(2).random_uniform(20000, generator=_gen(13), dtype=DT)
    _close(x.mean(0), torch.full((2,), math.pi, dtype=DT), atol=0.06)
    _close(x.var(0), torch.full((2,), math.pi**2 / 3, dtype=DT), atol=0.1)


@pytest.mark.parametrize(
    ("M", "volume"),
    [
        (Sphere(1), 2 * math.pi),
        (Sphere(2), 4 * math.pi),
        (Sphere(3), 2 * math.pi**2),
        (Sphere(5), math.pi**3),
        (FlatTorus(1), 2 * math.pi),
        (FlatTorus(3), (2 * math.pi) ** 3),
        (Product(Sphere(2), FlatTorus(1)), 8 * math.pi**2),
    ],
    ids=repr,
)
def test_uniform_logprob_is_minus_log_volume(M: Manifold, volume: float) -> None:
    x = M.random_uniform(2, 3, generator=_gen(14), dtype=DT)
    lp = M.uniform_logprob(x)
    assert lp.shape == (2, 3) and lp.dtype == DT
    _close(torch.exp(-lp), torch.full((2, 3), volume, dtype=DT), atol=1e-10 * volume)


def test_uniform_logprob_integrates_to_one_on_s2() -> None:
    # quadrature in spherical coordinates: int_0^pi int_0^2pi p sin(theta) dphi dtheta = 1
    M = Sphere(2)
    theta = torch.linspace(0, math.pi, 2001, dtype=DT)
    x = torch.stack([torch.sin(theta), torch.zeros_like(theta), torch.cos(theta)], -1)
    p = torch.exp(M.uniform_logprob(x))  # rotation invariant, so phi integrates to 2 pi
    total = 2 * math.pi * torch.trapezoid(p * torch.sin(theta), theta)
    _close(total, torch.tensor(1.0, dtype=DT), atol=1e-6)


def test_non_compact_has_no_uniform_law() -> None:
    with pytest.raises(ValueError, match="not compact"):
        Euclidean(3).random_uniform(4)
    with pytest.raises(ValueError, match="not compact"):
        Euclidean(3).uniform_logprob(torch.zeros(3))
    with pytest.raises(ValueError, match="not compact"):
        Product(Sphere(2), Euclidean(1)).random_uniform(4)


# ---------------------------------------------------------------------------- gradients


def test_expmap_gradient_at_zero_tangent(M: Manifold) -> None:
    x = _sample(M, (), _gen(15))
    u = torch.zeros(M.ambient_dim, dtype=DT, requires_grad=True)
    (grad,) = torch.autograd.grad(M.expmap(x, u).sum(), u)
    assert bool(torch.isfinite(grad).all())
    # d/du exp_x(u) at u = 0 is the identity on ambient vectors for all these manifolds
    jac = torch.autograd.functional.jacobian(lambda v: M.expmap(x, v), u.detach())
    _close(jac, torch.eye(M.ambient_dim, dtype=DT), atol=1e-12)


@pytest.mark.parametrize("scale", [0.0, 1e-6, 1e-2, 1.0, 3.0])
def test_sphere_expmap_gradcheck(scale: float) -> None:
    # covers both the series branch (small |u|) and the closed form
    M = Sphere(2)
    g = _gen(16)
    x = _sample(M, (3,), g)
    u = scale * M.proju(x, torch.randn(3, 3, generator=g, dtype=DT))
    u.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: M.expmap(x, v), (u,), eps=1e-7, atol=1e-6)


@pytest.mark.parametrize("scale", [1e-4, 1e-2, 1.0, 2.5])
def test_sphere_logmap_gradcheck(scale: float) -> None:
    M = Sphere(2)
    g = _gen(17)
    x = _sample(M, (3,), g)
    y = M.expmap(x, scale * M.proju(x, torch.randn(3, 3, generator=g, dtype=DT)))
    y.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: M.logmap(x, z), (y,), eps=1e-8, atol=1e-5)


def test_sphere_logmap_gradient_finite_at_y_equal_x() -> None:
    M = Sphere(2)
    x = _sample(M, (), _gen(18))
    y = x.clone().requires_grad_(True)
    jac = torch.autograd.functional.jacobian(lambda z: M.logmap(x, z), y)
    assert bool(torch.isfinite(jac).all())
    # at y = x the differential of log_x is the tangent projection I - x x^T
    _close(jac, torch.eye(3, dtype=DT) - torch.outer(x, x), atol=1e-12)


def test_dist_squared_gradient_finite_on_diagonal(M: Manifold) -> None:
    x = _sample(M, (4,), _gen(19))
    y = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad((M.dist(x, y) ** 2).sum(), y)
    _close(grad, torch.zeros_like(grad), atol=0.0)


# ---------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("batch", BATCH_SHAPES, ids=str)
def test_batch_shapes(M: Manifold, batch: tuple[int, ...]) -> None:
    g = _gen(20)
    x, y = _sample(M, batch, g), _sample(M, batch, g)
    u = torch.randn(*batch, M.ambient_dim, generator=g, dtype=DT)
    point, scalar = (*batch, M.ambient_dim), batch
    for out in (M.projx(x), M.proju(x, u), M.expmap(x, u), M.logmap(x, y)):
        assert out.shape == point
    for out in (M.dist(x, y), M.inner(x, u, u), M.norm(x, u), M.check_point(x)):
        assert out.shape == scalar
    if not isinstance(M, Euclidean):
        assert M.uniform_logprob(x).shape == scalar
        assert M.random_uniform(*batch).shape == point


def test_broadcasting_single_vector_against_batch(M: Manifold) -> None:
    g = _gen(21)
    x = _sample(M, (2, 3), g)
    u = torch.randn(M.ambient_dim, generator=g, dtype=DT)
    assert M.proju(x, u).shape == (2, 3, M.ambient_dim)
    assert M.expmap(x, u).shape == (2, 3, M.ambient_dim)
    assert M.inner(x, u, u).shape == (2, 3)
    assert M.norm(x, u).shape == (2, 3)
    assert M.dist(x, x[0, 0]).shape == (2, 3)


# ---------------------------------------------------------------------------- solver-free ODE


@pytest.mark.parametrize("dim", [2, 5])
def test_projected_euler_rotation_stays_on_sphere(dim: int) -> None:
    M = Sphere(dim)
    g = _gen(22)
    b = torch.randn(dim + 1, dim + 1, generator=g, dtype=DT)
    A = b - b.T  # skew-symmetric: dx/dt = A x is a rotation, so the sphere is invariant
    x0 = M.random_uniform(8, generator=g, dtype=DT)
    h, steps = 1e-3, 1000
    x, raw = x0, x0
    for _ in range(steps):
        x = M.projx(x + h * M.proju(x, x @ A.T))
        raw = raw + h * (raw @ A.T)
        assert float((torch.linalg.vector_norm(x, dim=-1) - 1).abs().max()) <= 1e-12
    # the projection is doing real work: plain Euler spirals outwards
    assert float((torch.linalg.vector_norm(raw, dim=-1) - 1).max()) > 1e-3
    # and the projected path follows the exact flow x0 exp(A)^T to first order in h
    exact = x0 @ torch.linalg.matrix_exp(h * steps * A).T
    err = float(torch.linalg.vector_norm(x - exact, dim=-1).max())
    assert err < h * float(torch.linalg.matrix_norm(A, ord=2)) ** 2


# ---------------------------------------------------------------------------- errors and misc


def test_wrong_last_dim_raises_with_expected_and_got(M: Manifold) -> None:
    bad = torch.zeros(4, M.ambient_dim + 1, dtype=DT)
    good = torch.zeros(4, M.ambient_dim, dtype=DT)
    match = rf"ambient_dim={M.ambient_dim}.*got shape \(4, {M.ambient_dim + 1}\)"
    calls = [
        lambda: M.projx(bad),
        lambda: M.proju(good, bad),
        lambda: M.expmap(bad, good),
        lambda: M.logmap(good, bad),
        lambda: M.dist(bad, good),
        lambda: M.inner(good, good, bad),
        lambda: M.norm(good, bad),
        lambda: M.check_point(bad),
        lambda: M.check_tangent(good, bad),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=match):
            call()
    with pytest.raises(ValueError, match="got shape"):
        M.uniform_logprob(bad)


def test_other_input_errors() -> None:
    M = Sphere(2)
    with pytest.raises(ValueError, match=r"got shape \(\)"):
        M.projx(torch.tensor(1.0))
    with pytest.raises(TypeError, match="must be a tensor"):
        M.projx([0.0, 0.0, 1.0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="floating-point"):
        M.projx(torch.ones(3, dtype=torch.int64))
    with pytest.raises(TypeError, match="dtype"):
        M.random_uniform(3, dtype=torch.int64)
    with pytest.raises(ValueError, match="size"):
        M.random_uniform(-1)
    with pytest.raises(TypeError, match="size"):
        M.random_uniform(2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="atol"):
        M.check_point(torch.ones(3), atol=-1.0)
    with pytest.raises(ValueError, match="split"):
        Product(M, FlatTorus(1)).split(torch.ones(3))


@pytest.mark.parametrize("cls", [Euclidean, Sphere, FlatTorus])
def test_constructor_errors(cls: type[Manifold]) -> None:
    with pytest.raises(TypeError, match="dim must be an int, got str"):
        cls("2")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="dim must be >= 1"):
        cls(0)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="dim must be an int"):
        cls(2.0)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="dim must be an int"):
        cls(True)  # type: ignore[call-arg]


def test_product_constructor_errors() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Product()
    with pytest.raises(TypeError, match="factor 1 must be a Manifold"):
        Product(Sphere(2), 3)  # type: ignore[arg-type]


def test_manifold_is_abstract() -> None:
    with pytest.raises(TypeError):
        Manifold(2, 3)  # type: ignore[abstract]


def test_repr_and_dims() -> None:
    M = Product(Sphere(2), FlatTorus(1), Euclidean(2))
    assert repr(M) == "Product(Sphere(dim=2), FlatTorus(dim=1), Euclidean(dim=2))"
    assert (M.dim, M.ambient_dim) == (5, 6)
    assert (Sphere(5).dim, Sphere(5).ambient_dim) == (5, 6)


def test_check_point_flags_off_manifold() -> None:
    assert Sphere(1).check_point(torch.tensor([[1.0, 0.0], [1.0, 1.0]])).tolist() == [True, False]
    assert FlatTorus(1).check_point(torch.tensor([[0.5], [7.0], [-1.0]])).tolist() == [
        True,
        False,
        False,
    ]
    assert Euclidean(1).check_point(torch.tensor([[0.5], [math.inf]])).tolist() == [True, False]
