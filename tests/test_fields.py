"""Divergence-free fields against truth: autograd divergence, stream functions, continuity."""

import math

import pytest
import torch

from ctflow.fields import (
    GaussianMixtureFlux,
    MatrixField,
    PeriodicEmbedding,
    SpaceTimeFlow,
    VectorField,
    antisymmetric_basis,
    curl_components,
    euler_residuals,
    n_entries,
    space_time_points,
    torus_field,
    torus_integral,
    value_and_jacobian,
)
from ctflow.nn import MLP

CONSTRUCTIONS = {"matrix": MatrixField, "vector": VectorField}


def autograd_divergence(fn, y):
    """Full-Jacobian trace by plain reverse-mode autograd, one coordinate at a time."""
    y = y.detach().requires_grad_(True)
    u = fn(y)
    return sum(
        torch.autograd.grad(u[..., i].sum(), y, retain_graph=True)[0][..., i]
        for i in range(y.shape[-1])
    )


@pytest.mark.parametrize("n", [2, 3, 4, 10])
@pytest.mark.parametrize("construction", list(CONSTRUCTIONS))
def test_divergence_vanishes_in_float64(construction, n):
    torch.manual_seed(n)
    field = CONSTRUCTIONS[construction](n, hidden=(32, 32)).double()
    y = torch.randn(3, 5, n, dtype=torch.float64)  # any batch shape
    u = field(y)
    assert u.shape == (3, 5, n) and u.abs().mean() > 1e-3  # not trivially zero
    assert autograd_divergence(field, y).abs().max() <= 1e-10


def test_unconstrained_network_is_not_divergence_free():
    torch.manual_seed(0)
    net = MLP(4, 4, hidden=(32, 32), act="tanh").double()
    div = autograd_divergence(net, torch.randn(64, 4, dtype=torch.float64))
    assert div.abs().mean() > 1e-2


def test_matrix_field_is_the_divergence_of_its_matrix():
    torch.manual_seed(1)
    field = MatrixField(4, hidden=(16,)).double()
    y = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    a = field.matrix(y)
    torch.testing.assert_close(a, -a.transpose(-1, -2))
    u = torch.stack(
        [
            sum(
                torch.autograd.grad(a[:, i, j].sum(), y, retain_graph=True)[0][:, j]
                for j in range(4)
            )
            for i in range(4)
        ],
        dim=-1,
    )
    torch.testing.assert_close(field(y), u)


def test_n2_is_the_stream_function_field():
    torch.manual_seed(2)
    field = MatrixField(2, hidden=(16, 16)).double()
    y = torch.randn(10, 2, dtype=torch.float64, requires_grad=True)
    a = field.net(y)[..., 0]  # the single entry A_01 = stream function
    grad = torch.autograd.grad(a.sum(), y)[0]
    torch.testing.assert_close(field(y), torch.stack([grad[:, 1], -grad[:, 0]], dim=-1))


def test_vector_construction_matches_its_formula():
    # u = Lap b - grad div b, checked with a quadratic-times-sine b of known derivatives
    class B(torch.nn.Module):
        def forward(self, y):
            return torch.stack([y[..., 0] ** 2 * y[..., 1], torch.sin(y[..., 0]), y[..., 2] ** 3])

    field = VectorField(3, net=B()).double()
    y = torch.tensor([[0.3, -0.7, 1.1]], dtype=torch.float64)
    x0, x1, x2 = y[0]
    # Lap b = (2 x1, -sin x0, 6 x2); div b = 2 x0 x1 + 3 x2^2; grad div = (2 x1, 2 x0, 6 x2)
    expected = torch.stack([2 * x1 - 2 * x1, -torch.sin(x0) - 2 * x0, 6 * x2 - 6 * x2])
    torch.testing.assert_close(field(y)[0], expected)


def test_antisymmetric_basis():
    basis = antisymmetric_basis(3)
    a = torch.tensor([1.0, 2.0, 3.0])
    expected = torch.tensor([[0.0, 1.0, 2.0], [-1.0, 0.0, 3.0], [-2.0, -3.0, 0.0]])
    torch.testing.assert_close(basis @ a, expected)
    assert n_entries(10) == 45


@pytest.mark.parametrize("construction", list(CONSTRUCTIONS))
def test_space_time_flow_satisfies_continuity(construction):
    torch.manual_seed(3)
    d = 2
    field = CONSTRUCTIONS[construction](
        1 + d, hidden=(16, 16), constant=torch.tensor([3.0, 0.0, 0.0])
    ).double()
    flow = SpaceTimeFlow(field)
    t = torch.rand(20, dtype=torch.float64, requires_grad=True)
    x = torch.randn(20, d, dtype=torch.float64, requires_grad=True)
    rho, v = flow.density_and_velocity(t, x)
    assert rho.shape == (20,) and v.shape == (20, d) and (rho > 0).all()
    flux = rho[:, None] * v
    drho_dt = torch.autograd.grad(rho.sum(), t, create_graph=True)[0]
    div = sum(
        torch.autograd.grad(flux[:, j].sum(), x, retain_graph=True)[0][:, j] for j in range(d)
    )
    assert (drho_dt + div).abs().max() <= 1e-10
    # the module is an ODE vector field f(t, x) with a scalar t
    assert flow(torch.tensor(0.5, dtype=torch.float64), x).shape == (20, d)


