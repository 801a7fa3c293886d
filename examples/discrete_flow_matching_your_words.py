"""Discrete flow matching on your own token sequences: the words of a text file, with guidance.

Reads the words of any UTF-8 text file (default: the shared tinyshakespeare, else this
repository's README), pads each to 8 characters, and trains a mask-source discrete flow matching
model conditioned on one bit, "the word is capitalised", with the condition dropped (the null
class) a fifth of the time. Then it prints the test bits per character (an ELBO bound) and, for
classifier-free guidance scales 0, 1 and 3 asking for capitalised words: the share of samples
that are capitalised and the share that are words of the training text.
Default run (about a minute on one core, tinyshakespeare): 1.7 bits per character (the padding
spaces are cheap); capitalised share 0.21 unguided (the data's: 0.19), 0.98 at scale 1 and 1.00
at scale 3; real words 0.34, 0.38 and 0.31. Past scale 1 the words get worse ("KIINREHE"):
guidance buys the condition with sample quality.

    python examples/discrete_flow_matching_your_words.py [--text FILE] [--steps N] \
        [--samples N] [--out FOLDER]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ctflow.flows import (  # noqa: E402
    DiscreteClassifierFreeGuidance,
    discrete_fm_loss,
    discrete_sample,
    mixture_elbo,
)
from ctflow.nn import SequenceTransformer  # noqa: E402
from ctflow.paths import MixtureDiscretePath  # noqa: E402

# the arguments tests/test_examples.py uses to run this script in a few seconds
SMOKE_ARGS = ["--steps", "20", "--samples", "50", "--eval-words", "50"]
LENGTH = 8
HERE = Path(__file__).resolve().parent


def default_text() -> Path:
    shared = HERE.parents[1] / "shared" / "data" / "text" / "tinyshakespeare.txt"
    return shared if shared.exists() else HERE.parent / "README.md"


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", type=Path, default=None, help="a UTF-8 text file")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=1000, help="samples per guidance scale")
    parser.add_argument("--eval-words", type=int, default=None, help="test words scored (all)")
    parser.add_argument("--out", type=Path, default=Path("examples/out"))
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    path_in = args.text or default_text()
    if not path_in.is_file():
        raise SystemExit(f"no such text file: {path_in}")

    # the user's data: words of at most 8 letters, padded with spaces, as token ids
    words = [
        w for w in path_in.read_text(encoding="utf-8").split() if w.isalpha() and len(w) <= LENGTH
    ]
    if len(words) < 100:
        raise SystemExit(f"{path_in} holds only {len(words)} alphabetic words; need 100 or more")
    vocab = sorted(set("".join(words)) | {" "})
    index = {ch: i for i, ch in enumerate(vocab)}
    tokens = torch.tensor([[index[ch] for ch in w.ljust(LENGTH)] for w in words])
    capital = torch.tensor([w[0].isupper() for w in words]).long()
    order = torch.randperm(len(words))
    test, train = order[: len(order) // 10], order[len(order) // 10 :]
    test = test[: args.eval_words]

    # context: one-hot over {lower, capital, null}
    path = MixtureDiscretePath(len(vocab), source="mask")
    model = SequenceTransformer(
        path.num_tokens, len(vocab), length=LENGTH, width=64, depth=2, context=3
    )
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
    gen = torch.Generator().manual_seed(args.seed)
    for _ in range(args.steps):
        batch = train[torch.randint(len(train), (128,), generator=gen)]
        label = capital[batch].clone()
        label[torch.rand(128, generator=gen) < 0.2] = 2  # dropped condition: the null class
        c = torch.nn.functional.one_hot(label, 3).float()
        loss = discrete_fm_loss(model, path, tokens[batch], context=c, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()

    model.eval()
    null = torch.tensor([0.0, 0.0, 1.0])
    with torch.no_grad():
        c_test = torch.nn.functional.one_hot(capital[test], 3).float()
        bound = mixture_elbo(model, path, tokens[test], steps=32, context=c_test, generator=gen)
    bits = float(-bound.mean() / (LENGTH * math.log(2)))
    known = set(words[i] for i in train.tolist())
    ask = torch.nn.functional.one_hot(torch.ones(args.samples, dtype=torch.long), 3).float()
    results = {"test_bits_per_char": bits, "data_capital_share": float(capital.float().mean())}
    print(f"test bits per character (ELBO bound, 32 steps): {bits:.3f}")
    print(f"capitalised share in the data: {results['data_capital_share']:.2f}")
    shown = {}
    for scale in (0.0, 1.0, 3.0):
        guided = DiscreteClassifierFreeGuidance(model, scale, null)
        x = discrete_sample(
            guided, path, args.samples, LENGTH, steps=32, context=ask, generator=gen
        )
        texts = ["".join(vocab[i] for i in row).strip() for row in x.tolist()]
        cap = sum(t[:1].isupper() for t in texts) / len(texts)
        real = sum(t in known for t in texts) / len(texts)
        results[f"capital_share_scale{scale:g}"] = cap
        results[f"real_words_scale{scale:g}"] = real
        shown[scale] = (cap, real)
        print(
            f"guidance {scale:g}: capitalised {cap:.2f}, real words {real:.2f}, e.g. "
            + ", ".join(texts[:6])
        )

    args.out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4.2, 2.8))
    scales = list(shown)
    ax.plot(scales, [shown[s][0] for s in scales], "o-", label="capitalised share")
    ax.plot(scales, [shown[s][1] for s in scales], "s-", label="real-word share")
    ax.axhline(
        results["data_capital_share"],
        color="gray",
        lw=0.8,
        ls="--",
        label="data's capitalised share",
    )
    ax.set_xlabel("guidance scale (asking for capitalised words)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "discrete_flow_matching_your_words.png", dpi=110)
    return results


if __name__ == "__main__":
    main()
