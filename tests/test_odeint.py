import math

import numpy as np
import pytest
import torch

from ctflow.manifolds import Sphere
from ctflow.solvers import ADAPTIVE_METHODS, FIXED_STEP_TABLEAUS, SolverError, odeint

A = torch.tensor([[-0.5, 1.0], [-1.0, -0.5]], dtype=torch.float64)


def linear_field(t, x):
    return x @ A.T


def exact_linear(x0, t):
    return x0 @ torch.linalg.matrix_exp(A * t).T


@pytest.mark.parametrize("method", sorted(FIXED_STEP_TABLEAUS))
def test_fixed_step_convergence_order(method):
    x0 = torch.tensor([[1.0, 0.5]], dtype=torch.float64)
    steps = np.array([10, 20, 40, 80])
    errors = []
    for n in steps:
        xs = odeint(linear_field, x0, [0.0, 2.0], method=method, step_size=2.0 / n)
        errors.append((xs[-1] - exact_linear(x0, 2.0)).abs().max().item())
    slope = -np.polyfit(np.log(steps), np.log(errors), 1)[0]
    order = FIXED_STEP_TABLEAUS[method].order
    assert abs(slope - order) < 0.3, (method, slope, errors)


def test_time_dependent_field_order():
    # dy/dt = -y cos t has y(t) = y0 exp(-sin t): checks stage times are right, not only weights
    for method in ("midpoint", "heun", "rk4"):
        steps = np.array([40, 80, 160])
        errs = [
            abs(
                odeint(
                    lambda t, y: -y * torch.cos(t),
                    torch.ones(1, dtype=torch.float64),
                    [0.0, 3.0],
                    method=method,
                    step_size=3.0 / n,
                )[-1].item()
                - math.exp(-math.sin(3.0))
            )
            for n in steps
        ]
        slope = -np.polyfit(np.log(steps), np.log(errs), 1)[0]
        assert abs(slope - FIXED_STEP_TABLEAUS[method].order) < 0.3, (method, slope)


@pytest.mark.parametrize("method", ADAPTIVE_METHODS)
def test_adaptive_error_tracks_tolerance(method):
    # tolerances bound the local error; the global error follows them within a modest factor
    x0 = torch.tensor([[1.0, 0.5]], dtype=torch.float64)
    errs = []
    low_order = method in ("adaptive_heun", "fehlberg2")  # tight tolerances cost them many steps
    for tol in (1e-3, 1e-5, 1e-7) if low_order else (1e-5, 1e-7, 1e-9):
        xs = odeint(linear_field, x0, [0.0, 2.0], method=method, atol=tol, rtol=tol)
        errs.append((xs[-1] - exact_linear(x0, 2.0)).abs().max().item())
        assert errs[-1] < 1e3 * tol, (method, tol, errs)
    assert errs[0] > errs[1] > errs[2]


def test_outputs_at_every_time_and_any_batch_shape():
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    for shape in [(2,), (3, 2), (2, 3, 2)]:
        x0 = torch.randn(shape, dtype=torch.float64)
        for method in ("rk4", "dopri5"):
            xs = odeint(
                linear_field,
                x0,
                t,
                method=method,
                step_size=0.01 if method == "rk4" else None,
                atol=1e-9,
                rtol=1e-9,
            )
            assert xs.shape == (5, *shape)
            for i, ti in enumerate(t):
                torch.testing.assert_close(xs[i], exact_linear(x0, float(ti)), atol=1e-7, rtol=0)


def test_backwards_in_time_inverts():
    x0 = torch.randn(4, 2, dtype=torch.float64)
    x1 = odeint(linear_field, x0, [0.0, 1.0], method="rk4", step_size=0.01)[-1]
    back = odeint(linear_field, x1, [1.0, 0.0], method="rk4", step_size=0.01)[-1]
    torch.testing.assert_close(back, x0, atol=1e-8, rtol=0)
    back = odeint(linear_field, x1, [1.0, 0.0], method="dopri5", atol=1e-10, rtol=1e-10)[-1]
    torch.testing.assert_close(back, x0, atol=1e-8, rtol=0)


