"""``voronoi-realdiscrete``: Voronoi vs argmax dequantization on real categorical data.

Two offline data sets:

- ``digits``: scikit-learn's 8x8 digits as 64 categorical variables with 17 levels (the fixed
  seed-0 80/20 split of :func:`ctflow.data.load_digits_split`); scored in bits per variable.
- ``text``: the characters of ``tinyshakespeare.txt`` (first 90% train, last 10% test), modelled as
  independent chunks of ``seq_len`` characters; scored in bits per character.

Both dequantizations share the prior (an autoregressive flow over the whole chunk), the
conditional coupling posterior and the training budget; the metric is the importance-weighted
bound -IWAE-k (an upper bound on the model's true negative log-likelihood). References without
any dequantization: the independent-categorical model fitted on the training split (its test
cross-entropy), which ignores all dependence between variables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..data import DIGITS_LEVELS, load_digits_split
from ..data.text import load_text as read_text
from ..device import select_device
from ..flows import build_dequantization, dequantization_bounds
from ..flows.independent import independent_categorical_bits
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from ..plotting.bars import bar_panels_figure

__all__ = ["VoronoiRealDiscreteConfig", "run", "build_models", "load_text"]

DATASETS = ("digits", "text")
METHODS = ("voronoi", "argmax")


def load_text() -> tuple[Tensor, Tensor, list[str]]:
    """The shared characters (:func:`ctflow.data.text.load_text`), with a hint for this run."""
    try:
        return read_text()
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{err}; set datasets=digits to skip it") from None


@dataclass
class VoronoiRealDiscreteConfig(ExperimentConfig):
    """Full size by default; ``smoke`` and ``quick`` override fields (see ``SIZES``)."""

    datasets: tuple[str, ...] = DATASETS
    methods: tuple[str, ...] = METHODS
    seq_len: int = 16
    voronoi_dim: int = 2
    steps: int = 200
    batch_size: int = 64
    lr: float = 2e-3
    hidden: int = 64
    prior_transforms: int = 2
    posterior_transforms: int = 2
    iwae_k: int = 50
    n_test: int = 500

    def __post_init__(self):
        for field, allowed in (("datasets", DATASETS), ("methods", METHODS)):
            values = getattr(self, field)
            bad = [v for v in values if v not in allowed]
            if bad or not values:
                raise ValueError(
                    f"unknown {field[:-1]} {bad[:1]}; choose from: {', '.join(allowed)}"
                )
        check_fields(self, at_least_one="seq_len steps batch_size hidden iwae_k n_test")


SIZES = {
    "smoke": dict(
        steps=4,
        batch_size=16,
        hidden=16,
        seq_len=4,
        prior_transforms=1,
        posterior_transforms=1,
        iwae_k=2,
        n_test=32,
    ),
    "quick": dict(steps=200, iwae_k=20, n_test=200),
}


def _shape(config: VoronoiRealDiscreteConfig, dataset: str, vocab: int | None = None):
    if dataset == "digits":
        return 64, DIGITS_LEVELS
    return config.seq_len, vocab


def _vocab_size() -> int:
    return len(load_text()[2])


def build_models(config: VoronoiRealDiscreteConfig) -> dict[str, torch.nn.Module]:
    """One untrained model per (dataset, method)."""
    torch.manual_seed(config.seed)
    models = {}
    for ds in config.datasets:
        num_vars, num_classes = _shape(config, ds, _vocab_size() if ds == "text" else None)
        for m in config.methods:
            models[f"{ds}:{m}"] = build_dequantization(
                m,
                num_vars,
                num_classes,
                voronoi_dim=config.voronoi_dim,
                hidden=config.hidden,
                prior_transforms=config.prior_transforms,
                posterior_transforms=config.posterior_transforms,
                prior="maf",
            )
    return models


def _data(config: VoronoiRealDiscreteConfig, dataset: str):
    """``(draw(n, gen) -> train batch, test set (N, V), reference bits per variable)``."""
    if dataset == "digits":
        train, _ = load_digits_split("train", seed=0)
        test, _ = load_digits_split("test", seed=0)

        def draw(n, gen):
            return train[torch.randint(len(train), (n,), generator=gen)]

        test = test[: config.n_test]  # the reference scores the same images as the models
        ref = independent_categorical_bits(train, test, DIGITS_LEVELS, dtype=torch.float32)
        return draw, test, ref
    train, test, vocab = load_text()
    L = config.seq_len

    def draw(n, gen):
        start = torch.randint(len(train) - L, (n,), generator=gen)
        return train[start[:, None] + torch.arange(L)]

    chunks = test[: (len(test) // L) * L].reshape(-1, L)[: config.n_test]
    return draw, chunks, independent_categorical_bits(train, chunks, len(vocab), per_variable=False)


def run(config: VoronoiRealDiscreteConfig, ctx: RunContext | None = None) -> Results:
    """Metrics ``<method>/<dataset>/<metric>``; bits per variable (digits) or character (text)."""
    ctx = ctx or RunContext(seed=config.seed)
    device = select_device(config.device)
    results = Results()
    models = build_models(config)
    ctx.track(models)
    for ds in config.datasets:
        draw, test, ref = _data(config, ds)
        num_vars = test.shape[1]
        results.metrics[f"independent/{ds}/bits_per_var"] = ref
        for method in config.methods:
            model = models[f"{ds}:{method}"].to(device)
            gen = ctx.generator("data", method, ds)  # batches and dequantization noise

            def loss_fn(step, model=model, gen=gen, draw=draw):
                return -model.elbo(draw(config.batch_size, gen).to(device)).mean()

            trained = ctx.fit(
                loss_fn,
                model,
                tag=f"{method}/{ds}",
                generators=[gen],
                device=device,
                steps=config.steps,
                lr=config.lr,
                schedule="cosine",
                warmup=min(100, config.steps // 10),
                grad_clip=10.0,
            )
            # the bounds' noise: the same stream for every model (common random numbers)
            torch.manual_seed(ctx.seed_of("eval"))
            bounds = dequantization_bounds(model, test.to(device), iwae_k=config.iwae_k, batch=100)
            per = num_vars * math.log(2)
            metrics = {
                "bits_per_var": bounds["neg_iwae"] / per,
                "bits_per_var_stderr": bounds["neg_iwae_stderr"] / per,
                "elbo_bits_per_var": bounds["neg_elbo"] / per,
                "latent_dims": float(model.features),
                "train_seconds": trained.seconds,
                "iters_per_second": config.steps / max(trained.seconds, 1e-9),
                "final_train_loss": trained.final_loss,
            }
            results.metrics.update({f"{method}/{ds}/{k}": float(v) for k, v in metrics.items()})
    results.models = models
    results.notes.append(
        "bits per variable = -IWAE / (V ln 2) on the test split (digits: V = 64 pixels of 17 "
        f"levels; text: chunks of V = {config.seq_len} characters, modelled without context "
        "beyond the chunk). 'independent': per-variable categorical frequencies of the training "
        "split (add-1/2 smoothing), a reference that ignores all dependence."
    )
    names = ("independent", *config.methods)
    results.figures["bits"] = bar_panels_figure(
        {
            ds: {n: results.metrics[f"{n}/{ds}/bits_per_var"] for n in names}
            for ds in config.datasets
        },
        titles={ds: f"{ds}: test bits per variable" for ds in config.datasets},
        colors=["gray", "tab:blue", "tab:orange"][: len(names)],
        tick_params={"labelsize": 8},
    )
    return results


register(
    Experiment(
        name="voronoi-realdiscrete",
        config_cls=VoronoiRealDiscreteConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="Voronoi vs argmax dequantization on digits (17-level pixels) and "
        "tinyshakespeare characters: test bits per variable (-IWAE)",
    )
)
