"""Discrete flow matching against truth on a sequence space small enough to enumerate.

Independent implementations here: the exact distribution of the sampler by dynamic programming
over every noisy state, the exact ELBO by enumerating ``q(x_k | x1)`` and taking the KL of the
explicit transition distributions, the exact posterior of a known target by Bayes' rule, and the
Bregman divergence of the jump rates written out term by term.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from ctflow.flows import (
    DiscreteClassifierFreeGuidance,
    discrete_fm_loss,
    discrete_posterior,
    discrete_sample,
    mixture_elbo,
)
from ctflow.gfn import HyperGrid
from ctflow.nn import SequenceTransformer
from ctflow.paths import MixtureDiscretePath

V, L = 3, 3


def all_sequences(num_tokens: int, length: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(num_tokens), repeat=length)))


def index_of(x: torch.Tensor, num_tokens: int) -> torch.Tensor:
    radix = num_tokens ** torch.arange(x.shape[1] - 1, -1, -1)
    return (x * radix).sum(-1)


def source_probs(path: MixtureDiscretePath) -> torch.Tensor:
    """p0 over the model's input tokens."""
    p0 = torch.zeros(path.num_tokens, dtype=torch.float64)
    if path.source == "mask":
        p0[path.vocab_size] = 1.0
    else:
        p0[:] = 1.0 / path.vocab_size
    return p0


def noise_likelihood(path, x_t, x1, t):
    """q(x_t | x1) for every pair: (len(x_t), len(x1))."""
    kappa = float(path.kappa(t))
    p0 = source_probs(path)
    same = (x_t[:, None, :] == x1[None, :, :]).double()
    per = kappa * same + (1 - kappa) * p0[x_t][:, None, :]
    return per.prod(-1)


class Oracle(torch.nn.Module):
    """The exact posterior p(x1^i | x_t) of a known target, by Bayes over every sequence."""

    def __init__(self, path, target):
        super().__init__()
        self.path, self.target = path, target
        self.x1 = all_sequences(path.vocab_size, L)

    def forward(self, t, x_t, c=None):
        target = self.target if c is None else self.target[c[:, 0].long()]  # (B, n) or (n,)
        kappa = self.path.kappa(t).double()[:, None, None]
        same = (x_t[:, None, :] == self.x1[None, :, :]).double()
        p0 = source_probs(self.path)[x_t][:, None, :]
        w = (kappa * same + (1 - kappa) * p0).prod(-1) * target  # (B, n)
        # states the path cannot reach at this time get any posterior (they carry no mass)
        total = w.sum(-1, keepdim=True)
        w = torch.where(total > 0, w / total.clamp_min(1e-300), 1.0 / w.shape[-1])
        onehot = torch.nn.functional.one_hot(self.x1, self.path.vocab_size).double()  # (n, L, V)
        return torch.einsum("bn,nlv->blv", w, onehot).clamp_min(1e-300).log()


def sampler_distribution(model, path, steps, context_row=None):
    """The exact law of discrete_sample's output, by dynamic programming over the noisy states."""
    states = all_sequences(path.num_tokens, L)
    prob = source_probs(path)[states].prod(-1)
    grid = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
    for k in range(steps):
        r = float(path.jump_probability(float(grid[k]), float(grid[k + 1])))
        t = torch.full((len(states),), float(grid[k]))
        c = None if context_row is None else context_row.expand(len(states), -1)
        with torch.no_grad():
            p = discrete_posterior(model, path, t, states, c).double().exp()
        p = p / p.sum(-1, keepdim=True)
        # per-position transition to every input token
        trans = torch.zeros(len(states), L, path.num_tokens, dtype=torch.float64)
        trans[..., : path.vocab_size] = r * p
        trans.scatter_add_(
            -1, states.unsqueeze(-1), torch.full((len(states), L, 1), 1 - r, dtype=torch.float64)
        )
        joint = trans[:, 0]
        for i in range(1, L):
            joint = (joint.unsqueeze(-1) * trans[:, i].unsqueeze(1)).reshape(len(states), -1)
        prob = prob @ joint
    data = all_sequences(path.vocab_size, L)
    return prob[index_of(data, path.num_tokens)]