@pytest.mark.parametrize("method", ["euler", "rk4", "dopri5"])
def test_tuple_state(method):
    # d(x, s)/dt = (A x, |x|^2): the second part integrates the first
    def f(t, state):
        x, _ = state
        return x @ A.T, (x**2).sum(-1)

    x0 = torch.randn(3, 2, dtype=torch.float64)
    xs, ss = odeint(
        f,
        (x0, torch.zeros(3, dtype=torch.float64)),
        [0.0, 1.0],
        method=method,
        step_size=0.001 if method != "dopri5" else None,
        atol=1e-10,
        rtol=1e-10,
    )
    assert xs.shape == (2, 3, 2) and ss.shape == (2, 3)
    grid = torch.linspace(0, 1, 2001, dtype=torch.float64)
    path = torch.stack([exact_linear(x0, float(g)) for g in grid])
    integral = torch.trapezoid((path**2).sum(-1), grid, dim=0)
    tol = 1e-2 if method == "euler" else 1e-6
    torch.testing.assert_close(ss[-1], integral, atol=tol, rtol=0)


def test_gradcheck_fixed_and_adaptive():
    w = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
    x0 = torch.tensor([[0.5, 1.0]], dtype=torch.float64, requires_grad=True)

    def solve(x0, w, method):
        return odeint(
            lambda t, x: torch.tanh(x * w) + t,
            x0,
            [0.0, 1.0],
            method=method,
            step_size=0.1 if method == "rk4" else None,
            atol=1e-10,
            rtol=1e-10,
        )[-1]

    for method in ("rk4", "dopri5"):
        assert torch.autograd.gradcheck(lambda a, b, method=method: solve(a, b, method), (x0, w))


def test_adjoint_matches_direct_backprop():
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2)
    ).double()

    def field(t, x):
        return net(torch.cat([x, t.expand(*x.shape[:-1], 1)], -1))

    x0 = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    params = tuple(net.parameters())
    kw = dict(method="dopri5", atol=1e-10, rtol=1e-10)
    direct = torch.autograd.grad(
        odeint(field, x0, [0.0, 1.0], **kw)[-1].pow(2).sum(), (x0, *params)
    )
    adj = torch.autograd.grad(
        odeint(field, x0, [0.0, 1.0], adjoint=True, adjoint_params=params, **kw)[-1].pow(2).sum(),
        (x0, *params),
    )
    for a, b in zip(direct, adj):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def test_adjoint_with_module_uses_its_parameters():
    class Field(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Parameter(torch.tensor(-0.5, dtype=torch.float64))

        def forward(self, t, x):
            return self.a * x

    f = Field()
    x = odeint(
        f, torch.ones(2, dtype=torch.float64), [0.0, 1.0], adjoint=True, atol=1e-10, rtol=1e-10
    )
    x[-1].sum().backward()
    # d/da (2 exp(a)) = 2 exp(a)
    assert f.a.grad is not None
    torch.testing.assert_close(f.a.grad, 2 * torch.exp(f.a.detach()), atol=1e-7, rtol=0)


def test_adjoint_fixed_step_method():
    a = torch.tensor(-0.5, dtype=torch.float64, requires_grad=True)
    x = odeint(
        lambda t, x: a * x,
        torch.ones(2, dtype=torch.float64),
        [0.0, 1.0],
        method="rk4",
        step_size=0.01,
        adjoint=True,
        adjoint_params=(a,),
    )
    (g,) = torch.autograd.grad(x[-1].sum(), a)
    torch.testing.assert_close(g, 2 * torch.exp(a.detach()), atol=1e-8, rtol=0)


def test_adjoint_without_params_is_refused():
    a = torch.tensor(0.5, requires_grad=True)
    with pytest.raises(ValueError, match="adjoint_params"):
        odeint(lambda t, x: a * x, torch.ones(2), [0.0, 1.0], adjoint=True)


@pytest.mark.parametrize("method", ["euler", "rk4", "dopri5"])
def test_manifold_projection_keeps_sphere_ode_on_sphere(method):
    sphere = Sphere(2)
    skew = torch.tensor([[0.0, 1.0, -2.0], [-1.0, 0.0, 0.5], [2.0, -0.5, 0.0]], dtype=torch.float64)
    x0 = sphere.projx(torch.randn(16, 3, dtype=torch.float64))
    step = 0.05 if method != "dopri5" else None

    def field(t, x):  # a rotation plus a radial push that leaves the sphere unless projected
        return x @ skew.T + 0.3 * x

    xs = odeint(
        field,
        x0,
        torch.linspace(0, 2, 5, dtype=torch.float64),
        method=method,
        step_size=step,
        manifold=sphere,
    )
    torch.testing.assert_close(
        xs.norm(dim=-1), torch.ones(5, 16, dtype=torch.float64), atol=1e-12, rtol=0
    )
    free = odeint(field, x0, [0.0, 2.0], method=method, step_size=step)
    assert (free[-1].norm(dim=-1) - 1).abs().min() > 0.1  # without projection it drifts off


@pytest.mark.parametrize("method", sorted(FIXED_STEP_TABLEAUS))
def test_nfe_counting_fixed(method):
    _, stats = odeint(
        linear_field,
        torch.ones(1, 2, dtype=torch.float64),
        [0.0, 0.5, 1.0],
        method=method,
        step_size=0.1,
        return_stats=True,
    )
    assert stats.steps == 10
    assert stats.nfe == 10 * FIXED_STEP_TABLEAUS[method].stages


def test_nfe_counting_adaptive_matches_own_counter():
    calls = []

    def f(t, x):
        calls.append(1)
        return linear_field(t, x)

    _, stats = odeint(f, torch.ones(1, 2, dtype=torch.float64), [0.0, 1.0], return_stats=True)
    assert stats.nfe == len(calls) > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(t=[0.0, 1.0, 0.5]), "strictly increasing or strictly decreasing"),
        (dict(t=[0.0]), "at least two times"),
        (dict(t=[[0.0, 1.0]]), "must be 1-D"),
        (dict(t=[0.0, float("nan")]), "NaN"),
        (dict(method="rk5"), "unknown method 'rk5'; choose one of: euler"),
        (dict(method="dopri5", step_size=0.1), "step_size applies to fixed-step"),
        (dict(method="rk4", step_size=-0.1), "step_size must be a finite positive"),
        (dict(atol=0.0), "atol must be a finite positive"),
        (dict(x0=torch.tensor([1.0, float("nan")])), "NaN or inf"),
        (dict(x0=torch.tensor(1.0)), "at least one dimension"),
    ],
)
def test_bad_input_raises_value_error(kwargs, match):
    args = dict(x0=torch.ones(2), t=[0.0, 1.0], method="rk4")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        odeint(lambda t, x: -x, args.pop("x0"), args.pop("t"), **args)


