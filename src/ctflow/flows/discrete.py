"""Discrete flow matching on mixture paths: the loss, the sampler, a likelihood bound, guidance.

A model reads a noisy sequence ``x_t`` and the time and returns logits of the posterior
``p(x1^i | x_t)`` for every position, over the ``V`` data tokens:

    model(t, x_t) -> (batch, L, V)        or        model(t, x_t, c) with a context c.

On a mixture path (:class:`ctflow.paths.MixtureDiscretePath`) that posterior defines the
velocity (the jump rates) of a continuous-time Markov chain:
``u^i(y | x_t) = kappa'/(1 - kappa) * (p(y | x_t) - [y = x_t^i])``.

- :func:`discrete_fm_loss` is the generalised KL (Bregman) divergence between the conditional
  rates and the model's rates; on a mask source it is the continuous-time negative ELBO.
- :func:`discrete_sample` runs the chain on a grid of ``steps``: in each step every token is
  redrawn from the posterior with the probability ``(kappa(s) - kappa(t)) / (1 - kappa(t))``
  (equal to the Euler step ``h kappa'/(1 - kappa)`` for ``kappa(t) = t``, and exact in time for
  any ``kappa``).
- :func:`mixture_elbo` is the evidence lower bound of exactly that ``steps``-step sampler, so it
  never exceeds the sampler's true log-likelihood (``tests/test_discrete_flow_matching.py``
  enumerates both on a small space).
- :class:`ctflow.flows.DiscreteClassifierFreeGuidance` (in ``guidance.py``) combines
  conditional and unconditional posteriors.

On a mask source, positions that are no longer masked keep their token ("carry-over"): their
posterior is set to a point mass on it whatever the model says.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..paths.discrete import MixtureDiscretePath

__all__ = [
    "discrete_fm_loss",
    "discrete_posterior",
    "discrete_sample",
    "mixture_elbo",
]

# Training times stop short of 1, where kappa'/(1 - kappa) diverges.
T_MAX = 1.0 - 1e-3


def discrete_posterior(
    model, path: MixtureDiscretePath, t: Tensor, x_t: Tensor, context: Tensor | None = None
) -> Tensor:
    """``log p(x1^i = y | x_t)``, ``(batch, L, V)``, with carry-over on a mask source.

    Args:
        model: ``model(t, x_t[, context])`` returning logits ``(batch, L, V)``.
        path: the mixture path.
        t: times, shape ``(batch,)``.
        x_t: tokens, shape ``(batch, L)``, mask token allowed.
        context: optional context passed to the model.
    """
    log_p = torch.log_softmax(_logits(model, path, t, x_t, context), -1)
    if path.mask_token is None:
        return log_p
    known = x_t != path.mask_token
    point = torch.full_like(log_p, float("-inf")).scatter(
        -1, x_t.clamp_max(path.vocab_size - 1).unsqueeze(-1), 0.0
    )
    return torch.where(known.unsqueeze(-1), point, log_p)


def _logits(model, path: MixtureDiscretePath, t: Tensor, x_t: Tensor, context) -> Tensor:
    logits = model(t, x_t) if context is None else model(t, x_t, context)
    expected = (*x_t.shape, path.vocab_size)
    if not isinstance(logits, Tensor) or tuple(logits.shape) != expected:
        got = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"model must return logits of shape {expected}, got {got}")
    return logits


def discrete_fm_loss(
    model,
    path: MixtureDiscretePath,
    x1: Tensor,
    *,
    context: Tensor | None = None,
    generator: torch.Generator | None = None,
    t: Tensor | None = None,
) -> Tensor:
    """The generalised KL loss of discrete flow matching, in nats per token.

    Per token, with ``c = kappa'(t) / (1 - kappa(t))`` and ``p = p(. | x_t)``:
    ``c * ([x_t = x1] - p(x_t) - [x_t != x1] log p(x1))``, which is the Bregman divergence between
    the conditional and the model's jump rates up to a term free of the model. Averaged over
    times ``t ~ U[0, 1 - 1e-3]``, tokens and the batch; on a mask source its expectation is the
    continuous-time negative ELBO per token.

    Args:
        model: ``model(t, x_t[, context]) -> (batch, L, V)`` logits.
        path: the mixture path.
        x1: data tokens, ``(batch, L)`` long.
        context: optional ``(batch, k)`` context.
        generator: draws the times and the path.
        t: fixed times ``(batch,)`` instead of random ones.

    Returns:
        A scalar.

    Examples:
        >>> from ctflow.nn import SequenceTransformer
        >>> from ctflow.paths import MixtureDiscretePath
        >>> path = MixtureDiscretePath(vocab_size=4, source="mask")
        >>> model = SequenceTransformer(path.num_tokens, 4, length=3, width=16, depth=1, heads=2)
        >>> x1 = torch.randint(4, (8, 3), generator=torch.Generator().manual_seed(0))
        >>> discrete_fm_loss(model, path, x1).shape
        torch.Size([])
    """
    if not isinstance(path, MixtureDiscretePath):
        raise TypeError(f"path must be a MixtureDiscretePath, got {type(path).__name__}")
    path.check_tokens(x1, "x1")
    if t is None:
        t = torch.rand(x1.shape[0], generator=generator, device=x1.device) * T_MAX
    elif not isinstance(t, Tensor) or t.shape != x1.shape[:1]:
        raise ValueError(f"t must have shape ({x1.shape[0]},)")
    t = t.clamp(0, T_MAX)
    x_t = path.sample(x1, t, generator=generator)
    logits = _logits(model, path, t, x_t, context)
    # only two entries of the posterior enter the loss: gather them and normalise by one
    # logsumexp instead of materialising log_softmax over the vocabulary
    log_norm = logits.logsumexp(-1)
    log_p_x1 = logits.gather(-1, x1.unsqueeze(-1)).squeeze(-1) - log_norm
    same = x_t == x1
    in_vocab = x_t < path.vocab_size
    log_p_xt = logits.gather(-1, x_t.clamp_max(path.vocab_size - 1).unsqueeze(-1)).squeeze(-1)
    p_xt = torch.where(in_vocab, (log_p_xt - log_norm).exp(), torch.zeros_like(log_p_x1))
    weight = (path.d_kappa(t) / (1 - path.kappa(t))).to(logits).unsqueeze(-1)
    # where x_t = x1 the log term is absent. On a mask source those are the unmasked positions,
    # whose carry-over posterior is a point mass there: [x_t = x1] - p(x_t) = 0, so they add 0.
    log_term = torch.where(same, torch.zeros_like(log_p_x1), log_p_x1)
    per_token = weight * (same.to(logits) - p_xt - log_term)
    if path.mask_token is not None:
        per_token = torch.where(in_vocab, torch.zeros_like(per_token), per_token)
    return per_token.mean()


def _grid(steps: int) -> Tensor:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    return torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)


@torch.no_grad()
def discrete_sample(
    model,
    path: MixtureDiscretePath,
    num_samples: int,
    length: int,
    *,
    steps: int = 100,
    context: Tensor | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Sequences from the model's chain, run from a source draw at ``t = 0`` to ``t = 1``.

    In each of the ``steps`` equal steps ``t -> s``, every token is redrawn from
    ``p(. | x_t)`` with probability ``(kappa(s) - kappa(t)) / (1 - kappa(t))`` (the last step
    redraws all of them, so no mask is left).

    Args:
        model: ``model(t, x_t[, context]) -> (batch, L, V)`` logits (or a guidance wrapper).
        path: the mixture path the model was trained on.
        num_samples: how many sequences.
        length: tokens per sequence.
        steps: grid steps (model evaluations).
        context: optional ``(num_samples, k)`` context.
        generator: draws the source and every jump.
        device: where to sample (default: the model's parameters, else CPU).

    Returns:
        ``(num_samples, length)`` long tokens in ``[0, V)``.
    """
    grid = _grid(steps)
    if device is None:
        params = list(model.parameters()) if isinstance(model, nn.Module) else []
        device = params[0].device if params else torch.device("cpu")
    x = path.source_sample((num_samples, length), generator=generator, device=device)
    for k in range(steps):
        t = torch.full((num_samples,), float(grid[k]), device=device)
        log_p = discrete_posterior(model, path, t, x, context)
        redraw_p = float(path.jump_probability(float(grid[k]), float(grid[k + 1])))
        u = torch.rand(x.shape, generator=generator, device=device)
        gumbel = -torch.log(-torch.log(torch.rand(log_p.shape, generator=generator, device=device)))
        y = (log_p + gumbel).argmax(-1)
        x = torch.where(u < redraw_p, y, x)
    return x


