"""fixed_point and find_root: values and implicit gradients against closed forms and gradcheck."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from ctflow.solvers.fixed_point import ConvergenceWarning, find_root, fixed_point

F64 = torch.float64
METHODS = ["anderson", "iteration"]


def _linear_problem(n: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, dtype=F64, generator=gen)
    a = 0.6 * a / torch.linalg.matrix_norm(a, ord=2)  # ||A||_2 = 0.6 < 1: a contraction
    b = torch.randn(n, dtype=F64, generator=gen)
    return a.requires_grad_(True), b.requires_grad_(True)


@pytest.mark.parametrize("method", METHODS)
def test_linear_fixed_point_value_and_closed_form_gradient(method: str) -> None:
    a, b = _linear_problem()
    eye = torch.eye(5, dtype=F64)
    x, info = fixed_point(
        lambda x: a @ x + b, torch.zeros(5, dtype=F64), method=method, tol=1e-12, return_info=True
    )
    x_true = torch.linalg.solve(eye - a, b)
    torch.testing.assert_close(x, x_true, rtol=1e-10, atol=1e-10)
    assert info["converged"] and info["residual"] <= 1e-12 and info["iterations"] > 1

    w = torch.randn(5, dtype=F64, generator=torch.Generator().manual_seed(1))
    grad_a, grad_b = torch.autograd.grad((w * x).sum(), (a, b))
    # Closed form: u = (I - A)^-T w; dL/db = u, dL/dA = u x*^T.
    u = torch.linalg.solve((eye - a).T, w).detach()
    torch.testing.assert_close(grad_b, u, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(grad_a, torch.outer(u, x_true.detach()), rtol=1e-9, atol=1e-9)
    assert info["backward_converged"] and info["backward_iterations"] > 1


@pytest.mark.parametrize("method", METHODS)
def test_gradcheck_linear_and_cosine_maps(method: str) -> None:
    a, b = _linear_problem(n=3)

    def linear(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return fixed_point(lambda x: a @ x + b, torch.zeros(3, dtype=F64), method=method, tol=1e-14)

    assert torch.autograd.gradcheck(linear, (a, b))

    c = torch.tensor([0.1, -0.4, 1.2], dtype=F64, requires_grad=True)

    def cosine(c: torch.Tensor) -> torch.Tensor:
        return fixed_point(
            lambda x: 0.5 * torch.cos(x) + c, torch.zeros(3, dtype=F64), method=method, tol=1e-14
        )

    assert torch.autograd.gradcheck(cosine, (c,))
    # Closed form: x = 0.5 cos x + c  =>  dx/dc = 1 / (1 + 0.5 sin x).
    x = cosine(c)
    (grad,) = torch.autograd.grad(x.sum(), c)
    torch.testing.assert_close(grad, 1 / (1 + 0.5 * torch.sin(x.detach())))


@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 4)])
def test_any_shape(shape: tuple[int, ...]) -> None:
    c = torch.linspace(-1, 1, max(1, int(torch.Size(shape).numel())), dtype=F64).reshape(shape)
    x = fixed_point(lambda x: 0.5 * torch.cos(x) + c, torch.zeros(shape, dtype=F64))
    assert x.shape == shape
    torch.testing.assert_close(x, 0.5 * torch.cos(x) + c)


@pytest.mark.parametrize("method", METHODS)
def test_float32_default_tolerance_converges_silently(method: str) -> None:
    c = torch.randn(64, 8, generator=torch.Generator().manual_seed(2), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        x = fixed_point(lambda x: 0.5 * torch.tanh(x) + c, torch.zeros(64, 8), method=method)
        x.sum().backward()
    assert x.dtype == torch.float32
    torch.testing.assert_close(x, 0.5 * torch.tanh(x) + c)
    want = 1 / (1 - 0.5 * (1 - torch.tanh(x.detach()) ** 2))
    torch.testing.assert_close(c.grad, want, rtol=1e-4, atol=1e-5)


def _graph_size(t: torch.Tensor) -> int:
    seen, stack = set(), [t.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(next_fn for next_fn, _ in node.next_functions)
    return len(seen)


def test_graph_does_not_grow_with_iterations() -> None:
    c = torch.tensor([0.3, 0.7], dtype=F64, requires_grad=True)
    # Contraction factor ~0.99: Picard needs ~2000 iterations.
    x, info = fixed_point(
        lambda x: 0.99 * x + 0.005 * torch.sin(x) + c,
        torch.zeros(2, dtype=F64),
        method="iteration",
        max_iter=5000,
        tol=1e-10,
        return_info=True,
    )
    assert info["iterations"] > 1000
    assert _graph_size(x) < 10  # one application of f, not one per iteration
    (grad,) = torch.autograd.grad(x.sum(), c)
    want = 1 / (1 - 0.99 - 0.005 * torch.cos(x.detach()))
    torch.testing.assert_close(grad, want, rtol=1e-6, atol=0)


class _EquilibriumLayer(nn.Module):
    """z = tanh(W z + U inp): the deep-equilibrium use case, parameters inside a module."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(3)
        self.w = nn.Parameter(0.3 * torch.randn(4, 4, dtype=F64, generator=gen) / 2)
        self.u = nn.Parameter(torch.randn(4, 3, dtype=F64, generator=gen))

    def forward(self, z: torch.Tensor, inp: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z @ self.w.T + inp @ self.u.T)