def test_type_errors():
    with pytest.raises(TypeError, match="floating-point"):
        odeint(lambda t, x: -x, torch.ones(2, dtype=torch.long), [0.0, 1.0])
    with pytest.raises(TypeError, match="callable"):
        odeint("f", torch.ones(2), [0.0, 1.0])
    with pytest.raises(TypeError, match="tensor or a non-empty tuple"):
        odeint(lambda t, x: -x, [1.0, 2.0], [0.0, 1.0])


def test_field_with_wrong_output_shape_is_named():
    with pytest.raises(ValueError, match=r"returned shape \(3, 1\) for a state of shape \(3, 2\)"):
        odeint(lambda t, x: x[..., :1], torch.ones(3, 2), [0.0, 1.0], method="euler")


def test_runaway_adaptive_solve_raises_solver_error():
    # x' = x^2 from x(0) = 1 blows up at t = 1: the solve must stop with a clear error
    x0 = torch.ones(3, dtype=torch.float64)
    with pytest.raises(SolverError, match=r"dopri5 \(atol=1e-06, rtol=1e-05\) took more steps"):
        odeint(lambda t, x: x**2, x0, [0.0, 2.0], options={"max_num_steps": 50})
    with pytest.raises(SolverError, match="field evaluations on \\[0, 2\\]"):
        odeint(lambda t, x: x**2, x0, [0.0, 2.0])
    # a stiff but stable field within the cap is solved, not refused
    xs = odeint(lambda t, x: -50.0 * x, x0, [0.0, 1.0], options={"max_num_steps": 1000})
    assert xs[-1].abs().max() < 1e-6


def test_compiled_steps_match_eager_steps():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))

    def field(t, x):
        return net(x) * torch.cos(t)

    x0 = torch.randn(8, 2)
    t = torch.tensor([0.0, 0.5, 1.0])
    with torch.no_grad():
        eager, stats = odeint(field, x0, t, method="rk4", step_size=0.1, return_stats=True)
        compiled, cstats = odeint(
            field, x0, t, method="rk4", step_size=0.1, compile=True, return_stats=True
        )
    torch.testing.assert_close(compiled, eager, atol=1e-6, rtol=1e-6)
    assert cstats.nfe == stats.nfe == 40
    with pytest.raises(ValueError, match="compile=True applies to fixed-step"):
        odeint(field, x0, t, method="dopri5", compile=True)
