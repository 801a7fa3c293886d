"""The extra schedulers against closed forms, and the change of variables between any two paths:
the marginal velocity of Gaussian data on one path, transformed, is the other path's."""

from __future__ import annotations

import itertools

import pytest
import torch

from ctflow.paths import (
    CondOTPath,
    CosinePath,
    LinearVPPath,
    PolynomialPath,
    ScheduleTransformedField,
    VEPath,
    VPPath,
    time_at_snr,
)

PATHS = {
    "condot": CondOTPath(),
    "condot-smin": CondOTPath(sigma_min=0.1),
    "cosine": CosinePath(),
    "poly2": PolynomialPath(2.0),
    "poly0.5": PolynomialPath(0.5),
    "linear-vp": LinearVPPath(),
    "vp": VPPath(),
    "ve": VEPath(sigma_min=0.05, sigma_max=5.0),
}
T = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)


@pytest.mark.parametrize("name", ["cosine", "poly2", "poly0.5", "linear-vp"])
def test_new_schedulers_derivatives_match_central_differences(name):
    path, h = PATHS[name], 1e-6
    for f, df in ((path.alpha, path.d_alpha), (path.sigma, path.d_sigma)):
        fd = (f(T + h) - f(T - h)) / (2 * h)
        torch.testing.assert_close(df(T), fd, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("name", list(PATHS))
def test_time_at_snr_inverts_each_paths_snr(name):
    path = PATHS[name]
    torch.testing.assert_close(time_at_snr(path, path.alpha(T) / path.sigma(T)), T)


def gaussian_velocity(path, m, var):
    """The exact marginal velocity of data N(m, diag(var)) on ``path``."""

    def v(t, x):
        a, s = path.alpha(t)[..., None], path.sigma(t)[..., None]
        da, ds = path.d_alpha(t)[..., None], path.d_sigma(t)[..., None]
        return da * m + (a * da * var + s * ds) / (a * a * var + s * s) * (x - a * m)

    return v


@pytest.mark.parametrize("a, b", list(itertools.permutations(PATHS, 2)))
def test_a_transformed_field_is_the_other_paths_marginal_velocity(a, b):
    g = torch.Generator().manual_seed(0)
    m = torch.tensor([1.5, -0.5, 0.2], dtype=torch.float64)
    var = torch.tensor([0.3, 2.0, 1.0], dtype=torch.float64)
    x = 2 * torch.randn(len(T), 3, generator=g, dtype=torch.float64)
    field = ScheduleTransformedField(gaussian_velocity(PATHS[a], m, var), PATHS[a], PATHS[b])
    torch.testing.assert_close(field(T, x), gaussian_velocity(PATHS[b], m, var)(T, x))
    # a 0-d time broadcasts over the batch
    torch.testing.assert_close(
        field(T[3], x), gaussian_velocity(PATHS[b], m, var)(T[3].expand(len(T)), x)
    )


def test_sampling_a_transformed_field_reaches_the_data():
    # the exact OT-path velocity of N(m, diag(var)), sampled on the cosine path: the pushforward
    # of the cosine path's source must be the data
    from ctflow.solvers import odeint

    m = torch.tensor([1.5, -0.5], dtype=torch.float64)
    var = torch.tensor([0.3, 2.0], dtype=torch.float64)
    cosine = CosinePath()
    field = ScheduleTransformedField(gaussian_velocity(CondOTPath(), m, var), CondOTPath(), cosine)
    r0, r1, n = 1e-4, 1 - 1e-4, 4000
    g = torch.Generator().manual_seed(1)
    a0, s0 = cosine.alpha(torch.tensor(r0)), cosine.sigma(torch.tensor(r0))
    x0 = a0 * m + torch.sqrt(a0**2 * var + s0**2) * torch.randn(
        n, 2, generator=g, dtype=torch.float64
    )
    t = torch.tensor([r0, r1], dtype=torch.float64)
    x1 = odeint(field, x0, t, method="dopri5", atol=1e-8, rtol=1e-8)[-1]
    assert (x1.mean(0) - m).abs().max() < 4 * (var / n).sqrt().max()
    torch.testing.assert_close(x1.var(0), var, rtol=0.1, atol=0)
