"""A variational autoencoder over discrete data with a pluggable posterior ``q(z | x)``.

``p(z) = N(0, I)``; ``p(x | z)`` is a product of Bernoullis (binary data) or of categoricals over
``levels`` values (e.g. the digits' 17 grey levels); the encoder ``h = MLP(x)`` is the posterior's
context. Trained on the ELBO ``E_q[log p(x, z) - log q(z | x)]``, evaluated with the
importance-weighted bound ``E[log (1/K) sum_k p(x, z_k) / q(z_k | x)]``, which is below
``log p(x)``, above the ELBO, and rises with ``K`` (Burda et al., 2016).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.mlp import MLP

__all__ = ["VAE", "LIKELIHOODS"]

LIKELIHOODS = ("bernoulli", "categorical")


class VAE(nn.Module):
    """Encoder, posterior, decoder.

    Args:
        data_dim: number of discrete variables per example.
        latent: latent size D.
        posterior: a lazy distribution ``posterior(h)`` over ``z`` (``ctflow.vi.make_posterior``,
            or any conditional ctflow / zuko flow of ``latent`` features and ``context`` context).
        context: encoder output size; defaults to ``posterior.context``.
        hidden: hidden widths of the decoder (and of the encoder, unless ``encoder_hidden``).
        encoder_hidden: hidden widths of the encoder.
        likelihood: ``"bernoulli"`` (data in {0, 1}) or ``"categorical"`` (data in
            ``0 .. levels - 1``).
        levels: number of values per variable for ``"categorical"``.

    Examples:
        >>> from ctflow.vi import make_posterior
        >>> vae = VAE(64, 4, make_posterior("gaussian", 4, 16), hidden=(32,))
        >>> vae.iwae(torch.ones(3, 64), 10).shape
        torch.Size([3])
    """

    def __init__(
        self,
        data_dim: int,
        latent: int,
        posterior: nn.Module,
        context: int | None = None,
        hidden: Sequence[int] = (256,),
        likelihood: str = "bernoulli",
        levels: int = 2,
        encoder_hidden: Sequence[int] | None = None,
    ):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if likelihood == "categorical" and levels < 2:
            raise ValueError(f"a categorical likelihood needs levels >= 2, got {levels}")
        context = context if context is not None else getattr(posterior, "context", None)
        if context is None:
            raise ValueError("pass context=: the posterior does not say its context size")
        self.data_dim, self.latent, self.context = data_dim, latent, context
        self.likelihood = likelihood
        self.levels = 2 if likelihood == "bernoulli" else levels
        encoder_hidden = tuple(hidden if encoder_hidden is None else encoder_hidden)
        self.encoder = MLP(data_dim, context, encoder_hidden)
        out = data_dim if likelihood == "bernoulli" else data_dim * levels
        self.decoder = MLP(latent, out, tuple(reversed(tuple(hidden))))
        self.posterior = posterior

    # ------------------------------------------------------------------ model terms
    def check_data(self, x: Tensor) -> None:
        """Raise ValueError unless ``x`` is ``(B, data_dim)`` with values in ``0 .. levels-1``."""
        if x.dim() != 2 or x.shape[-1] != self.data_dim:
            raise ValueError(f"x must have shape (B, {self.data_dim}), got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("x contains NaN or inf")
        bad = (x < 0) | (x > self.levels - 1) | (x != x.round())
        if bad.any():
            raise ValueError(
                f"x must hold integers in 0..{self.levels - 1} ({self.likelihood} likelihood); "
                f"{int(bad.sum())} entries do not, e.g. {x[bad][0].item()}"
            )

    def encode(self, x: Tensor) -> Tensor:
        """Encoder output ``h``: ``(B, data_dim) -> (B, context)``."""
        return self.encoder(x / (self.levels - 1))

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """``log p(x | z)``: ``x`` ``(B, data_dim)``, ``z`` ``(*S, B, latent)`` -> ``(*S, B)``
        (``x`` and ``z`` broadcast against each other)."""
        logits = self.decoder(z)
        if self.likelihood == "bernoulli":
            logits, target = torch.broadcast_tensors(logits, x)
            return -F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
        logits = logits.unflatten(-1, (self.data_dim, self.levels)).log_softmax(-1)
        shape = torch.broadcast_shapes(logits.shape[:-1], x.shape)
        index = x.long().expand(shape).unsqueeze(-1)
        return logits.expand(*shape, self.levels).gather(-1, index).squeeze(-1).sum(-1)

    @staticmethod
    def log_prior(z: Tensor) -> Tensor:
        """``log N(z; 0, I)``: ``(*S, B, latent) -> (*S, B)``."""
        return -0.5 * (z * z).sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)

    def log_weights(self, x: Tensor, samples: int = 1) -> Tensor:
        """``log p(x, z_k) - log q(z_k | x)`` for ``z_k ~ q(. | x)``: ``(samples, B)``."""
        q = self.posterior(self.encode(x))
        z, log_q = q.rsample_and_log_prob((samples,))
        return self.log_likelihood(x, z) + self.log_prior(z) - log_q

    # ------------------------------------------------------------------ bounds
    def elbo(self, x: Tensor, samples: int = 1) -> Tensor:
        """Monte Carlo ELBO per example, ``(B, data_dim) -> (B,)`` (differentiable)."""
        self.check_data(x)
        return self.log_weights(x, samples).mean(0)

    @torch.no_grad()
    def iwae(self, x: Tensor, k: int = 1000, c: Tensor | None = None, chunk: int = 100) -> Tensor:
        """The importance-weighted bound with ``k`` posterior samples per example,
        ``(B, data_dim) -> (B,)``; samples are drawn ``chunk`` at a time to bound memory.

        The signature is every ctflow model's ``iwae(x, k, c=None)``; this VAE is unconditional,
        so ``c`` must be ``None``.
        """
        if c is not None:
            raise ValueError("this VAE is unconditional: c must be None")
        self.check_data(x)
        if k < 1 or chunk < 1:
            raise ValueError(f"k and chunk must be >= 1, got {k}, {chunk}")
        samples = k
        total = None
        left = samples
        while left:
            k = min(chunk, left)
            part = torch.logsumexp(self.log_weights(x, k), dim=0)
            total = part if total is None else torch.logaddexp(total, part)
            left -= k
        return total - math.log(samples)

    def iwae_bound(self, x: Tensor, samples: int = 1000, chunk: int = 100) -> Tensor:
        """Deprecated name of :meth:`iwae` (``iwae(x, k, c=None)`` is the one signature)."""
        warnings.warn("VAE.iwae_bound is renamed iwae(x, k)", DeprecationWarning, stacklevel=2)
        return self.iwae(x, samples, chunk=chunk)

    @torch.no_grad()
    def sample(self, n: int, mean: bool = True) -> Tensor:
        """``n`` draws from the model, ``(n, data_dim)``: the decoder's mean (probabilities or
        expected level) with ``mean=True``, else a sample of ``p(x | z)``."""
        z = torch.randn(n, self.latent, device=self.decoder[0].weight.device)
        return self.decode(z, mean=mean)

    @torch.no_grad()
    def decode(self, z: Tensor, mean: bool = True) -> Tensor:
        """``p(x | z)``'s mean, or a sample of it: ``(*S, latent) -> (*S, data_dim)``."""
        logits = self.decoder(z)
        if self.likelihood == "bernoulli":
            p = torch.sigmoid(logits)
            return p if mean else torch.bernoulli(p)
        probs = logits.unflatten(-1, (self.data_dim, self.levels)).softmax(-1)
        if mean:
            return (probs * torch.arange(self.levels, dtype=probs.dtype)).sum(-1)
        return torch.distributions.Categorical(probs=probs).sample().to(probs.dtype)
