"""Sample-quality measures for token sequences that do not depend on the model being judged."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

__all__ = ["NGramModel", "word_validity", "unigram_entropy_bits"]


class NGramModel:
    """A count-based ``n``-gram model of token sequences, each order smoothed towards the one below.

    ``p_n(c | ctx) = (count(ctx, c) + beta p_{n-1}(c | ctx')) / (count(ctx) + beta)``, where
    ``ctx'`` drops the oldest token and ``p_0`` is the add-1/2 unigram. An unseen context thus
    falls back to the shorter one instead of to a uniform guess, so random tokens score badly.

    Fitted once on a long training stream, it scores any set of sequences without knowing which
    model made them, which makes it a fixed judge of samples: lower bits per token means more
    plausible local statistics (a repetitive sampler can also score low, so read it beside
    :func:`unigram_entropy_bits`).

    Args:
        stream: the training tokens, 1-D long.
        vocab_size: ``V``.
        order: ``n`` (the context is the previous ``n - 1`` tokens).
        beta: the weight of the lower order (positive).

    Examples:
        >>> judge = NGramModel(torch.tensor([0, 1, 0, 1, 0, 1, 0, 1]), vocab_size=2, order=2)
        >>> judge.bits_per_token(torch.tensor([[0, 1, 0, 1]])) < 0.5
        True
    """

    def __init__(self, stream: Tensor, vocab_size: int, order: int = 3, beta: float = 2.0):
        if not isinstance(stream, Tensor) or stream.dim() != 1 or len(stream) < order:
            raise ValueError(f"stream must be a 1-D token tensor of length >= {order}")
        if order < 1 or beta <= 0:
            raise ValueError(f"need order >= 1 and beta > 0, got order={order}, beta={beta}")
        self.vocab_size, self.order, self.beta = vocab_size, order, beta
        stream = stream.long()
        # counts[j]: (V^j contexts, V) counts of a token after j context tokens
        self._counts = []
        for j in range(order):
            windows = stream.unfold(0, j + 1, 1)
            codes = (windows * vocab_size ** torch.arange(j, -1, -1)).sum(-1)
            counts = torch.bincount(codes, minlength=vocab_size ** (j + 1)).double()
            self._counts.append(counts.view(-1, vocab_size))

    def log_prob(self, seqs: Tensor) -> Tensor:
        """``(batch,)`` log-probability (nats) of the tokens after the first ``n - 1`` of each."""
        if seqs.dim() != 2 or seqs.shape[1] < self.order:
            raise ValueError(f"seqs must be (batch, L >= {self.order}), got {tuple(seqs.shape)}")
        windows = seqs.long().unfold(1, self.order, 1)  # (batch, positions, n)
        target = windows[..., -1]
        unigram = self._counts[0][0] + 0.5
        p = (unigram / unigram.sum())[target]
        for j in range(1, self.order):
            ctx = windows[..., self.order - 1 - j : self.order - 1]
            code = (ctx * self.vocab_size ** torch.arange(j - 1, -1, -1)).sum(-1)
            table = self._counts[j]
            p = (table[code, target] + self.beta * p) / (table[code].sum(-1) + self.beta)
        return p.log().sum(-1)

    def bits_per_token(self, seqs: Tensor) -> float:
        """Mean bits per scored token over ``seqs (batch, L)``."""
        scored = seqs.shape[1] - self.order + 1
        return float(-self.log_prob(seqs).mean() / (scored * math.log(2)))


def word_validity(texts: Iterable[str], vocabulary: set[str]) -> float:
    """The fraction of complete words (the interior of each text, split on whitespace) that occur
    in ``vocabulary``; the first and last pieces of a text may be cut, so they are not counted.
    ``nan`` when no text holds a complete word."""
    words = []
    for text in texts:
        pieces = text.split()
        words += pieces[1:-1] if len(pieces) > 2 else []
    return sum(w in vocabulary for w in words) / len(words) if words else float("nan")


def unigram_entropy_bits(seqs: Tensor, vocab_size: int) -> float:
    """Entropy (bits) of the token frequencies pooled over ``seqs``."""
    counts = torch.bincount(seqs.reshape(-1).long(), minlength=vocab_size).double()
    p = counts / counts.sum()
    return float(-(p[p > 0] * p[p > 0].log2()).sum())
