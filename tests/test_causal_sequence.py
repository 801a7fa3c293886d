"""The causal sequence model's exact likelihood and its ancestral sampler."""

import itertools

import torch

from ctflow.nn import SequenceTransformer, causal_log_prob, causal_sample

V, L = 3, 3


def _model():
    torch.manual_seed(0)
    net = SequenceTransformer(
        V + 1, V, length=L, width=16, depth=1, heads=2, causal=True, time=False
    )
    return net.double().eval()


def test_the_causal_likelihood_sums_to_one_over_every_sequence():
    net = _model()
    every = torch.tensor(list(itertools.product(range(V), repeat=L)))
    with torch.no_grad():
        total = causal_log_prob(net, every, start=V).exp().sum()
    assert abs(float(total) - 1.0) < 1e-12


def test_the_sampler_draws_from_that_likelihood():
    net = _model()
    every = torch.tensor(list(itertools.product(range(V), repeat=L)))
    with torch.no_grad():
        p = causal_log_prob(net, every, start=V).exp()
    x = causal_sample(net.float(), 20000, L, V, torch.Generator().manual_seed(1))
    index = (x * torch.tensor([V**2, V, 1])).sum(-1)
    freq = torch.bincount(index, minlength=V**L).double() / len(x)
    # total variation: sampling noise is about 0.015 here; a sampler from the product of the
    # marginals (one that ignored the earlier tokens) is 0.08 away
    assert float((freq - p).abs().sum()) / 2 < 0.03
