"""What the SDE-BNN and its baselines share: encoder, weight-driven trunk, head, likelihood.

A model maps ``x`` through ``h_0 = encoder(x)``, the continuous-depth trunk
``dh/dt = f(t, h, w_t)`` on ``[0, 1]`` (:class:`~ctflow.bayes.weight_field.WeightedMLPField`) and
a linear head. Subclasses decide where the weights come from by implementing :meth:`sample`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution, Independent, MixtureSameFamily, Normal

from .._validate import check_finite
from .weight_field import WeightedMLPField

__all__ = ["LIKELIHOODS", "TrunkNet"]

LIKELIHOODS = ("categorical", "gaussian")


class TrunkNet(nn.Module):
    """Base class: encoder, trunk field, head and likelihood; subclasses implement :meth:`sample`.

    Args:
        in_features: input size.
        out_features: classes (categorical) or targets (gaussian).
        state: hidden-state size ``d`` of the trunk.
        field_hidden: hidden width of the trunk field.
        act: the trunk's activation.
        likelihood: ``"categorical"`` (classification) or ``"gaussian"`` (regression with a
            learned homoscedastic noise scale).
        steps: solver steps on ``[0, 1]``; :meth:`sample` and :meth:`predict` can override it
            per call (precision tunable at test time).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        state: int = 16,
        field_hidden: int = 16,
        act: str = "tanh",
        likelihood: str = "categorical",
        steps: int = 10,
    ) -> None:
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(
                f"unknown likelihood {likelihood!r}; choose one of: {', '.join(LIKELIHOODS)}"
            )
        self.steps = self._check_steps(steps)
        self.likelihood = likelihood
        self.encoder = nn.Linear(in_features, state)
        self.field = WeightedMLPField(state, field_hidden, act)
        self.head = nn.Linear(state, out_features)
        if likelihood == "gaussian":
            self.log_noise = nn.Parameter(torch.tensor(math.log(0.1)))

    def _check_input(self, x: Tensor) -> None:
        features = self.encoder.in_features
        if not isinstance(x, Tensor) or x.dim() == 0 or x.shape[-1] != features:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must have shape (*batch, {features}), got {shape}")
        check_finite(x, "x")

    @staticmethod
    def _check_steps(steps: int) -> int:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        return steps

    def sample(
        self,
        x: Tensor,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        predictive: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """One stochastic forward pass: ``(outputs (N, out), kl)`` where ``kl`` is the KL estimate
        of the whole weight posterior, shape ``(N,)`` (per-example paths) or ``()``.

        ``predictive=True`` asks for independent weights per example (what the predictive
        marginal of each input needs), even for a model that trains with shared ones."""
        raise NotImplementedError

    def log_likelihood(self, outputs: Tensor, y: Tensor) -> Tensor:
        """``log p(y | outputs)`` per example, shape ``(N,)``."""
        if self.likelihood == "categorical":
            return -F.cross_entropy(outputs, y, reduction="none")
        y = y.reshape(outputs.shape).to(outputs.dtype)
        return Normal(outputs, self.log_noise.exp()).log_prob(y).sum(-1)

    def loss(
        self,
        x: Tensor,
        y: Tensor,
        n_data: int,
        *,
        kl_weight: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        """Negative ELBO per data point, ``-mean log p(y|x, w) + kl_weight KL / n_data``.

        Returns:
            ``(loss, {"nll": ..., "kl": ...})`` (the extras are floats, for logging).
        """
        outputs, kl = self.sample(x, generator=generator)
        nll = -self.log_likelihood(outputs, y).mean()
        kl = kl.mean()
        return nll + kl_weight * kl / n_data, {"nll": float(nll.detach()), "kl": float(kl.detach())}

    @torch.no_grad()
    def predict(
        self,
        x: Tensor,
        samples: int = 16,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Distribution:
        """The posterior predictive from ``samples`` forward passes per input, a distribution
        for either likelihood.

        Args:
            x: inputs ``(N, in_features)``.
            samples: Monte Carlo samples ``S`` per input.
            steps: solver steps for this call (default: ``self.steps``).
            generator: noise source.

        Returns:
            Categorical likelihood: a ``Categorical`` with batch shape ``(N,)`` whose ``.probs``
            ``(N, C)`` average the ``S`` passes' class probabilities. Gaussian: a
            ``MixtureSameFamily`` of ``S`` normals per input, batch shape ``(N,)``, event
            ``(out_features,)``. Both offer ``.mean``, ``.log_prob(y)`` and ``.sample()``.
        """
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ValueError(f"samples must be a positive integer, got {samples!r}")
        n = x.shape[0]
        xs = x.unsqueeze(0).expand(samples, *x.shape).reshape(samples * n, *x.shape[1:])
        outputs, _ = self.sample(xs, steps=steps, generator=generator, predictive=True)
        outputs = outputs.reshape(samples, n, -1)
        if self.likelihood == "categorical":
            return Categorical(probs=outputs.softmax(-1).mean(0))
        loc = outputs.transpose(0, 1)  # (N, S, out)
        scale = self.log_noise.exp().expand_as(loc)
        mix = Categorical(logits=torch.zeros(n, samples, dtype=loc.dtype, device=loc.device))
        return MixtureSameFamily(mix, Independent(Normal(loc, scale), 1))