@pytest.mark.parametrize("method", METHODS)
def test_module_parameters_and_inputs_match_unrolled_backprop(method: str) -> None:
    layer = _EquilibriumLayer()
    inp = torch.randn(6, 3, dtype=F64, generator=torch.Generator().manual_seed(4))
    inp.requires_grad_(True)
    z = fixed_point(lambda z: layer(z, inp), torch.zeros(6, 4, dtype=F64), method=method, tol=1e-12)
    wrt = (layer.w, layer.u, inp)
    implicit = torch.autograd.grad(z.square().sum(), wrt)
    # Truth: backprop through enough plain iterations to converge to machine precision.
    z_unrolled = torch.zeros(6, 4, dtype=F64)
    for _ in range(200):
        z_unrolled = layer(z_unrolled, inp)
    unrolled = torch.autograd.grad(z_unrolled.square().sum(), wrt)
    torch.testing.assert_close(z, z_unrolled, rtol=1e-10, atol=1e-10)
    for got, want in zip(implicit, unrolled):
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-9)


def test_no_grad_mode_returns_plain_tensor() -> None:
    c = torch.ones(3, requires_grad=True)
    with torch.no_grad():
        x = fixed_point(lambda x: 0.5 * torch.cos(x) + c, torch.zeros(3))
    assert not x.requires_grad


@pytest.mark.parametrize("method", METHODS)
def test_non_convergence_warns_with_residual_and_iterations(method: str) -> None:
    with pytest.warns(ConvergenceWarning, match=r"residual \d\.\d+e[-+]\d+ > tol .* after 3 iter"):
        x, info = fixed_point(
            lambda x: 0.9 * torch.cos(x),
            torch.zeros(2, dtype=F64),
            method=method,
            max_iter=3,
            return_info=True,
        )
    assert not info["converged"] and info["iterations"] == 3 and info["residual"] > 1e-8
    assert torch.isfinite(x).all()


@pytest.mark.parametrize("method", METHODS)
def test_non_finite_iterate_stops_early_with_warning(method: str) -> None:
    # x = log x has no real solution; the second iterate is log(0) = -inf.
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        x, info = fixed_point(torch.log, torch.ones(3), method=method, return_info=True)
    assert info["iterations"] == 2 and not info["converged"]
    assert torch.isfinite(x).all()  # the best iterate, not the overflowed one


def test_backward_non_convergence_warns() -> None:
    c = torch.ones(3, dtype=F64, requires_grad=True)
    x, info = fixed_point(
        lambda x: 0.9 * torch.cos(x) + c,
        torch.zeros(3, dtype=F64),
        method="iteration",
        backward_max_iter=2,
        return_info=True,
    )
    with pytest.warns(ConvergenceWarning, match="backward .* after 2 iterations"):
        x.sum().backward()
    assert info["backward_converged"] is False and info["backward_iterations"] == 2


def test_anderson_beats_plain_iteration() -> None:
    c = torch.tensor([0.3, 0.7], dtype=F64)
    runs = {
        m: fixed_point(
            lambda x: 0.99 * x + 0.005 * torch.sin(x) + c,
            torch.zeros(2, dtype=F64),
            method=m,
            max_iter=5000,
            tol=1e-10,
            return_info=True,
        )[1]["iterations"]
        for m in METHODS
    }
    assert runs["anderson"] * 10 < runs["iteration"]


