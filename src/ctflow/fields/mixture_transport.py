"""Dynamical optimal transport (Benamou-Brenier) with a Gaussian-mixture space-time flow: the
training loss and the evaluation against a reference W2.

The model is a ``MatrixField(3, net=GaussianMixtureFlux(...))``: ``rho_t`` is a mixture at every
``t`` and the continuity equation holds exactly, so only the endpoints and the kinetic energy
are trained.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor
from torch.distributions import MixtureSameFamily

from ..metrics import wasserstein2
from .matrix_field import MatrixField
from .mixture import GaussianMixtureFlux
from .ot_pairs import reference_w2_squared, sample_mixture
from .spacetime import SpaceTimeFlow
from .transport import transport_with_cost

__all__ = ["mixture_transport_loss", "evaluate_mixture_transport"]


def _mixture_of(field: MatrixField) -> GaussianMixtureFlux:
    if not isinstance(getattr(field, "net", None), GaussianMixtureFlux):
        raise ValueError("field must be a MatrixField whose net is a GaussianMixtureFlux")
    return field.net


def mixture_transport_loss(
    field: MatrixField,
    p0: MixtureSameFamily,
    p1: MixtureSameFamily,
    batch_size: int,
    endpoint_weight: float,
    generator: torch.Generator,
    device: torch.device | str | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """``endpoint_weight (KL(p0 || rho_0) + KL(p1 || rho_1)) + int int rho |v|^2 dx dt``.

    The KLs are Monte Carlo estimates on ``batch_size`` samples of each endpoint; the kinetic
    term is estimated by importance sampling from the model's own (detached) ``rho_t`` at
    uniform times, ``E [|J|^2 / (rho rho_frozen)]``, whose value and gradient are those of the
    kinetic energy.

    Args:
        field: the space-time flow ``MatrixField(3, net=GaussianMixtureFlux(...))``.
        p0: source density (float64 mixture on ``R^2``).
        p1: target density.
        batch_size: samples per term.
        endpoint_weight: the weight ``lambda`` of the endpoint KLs.
        generator: a CPU generator for every draw.
        device: the field's device.

    Returns:
        ``(loss, {"kl0", "kl1", "kinetic"})``.
    """
    mixture = _mixture_of(field)
    b = batch_size
    x0 = sample_mixture(p0, b, generator).float().to(device)
    x1 = sample_mixture(p1, b, generator).float().to(device)
    zeros = torch.zeros(b, device=device)
    kl0 = (p0.log_prob(x0.double()).float().to(device) - mixture.log_density(zeros, x0)).mean()
    kl1 = (p1.log_prob(x1.double()).float().to(device) - mixture.log_density(zeros + 1, x1)).mean()
    t = torch.rand(b, generator=generator).to(device)
    with torch.no_grad():
        x = mixture.sample(t, generator)
    u = field(torch.cat([t[:, None], x], dim=-1))
    rho, flux = u[:, 0], u[:, 1:]
    kinetic = (flux.pow(2).sum(-1) / (rho * rho.detach())).mean()
    loss = endpoint_weight * (kl0 + kl1) + kinetic
    return loss, {"kl0": kl0.item(), "kl1": kl1.item(), "kinetic": kinetic.item()}


def evaluate_mixture_transport(
    field: MatrixField,
    p0: MixtureSameFamily,
    p1: MixtureSameFamily,
    n_eval: int,
    n_reference: int,
    ode_steps: int,
    seed: int = 0,
) -> tuple[dict[str, float], tuple[Tensor, Tensor, Tensor]]:
    """Transport ``n_eval`` samples of ``p0`` with the learned velocity (RK4, float64, CPU).

    Args:
        field: the trained space-time flow (copied; the original is untouched).
        p0: source density.
        p1: target density.
        n_eval: samples transported and compared.
        n_reference: sample size of the discrete reference W2 (mixtures of several Gaussians).
        ode_steps: RK4 steps on ``[0, 1]``.
        seed: seed of every draw.

    Returns:
        ``(metrics, (x0, paths, target))``. Metrics: ``w2sq_reference``, ``w2sq_transport``
        (mean path cost ``int |v|^2 dt``), ``w2sq_coupling`` (``E|X_1 - X_0|^2``), their
        relative errors to the reference, ``w2_endpoint`` (exact discrete W2 from the
        transported samples to fresh ``p1`` samples), ``w2_floor`` (target against target),
        ``kl_t0``, ``kl_t1`` and ``reference_is_closed_form``. ``paths`` keeps about 20 of the
        ``ode_steps + 1`` times, ``(K, n_eval, 2)``.
    """
    gen = torch.Generator().manual_seed(seed)
    field = copy.deepcopy(field).double().cpu().eval()
    mixture = _mixture_of(field)
    x0 = sample_mixture(p0, n_eval, gen)
    xs, cost = transport_with_cost(SpaceTimeFlow(field), x0, ode_steps)
    transport = float(cost.mean())
    x1 = xs[-1]
    target = sample_mixture(p1, n_eval, gen)
    reference, source = reference_w2_squared(p0, p1, n_reference, gen)
    with torch.no_grad():
        kl0 = (p0.log_prob(x0) - mixture.log_density(torch.zeros(()), x0)).mean()
        kl1 = (p1.log_prob(target) - mixture.log_density(torch.ones(()), target)).mean()
    coupling = float((x1 - x0).pow(2).sum(-1).mean())
    metrics = {
        "w2sq_reference": reference,
        "w2sq_transport": transport,
        "w2sq_coupling": coupling,
        "w2sq_transport_rel_error": (transport - reference) / reference,
        "w2sq_coupling_rel_error": (coupling - reference) / reference,
        "w2_endpoint": float(wasserstein2(x1, target)),
        "w2_floor": float(wasserstein2(sample_mixture(p1, n_eval, gen), target)),
        "kl_t0": float(kl0),
        "kl_t1": float(kl1),
        "reference_is_closed_form": float(source == "closed form"),
    }
    return metrics, (x0, xs[:: max(1, ode_steps // 20)], target)