def exact_elbo(model, path, x1, steps):
    """Sum over grid steps of E_{q(x_k | x1)} KL(q(. | x_k, x1) || p(. | x_k)), enumerated."""
    states = all_sequences(path.num_tokens, L)
    grid = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
    total = torch.zeros(len(x1), dtype=torch.float64)
    for k in range(steps):
        r = float(path.jump_probability(float(grid[k]), float(grid[k + 1])))
        q_k = noise_likelihood(path, states, x1, float(grid[k]))  # (states, x1)
        with torch.no_grad():
            p = discrete_posterior(model, path, torch.full((len(states),), float(grid[k])), states)
        p = p.double().exp()
        p_full = torch.zeros(len(states), L, path.num_tokens, dtype=torch.float64)
        p_full[..., : path.vocab_size] = r * p
        p_full.scatter_add_(
            -1, states.unsqueeze(-1), torch.full((len(states), L, 1), 1 - r, dtype=torch.float64)
        )
        for j, row in enumerate(x1):
            # jump to x1 w.p. r, stay w.p. 1 - r (the two add up where x_k = x1 already)
            q_full = torch.zeros(len(states), L, path.num_tokens, dtype=torch.float64)
            q_full.scatter_add_(
                -1,
                row.expand(len(states), L).unsqueeze(-1),
                torch.full((len(states), L, 1), r, dtype=torch.float64),
            )
            q_full.scatter_add_(
                -1,
                states.unsqueeze(-1),
                torch.full((len(states), L, 1), 1 - r, dtype=torch.float64),
            )
            kl = torch.where(q_full > 0, q_full * (q_full.log() - p_full.log()), 0.0).sum((-1, -2))
            weight = q_k[:, j]
            total[j] -= (weight * torch.where(weight > 0, kl, 0.0)).sum()
    return total


def target_distribution():
    env = HyperGrid(ndim=L, height=V)
    states, probs = env.reward_distribution()
    order = index_of(states, V).argsort()
    return probs[order]


def small_model(path, seed=0):
    torch.manual_seed(seed)
    return SequenceTransformer(path.num_tokens, V, length=L, width=16, depth=1, heads=2).double()


PATHS = [
    MixtureDiscretePath(V, "mask"),
    MixtureDiscretePath(V, "uniform"),
    MixtureDiscretePath(V, "mask", power=2.0),
    MixtureDiscretePath(V, "uniform", power=2.0),
]
IDS = ["mask", "uniform", "mask-k2", "uniform-k2"]


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_path_keeps_each_token_with_probability_kappa(path):
    gen = torch.Generator().manual_seed(0)
    x1 = torch.randint(V, (20000, L), generator=gen)
    t = torch.full((20000,), 0.6)
    x_t = path.sample(x1, t, generator=gen)
    kappa = float(path.kappa(0.6))
    chance = 0.0 if path.source == "mask" else 1.0 / V
    expected = kappa + (1 - kappa) * chance
    assert abs((x_t == x1).double().mean().item() - expected) < 0.01
    # the jump probabilities compose: surviving t -> s -> u equals surviving t -> u
    a, b = path.jump_probability(0.2, 0.5), path.jump_probability(0.5, 0.9)
    assert torch.allclose((1 - a) * (1 - b), 1 - path.jump_probability(0.2, 0.9), atol=1e-6)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_loss_is_the_bregman_divergence_of_the_rates_up_to_a_model_free_term(path):
    x1 = torch.randint(V, (64, L), generator=torch.Generator().manual_seed(1))
    t = torch.rand(64, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 0.9

    def bregman(model):
        x_t = path.sample(x1, t, generator=torch.Generator().manual_seed(3))
        p = discrete_posterior(model, path, t, x_t).exp()
        c = (path.d_kappa(t) / (1 - path.kappa(t))).double()
        total = torch.zeros((), dtype=torch.float64)
        for b in range(64):
            for i in range(L):
                for y in range(V):
                    if y == int(x_t[b, i]):
                        continue
                    u = c[b] * float(y == int(x1[b, i]))
                    v = c[b] * p[b, i, y]
                    total = total + v - u + (u * (torch.log(u) - torch.log(v)) if u > 0 else 0.0)
        return total / (64 * L)

    a, b = small_model(path, 0), small_model(path, 1)
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731 (the same x_t for all four)
    la = discrete_fm_loss(a, path, x1, t=t, generator=gen())
    lb = discrete_fm_loss(b, path, x1, t=t, generator=gen())
    assert torch.allclose(la - lb, bregman(a) - bregman(b), atol=1e-10)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
@pytest.mark.parametrize("kind", ["network", "oracle"])
def test_sampler_matches_its_enumerated_law(path, kind):
    # the oracle's posterior depends strongly on x_t, so a wrong jump probability shows
    model = small_model(path) if kind == "network" else Oracle(path, target_distribution())
    exact = sampler_distribution(model, path, steps=4)
    assert abs(exact.sum().item() - 1) < 1e-10
    x = discrete_sample(model, path, 40000, L, steps=4, generator=torch.Generator().manual_seed(0))
    empirical = torch.bincount(index_of(x, V), minlength=V**L).double() / len(x)
    assert 0.5 * (empirical - exact).abs().sum() < 0.03


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_elbo_never_exceeds_the_exact_log_likelihood(path):
    model = small_model(path, 2)
    x1 = all_sequences(V, L)
    steps = 5
    log_p = sampler_distribution(model, path, steps).log()
    bound = exact_elbo(model, path, x1, steps)
    assert (bound <= log_p + 1e-9).all()
    # the library's estimate is unbiased for the enumerated bound
    est = mixture_elbo(
        model, path, x1, steps=steps, samples=400, generator=torch.Generator().manual_seed(0)
    ).detach()
    assert torch.allclose(est, bound, atol=0.25)
    assert abs((est - bound).mean().item()) < 0.03


def test_one_masked_step_bound_is_exact():
    # one step from all-mask draws every token independently: the ELBO is the likelihood
    path = MixtureDiscretePath(V, "mask")
    model = small_model(path, 3)
    log_p = sampler_distribution(model, path, 1).log()
    bound = mixture_elbo(model, path, all_sequences(V, L), steps=1).detach()
    assert torch.allclose(bound, log_p, atol=1e-10)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_exact_posterior_sampler_converges_to_the_target(path):
    target = target_distribution()
    oracle = Oracle(path, target)
    tv = {
        n: 0.5 * (sampler_distribution(oracle, path, n) - target).abs().sum().item()
        for n in (1, 8, 64)
    }
    assert tv[64] < tv[8] < tv[1]
    assert tv[64] < 0.02


def test_total_variation_falls_with_training():
    path = MixtureDiscretePath(V, "mask")
    target = target_distribution()
    data = all_sequences(V, L)
    model = small_model(path, 4).float()
    before = 0.5 * (sampler_distribution(model, path, 16) - target).abs().sum().item()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        x1 = data[torch.multinomial(target.float(), 256, True, generator=gen)]
        loss = discrete_fm_loss(model, path, x1, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = 0.5 * (sampler_distribution(model, path, 16) - target).abs().sum().item()
    assert after < 0.5 * before
    assert after < 0.15


def test_guidance_is_exact_for_independent_tokens():
    # product targets: the tilt p(x|c)^w p(x)^(1-w) is a product too, and guidance is exact
    path = MixtureDiscretePath(V, "mask")
    gen = torch.Generator().manual_seed(5)
    marginals = torch.softmax(torch.randn(3, L, V, generator=gen, dtype=torch.float64), -1)
    data = all_sequences(V, L)

    def product(m):
        return m[torch.arange(L), data].prod(-1)

    targets = torch.stack([product(m) for m in marginals])  # classes 0, 1 and null = 2
    oracle = Oracle(path, targets)
    for w in (0.0, 1.0, 2.5):
        guided = DiscreteClassifierFreeGuidance(oracle, w, torch.tensor([2.0]))
        law = sampler_distribution(guided, path, 4, context_row=torch.tensor([[0.0]]))
        tilt = targets[0] ** w * targets[2] ** (1 - w)
        tilt = tilt / tilt.sum()
        assert (0.5 * (law - tilt).abs().sum()) < 1e-10


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.zeros(4, dtype=torch.long), "batch, length"),
        (torch.full((2, 3), 3), "outside"),
        (torch.zeros(2, 3), "integer"),
    ],
)
def test_bad_tokens_are_refused_with_a_clear_error(bad, match):
    path = MixtureDiscretePath(V, "mask")
    model = small_model(path)
    with pytest.raises((ValueError, TypeError), match=match):
        discrete_fm_loss(model, path, bad)