@pytest.mark.parametrize(
    "f, x0, kwargs, err, match",
    [
        (3, torch.zeros(2), {}, TypeError, "f must be callable"),
        (torch.cos, [0.0], {}, TypeError, "x0 must be a tensor"),
        (torch.cos, torch.zeros(2, dtype=torch.long), {}, TypeError, "floating-point"),
        (torch.cos, torch.tensor([float("nan")]), {}, ValueError, "NaN"),
        (
            torch.cos,
            torch.zeros(2),
            {"method": "broyden"},
            ValueError,
            "unknown method 'broyden'; choose one of: anderson, iteration",
        ),
        (torch.cos, torch.zeros(2), {"tol": 0.0}, ValueError, "tol must be a finite positive"),
        (torch.cos, torch.zeros(2), {"backward_tol": -1.0}, ValueError, "backward_tol must be"),
        (torch.cos, torch.zeros(2), {"max_iter": 0}, ValueError, "max_iter must be a positive int"),
        (
            torch.cos,
            torch.zeros(2),
            {"backward_max_iter": 1.5},
            ValueError,
            "backward_max_iter must be a positive integer",
        ),
        (torch.cos, torch.zeros(2), {"anderson_m": 0}, ValueError, "anderson_m must be a positive"),
        (torch.cos, torch.zeros(2), {"damping": 1.5}, ValueError, r"damping must be in \(0, 1\]"),
        (torch.cos, torch.zeros(2), {"damping": 0.0}, ValueError, "damping must be a finite pos"),
        (
            lambda x: x.sum(),
            torch.zeros(2),
            {},
            ValueError,
            r"f\(x\) must return the shape of x, \(2,\), got \(\)",
        ),
    ],
)
def test_fixed_point_bad_inputs(f, x0, kwargs: dict, err: type[Exception], match: str) -> None:
    with pytest.raises(err, match=match):
        fixed_point(f, x0, **kwargs)


# --- find_root ---------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [(4,), (2, 3)])
def test_cube_root_value_and_gradient(batch: tuple[int, ...]) -> None:
    gen = torch.Generator().manual_seed(5)
    a = (0.5 + 10 * torch.rand(*batch, 1, dtype=F64, generator=gen)).requires_grad_(True)
    root, info = find_root(lambda x: x**3 - a, torch.ones(*batch, 1, dtype=F64), return_info=True)
    assert root.shape == (*batch, 1) and info["converged"]
    torch.testing.assert_close(root, a.detach() ** (1 / 3), rtol=1e-13, atol=0)
    (grad,) = torch.autograd.grad(root.sum(), a)
    torch.testing.assert_close(grad, a.detach() ** (-2 / 3) / 3, rtol=1e-12, atol=0)

    def solve(a: torch.Tensor) -> torch.Tensor:
        return find_root(lambda x: x**3 - a, torch.ones(*batch, 1, dtype=F64))

    assert torch.autograd.gradcheck(solve, (a,))


def test_coupled_system_gradcheck() -> None:
    # F(x) = M x + 0.1 x^3 - b, batched over 3 right-hand sides, d = 2.
    gen = torch.Generator().manual_seed(6)
    m = torch.eye(2, dtype=F64) * 2 + 0.3 * torch.randn(2, 2, dtype=F64, generator=gen)
    b = torch.randn(3, 2, dtype=F64, generator=gen)
    m.requires_grad_(True)
    b.requires_grad_(True)

    def solve(m: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return find_root(lambda x: x @ m.T + 0.1 * x**3 - b, torch.zeros(3, 2, dtype=F64))

    x = solve(m, b)
    torch.testing.assert_close(x @ m.T + 0.1 * x**3, b)
    assert torch.autograd.gradcheck(solve, (m, b))


def test_find_root_float32() -> None:
    a = torch.tensor([[2.0], [30.0]], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        root = find_root(lambda x: x**3 - a, torch.ones(2, 1))
    assert root.dtype == torch.float32
    torch.testing.assert_close(root, a.detach() ** (1 / 3))


def test_find_root_non_convergence_and_singular_jacobian() -> None:
    a = torch.tensor([[27.0]], dtype=F64)
    with pytest.warns(ConvergenceWarning, match=r"find_root did not converge: residual .* after 2"):
        root, info = find_root(
            lambda x: x**3 - a, torch.ones(1, 1, dtype=F64), max_iter=2, return_info=True
        )
    assert not info["converged"] and info["iterations"] == 2
    with pytest.raises(ValueError, match="Jacobian dF/dx is singular at iteration 0"):
        find_root(lambda x: x**2 - 4.0, torch.zeros(1, 1, dtype=F64))


@pytest.mark.parametrize(
    "f, x0, kwargs, err, match",
    [
        ("F", torch.ones(2, 1), {}, TypeError, "F must be callable"),
        (torch.sin, torch.tensor(1.0), {}, ValueError, "at least one dimension"),
        (torch.sin, torch.ones(2, 1, dtype=torch.int32), {}, TypeError, "floating-point"),
        (torch.sin, torch.tensor([[float("inf")]]), {}, ValueError, "NaN or inf"),
        (torch.sin, torch.ones(2, 1), {"tol": -1.0}, ValueError, "tol must be a finite positive"),
        (torch.sin, torch.ones(2, 1), {"max_iter": 0}, ValueError, "max_iter must be a positive"),
        (
            lambda x: x[..., 0],
            torch.ones(2, 1),
            {},
            ValueError,
            r"F\(x\) must return the shape of x, \(2, 1\), got \(2,\)",
        ),
    ],
)
def test_find_root_bad_inputs(f, x0, kwargs: dict, err: type[Exception], match: str) -> None:
    with pytest.raises(err, match=match):
        find_root(f, x0, **kwargs)