@pytest.mark.parametrize("construction", list(CONSTRUCTIONS))
def test_torus_field_is_periodic_and_conserves_mass(construction):
    torch.manual_seed(4)
    periods = (2 * math.pi, 1.0)
    field = torus_field(
        3,
        construction,
        periodic=(False, True, True),
        periods=(1.0, *periods),  # the time axis's entry is unused
        hidden=(16, 16),
        constant=torch.tensor([0.7, 0.2, -0.1]),
    ).double()
    y = torch.randn(8, 3, dtype=torch.float64)
    shift = torch.tensor([0.0, periods[0], -3 * periods[1]], dtype=torch.float64)
    torch.testing.assert_close(field(y + shift), field(y), rtol=0, atol=1e-12)
    flow = SpaceTimeFlow(field)
    volume = periods[0] * periods[1]
    masses = torch.stack(
        [torus_integral(lambda x, t=t: flow.density(t, x), periods, 24) for t in (0.0, 0.4, 1.3)]
    )
    assert (masses - field.constant[0] * volume).abs().max() <= 1e-10 * volume
    assert flow.density(0.4, torch.rand(50, 2, dtype=torch.float64)).std() > 1e-3  # not constant


def test_value_and_jacobian_and_curl():
    fn = lambda y: torch.stack([y[0] * y[1], torch.sin(y[1])])  # noqa: E731
    y = torch.tensor([[0.5, 2.0], [1.0, -1.0]], dtype=torch.float64)
    value, jac = value_and_jacobian(fn, y)
    torch.testing.assert_close(value, torch.stack([y[:, 0] * y[:, 1], torch.sin(y[:, 1])], -1))
    expected = torch.zeros(2, 2, 2, dtype=torch.float64)
    expected[:, 0, 0], expected[:, 0, 1], expected[:, 1, 1] = y[:, 1], y[:, 0], torch.cos(y[:, 1])
    torch.testing.assert_close(jac, expected)
    torch.testing.assert_close(
        curl_components(jac), (expected[:, 0, 1] - expected[:, 1, 0])[:, None]
    )


def test_euler_residuals_vanish_on_taylor_green():
    nu = 0.1
    t = torch.rand(30, dtype=torch.float64, requires_grad=True)
    x = 2 * math.pi * torch.rand(30, 2, dtype=torch.float64, requires_grad=True)

    def solution(t, x):
        f = torch.exp(-2 * nu * t)
        v = (
            torch.stack(
                [torch.sin(x[:, 0]) * torch.cos(x[:, 1]), -torch.cos(x[:, 0]) * torch.sin(x[:, 1])],
                -1,
            )
            * f[:, None]
        )
        p = 0.25 * (torch.cos(2 * x[:, 0]) + torch.cos(2 * x[:, 1])) * f**2
        return v, p

    v, p = solution(t, x)
    grad_v = torch.stack(
        [
            torch.cat(
                [g[:, None] for g in torch.autograd.grad(v[:, i].sum(), (t,), create_graph=True)]
                + [torch.autograd.grad(v[:, i].sum(), x, create_graph=True)[0]],
                -1,
            )
            for i in range(2)
        ],
        1,
    )
    lap = torch.stack(
        [
            sum(
                torch.autograd.grad(grad_v[:, i, 1 + j].sum(), x, retain_graph=True)[0][:, j]
                for j in range(2)
            )
            for i in range(2)
        ],
        -1,
    )
    grad_p = torch.autograd.grad(p.sum(), x, retain_graph=True)[0]
    rho = torch.ones(30, dtype=torch.float64)
    mom, div, cont = euler_residuals(
        rho,
        v,
        torch.zeros(30, 3, dtype=torch.float64),
        grad_v,
        grad_p,
        viscosity=nu,
        laplacian_v=lap,
    )
    assert mom.abs().max() < 1e-12 and div.abs().max() < 1e-12 and cont.abs().max() == 0