def test_model_output_shape_is_checked():
    path = MixtureDiscretePath(V, "uniform")
    wrong = SequenceTransformer(path.num_tokens, V + 1, length=L, width=8, depth=1, heads=2)
    with pytest.raises(ValueError, match="logits of shape"):
        discrete_fm_loss(wrong, path, torch.zeros(2, L, dtype=torch.long))


def test_bits_per_token_of_a_uniform_model_is_the_code_length():
    # a model that always says uniform: one masked step is exactly L log V nats
    class Flat(torch.nn.Module):
        def forward(self, t, x):
            return torch.zeros(*x.shape, V)

    path = MixtureDiscretePath(V, "mask")
    bound = mixture_elbo(Flat(), path, all_sequences(V, L), steps=1)
    assert torch.allclose(bound, torch.full_like(bound, -L * math.log(V)))


def test_library_masked_posterior_oracle_agrees_with_bayes():
    # ctflow.flows.ExactMaskedPosterior (used by the benchmark and conditional-2d) against the
    # independent Bayes-rule oracle above, on every noisy state
    from ctflow.flows import ExactMaskedPosterior

    path = MixtureDiscretePath(V, "mask")
    # a law with no symmetry, so a mix-up of sequences shows
    target = torch.rand(V**L, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    target = target / target.sum()
    states = all_sequences(path.num_tokens, L)
    t = torch.full((len(states),), 0.4)
    ours = discrete_posterior(ExactMaskedPosterior(all_sequences(V, L), target, V), path, t, states)
    bayes = discrete_posterior(Oracle(path, target), path, t, states)
    reachable = torch.isfinite(bayes).any(-1).all(-1)
    torch.testing.assert_close(ours.exp()[reachable], bayes.exp()[reachable], atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="context"):
        ExactMaskedPosterior(all_sequences(V, L), torch.stack([target, target]), V)(t, states)
