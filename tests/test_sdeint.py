"""sdeint against closed-form SDE solutions, convergence orders, torchsde, and its input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchsde
from torch import nn

from ctflow.solvers.sdeint import sdeint

F64 = torch.float64


def _gbm_setup(n_paths: int = 4000, n_fine: int = 2**10, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    dw = torch.randn(n_fine, n_paths, 1, generator=gen, dtype=F64) / math.sqrt(n_fine)
    return dw, torch.ones(n_paths, 1, dtype=F64)


@pytest.mark.parametrize("method, order", [("euler", 0.5), ("milstein", 1.0)])
def test_strong_order_on_geometric_brownian_motion(method: str, order: float) -> None:
    mu, sigma = 0.5, 1.0
    dw, x0 = _gbm_setup()
    exact = x0 * torch.exp(mu - 0.5 * sigma**2 + sigma * dw.sum(0))  # X_1 on the same path
    steps, errors = [], []
    for k in range(3, 8):
        n = 2**k
        coarse = dw.reshape(n, -1, *dw.shape[1:]).sum(1)  # sum fine increments onto the coarse grid
        with torch.no_grad():  # Milstein's autograd derivative would otherwise keep a graph
            xs = sdeint(
                lambda t, x: mu * x,
                lambda t, x: sigma * x,
                x0,
                [0.0, 1.0],
                dt=1 / n,
                bm=coarse,
                method=method,
            )
        steps.append(1 / n)
        errors.append(float((xs[-1] - exact).abs().mean()))
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.2, (slope, errors)


def test_returned_increments_replay_the_solution() -> None:
    f, g = (lambda t, x: torch.sin(x) - x), (lambda t, x: 0.3 + 0.1 * torch.cos(x))
    x0 = torch.randn(5, 3, dtype=F64)
    t = torch.tensor([0.0, 0.3, 1.0], dtype=F64)
    gen = torch.Generator().manual_seed(1)
    xs, dws = sdeint(f, g, x0, t, dt=0.1, generator=gen, return_increments=True)
    assert dws.shape == (3 + 7, 5, 3)  # ceil(0.3/0.1) + ceil(0.7/0.1) steps
    replay, dws2 = sdeint(f, g, x0, t, dt=0.1, bm=dws, return_increments=True)
    torch.testing.assert_close(replay, xs, rtol=0, atol=0)
    torch.testing.assert_close(dws2, dws, rtol=0, atol=0)
    again = sdeint(f, g, x0, t, dt=0.1, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(again, xs, rtol=0, atol=0)


@pytest.mark.parametrize("noise", ["diagonal", "general"])
def test_pure_noise_sums_the_increments(noise: str) -> None:
    # dX = dW exactly: X_t is x0 plus the running sum of the increments, whatever the scheme.
    x0 = torch.randn(4, 2, dtype=F64)
    g = (
        (lambda t, x: torch.ones_like(x))
        if noise == "diagonal"
        else (lambda t, x: torch.eye(2, dtype=F64).expand(*x.shape, 2))
    )
    t = torch.linspace(0, 1, 4, dtype=F64)
    xs, dws = sdeint(lambda t, x: 0 * x, g, x0, t, dt=0.05, noise=noise, return_increments=True)
    assert dws.shape == (21, 4, 2)  # 7 steps of 1/21 in each of the 3 intervals
    torch.testing.assert_close(xs[-1], x0 + dws.sum(0))
    torch.testing.assert_close(xs[1], x0 + dws[:7].sum(0))


def test_step_grid_and_time_argument() -> None:
    seen: list[torch.Tensor] = []

    def f(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        seen.append(t)
        return torch.ones_like(x)

    x0 = torch.zeros(2, dtype=F64)
    xs = sdeint(f, lambda t, x: 0 * x, x0, [0.0, 0.25, 1.0], dt=0.1)
    assert all(isinstance(s, torch.Tensor) and s.dim() == 0 for s in seen)
    expected = [0.25 * j / 3 for j in range(3)] + [0.25 + 0.75 * j / 8 for j in range(8)]
    np.testing.assert_allclose([float(s) for s in seen], expected, atol=1e-12)
    torch.testing.assert_close(xs[:, 0], torch.tensor([0.0, 0.25, 1.0], dtype=F64))


def test_drawn_increments_have_variance_h() -> None:
    gen = torch.Generator().manual_seed(2)
    x0 = torch.zeros(20000, 1, dtype=F64)
    _, dws = sdeint(
        lambda t, x: 0 * x,
        lambda t, x: 0 * x + 1,
        x0,
        [0.0, 0.5],
        dt=0.125,
        generator=gen,
        return_increments=True,
    )
    assert dws.shape == (4, 20000, 1)
    assert abs(float(dws.mean())) < 4 * math.sqrt(0.125 / dws.numel())
    assert abs(float(dws.var()) / 0.125 - 1) < 0.03


@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
@pytest.mark.parametrize(
    "method, noise", [("euler", "diagonal"), ("milstein", "diagonal"), ("euler", "general")]
)
def test_any_batch_shape(batch: tuple[int, ...], method: str, noise: str) -> None:
    x0 = torch.randn(*batch, 2)
    m = 3
    if noise == "diagonal":
        g, noise_shape = (lambda t, x: 0.2 * torch.tanh(x) + 0.1), (*batch, 2)
    else:
        g, noise_shape = (lambda t, x: 0.1 * torch.ones(*x.shape, m)), (*batch, m)
    xs, dws = sdeint(
        lambda t, x: -x,
        g,
        x0,
        [0.0, 0.5, 1.0],
        dt=0.25,
        method=method,
        noise=noise,
        return_increments=True,
    )
    assert xs.shape == (3, *batch, 2)
    assert dws.shape == (4, *noise_shape)
    assert torch.isfinite(xs).all()
    torch.testing.assert_close(xs[0], x0)


@pytest.mark.parametrize("batch", [(), (2, 3)])
@pytest.mark.parametrize("noise", ["diagonal", "general"])
def test_torchsde_backend_any_batch_shape(batch: tuple[int, ...], noise: str) -> None:
    x0 = torch.randn(*batch, 2)
    g = (
        (lambda t, x: 0.1 * x)
        if noise == "diagonal"
        else (lambda t, x: 0.1 * torch.ones(*x.shape, 3))
    )
    xs = sdeint(lambda t, x: -x, g, x0, [0.0, 0.5, 1.0], dt=0.1, noise=noise, backend="torchsde")
    assert xs.shape == (3, *batch, 2) and torch.isfinite(xs).all()
    torch.testing.assert_close(xs[0], x0)


def test_stats_count_drift_evaluations() -> None:
    x0 = torch.ones(3, 2)
    xs, dws, stats = sdeint(
        lambda t, x: -x,
        lambda t, x: 0.1 * x,
        x0,
        [0.0, 0.5, 1.0],
        dt=0.1,
        return_increments=True,
        return_stats=True,
    )
    assert (stats.nfe, stats.steps, stats.nfe_backward, stats.method) == (10, 10, 0, "euler")
    assert xs.shape == (3, 3, 2) and dws.shape == (10, 3, 2)
    xs, stats = sdeint(
        lambda t, x: -x,
        lambda t, x: 0.1 * x,
        x0,
        [0.0, 1.0],
        dt=0.25,
        method="milstein",
        return_stats=True,
    )
    assert stats.nfe == 4


def _ou_moments(theta: float, sig: torch.Tensor, x0: torch.Tensor, t: float):
    mean = math.exp(-theta * t) * x0
    cov = sig @ sig.T * (1 - math.exp(-2 * theta * t)) / (2 * theta)
    return mean, cov


def test_general_noise_ornstein_uhlenbeck_moments() -> None:
    # dX = -theta X dt + S dW with d=2, m=3: X_1 ~ N(e^-theta x0, S S^T (1 - e^-2theta) / 2theta).
    theta, n = 1.5, 20000
    sig = torch.tensor([[0.5, -0.3, 0.2], [0.1, 0.4, -0.6]], dtype=F64)
    x0 = torch.tensor([1.0, -2.0], dtype=F64).expand(n, 2)
    xs = sdeint(
        lambda t, x: -theta * x,
        lambda t, x: sig.expand(*x.shape[:-1], 2, 3),
        x0,
        [0.0, 1.0],
        dt=0.005,
        noise="general",
        generator=torch.Generator().manual_seed(3),
    )
    mean, cov = _ou_moments(theta, sig, x0[0], 1.0)
    sample = xs[-1]
    torch.testing.assert_close(
        sample.mean(0), mean, atol=4 * cov.diag().max().sqrt() / n**0.5, rtol=0
    )
    torch.testing.assert_close(torch.cov(sample.T), cov, atol=0.01, rtol=0.05)


@pytest.mark.parametrize("method", ["euler", "milstein"])
def test_gradcheck_native_solve_fixed_noise(method: str) -> None:
    x0 = torch.randn(3, 2, dtype=F64, requires_grad=True)
    theta = torch.tensor(0.7, dtype=F64, requires_grad=True)
    sigma = torch.tensor(0.4, dtype=F64, requires_grad=True)
    dws = torch.randn(8, 3, 2, dtype=F64, generator=torch.Generator().manual_seed(4)) * 0.35

    def solve(x0: torch.Tensor, theta: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return sdeint(
            lambda t, x: -theta * torch.sin(x),
            lambda t, x: sigma * torch.tanh(x),
            x0,
            [0.0, 0.5, 1.0],
            dt=0.125,
            bm=dws,
            method=method,
        )

    assert torch.autograd.gradcheck(solve, (x0, theta, sigma))


def test_milstein_under_no_grad() -> None:
    x0 = torch.ones(4, 2)
    with torch.no_grad():
        xs = sdeint(
            lambda t, x: 0 * x, lambda t, x: 0.5 * x, x0, [0.0, 1.0], dt=0.1, method="milstein"
        )
    assert not xs.requires_grad and torch.isfinite(xs).all()


def _brownian(size: tuple[int, int], entropy: int = 7) -> torchsde.BrownianInterval:
    return torchsde.BrownianInterval(t0=0.0, t1=1.0, size=size, dtype=F64, entropy=entropy)


@pytest.mark.parametrize(
    "method, noise", [("euler", "diagonal"), ("milstein", "diagonal"), ("euler", "general")]
)
def test_torchsde_backend_matches_native_pathwise(method: str, noise: str) -> None:
    # Same Brownian object, steps on a dyadic grid: both backends must take identical steps.
    x0 = torch.rand(3, 4, 2, dtype=F64) + 0.5
    t = torch.linspace(0, 1, 5, dtype=F64)
    if noise == "diagonal":
        g, m = (lambda t, x: 0.3 * x), 2
    else:
        mix = torch.tensor([[0.2, 0.1, 0.0], [0.0, -0.3, 0.4]], dtype=F64)
        g, m = (lambda t, x: x.unsqueeze(-1) * mix), 3
    kwargs = dict(dt=1 / 16, method=method, noise=noise)
    native = sdeint(lambda t, x: -x, g, x0, t, bm=_brownian((12, m)), **kwargs)
    ts = sdeint(lambda t, x: -x, g, x0, t, bm=_brownian((12, m)), backend="torchsde", **kwargs)
    assert ts.shape == (5, 3, 4, 2)
    torch.testing.assert_close(ts, native, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["euler", "srk"])
def test_torchsde_backend_ou_distribution(method: str) -> None:
    theta, sigma, n = 1.0, 0.6, 8000
    x0 = torch.full((n, 1), 2.0, dtype=F64)
    gen = torch.Generator().manual_seed(5)
    xs = sdeint(
        lambda t, x: -theta * x,
        lambda t, x: sigma * torch.ones_like(x),
        x0,
        [0.0, 1.0],
        dt=0.02,
        backend="torchsde",
        method=method,
        generator=gen,
    )
    mean, cov = _ou_moments(theta, torch.tensor([[sigma]], dtype=F64), x0[0], 1.0)
    assert abs(float(xs[-1].mean()) - float(mean)) < 4 * math.sqrt(float(cov) / n)
    assert abs(float(xs[-1].var()) / float(cov) - 1) < 0.08


def test_torchsde_adaptive_runs() -> None:
    x0 = torch.ones(16, 2, dtype=F64)
    xs = sdeint(
        lambda t, x: -x,
        lambda t, x: 0.1 * torch.ones_like(x),
        x0,
        [0.0, 0.5, 1.0],
        dt=0.1,
        backend="torchsde",
        method="srk",
        adaptive=True,
        generator=torch.Generator().manual_seed(0),
    )
    assert xs.shape == (3, 16, 2) and torch.isfinite(xs).all()


class _OUDrift(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(1.3, dtype=F64))
        self.sigma = nn.Parameter(torch.tensor(0.4, dtype=F64))

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return -self.theta * x


def test_torchsde_adjoint_gradient_matches_backprop() -> None:
    drift = _OUDrift()

    def g(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return drift.sigma * torch.ones_like(x)

    x0 = torch.randn(3, 4, 2, dtype=F64, generator=torch.Generator().manual_seed(6))
    x0.requires_grad_(True)
    t = torch.linspace(0, 1, 5, dtype=F64)
    w = torch.randn(5, 3, 4, 2, dtype=F64, generator=torch.Generator().manual_seed(7))
    params = (*drift.parameters(), x0)
    grads = {}
    for name, kwargs in {
        "native": {},
        "torchsde": {"backend": "torchsde"},
        "adjoint": {"backend": "torchsde", "adjoint": True},
    }.items():
        xs = sdeint(drift, g, x0, t, dt=1 / 256, bm=_brownian((12, 2)), **kwargs)
        grads[name] = torch.autograd.grad((w * xs).sum(), params)
    for exact, adj, native in zip(grads["torchsde"], grads["adjoint"], grads["native"]):
        torch.testing.assert_close(native, exact)  # same steps, same path
        # The adjoint discretises the backward SDE separately: equal only up to O(dt).
        torch.testing.assert_close(adj, exact, rtol=0.03, atol=0.03)


def test_torchsde_adjoint_with_explicit_params() -> None:
    theta = torch.tensor(0.8, dtype=F64, requires_grad=True)
    x0 = torch.ones(4, 1, dtype=F64)
    xs, stats = sdeint(
        lambda t, x: -theta * x,
        lambda t, x: 0.2 * torch.ones_like(x),
        x0,
        [0.0, 1.0],
        dt=0.05,
        backend="torchsde",
        adjoint=True,
        adjoint_params=(theta,),
        bm=_brownian((4, 1)),
        return_stats=True,
    )
    assert stats.nfe > 0 and stats.nfe_backward == 0
    (grad,) = torch.autograd.grad(xs[-1].sum(), theta)
    assert torch.isfinite(grad) and float(grad) < 0  # stronger pull to 0 lowers X_1 > 0
    assert stats.nfe_backward > 0


# --- input validation -------------------------------------------------------------------------

_f = lambda t, x: -x  # noqa: E731
_g = lambda t, x: 0.1 * x  # noqa: E731
_X0 = torch.ones(4, 2)
_T = [0.0, 1.0]


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"x0": [1.0, 2.0]}, TypeError, "x0 must be a tensor"),
        ({"x0": torch.tensor([1.0, float("nan")])}, ValueError, "NaN"),
        ({"x0": torch.tensor(1.0)}, ValueError, "at least one dimension"),
        ({"x0": torch.ones(2, dtype=torch.long)}, TypeError, "floating-point"),
        ({"t": torch.zeros(2, 2)}, ValueError, "must be 1-D"),
        ({"t": [0.0, 0.5, 0.2]}, ValueError, "strictly increasing or strictly decreasing"),
        ({"t": [1.0, 0.0]}, ValueError, "t must be increasing"),
        ({"f": 3}, TypeError, "f must be callable"),
        ({"method": "rk4"}, ValueError, "unknown method 'rk4'; choose one of: euler, mil"),
        ({"method": "srk"}, ValueError, "method 'srk' needs backend='torchsde'"),
        ({"noise": "scalar"}, ValueError, "unknown noise 'scalar'; choose one of: diagonal, gen"),
        ({"backend": "jax"}, ValueError, "unknown backend 'jax'; choose one of: native, torchsde"),
        ({"dt": 0.0}, ValueError, "dt must be a finite positive number"),
        ({"dt": -0.1}, ValueError, "dt must be a finite positive number"),
        ({"bm": torch.zeros(3, 4, 2)}, ValueError, r"bm must have shape .* = \(1, 4, 2\)"),
        ({"bm": torch.zeros(1, 4, 2, dtype=torch.long)}, TypeError, "floating-point"),
        ({"bm": [0.1]}, TypeError, "bm must be a tensor of increments or a torchsde Brownian"),
        ({"bm": _brownian((4, 3))}, ValueError, r"size \(B, m\) = \(4, 2\)"),
        ({"g": lambda t, x: x[..., :1]}, ValueError, r"g\(t, x\) returned shape \(4, 1\), exp"),
        ({"f": lambda t, x: x.sum(-1)}, ValueError, r"f\(t, x\) returned shape \(4,\), expected"),
        ({"f": lambda t, x: 1.0}, TypeError, r"f\(t, x\) must return a tensor"),
        ({"noise": "general"}, ValueError, r"returned shape \(4, 2\), expected \(4, 2, 'm'\)"),
        ({"noise": "general", "method": "milstein"}, ValueError, "supports diagonal noise only"),
        ({"adjoint": True}, ValueError, "adjoint=True needs backend='torchsde'"),
        ({"adaptive": True}, ValueError, "adaptive=True needs backend='torchsde'"),
        ({"adjoint_params": ()}, ValueError, "adjoint_params is only used with adjoint=True"),
        ({"generator": 0}, TypeError, "generator must be a torch.Generator"),
        ({"atol": 0.0}, ValueError, "atol must be a finite positive number"),
        ({"backend": "torchsde", "return_increments": True}, ValueError, "backend='native'"),
        ({"backend": "torchsde", "bm": torch.zeros(1, 4, 2)}, ValueError, "backend='native'"),
        ({"backend": "torchsde", "adjoint": True}, ValueError, "needs adjoint_params"),
        (
            {"backend": "torchsde", "method": "srk", "noise": "general"},
            ValueError,
            "diagonal noise only",
        ),
        (
            {"backend": "torchsde", "g": lambda t, x: x[..., :1]},
            ValueError,
            r"g\(t, x\) returned \(4, 1\), expected shape \(4, 2\)",
        ),
    ],
)
def test_bad_inputs(kwargs: dict, err: type[Exception], match: str) -> None:
    args = {"f": _f, "g": _g, "x0": _X0, "t": _T}
    args.update(kwargs)
    f, g, x0, t = args.pop("f"), args.pop("g"), args.pop("x0"), args.pop("t")
    with pytest.raises(err, match=match):
        sdeint(f, g, x0, t, **args)
