"""RewardGuidance against targets known in closed form.

A reward tilt ``q(x1) ~ p(x1) exp(lambda r(x1))`` of Gaussian data with a linear reward is the same
Gaussian shifted by ``lambda Sigma a``; of a Gaussian mixture, the mixture with every mean shifted
and the weights reweighted by ``exp(lambda a.mu_k)``. Fields are the exact CondOT marginal
velocities of the data, so every error measured here is the guidance's own.
"""

import math

import pytest
import torch

from ctflow.flows import RewardGuidance
from ctflow.paths import CondOTPath
from ctflow.solvers import odeint


class MixtureField(torch.nn.Module):
    """The exact CondOT marginal velocity of ``sum_k w_k N(mu_k, sigma_k^2 I)``, ``x (N, D)``."""

    def __init__(self, weights, means, stds):
        super().__init__()
        self.w = torch.as_tensor(weights, dtype=torch.float64)
        self.mu = torch.as_tensor(means, dtype=torch.float64)  # (K, D)
        self.sd = torch.as_tensor(stds, dtype=torch.float64)  # (K,)

    def forward(self, t, x):
        t = torch.as_tensor(t, dtype=x.dtype)
        s = ((1 - t) ** 2 + (t * self.sd) ** 2).sqrt()  # (K,)
        ds = (-(1 - t) + t * self.sd**2) / s
        diff = x[:, None, :] - t * self.mu[None]  # (N, K, D)
        d = x.shape[-1]
        log_r = self.w.log() - d * s.log() - 0.5 * diff.square().sum(-1) / s**2
        resp = torch.softmax(log_r, dim=-1)  # (N, K)
        v_k = self.mu[None] + diff * (ds / s)[None, :, None]
        return (resp[..., None] * v_k).sum(1)


def _solve(field, x0):
    return odeint(field, x0, [0.0, 1.0], method="rk4", step_size=0.005)[-1]


def test_linear_reward_on_gaussian_data_is_exact():
    mu, sigma, a, lam = torch.tensor([1.0, -0.5]), 0.6, torch.tensor([0.5, 1.0]), 0.8
    field = MixtureField([1.0], mu[None], [sigma])
    guided = RewardGuidance(field, CondOTPath(), lambda x: x @ a.double(), scale=lam)
    x0 = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x1 = _solve(guided, x0)
    # the tilted target N(mu + lam sigma^2 a, sigma^2 I), reached by the affine map of x0
    expected = mu + lam * sigma**2 * a + sigma * x0
    torch.testing.assert_close(x1, expected.double(), rtol=0, atol=1e-5)  # measured 1.6e-7
    assert (_solve(field, x0) - expected).abs().max() > 0.2  # unguided: the untilted target


def _w2_1d(samples, target):
    """Exact 1-D W2 between equal-size samples: sorted pairs."""
    return float((samples.sort().values - target.sort().values).square().mean().sqrt())


def test_linear_reward_on_a_mixture_is_approximate_and_measured():
    w, mu, sd, lam = [0.5, 0.5], [[-2.0], [2.0]], [0.5, 0.5], 0.5
    field = MixtureField(w, mu, sd)
    guided = RewardGuidance(field, CondOTPath(), lambda x: x[..., 0], scale=lam)
    n = 4000
    gen = torch.Generator().manual_seed(1)
    x0 = torch.randn(n, 1, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        x1 = _solve(guided, x0)[:, 0]
    # closed-form tilt: means + lam sd^2, weights ~ w_k exp(lam mu_k)
    tilt = torch.tensor(w) * torch.exp(lam * torch.tensor(mu)[:, 0])
    tilt = tilt / tilt.sum()
    right = float(tilt[1])
    comp = (torch.rand(n, generator=gen) < right).long()
    target = torch.tensor(mu)[comp, 0] + lam * 0.25 + 0.5 * torch.randn(n, generator=gen)
    target = target.double()
    untilted = _solve(field, x0)[:, 0]
    w2_guided, w2_unguided = _w2_1d(x1, target), _w2_1d(untilted, target)
    mass_right = float((x1 > 0).double().mean())
    # the guidance moves most of the way (measured: see docs/results/flow-matching.md)
    assert w2_guided < 0.5 * w2_unguided, (w2_guided, w2_unguided)
    assert abs(mass_right - right) < 0.1, (mass_right, right)
    print(
        f"mixture: W2 guided {w2_guided:.3f}, unguided {w2_unguided:.3f}; right-mode mass "
        f"{mass_right:.3f} vs exact {right:.3f}"
    )


def test_bad_arguments_are_named():
    field = MixtureField([1.0], [[0.0]], [1.0])
    with pytest.raises(TypeError, match="affine Gaussian path"):
        RewardGuidance(field, object(), lambda x: x[..., 0], 1.0)
    with pytest.raises(ValueError, match="t_min"):
        RewardGuidance(field, CondOTPath(), lambda x: x[..., 0], 1.0, t_min=0.0)
    guided = RewardGuidance(field, CondOTPath(), lambda x: x, 1.0)
    with pytest.raises(ValueError, match="one value per row"):
        guided(torch.tensor(0.5), torch.zeros(3, 1, dtype=torch.float64))
    assert math.isfinite(
        float(
            RewardGuidance(field, CondOTPath(), lambda x: x[..., 0], 0.0)(
                0.0, torch.zeros(2, 1, dtype=torch.float64)
            ).sum()
        )
    )


def test_library_mixture_velocity_is_the_posterior_mean_of_x1_minus_x0():
    # ctflow.flows.GaussianMixtureVelocity against a Monte Carlo estimate of E[x1 - x0 | x_t = x]
    from ctflow.flows import GaussianMixtureVelocity

    w, mu, sd = [0.3, 0.7], [[-2.0, 0.5], [1.5, -1.0]], [0.5, 0.8]
    field = GaussianMixtureVelocity(w, mu, sd)
    gen = torch.Generator().manual_seed(3)
    n = 400_000
    comp = torch.multinomial(torch.tensor(w, dtype=torch.float64), n, True, generator=gen)
    x1 = torch.tensor(mu, dtype=torch.float64)[comp] + torch.tensor(sd, dtype=torch.float64)[
        comp, None
    ] * torch.randn(n, 2, generator=gen, dtype=torch.float64)
    for t in (0.3, 0.7):
        x = torch.tensor([[0.2, -0.1], [-1.0, 0.4]], dtype=torch.float64)
        # x0 = (x - t x1) / (1 - t); weight of each x1 is the density N(x; t x1, (1 - t)^2 I)
        diff = x[:, None, :] - t * x1[None]
        logw = -0.5 * diff.square().sum(-1) / (1 - t) ** 2
        wts = torch.softmax(logw, -1)
        x0 = diff / (1 - t)
        mc = (wts[..., None] * (x1[None] - x0)).sum(1)
        torch.testing.assert_close(field(t, x), mc, atol=0.03, rtol=0)
    # a single Gaussian is carried exactly: x1 = m + s x0
    single = GaussianMixtureVelocity([1.0], [[1.0, -0.5]], [0.6])
    x0 = torch.randn(64, 2, generator=gen, dtype=torch.float64)
    x1_hat = _solve(single, x0)
    torch.testing.assert_close(x1_hat, torch.tensor([1.0, -0.5]) + 0.6 * x0, atol=1e-6, rtol=0)
