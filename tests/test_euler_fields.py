"""ctflow.fields.euler: the residuals vanish on exact solutions, and the NCL model conserves
mass by construction."""

import math

import pytest
import torch

from ctflow.fields import (
    EulerModel,
    taylor_green,
    taylor_green_pressure,
    taylor_green_residuals,
    variable_density_residuals,
)

NU = 0.1


def _points(n=64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.rand(n, 3, generator=gen, dtype=torch.float64)
    return y * torch.tensor([1.0, 2 * math.pi, 2 * math.pi], dtype=torch.float64)


def test_the_taylor_green_vortex_solves_the_viscous_equations():
    def exact(y):
        t, x = y[0], y[1:]
        return torch.cat([taylor_green(t, x, NU), taylor_green_pressure(t, x, NU)[None]])

    momentum, divergence = taylor_green_residuals(exact, _points(), NU)
    assert float(momentum.abs().max()) < 1e-12 and float(divergence.abs().max()) < 1e-12

    def wrong(y):  # the pressure with the wrong sign
        t, x = y[0], y[1:]
        return torch.cat([taylor_green(t, x, NU), -taylor_green_pressure(t, x, NU)[None]])

    momentum, _ = taylor_green_residuals(wrong, _points(), NU)
    assert float(momentum.abs().max()) > 0.1


def test_a_constant_density_vortex_solves_the_variable_density_equations():
    def exact(y):  # rho = 2, the inviscid vortex, pressure scaled by the density
        t, x = y[0], y[1:]
        v, p = taylor_green(t, x, 0.0), 2 * taylor_green_pressure(t, x, 0.0)
        return torch.cat([torch.full((1,), 2.0, dtype=y.dtype), 2 * v, p[None]])

    momentum, divergence, continuity, rho, _ = variable_density_residuals(exact, _points())
    for r in (momentum, divergence, continuity):
        assert float(r.abs().max()) < 1e-12
    assert torch.allclose(rho, torch.full_like(rho, 2.0))


def test_the_ncl_model_satisfies_continuity_exactly_and_the_pinn_does_not():
    torch.manual_seed(0)
    y = _points(32)
    out = {}
    for method in ("ncl", "pinn"):
        model = EulerModel("variable-density", method, (16, 16), "tanh").double()
        out[method] = variable_density_residuals(model.single, y)[2].detach().abs().max()
    assert float(out["ncl"]) < 1e-10
    assert float(out["pinn"]) > 1e-3


def test_unknown_problems_and_methods_are_refused_by_name():
    with pytest.raises(ValueError, match="problem"):
        EulerModel("burgers", "ncl", (8,), "tanh")
    with pytest.raises(ValueError, match="'pinn'"):
        EulerModel("taylor-green", "fno", (8,), "tanh")
