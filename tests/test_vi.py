"""ctflow.vi: flow posteriors against autograd Jacobians, convexity, and the bounds' order."""

import math

import pytest
import torch
import zuko

from ctflow.vi import POSTERIORS, VAE, make_posterior

KINDS = sorted(POSTERIORS)


def _perturbed(q, seed=0, scale=0.5):
    """Move every parameter off its initial value (the head starts at zero: N(0, I))."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in q.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return q


@pytest.mark.parametrize("kind", KINDS)
def test_posterior_log_prob_matches_autograd_jacobian(kind):
    torch.manual_seed(0)
    kw = {"logdet": "exact"} if kind == "cpflow" else {}
    q = _perturbed(make_posterior(kind, 3, 5, **kw).double())
    h = torch.randn(4, 5, dtype=torch.float64)
    d = q(h)
    torch.manual_seed(1)
    z, log_q = d.rsample_and_log_prob()
    torch.manual_seed(1)
    eps = d.base.rsample()  # the same noise the sample was made from
    sample_map = d.transform.inv
    assert torch.allclose(sample_map(eps), z, atol=1e-12)
    for i in range(len(h)):
        J = torch.autograd.functional.jacobian(lambda e, i=i: sample_map(e)[i], eps)[:, i]
        base = torch.distributions.Normal(0.0, 1.0).log_prob(eps[i]).sum()
        expected = base - torch.linalg.slogdet(J).logabsdet
        assert abs(log_q[i].item() - expected.item()) < 1e-10, (kind, i)
    # evaluating at the sample inverts the flow and must give the same density
    assert torch.allclose(d.log_prob(z.detach()), log_q.detach(), atol=1e-8)


def test_stochastic_logdet_reports_the_exact_value():
    torch.manual_seed(0)
    q = _perturbed(make_posterior("cpflow", 3, 5, logdet="stochastic").double())
    h = torch.randn(4, 5, dtype=torch.float64)
    torch.manual_seed(2)
    _, log_q = q(h).rsample_and_log_prob()
    for layer in q.layers:
        layer.options["logdet"] = "exact"
    torch.manual_seed(2)
    _, exact = q(h).rsample_and_log_prob()
    assert torch.allclose(log_q, exact, atol=1e-12)


def test_cpflow_posterior_potential_is_convex_for_every_context():
    torch.manual_seed(0)
    q = _perturbed(make_posterior("cpflow", 3, 5, hidden=(16, 16)).double(), scale=1.0)
    for layer in q.layers:
        F = layer.potential
        modulus = F.modulus.item()
        for _ in range(20):
            c = 3 * torch.randn(5, dtype=torch.float64)
            z = 2 * torch.randn(3, dtype=torch.float64)
            H = torch.autograd.functional.hessian(lambda z, c=c, F=F: F(z, c), z)
            assert torch.allclose(H, H.T, atol=1e-12)
            assert torch.linalg.eigvalsh(H).min() >= modulus - 1e-9
            # midpoint convexity of the ICNN alone, along a random chord
            a, b = torch.randn(2, 3, dtype=torch.float64) * 3
            fa, fb, fm = (F.icnn(p, c).item() for p in (a, b, (a + b) / 2))
            assert fm <= (fa + fb) / 2 + 1e-12


def test_stochastic_logdet_gradient_is_unbiased():
    torch.manual_seed(0)
    q = _perturbed(
        make_posterior("cpflow", 4, 5, blocks=1, probes=400, cg_tol=1e-10).double(), scale=0.3
    )
    h = torch.randn(6, 5, dtype=torch.float64)

    def grads(logdet):
        q.layers[0].options["logdet"] = logdet
        q.zero_grad()
        torch.manual_seed(3)
        _, log_q = q(h).rsample_and_log_prob()
        log_q.sum().backward()
        # (the potential's linear term shifts z but leaves log q's log-det alone: no grad)
        params = [p for p in q.layers[0].parameters() if p.grad is not None]
        return torch.cat([p.grad.flatten() for p in params])

    exact, stochastic = grads("exact"), grads("stochastic")
    assert (stochastic - exact).norm() < 0.05 * exact.norm()


def _tiny_vae(seed=0):
    torch.manual_seed(seed)
    q = make_posterior("gaussian", 1, 4)
    vae = VAE(3, 1, q, hidden=(8,)).double()
    _perturbed(vae.decoder, seed, scale=0.7)
    _perturbed(vae.encoder, seed + 1, scale=0.3)
    # a posterior near the prior keeps the importance weights light-tailed
    return _perturbed(vae.posterior, seed + 2, scale=0.15) and vae


def test_bounds_against_exact_log_likelihood():
    """latent 1: log p(x) by quadrature; ELBO <= IWAE_K <= log p(x) and IWAE_K -> log p(x)."""
    vae = _tiny_vae()
    z = torch.linspace(-12, 12, 20001, dtype=torch.float64).unsqueeze(-1)
    x = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    with torch.no_grad():
        log_joint = vae.log_likelihood(x, z.unsqueeze(1)) + vae.log_prior(z.unsqueeze(1))
        log_px = torch.logsumexp(log_joint, 0) + math.log(z[1, 0] - z[0, 0])
        torch.manual_seed(0)
        elbo = torch.stack([vae.elbo(x, samples=1) for _ in range(4000)])
        iwae = torch.stack([vae.iwae(x, 20000, chunk=5000) for _ in range(5)])
    elbo_mean, elbo_se = elbo.mean(0), elbo.std(0) / math.sqrt(len(elbo))
    assert (elbo_mean < log_px - 5 * elbo_se).all()  # a strictly loose bound here
    iwae_se = iwae.std(0) / math.sqrt(len(iwae))
    assert (iwae.mean(0) <= log_px + 4 * iwae_se).all()
    assert torch.allclose(iwae.mean(0), log_px, atol=0.01)
    assert (iwae.mean(0) > elbo_mean + 0.05).all()


def test_iwae_is_above_the_elbo_and_rises_with_k():
    vae = _tiny_vae(1)
    x = torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64)
    torch.manual_seed(0)
    means, ses = [], []
    for k in (1, 4, 32):
        draws = torch.stack([vae.iwae(x, k) for _ in range(3000)]).squeeze(-1)
        means.append(draws.mean())
        ses.append(draws.std() / math.sqrt(len(draws)))
    with torch.no_grad():
        elbo = torch.stack([vae.elbo(x) for _ in range(3000)]).mean()
    assert abs(means[0] - elbo) < 5 * ses[0]  # K = 1 is the ELBO
    for a, b, sa, sb in zip(means[:-1], means[1:], ses[:-1], ses[1:]):
        assert b - a > 3 * math.hypot(sa, sb)


def test_any_conditional_density_plugs_in_as_posterior():
    """A zuko MAF evaluates q in its fast direction and samples by inversion; the VAE's ELBO
    is the same computation either way."""
    torch.manual_seed(0)
    flow = zuko.flows.MAF(2, context=6, transforms=2, hidden_features=(16,)).double()
    vae = VAE(5, 2, flow, context=6, hidden=(8,)).double()
    x = torch.randint(0, 2, (3, 5)).double()
    torch.manual_seed(1)
    elbo = vae.elbo(x, samples=4)
    torch.manual_seed(1)
    q = flow(vae.encode(x))
    z = q.rsample((4,))
    manual = vae.log_likelihood(x, z) + vae.log_prior(z) - q.log_prob(z)
    assert torch.allclose(elbo, manual.mean(0), atol=1e-10)
    elbo.sum().backward()
    assert all(p.grad is not None for p in flow.parameters())


def test_categorical_likelihood_is_normalised():
    torch.manual_seed(0)
    vae = VAE(
        2, 2, make_posterior("gaussian", 2, 4), hidden=(8,), likelihood="categorical", levels=3
    )
    vae.double()
    z = torch.randn(2, dtype=torch.float64)
    grid = torch.cartesian_prod(torch.arange(3.0), torch.arange(3.0)).double()
    with torch.no_grad():
        total = torch.logsumexp(vae.log_likelihood(grid, z.expand(9, 2)), 0)
    assert abs(total.item()) < 1e-12


def test_bad_inputs_are_named():
    vae = VAE(4, 2, make_posterior("gaussian", 2, 4), hidden=(8,))
    with pytest.raises(ValueError, match="shape"):
        vae.elbo(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="NaN"):
        vae.elbo(torch.full((3, 4), float("nan")))
    with pytest.raises(ValueError, match="integers in 0..1"):
        vae.elbo(torch.full((3, 4), 0.5))
    with pytest.raises(ValueError, match="unknown posterior"):
        make_posterior("planar", 2, 4)
    with pytest.raises(ValueError, match="likelihood"):
        VAE(4, 2, make_posterior("gaussian", 2, 4), likelihood="gaussian")
    with pytest.raises(ValueError, match="h must have shape"):
        make_posterior("iaf", 2, 4)(torch.zeros(3, 5))
