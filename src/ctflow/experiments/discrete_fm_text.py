"""``discrete-fm-text``: discrete flow matching on characters, against dequantization and AR.

Data: ``tinyshakespeare.txt`` split as in ``voronoi-realdiscrete`` (first 90% of the characters
train, last 10% test), modelled as independent chunks of ``seq_len`` characters, so every
bits-per-character number here is on the same test chunks as that experiment's.

Models (one transformer size for all, see ``build_models``):
- ``dfm-mask`` and ``dfm-uniform``: discrete flow matching on a mixture path with a mask or a
  uniform source, scored by the ELBO of the ``elbo_steps``-step sampler (an upper bound on its
  bits per character);
- ``ar``: the same transformer with a causal mask, left to right (its exact bits per character);
- ``voronoi`` and ``argmax``: the dequantization flows of ``voronoi-realdiscrete``, trained in
  the same run for ``dequant_steps`` (their -IWAE bound), when ``dequant_steps > 0``;
- ``independent``: per-character frequencies of the training split.

Samples (one per test chunk) are judged by measures that do not depend on the models: the bits
per character of a character trigram model fitted on the training split, the fraction of complete
words found in the training text's word list, and the entropy of the character frequencies (a
repetitive sampler scores low on the first but shows here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..device import select_device
from ..flows import discrete_fm_loss, discrete_sample, mixture_elbo
from ..flows.independent import independent_categorical_bits
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_choices, check_fields
from ..harness.registry import Experiment, register
from ..metrics import NGramModel, unigram_entropy_bits, word_validity
from ..nn import SequenceTransformer, causal_log_prob, causal_sample, parameter_count
from ..paths import MixtureDiscretePath
from ..plotting.bars import plot_bars
from ..plotting.curves import figure_grid, plot_curves
from .voronoi_realdiscrete import VoronoiRealDiscreteConfig, load_text
from .voronoi_realdiscrete import run as run_dequantization

__all__ = ["DiscreteFMTextConfig", "METHODS", "run", "build_models"]

METHODS = ("dfm-mask", "dfm-uniform", "ar")
COLORS = {
    "independent": "gray",
    "voronoi": "tab:olive",
    "argmax": "tab:brown",
    "dfm-mask": "tab:blue",
    "dfm-uniform": "tab:orange",
    "ar": "tab:green",
}


@dataclass
class DiscreteFMTextConfig(ExperimentConfig):
    """Full size by default; see ``SIZES``."""

    methods: tuple[str, ...] = METHODS
    seq_len: int = 16
    steps: int = 5000
    batch_size: int = 128
    lr: float = 3e-3
    width: int = 64
    depth: int = 2
    heads: int = 4
    kappa_power: float = 1.0
    elbo_steps: int = 128
    elbo_grids: tuple[int, ...] = (8, 32, 512)
    sample_steps: tuple[int, ...] = (4, 16, 64, 256)
    n_test: int = 500
    dequant_steps: int = 2000

    def __post_init__(self):
        check_choices(self, "methods", METHODS)
        check_fields(
            self, at_least_one="seq_len steps batch_size width depth heads elbo_steps n_test"
        )
        if self.dequant_steps < 0:
            raise ValueError(f"dequant_steps must be >= 0, got {self.dequant_steps}")
        if min(self.elbo_grids, default=1) < 1:
            raise ValueError(f"elbo_grids must be positive ints, got {self.elbo_grids}")
        if not self.sample_steps or min(self.sample_steps) < 1:
            raise ValueError(f"sample_steps must be positive ints, got {self.sample_steps}")


SIZES = {
    "smoke": dict(
        steps=10,
        width=16,
        depth=1,
        heads=2,
        seq_len=8,
        elbo_steps=4,
        sample_steps=(2, 8),
        n_test=32,
        elbo_grids=(2,),
        dequant_steps=0,
    ),
    "quick": dict(
        steps=500,
        elbo_steps=32,
        elbo_grids=(8,),
        sample_steps=(4, 32),
        n_test=200,
        dequant_steps=200,
    ),
}


def _path(method: str, vocab: int, config: DiscreteFMTextConfig) -> MixtureDiscretePath:
    return MixtureDiscretePath(vocab, method.removeprefix("dfm-"), power=config.kappa_power)


def build_models(
    config: DiscreteFMTextConfig, vocab: int | None = None
) -> dict[str, torch.nn.Module]:
    """The same transformer for every method: bidirectional and timed for discrete flow matching
    (its input vocabulary has the mask token with a mask source), causal for ``ar`` (input: a
    start token then the chunk shifted right)."""
    vocab = vocab or len(load_text()[2])
    torch.manual_seed(config.seed)
    size = dict(length=config.seq_len, width=config.width, depth=config.depth, heads=config.heads)
    models = {}
    for m in config.methods:
        if m == "ar":
            models["ar/text"] = SequenceTransformer(
                vocab + 1, vocab, causal=True, time=False, **size
            )
        else:
            models[f"{m}/text"] = SequenceTransformer(
                _path(m, vocab, config).num_tokens, vocab, **size
            )
    return models


def run(config: DiscreteFMTextConfig, ctx: RunContext | None = None) -> Results:
    """Metrics ``<method>/text/<metric>``: ``bits_per_char`` (a bound for dfm and the
    dequantizations, exact for ``ar``), and per sampler budget ``judge_bpc_<n>``,
    ``word_valid_<n>``, ``entropy_<n>``; ``data/text/*`` are the same measures on test chunks."""
    ctx = ctx or RunContext(seed=config.seed)
    device = select_device(config.device)
    train, test, vocab_list = load_text()
    vocab, L = len(vocab_list), config.seq_len
    chunks = test[: (len(test) // L) * L].reshape(-1, L)[: config.n_test]
    models = build_models(config, vocab)
    ctx.track(models)
    results = Results(models=models)
    m = results.metrics
    judge = NGramModel(train, vocab, order=3)
    words = set("".join(vocab_list[i] for i in train.tolist()).split())

    def decode(x: Tensor) -> list[str]:
        return ["".join(vocab_list[i] for i in row) for row in x.tolist()]

    def judge_samples(key: str, x: Tensor) -> None:
        m[f"{key}/judge_bpc"] = judge.bits_per_token(x)
        m[f"{key}/word_valid"] = word_validity(decode(x), words)
        m[f"{key}/entropy"] = unigram_entropy_bits(x, vocab)

    m["independent/text/bits_per_char"] = independent_categorical_bits(
        train, chunks, vocab, per_variable=False
    )
    probs = (torch.bincount(train, minlength=vocab) + 0.5).double()
    judge_samples("data/text", chunks)
    unigram = torch.multinomial(
        probs.float(),
        chunks.numel(),
        True,
        generator=ctx.generator("eval", "unigram"),
    )
    judge_samples("independent/text", unigram.view_as(chunks))
    shown = {"test data": decode(chunks[:4])}
    per_char = L * math.log(2)
    for method in config.methods:
        model = models[f"{method}/text"].to(device)
        gen = ctx.generator("data", method)  # batches, times and masks
        path = None if method == "ar" else _path(method, vocab, config)

        def loss_fn(step, model=model, gen=gen, path=path):
            start = torch.randint(len(train) - L, (config.batch_size,), generator=gen)
            x1 = train[start[:, None] + torch.arange(L)].to(device)
            if path is None:
                return -causal_log_prob(model, x1, vocab).mean() / L
            return discrete_fm_loss(model, path, x1, generator=gen)

        trained = ctx.fit(
            loss_fn,
            model,
            tag=f"{method}/text",
            generators=[gen],
            device=device,
            steps=config.steps,
            lr=config.lr,
            schedule="cosine",
            warmup=min(200, config.steps // 10),
            grad_clip=1.0,
        )
        key = f"{method}/text"
        m[f"{key}/train_seconds"] = trained.seconds
        m[f"{key}/params"] = float(parameter_count(model))
        eval_gen = ctx.generator("eval")  # the same stream for every model
        model.eval()
        with torch.no_grad():
            if path is None:
                log_p = causal_log_prob(model, chunks.to(device), vocab)
            else:
                log_p = mixture_elbo(
                    model, path, chunks.to(device), steps=config.elbo_steps, generator=eval_gen
                )
        m[f"{key}/bits_per_char"] = float(-log_p.mean() / per_char)
        m[f"{key}/bits_per_char_stderr"] = float(log_p.std() / math.sqrt(len(log_p)) / per_char)
        for n in () if path is None else config.elbo_grids:
            with torch.no_grad():
                bound = mixture_elbo(model, path, chunks.to(device), steps=n, generator=eval_gen)
            m[f"{key}/bits_per_char_elbo{n}"] = float(-bound.mean() / per_char)
        budgets = (L,) if path is None else config.sample_steps
        for n in budgets:
            if path is None:
                x = causal_sample(model, len(chunks), L, vocab, eval_gen)
            else:
                x = discrete_sample(model, path, len(chunks), L, steps=n, generator=eval_gen)
            judge_samples(f"{key}/{n}", x.cpu())
            for name in ("judge_bpc", "word_valid", "entropy"):
                m[f"{key}/{name}_{n}"] = m.pop(f"{key}/{n}/{name}")
            shown[f"{method}, {n} steps"] = decode(x[:4].cpu())
        model.train()
    if config.dequant_steps:
        _dequantization_references(config, ctx, m)
    results.notes += [
        f"bits per character on {len(chunks)} test chunks of {L} characters; dfm: -ELBO of "
        f"the {config.elbo_steps}-step sampler (an upper bound on that sampler's bits per "
        "character); ar: exact; voronoi/argmax: -IWAE (an upper bound), from "
        f"voronoi-realdiscrete's models trained for {config.dequant_steps} steps in this run.",
        "judge_bpc: a character trigram model (add-0.1) fitted on the training split scores the "
        "samples (the test chunks' own score is data/text/judge_bpc); word_valid: fraction of "
        "complete words found in the training text; entropy: of the character frequencies (bits).",
        *(
            f"samples, {label}: " + " | ".join(repr(s) for s in texts)
            for label, texts in shown.items()
        ),
    ]
    results.figures["bits_per_char"] = _figure(m, config)
    return results


def _dequantization_references(config: DiscreteFMTextConfig, ctx: RunContext, m: dict) -> None:
    """Train voronoi-realdiscrete's two text models at this run's seed and chunking."""
    deq = VoronoiRealDiscreteConfig(
        seed=config.seed,
        device=config.device,
        datasets=("text",),
        seq_len=config.seq_len,
        steps=config.dequant_steps,
        n_test=config.n_test,
    )
    sub = run_dequantization(
        deq, RunContext(logger=ctx.logger, progress=ctx.progress, seed=config.seed)
    )
    for method in ("voronoi", "argmax"):
        m[f"{method}/text/bits_per_char"] = sub.metrics[f"{method}/text/bits_per_var"]
        m[f"{method}/text/train_seconds"] = sub.metrics[f"{method}/text/train_seconds"]


def _figure(m: dict[str, float], config: DiscreteFMTextConfig):
    """Test bits per character as bars; the samples' trigram-judge score per sampler budget."""
    fig, axes = figure_grid(1, 2, (7.6, 2.8), dpi=100)
    names = ("independent", "voronoi", "argmax", *config.methods)
    plot_bars(
        axes[0, 0],
        {n: m[f"{n}/text/bits_per_char"] for n in names if f"{n}/text/bits_per_char" in m},
        colors=COLORS,
        title="test bits per character (lower is better)",
        tick_params={"axis": "x", "labelsize": 7, "rotation": 30},
    )
    steps = list(config.sample_steps)
    curves = {
        k: (steps, [m[f"{k}/text/judge_bpc_{n}"] for n in steps])
        for k in config.methods
        if k != "ar"
    }
    ar = {}  # the AR sampler has one budget, a line
    if "ar" in config.methods:
        ar[f"ar ({config.seq_len} evaluations)"] = m[f"ar/text/judge_bpc_{config.seq_len}"]
    plot_curves(
        axes[0, 1],
        curves,
        style="o-",
        hlines={**ar, "test data": m["data/text/judge_bpc"]},
        styles={
            **{k: {"color": "tab:green", "lw": 1.5} for k in ar},
            "test data": {"color": "k", "ls": "-"},
        },
        xscale=("log", {"base": 2}),
        xlabel="sampler steps",
        title="samples under a trigram judge (bits/char)",
    )
    fig.tight_layout()
    return fig


register(
    Experiment(
        name="discrete-fm-text",
        config_cls=DiscreteFMTextConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="discrete flow matching on characters vs dequantization flows and an AR model",
    )
)