def test_periodic_embedding_shape():
    embed = PeriodicEmbedding(3, periodic=(False, True, True), harmonics=2)
    assert embed(torch.randn(4, 3)).shape == (4, 1 + 2 * 2 * 2) == (4, embed.out_features)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="n >= 2"):
        MatrixField(1)
    with pytest.raises(ValueError, match="n >= 2"):
        VectorField(0)
    with pytest.raises(ValueError, match=r"shape \(\*batch, 3\)"):
        MatrixField(3)(torch.randn(5, 2))
    with pytest.raises(ValueError, match="floating-point"):
        VectorField(2)(torch.ones(5, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="3 = n"):
        MatrixField(3, net=MLP(3, 2))(torch.randn(4, 3))
    with pytest.raises(ValueError, match="constant must have shape"):
        MatrixField(3, constant=torch.zeros(2))
    with pytest.raises(ValueError, match="unknown construction"):
        torus_field(3, "scalar")
    with pytest.raises(ValueError, match="periods"):
        PeriodicEmbedding(2, periods=(1.0, -1.0))
    flow = SpaceTimeFlow(MatrixField(3))
    with pytest.raises(ValueError, match=r"shape \(\*batch, 2\)"):
        flow.density(0.0, torch.randn(4, 3))
    with pytest.raises(ValueError, match="batch shape"):
        space_time_points(torch.zeros(3), torch.randn(4, 2))
    with pytest.raises(ValueError, match="attributes n and single"):
        SpaceTimeFlow(MLP(3, 3))


def test_gradients_reach_every_parameter():
    field = torus_field(3, "matrix", periodic=(False, True, True), hidden=(8,))
    y = torch.randn(16, 3)
    field(y).pow(2).sum().backward()
    last_bias = field.net[-1][-1].bias  # u = div A does not see A's constant offset
    for name, p in field.named_parameters():
        moved = p.grad is not None and p.grad.abs().sum() > 0
        assert moved != (p is last_bias), name


@pytest.mark.parametrize("construction", list(CONSTRUCTIONS))
def test_time_dependent_field_is_divergence_free_in_space(construction):
    torch.manual_seed(5)
    field = torus_field(2, construction, hidden=(16,), time_dependent=True).double()
    tx = torch.randn(12, 3, dtype=torch.float64)
    x = tx[:, 1:]
    div = autograd_divergence(lambda x: field(torch.cat([tx[:, :1], x], -1)), x)
    assert field(tx).shape == (12, 2) and div.abs().max() <= 1e-10
    shift = torch.tensor([0.0, 2 * math.pi, 0.0], dtype=torch.float64)
    torch.testing.assert_close(field(tx + shift), field(tx), rtol=0, atol=1e-12)
    d_dt = value_and_jacobian(field.single, tx)[1][..., 0]
    assert d_dt.abs().max() > 1e-4  # it does change in time


def test_gaussian_mixture_flux_gives_the_mixture_density_and_continuity():
    torch.manual_seed(6)
    entries = GaussianMixtureFlux(components=3, hidden=(8,))
    torch.nn.init.normal_(entries.dynamics[-1].weight, std=0.5)  # make the mixture move in t
    torch.nn.init.normal_(entries.rotation[-1].weight, std=0.5)
    flow = SpaceTimeFlow(MatrixField(3, net=entries)).double()
    t = torch.rand(40, dtype=torch.float64)
    x = 1.5 * torch.randn(40, 2, dtype=torch.float64)
    torch.testing.assert_close(
        torch.log(flow.density(t, x)), entries.log_density(t, x), rtol=1e-10, atol=1e-10
    )
    y = space_time_points(t, x)
    assert autograd_divergence(flow.field, y).abs().max() <= 1e-10
    x_near = entries.parameters_at(t[:1])[0][0, :1] + 1e-7  # next to a component mean
    assert torch.isfinite(flow.density(t[:1], x_near)).all()
    mass = torus_integral(lambda z: flow.density(0.3, z - 12.0), (24.0, 24.0), 160)
    assert abs(float(mass) - 1.0) < 1e-6


def test_mixture_flux_moves_each_component_with_its_affine_velocity():
    torch.manual_seed(7)
    entries = GaussianMixtureFlux(components=1, hidden=(8,), rotation=False)
    torch.nn.init.normal_(entries.dynamics[-1].weight, std=0.5)
    flow = SpaceTimeFlow(MatrixField(3, net=entries)).double()
    t = torch.full((5,), 0.3, dtype=torch.float64)
    x = torch.randn(5, 2, dtype=torch.float64) * 3  # also far out in the tail
    (m, s, _), (dm, ds, _) = torch.func.jvp(entries.parameters_at, (t,), (torch.ones_like(t),))
    expected = dm[:, 0] + (ds / s)[:, 0, None] * (x - m[:, 0])
    torch.testing.assert_close(flow.velocity(t, x), expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("construction", ["matrix", "vector"])
def test_fields_take_t_and_x_like_every_field(construction):
    torch.manual_seed(0)
    cls = MatrixField if construction == "matrix" else VectorField
    moving = cls(2, hidden=(8,), time_dependent=True).double()
    x = torch.randn(5, 2, dtype=torch.float64)
    t = torch.full((5,), 0.3, dtype=torch.float64)
    packed = torch.cat([t[:, None], x], -1)
    torch.testing.assert_close(moving(t, x), moving(packed))
    torch.testing.assert_close(moving(0.3, x), moving(packed))
    still = cls(2, hidden=(8,)).double()
    torch.testing.assert_close(still(0.7, x), still(x))  # t is ignored when time-independent
    # so either goes straight into the ODE solver
    from ctflow.solvers import odeint

    path = odeint(moving, x, torch.tensor([0.0, 0.5], dtype=torch.float64), method="rk4",
                  step_size=0.1)  # fmt: skip
    assert path.shape == (2, 5, 2) and torch.isfinite(path).all()