def mixture_elbo(
    model,
    path: MixtureDiscretePath,
    x1: Tensor,
    *,
    steps: int = 100,
    context: Tensor | None = None,
    samples: int = 1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """An unbiased estimate of the ELBO of ``x1`` under the ``steps``-step :func:`discrete_sample`.

    ``log p(x1) >= -sum_k E_q KL(q(x_{k+1} | x_k, x1) || p(x_{k+1} | x_k))``, where ``q`` is the
    mixture path's own chain given ``x1``. Per token, with jump probability ``r`` and the
    model's posterior ``p``: ``-log(1 - r + r p(x1))`` where ``x_k = x1``, else
    ``-r log p(x1) + (1 - r) log((1 - r) / (1 - r + r p(x_k)))``. Every grid step is summed,
    each at ``samples`` draws of ``x_k``; the prior term vanishes because ``kappa(0) = 0``.

    Args:
        model: ``model(t, x_t[, context]) -> (batch, L, V)`` logits.
        path: the mixture path.
        x1: ``(batch, L)`` tokens.
        steps: the sampler's grid (the bound is for that sampler).
        context: optional ``(batch, k)`` context.
        samples: draws of ``x_k`` per grid step.
        generator: draws ``x_k``.

    Returns:
        ``(batch,)`` lower bounds on ``log p(x1)`` in nats (divide by ``L ln 2`` for bits per
        token).
    """
    path.check_tokens(x1, "x1")
    grid = _grid(steps)
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive int, got {samples!r}")
    total = torch.zeros(x1.shape[0], dtype=torch.float64, device=x1.device)
    for k in range(steps):
        r = float(path.jump_probability(float(grid[k]), float(grid[k + 1])))
        t = torch.full((x1.shape[0],), float(grid[k]), device=x1.device)
        for _ in range(samples):
            x_k = path.sample(x1, t, generator=generator)
            log_p = discrete_posterior(model, path, t, x_k, context).double()
            total -= _step_kl(path, log_p, x_k, x1, r).sum(-1) / samples
    return total


def _step_kl(path: MixtureDiscretePath, log_p: Tensor, x_k: Tensor, x1: Tensor, r: float) -> Tensor:
    """Per-token ``KL(q(x_{k+1} | x_k, x1) || p(x_{k+1} | x_k))`` for jump probability ``r``."""
    p_x1 = log_p.gather(-1, x1.unsqueeze(-1)).squeeze(-1).exp()
    in_vocab = x_k < path.vocab_size
    p_xk = torch.where(
        in_vocab,
        log_p.gather(-1, x_k.clamp_max(path.vocab_size - 1).unsqueeze(-1)).squeeze(-1).exp(),
        torch.zeros_like(p_x1),
    )
    arrived = -torch.log1p(-r + r * p_x1)
    jump = -r * torch.log(p_x1) if r > 0 else torch.zeros_like(p_x1)
    if r < 1:
        jump = jump + (1 - r) * (torch.log1p(torch.tensor(-r)) - torch.log1p(-r + r * p_xk))
    return torch.where(x_k == x1, arrived, jump)
