"""``cpflow-vae``: do CP-Flow posteriors tighten a VAE's bound over Gaussian and IAF posteriors?

A VAE on scikit-learn's 8x8 digits (binarised at grey level 8, Bernoulli likelihood; or the 17 grey
levels with a categorical likelihood), ``p(z) = N(0, I)``, one decoder architecture for all. The
posterior ``q(z | x)`` is a diagonal Gaussian, an inverse autoregressive flow (zuko MADE
transforms) or a conditional CP-Flow (partially input-convex potentials on the encoder's output,
trained with CP-Flow's conjugate-gradient log-det gradient). Parameter counts are matched to the
CP-Flow model's: the IAF by its hidden width, the Gaussian model by its encoder's width. Each is
trained on the ELBO (with a linear KL warm-up) and keeps the weights of its best validation ELBO;
the test ELBO and the importance-weighted bound (``iwae_samples`` samples) estimate ``log p(x)``
from below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..data.digits import load_digits_split
from ..device import select_device
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_choices, check_fields
from ..harness.registry import Experiment, register
from ..nn import parameter_count
from ..plotting.bars import bound_pairs_figure
from ..train import Evaluate, KeepBest
from ..vi import POSTERIORS, VAE
from ..vi.builders import matched_posterior_vaes, vae_gallery_figure

__all__ = ["CPFlowVAEConfig", "run", "build_models", "digits_data"]

LIKELIHOOD_LEVELS = {"bernoulli": 2, "categorical": 17}


@dataclass
class CPFlowVAEConfig(ExperimentConfig):
    posteriors: tuple[str, ...] = ("gaussian", "iaf", "cpflow")
    likelihood: str = "bernoulli"
    latent: int = 8
    context: int = 32
    hidden: int = 128
    flow_layers: int = 2
    cpflow_hidden: int = 64
    steps: int = 6000
    batch_size: int = 128
    lr: float = 1e-3
    kl_warmup: int = 1000
    eval_every: int = 200
    validation_fraction: float = 0.1
    iwae_samples: int = 1000
    elbo_samples: int = 100
    context_gating: bool = True

    def __post_init__(self):
        check_choices(self, "posteriors", tuple(POSTERIORS), "posterior")
        if self.likelihood not in LIKELIHOOD_LEVELS:
            raise ValueError(
                f"likelihood must be one of {tuple(LIKELIHOOD_LEVELS)}, got {self.likelihood!r}"
            )
        check_fields(
            self,
            at_least_one="latent context hidden flow_layers cpflow_hidden steps batch_size "
            "eval_every iwae_samples elbo_samples",
            non_negative="kl_warmup",
            positive="lr",
            fractions="validation_fraction",
        )


SIZES = {
    "smoke": dict(
        steps=10,
        hidden=16,
        context=8,
        latent=2,
        cpflow_hidden=8,
        iwae_samples=8,
        elbo_samples=2,
        eval_every=5,
    ),  # fmt: skip
    "quick": dict(steps=1500, kl_warmup=300, eval_every=100, iwae_samples=200),
}


def digits_data(likelihood: str, seed: int, validation_fraction: float):
    """``(fit, validation, test)`` float tensors of shape ``(N, 64)``: binary pixels (grey level
    >= 8) for ``"bernoulli"``, the grey levels 0..16 for ``"categorical"``. The test split is
    the fixed 20% of ``load_digits_split(seed=0)``; the validation part of the training split is
    drawn with ``seed``."""
    train, _ = load_digits_split("train", seed=0)
    test, _ = load_digits_split("test", seed=0)
    if likelihood == "bernoulli":
        train, test = (train >= 8).float(), (test >= 8).float()
    else:
        train, test = train.float(), test.float()
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    n_val = max(2, round(validation_fraction * len(train)))
    return train[perm[n_val:]], train[perm[:n_val]], test


def build_models(config: CPFlowVAEConfig) -> dict[str, torch.nn.Module]:
    torch.manual_seed(config.seed)
    return matched_posterior_vaes(
        config.posteriors,
        64,
        config.latent,
        config.context,
        config.cpflow_hidden,
        hidden=(config.hidden,),
        flow_layers=config.flow_layers,
        likelihood=config.likelihood,
        levels=LIKELIHOOD_LEVELS[config.likelihood],
        context_gating=config.context_gating,
    )


def run(config: CPFlowVAEConfig, ctx: RunContext | None = None) -> Results:
    ctx = ctx or RunContext(seed=config.seed)
    device = select_device(config.device)
    models = build_models(config)
    ctx.track(models)
    fit_set, val, test = (t.to(device) for t in digits_data(
        config.likelihood, config.seed, config.validation_fraction
    ))  # fmt: skip
    results = Results()
    for kind in config.posteriors:
        vae = models[kind].to(device)
        gen = ctx.generator("data", kind)  # batches
        torch.manual_seed(ctx.seed_of("noise", kind))  # posterior samples (torch's global RNG)
        # model selection on the validation ELBO (every eval_every steps and at the end); the
        # best weights are kept, checkpointed with the run. Its posterior samples come from a
        # forked RNG, so scoring never moves the training stream
        evaluate = Evaluate(
            lambda m: _mean_elbo(m, val, samples=10),
            every=config.eval_every,
            name="val_elbo",
            grad=True,
        )

        def loss_fn(step, vae=vae, gen=gen):
            idx = torch.randint(0, len(fit_set), (config.batch_size,), generator=gen)
            x = fit_set[idx.to(fit_set.device)]
            vae.check_data(x)
            q = vae.posterior(vae.encode(x))
            z, log_q = q.rsample_and_log_prob()
            rec = vae.log_likelihood(x, z)
            kl = log_q - vae.log_prior(z)  # single-sample KL estimate
            beta = min(1.0, (step + 1) / config.kl_warmup) if config.kl_warmup else 1.0
            loss = -(rec - beta * kl).mean()
            return loss, {"neg_elbo": float(-(rec - kl).detach().mean()), "beta": beta}

        trained = ctx.fit(
            loss_fn,
            vae,
            tag=f"{kind}/digits",
            generators=[gen],
            device=device,
            steps=config.steps,
            lr=config.lr,
            schedule="cosine",
            warmup=min(100, config.steps // 10),
            grad_clip=100.0,
            callbacks=[evaluate, KeepBest("val_elbo", mode="max")],
        )
        torch.manual_seed(ctx.seed_of("test", kind))
        with torch.no_grad():
            elbo = torch.stack(
                [vae.log_weights(test, 1).squeeze(0) for _ in range(config.elbo_samples)]
            ).mean(0)
            iwae = vae.iwae(test, config.iwae_samples)
            train_elbo = _mean_elbo(vae, fit_set, samples=10)
        metrics = {
            "test_elbo": float(elbo.mean()),
            "test_iwae": float(iwae.mean()),
            "test_iwae_stderr": float(iwae.std() / math.sqrt(len(iwae))),
            "iwae_minus_elbo": float((iwae - elbo).mean()),
            "train_elbo": train_elbo,
            "best_step": trained.best["step"],
            "parameters": parameter_count(vae),
            "train_seconds": trained.seconds,
            "iterations_per_s": config.steps / max(trained.seconds, 1e-9),
        }
        results.metrics.update({f"{kind}/digits/{k}": float(v) for k, v in metrics.items()})
    results.models = models
    # the line between the bounds: what importance sampling recovers; its height: how close
    # the posterior gets (higher is tighter)
    results.figures["cpflow_vae_bounds"] = bound_pairs_figure(
        {k: results.metrics[f"{k}/digits/test_elbo"] for k in config.posteriors},
        {k: results.metrics[f"{k}/digits/test_iwae"] for k in config.posteriors},
        lower_label="ELBO",
        upper_label="IWAE bound",
        ylabel="test bound on log p(x) (nats)",
    )
    torch.manual_seed(config.seed)  # posterior samples and prior samples of the gallery
    results.figures["cpflow_vae_images"] = vae_gallery_figure(
        models, test, (8, 8), scale=LIKELIHOOD_LEVELS[config.likelihood] - 1, x_label="test"
    )
    results.notes.append(
        f"nats per image ({config.likelihood} likelihood on the 64 pixels); ELBO averaged over "
        f"{config.elbo_samples} posterior samples per test image, IWAE with "
        f"{config.iwae_samples}; weights of the best validation ELBO (best_step)."
    )
    return results


@torch.no_grad()
def _mean_elbo(vae: VAE, x: torch.Tensor, samples: int) -> float:
    return float(vae.log_weights(x, samples).mean())


register(
    Experiment(
        name="cpflow-vae",
        config_cls=CPFlowVAEConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="VAE on digits: Gaussian vs IAF vs CP-Flow posteriors (ELBO, IWAE bound)",
    )
)
