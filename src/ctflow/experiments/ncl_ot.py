"""``ncl-ot``: dynamical optimal transport (Benamou-Brenier) between 2D densities with NCL.

The density path is a Gaussian mixture at every t written as a divergence-free field on (t, x)
(:class:`ctflow.fields.GaussianMixtureFlux` inside a ``MatrixField(3)``), so ``rho`` and
``v = u_{1:} / rho`` satisfy the continuity equation exactly and ``rho`` is positive with mass one.
Loss: ``lambda (KL(p_0 || rho_0) + KL(p_1 || rho_1)) + int int rho |v|^2 dx dt``, the kinetic term
estimated by importance sampling from the model's own (detached) ``rho_t``. (The paper fits the
endpoints with an L1 penalty; with a normalised mixture density the KL is the natural fit.)

Evaluation (float64): samples of ``p_0`` are transported with the learned velocity (RK4), giving
the transport cost ``int |v|^2 dt`` along paths (the learned W2^2), the coupling cost
``E |X_1 - X_0|^2``, the exact discrete W2 between the transported samples and fresh ``p_1``
samples (an optimal assignment), and the endpoint KLs. References: the closed-form Gaussian
W2^2, and for the non-Gaussian pair the exact discrete W2^2 between large samples.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from ..device import select_device
from ..fields import GaussianMixtureFlux, MatrixField, SpaceTimeFlow, transport_with_cost
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from ..metrics import gaussian_w2_squared, wasserstein2
from ..plotting.fields import transport_paths_figure

__all__ = ["NCLOTConfig", "run", "build_models", "endpoint_pair", "PAIRS"]

PAIRS = ("gauss-iso", "gauss-aniso", "two-blobs")


@dataclass
class NCLOTConfig(ExperimentConfig):
    """Full size by default; ``smoke`` and ``quick`` override fields."""

    pairs: tuple[str, ...] = PAIRS
    components: int = 8
    hidden: int = 64
    depth: int = 2
    steps: int = 1000
    batch_size: int = 256
    lr: float = 3e-3
    endpoint_weight: float = 200.0
    rotation: bool = False
    ode_steps: int = 50
    n_eval: int = 2000
    n_reference: int = 3000

    def __post_init__(self):
        unknown = [p for p in self.pairs if p not in PAIRS]
        if unknown or not self.pairs:
            raise ValueError(f"unknown pair {unknown[:1]}; choose from: {', '.join(PAIRS)}")
        check_fields(self, at_least_one="components hidden depth steps batch_size ode_steps")
        if self.n_eval < 2 or self.n_reference < 2:
            raise ValueError("n_eval and n_reference must be >= 2")
        if not (self.lr > 0 and self.endpoint_weight > 0):
            raise ValueError("lr and endpoint_weight must be > 0")


SIZES = {
    "smoke": dict(
        pairs=("gauss-iso",),  # the discrete reference of the other pairs takes seconds
        components=2,
        hidden=16,
        steps=8,
        batch_size=64,
        ode_steps=5,
        n_eval=100,
        n_reference=100,
    ),
    "quick": dict(steps=400, n_eval=1000, n_reference=1500),
}


def _gaussians(means, stds, weights=None) -> MixtureSameFamily:
    means = torch.tensor(means, dtype=torch.float64)
    cov = torch.diag_embed(torch.tensor(stds, dtype=torch.float64) ** 2)
    weights = torch.ones(len(means), dtype=torch.float64) if weights is None else weights
    return MixtureSameFamily(Categorical(weights), MultivariateNormal(means, cov))


def endpoint_pair(name: str) -> tuple[MixtureSameFamily, MixtureSameFamily]:
    """The source and target densities (float64 mixtures of Gaussians) of a pair."""
    if name == "gauss-iso":
        return _gaussians([[0.0, 0.0]], [[1.0, 1.0]]), _gaussians([[3.0, 0.0]], [[0.4, 0.4]])
    if name == "gauss-aniso":
        return _gaussians([[-1.5, 0.0]], [[1.0, 0.5]]), _gaussians([[1.5, 0.5]], [[0.5, 1.0]])
    if name == "two-blobs":
        return (
            _gaussians([[0.0, 2.0], [0.0, -2.0]], [[0.5, 0.5]] * 2),
            _gaussians([[2.0, 0.0], [-2.0, 0.0]], [[0.5, 0.5]] * 2),
        )
    raise ValueError(f"unknown pair {name!r}; choose from: {', '.join(PAIRS)}")


def _reference_w2_squared(name: str, p0, p1, n: int, gen: torch.Generator) -> tuple[float, str]:
    if name.startswith("gauss"):
        c0, c1 = p0.component_distribution, p1.component_distribution
        w2 = gaussian_w2_squared(
            c0.loc[0], c0.covariance_matrix[0], c1.loc[0], c1.covariance_matrix[0]
        )
        return float(w2), "closed form"
    return _discrete_w2_squared(
        _sample(p0, n, gen), _sample(p1, n, gen)
    ), f"exact assignment, {n} vs {n}"


def _sample(dist, n: int, gen: torch.Generator) -> Tensor:
    """Seeded samples of a Gaussian mixture (``torch.distributions`` draws from the global RNG)."""
    comp = dist.component_distribution
    index = torch.multinomial(dist.mixture_distribution.probs, n, replacement=True, generator=gen)
    noise = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    chol = comp.scale_tril[index]
    return comp.loc[index] + (chol @ noise[..., None])[..., 0]


def _discrete_w2_squared(x: Tensor, y: Tensor) -> float:
    """The exact discrete W2^2 between uniform empirical measures of equal size: an assignment
    problem (``ctflow.metrics.wasserstein2``), equal to POT's ``emd2`` (tested), without POT,
    which only the dev extra installs."""
    return float(wasserstein2(x.double(), y.double()) ** 2)


def build_models(config: NCLOTConfig) -> dict[str, nn.Module]:
    """One divergence-free space-time field per pair."""
    hidden = (config.hidden,) * config.depth
    return {
        pair: MatrixField(
            3, net=GaussianMixtureFlux(config.components, hidden, rotation=config.rotation)
        )
        for pair in config.pairs
    }


def _loss(field: MatrixField, p0, p1, config: NCLOTConfig, gen: torch.Generator, device):
    mixture: GaussianMixtureFlux = field.net
    b = config.batch_size
    x0 = _sample(p0, b, gen).float().to(device)
    x1 = _sample(p1, b, gen).float().to(device)
    zeros = torch.zeros(b, device=device)
    kl0 = (p0.log_prob(x0.double()).float().to(device) - mixture.log_density(zeros, x0)).mean()
    kl1 = (p1.log_prob(x1.double()).float().to(device) - mixture.log_density(zeros + 1, x1)).mean()
    t = torch.rand(b, generator=gen).to(device)
    with torch.no_grad():
        x = mixture.sample(t, gen)
    u = field(torch.cat([t[:, None], x], dim=-1))
    rho, flux = u[:, 0], u[:, 1:]
    # E_{x ~ rho_t (frozen)} [|J|^2 / (rho rho_frozen)]: the kinetic energy and its gradient
    kinetic = (flux.pow(2).sum(-1) / (rho * rho.detach())).mean()
    loss = config.endpoint_weight * (kl0 + kl1) + kinetic
    return loss, {"kl0": kl0.item(), "kl1": kl1.item(), "kinetic": kinetic.item()}


def run(config: NCLOTConfig, ctx: RunContext | None = None) -> Results:
    """Fit one transport per pair. Metrics are keyed ``ncl/<pair>/<metric>``."""
    ctx = ctx or RunContext(seed=config.seed)
    device = select_device(config.device)
    torch.manual_seed(config.seed)
    results = Results()
    models = build_models(config)
    ctx.track(models)
    paths = {}
    for index, pair in enumerate(config.pairs):
        p0, p1 = endpoint_pair(pair)
        field = models[pair].to(device)
        gen = torch.Generator().manual_seed(config.seed * 1000 + index + 7919 * ctx.rank)
        trained = ctx.fit(
            lambda step, field=field, p0=p0, p1=p1, gen=gen: _loss(
                field, p0, p1, config, gen, device
            ),
            field,
            tag=f"ncl/{pair}",
            generators=[gen],
            device=device,
            steps=config.steps,
            lr=config.lr,
            schedule="cosine",
            warmup=min(50, config.steps // 10),
            grad_clip=100.0,
        )
        metrics, paths[pair] = _evaluate(field, pair, p0, p1, config)
        metrics["train_seconds"] = trained.seconds
        metrics["final_train_loss"] = trained.final_loss
        results.metrics.update({f"ncl/{pair}/{k}": float(v) for k, v in metrics.items()})
    results.models = models
    results.figures["ncl-ot_paths"] = transport_paths_figure(paths, lim=4.5)
    results.notes.append(
        "w2sq_transport = mean over paths of int_0^1 |v|^2 dt (the learned transport cost, >= W2^2 "
        "when the endpoints match); w2sq_coupling = E|X_1 - X_0|^2; w2_endpoint = exact "
        "discrete W2 "
        "between transported samples and fresh target samples (w2_floor: target vs target); KLs "
        "are Monte Carlo estimates of KL(p || rho) at t = 0 and t = 1."
    )
    return results


def _evaluate(field: MatrixField, pair: str, p0, p1, config: NCLOTConfig):
    gen = torch.Generator().manual_seed(10**6 + config.seed)
    field = copy.deepcopy(field).double().cpu().eval()
    flow = SpaceTimeFlow(field)
    mixture: GaussianMixtureFlux = field.net
    x0 = _sample(p0, config.n_eval, gen)
    xs, cost = transport_with_cost(flow, x0, config.ode_steps)
    transport = float(cost.mean())
    x1 = xs[-1]
    target = _sample(p1, config.n_eval, gen)
    reference, source = _reference_w2_squared(pair, p0, p1, config.n_reference, gen)
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
        "w2_floor": float(wasserstein2(_sample(p1, config.n_eval, gen), target)),
        "kl_t0": float(kl0),
        "kl_t1": float(kl1),
        "reference_is_closed_form": float(source == "closed form"),
    }
    return metrics, (x0, xs[:: max(1, config.ode_steps // 20)], target)


register(
    Experiment(
        name="ncl-ot",
        config_cls=NCLOTConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="dynamical OT between 2D densities with an exact-continuity mixture flow",
    )
)
