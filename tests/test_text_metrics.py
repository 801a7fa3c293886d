"""The text judges of ctflow.metrics against hand-computed values."""

import math

import pytest
import torch

from ctflow.metrics import NGramModel, unigram_entropy_bits, word_validity


def test_unigram_judge_is_the_add_half_cross_entropy():
    stream = torch.tensor([0, 0, 1, 2, 0, 1])
    judge = NGramModel(stream, vocab_size=3, order=1)
    counts = torch.tensor([3.0, 2.0, 1.0]) + 0.5
    p = counts / counts.sum()
    seqs = torch.tensor([[0, 1], [2, 2]])
    expected = p[seqs].log().sum(-1)
    torch.testing.assert_close(judge.log_prob(seqs), expected.double())


def test_bigram_judge_smooths_towards_the_unigram():
    stream = torch.tensor([0, 1, 0, 1, 0, 2])
    beta = 2.0
    judge = NGramModel(stream, vocab_size=3, order=2, beta=beta)
    uni = (torch.tensor([3.0, 2.0, 1.0]) + 0.5) / 7.5
    # after 0: counts 1 -> 2 twice, 0 -> 2 once; context 0 seen 3 times
    p_1_after_0 = (2 + beta * uni[1]) / (3 + beta)
    # context 2 never seen as a context: the unigram
    p_0_after_2 = (0 + beta * uni[0]) / (0 + beta)
    got = judge.log_prob(torch.tensor([[0, 1], [2, 0]]))
    torch.testing.assert_close(got, torch.stack([p_1_after_0, p_0_after_2]).log().double())
    assert judge.bits_per_token(torch.tensor([[0, 1]])) == pytest.approx(
        -math.log2(float(p_1_after_0))
    )


def test_word_validity_counts_complete_words_only():
    texts = ["ab cat dog zz", "x the qq y"]  # interior words: cat, dog / the, qq
    assert word_validity(texts, {"cat", "dog", "the"}) == pytest.approx(3 / 4)
    assert math.isnan(word_validity(["oneword"], {"oneword"}))


def test_unigram_entropy_of_uniform_tokens_is_log2_v():
    seqs = torch.arange(8).repeat(10).view(10, 8)
    assert unigram_entropy_bits(seqs, 8) == pytest.approx(3.0)
    assert unigram_entropy_bits(torch.zeros(2, 4, dtype=torch.long), 8) == pytest.approx(0.0)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="1-D"):
        NGramModel(torch.zeros(2, 2, dtype=torch.long), 3)
    judge = NGramModel(torch.tensor([0, 1, 2, 0]), 3, order=3)
    with pytest.raises(ValueError, match="L >= 3"):
        judge.log_prob(torch.tensor([[0, 1]]))
