"""``conditional-2d``: conditional couplings and guidance against targets known in closed form.

Data: four conditions in 2-D, ``N(m_c, 0.5^2 I)`` with ``m_c`` on a circle of radius 3; the
null condition is their equal mixture. One class-conditional ``TimeMLP`` is trained per coupling
(labels dropped to the null class a fifth of the time, for classifier-free guidance):

- ``independent``: plain pairs;
- ``exact`` and ``sinkhorn``: minibatch OT within equal conditions (``cfm_loss(coupling=...,
  context=...)``);
- ``global``: one exact OT plan over the whole batch with the labels ignored, what a coupling
  that does not know the context does.

Per coupling: the share of samples nearest their requested mean, the W2 to exact class samples,
and dopri5's evaluations. Guidance, with the ``independent`` model and with the exact field
(:class:`ctflow.flows.GaussianMixtureVelocity`, so the wrapper's own error shows):

- classifier-free at scales ``w``: W2 to the tilt ``p(x | c)^w p(x)^(1 - w)``, sampled from a
  0.02 grid of its density;
- reward guidance (``r(x) = x_1``, scale ``lambda``) of the unconditional model: W2 to the
  closed-form tilt ``p(x) exp(lambda r(x))`` (means shifted by ``lambda s^2``, weights
  ``~ exp(lambda m_c1)``);
- discrete classifier-free guidance: a conditional discrete flow-matching model of sequences of 3
  tokens from 4 (class 0: the HyperGrid reward distribution, class 1 its mirror image), total
  variation of 20,000 samples to the exact tilt, beside the exact-posterior oracle's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..device import select_device
from ..flows import (
    ClassifierFreeGuidance,
    DiscreteClassifierFreeGuidance,
    ExactMaskedPosterior,
    RewardGuidance,
    discrete_fm_loss,
    discrete_sample,
)
from ..flows.conditional_training import labelled_cfm_loss
from ..flows.discrete_targets import cfg_tilted_law, empirical_total_variation, sequence_codes
from ..flows.mixture_targets import (
    cfg_tilt_samples,
    class_conditional_mixture_field,
    linear_reward_tilt_samples,
)
from ..gfn import HyperGrid
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_choices, check_fields
from ..harness.registry import Experiment, register
from ..metrics import wasserstein2
from ..nn import SequenceTransformer, TimeMLP
from ..paths import CondOTPath, MixtureDiscretePath
from ..plotting import overlay_figure
from ..solvers import odeint
from ..train import cosine_fit_options, drop_labels

__all__ = ["Conditional2DConfig", "COUPLINGS", "run", "build_models"]

COUPLINGS = ("independent", "exact", "sinkhorn", "global")
K, STD, RADIUS = 4, 0.5, 3.0
MEANS = RADIUS * torch.tensor(
    [[math.cos(a), math.sin(a)] for a in (0, 0.5 * math.pi, math.pi, 1.5 * math.pi)]
)
V, L = 4, 3


@dataclass
class Conditional2DConfig(ExperimentConfig):
    """Full size by default; see ``SIZES``."""

    couplings: tuple[str, ...] = COUPLINGS
    steps: int = 4000
    batch_size: int = 256
    lr: float = 2e-3
    hidden: int = 128
    null_fraction: float = 0.2
    scales: tuple[float, ...] = (1.0, 2.0, 4.0)
    reward_scale: float = 0.5
    reward_t_min: tuple[float, ...] = (1e-3, 0.1, 0.3)
    n_samples: int = 2000
    discrete_steps: int = 2000
    sampler_steps: int = 64
    n_discrete: int = 20000

    def __post_init__(self):
        check_choices(self, "couplings", COUPLINGS)
        check_fields(
            self,
            at_least_one="steps batch_size hidden n_samples discrete_steps sampler_steps "
            "n_discrete",
        )
        if not 0 < self.null_fraction < 1:
            raise ValueError(f"null_fraction must be in (0, 1), got {self.null_fraction}")


SIZES = {
    "smoke": dict(
        steps=10,
        hidden=16,
        n_samples=64,
        discrete_steps=5,
        sampler_steps=4,
        n_discrete=500,
        couplings=("independent", "exact"),
    ),
    "quick": dict(
        steps=800, n_samples=1000, discrete_steps=500, sampler_steps=32, n_discrete=10000
    ),
}


def build_models(config: Conditional2DConfig) -> dict[str, torch.nn.Module]:
    """A ``TimeMLP`` with a 5-way context (4 labels + null) per coupling, and the discrete model
    (3-way context: 2 labels + null)."""
    torch.manual_seed(config.seed)
    models = {
        f"{c}/2d": TimeMLP(2, context=K + 1, hidden=(config.hidden,) * 3) for c in config.couplings
    }
    path = MixtureDiscretePath(V, "mask")
    models["dfm/seq"] = SequenceTransformer(
        path.num_tokens, V, length=L, width=32, depth=1, heads=2, context=3
    )
    return models


def _draw(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.randint(K, (n,), generator=gen)
    return MEANS[labels] + STD * torch.randn(n, 2, generator=gen), labels


def _solve(field, x0, c):
    return odeint(lambda t, x: field(t, x, c), x0, [0.0, 1.0], method="midpoint", step_size=0.02)[
        -1
    ]


def run(config: Conditional2DConfig, ctx: RunContext | None = None) -> Results:
    """Metrics ``<coupling>/2d/{accuracy,w2,nfe}``, ``cfg/w<w>/{w2_trained,w2_exact,w2_floor}``,
    ``reward/tmin<t>/w2_trained``, ``reward/{exact,unguided,floor}/w2`` and
    ``dfm-cfg/w<w>/{tv_trained,tv_oracle,tv_floor}``."""
    ctx = ctx or RunContext(seed=config.seed)
    device = select_device(config.device)
    models = build_models(config)
    ctx.track(models)
    results = Results(models=models)
    m = results.metrics
    path = CondOTPath()
    eval_gen = ctx.generator("eval")
    n = config.n_samples
    labels = torch.arange(n) % K
    context = F.one_hot(labels, K + 1).float()
    x0 = torch.randn(n, 2, generator=eval_gen)
    truth = MEANS[labels] + STD * torch.randn(n, 2, generator=eval_gen)
    for coupling in config.couplings:
        net = models[f"{coupling}/2d"].to(device)
        _train_continuous(net, coupling, path, config, ctx, device)
        with torch.no_grad():
            x1 = _solve(net, x0.to(device), context.to(device)).cpu()
            nfe = odeint(
                lambda t, x, net=net: net(t, x, context[:512].to(device)),
                x0[:512].to(device),
                [0.0, 1.0],
                method="dopri5",
                atol=1e-5,
                rtol=1e-5,
                return_stats=True,
            )[1].nfe
        nearest = (x1[:, None] - MEANS[None]).square().sum(-1).argmin(-1)
        m[f"{coupling}/2d/accuracy"] = float((nearest == labels).float().mean())
        m[f"{coupling}/2d/w2"] = float(
            sum(
                wasserstein2(x1[labels == k].double(), truth[labels == k].double())
                for k in range(K)
            )
            / K
        )
        m[f"{coupling}/2d/nfe"] = float(nfe)
    trained = models[f"{config.couplings[0]}/2d"]
    exact = class_conditional_mixture_field(MEANS, STD)
    null = F.one_hot(torch.tensor(K), K + 1).float()
    ask = F.one_hot(
        torch.zeros(n, dtype=torch.long), K + 1
    ).float()  # every sample asks for class 0
    figure_rows = {}
    for w in config.scales:
        target, floor = cfg_tilt_samples(MEANS, STD, 0, w, 2 * n, eval_gen).split(n)
        with torch.no_grad():
            a = _solve(ClassifierFreeGuidance(trained, w, null), x0, ask)
            b = _solve(ClassifierFreeGuidance(exact, w, null.double()), x0.double(), ask.double())
        m[f"cfg/w{w:g}/w2_trained"] = float(wasserstein2(a.double(), target))
        m[f"cfg/w{w:g}/w2_exact"] = float(wasserstein2(b, target))
        m[f"cfg/w{w:g}/w2_floor"] = float(wasserstein2(floor, target))
        figure_rows[f"CFG w={w:g}"] = (a, target)
    _reward(trained, exact, null, x0, config, eval_gen, m, figure_rows)
    _discrete_guidance(models["dfm/seq"].to(device), config, ctx, device, m)
    results.notes += [
        "accuracy: share of class-conditional samples (midpoint, 100 NFE) nearest their requested "
        "mean; w2: mean over the 4 classes of the exact W2 to as many exact class samples; nfe: "
        "dopri5 at atol = rtol = 1e-5 for 512 samples.",
        f"guidance: the '{config.couplings[0]}' model and the exact field; W2 from {n} samples to "
        "as many of the target (drawn from a 0.02 grid of its density); w2_floor: two target "
        "samples.",
        "dfm-cfg: total variation of sampled sequences to the exact tilted law over 64 sequences; "
        "tv_floor: exact draws of the same size.",
    ]
    results.figures["guidance"] = overlay_figure(
        figure_rows, 5.0, marks=MEANS, labels=("target", "guided (trained)")
    )
    return results


def _train_continuous(net, coupling, path, config, ctx, device):
    gen = ctx.generator("data", coupling)  # batches, labels dropped, noise and times

    def loss_fn(step):
        x1, labels = _draw(config.batch_size, gen)
        return labelled_cfm_loss(
            net,
            path,
            x1,
            labels,
            K,
            null_fraction=config.null_fraction,
            coupling=coupling,
            generator=gen,
            device=device,
        )

    ctx.fit(
        loss_fn,
        net,
        tag=f"{coupling}/2d",
        generators=[gen],
        device=device,
        **cosine_fit_options(config.steps, config.lr, warmup_cap=200),
    )
    net.cpu()


def _reward(trained, exact, null, x0, config, gen, m, figure_rows):
    lam = config.reward_scale
    n = len(x0)
    along_x = torch.tensor([1.0, 0.0])  # the reward r(x) = x_1 below
    tilt = linear_reward_tilt_samples(MEANS, STD, along_x, lam, n, gen)
    floor = linear_reward_tilt_samples(MEANS, STD, along_x, lam, n, gen)
    nulls = null.expand(n, -1)

    def unconditional(field):
        return lambda t, x: field(t, x, nulls.to(x.dtype))

    reward = lambda x: x[..., 0]  # noqa: E731

    def guided(field, t_min, x):
        wrapper = RewardGuidance(unconditional(field), CondOTPath(), reward, lam, t_min=t_min)
        return _solve(lambda t, z, c: wrapper(t, z), x, None)

    # the wrapper takes its gradient inside; the solve itself needs no graph
    with torch.no_grad():
        for t_min in config.reward_t_min:
            a = guided(trained, t_min, x0)
            m[f"reward/tmin{t_min:g}/w2_trained"] = float(wasserstein2(a.double(), tilt))
            if t_min == config.reward_t_min[0]:
                shown = a
        b = guided(exact, config.reward_t_min[0], x0.double())
        plain = _solve(lambda t, x, c: trained(t, x, nulls), x0, None)
    m["reward/exact/w2"] = float(wasserstein2(b, tilt))
    m["reward/unguided/w2"] = float(wasserstein2(plain.double(), tilt))
    m["reward/floor/w2"] = float(wasserstein2(floor, tilt))
    figure_rows[f"reward lambda={lam:g}, t_min={config.reward_t_min[0]:g}"] = (shown, tilt)


def _discrete_guidance(model, config, ctx, device, m):
    env = HyperGrid(ndim=L, height=V)
    states, probs = env.reward_distribution()
    order = sequence_codes(states, V).argsort()
    states, p0 = states[order], probs[order]
    p1 = p0[sequence_codes(V - 1 - states, V)]  # the mirror image
    classes = torch.stack([p0, p1, 0.5 * (p0 + p1)])
    path = MixtureDiscretePath(V, "mask")
    gen = ctx.generator("data", "discrete")

    def loss_fn(step):
        label = torch.randint(2, (256,), generator=gen)
        x1 = states[
            torch.stack([torch.multinomial(classes[k].float(), 1, generator=gen)[0] for k in label])
        ]
        label = drop_labels(label, config.null_fraction, 2, gen)
        c = F.one_hot(label, 3).float()
        return discrete_fm_loss(model, path, x1.to(device), context=c.to(device), generator=gen)

    ctx.fit(
        loss_fn,
        model,
        tag="dfm/seq",
        generators=[gen],
        device=device,
        **cosine_fit_options(config.discrete_steps, 3e-3, grad_clip=1.0),
    )
    model.cpu().eval()
    oracle = ExactMaskedPosterior(states, classes, V)
    eval_gen = ctx.generator("eval", "discrete")
    n = config.n_discrete
    ask = F.one_hot(torch.zeros(n, dtype=torch.long), 3).float()
    null = torch.tensor([0.0, 0.0, 1.0])

    for w in config.scales:
        tilt = cfg_tilted_law(p0, classes[2], w)
        runs = {}
        for name, net in (("trained", model), ("oracle", oracle)):
            guided = DiscreteClassifierFreeGuidance(net, w, null)
            x = discrete_sample(
                guided, path, n, L, steps=config.sampler_steps, context=ask, generator=eval_gen
            )
            runs[name] = empirical_total_variation(x, tilt, V)
        m[f"dfm-cfg/w{w:g}/tv_trained"] = runs["trained"]
        m[f"dfm-cfg/w{w:g}/tv_oracle"] = runs["oracle"]
        m[f"dfm-cfg/w{w:g}/tv_floor"] = empirical_total_variation(
            states[torch.multinomial(tilt, n, True, generator=eval_gen)], tilt, V
        )
    model.train()


register(
    Experiment(
        name="conditional-2d",
        config_cls=Conditional2DConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="conditional couplings and guidance, continuous and discrete, vs closed forms",
    )
)
