"""SDE Bayesian neural network: the trunk's weights follow a posterior SDE (arXiv 2102.06559)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .girsanov import ESTIMATORS, girsanov_sdeint
from .ou import ou_drift
from .trunk_net import TrunkNet
from .weight_posterior import WeightPosteriorDrift

__all__ = ["SDEBNN"]


class SDEBNN(TrunkNet):
    """Infinitely deep Bayesian network: ``dh/dt = f(t, h, w_t)`` with ``w_t`` an SDE on ``[0, 1]``.

    Prior over weight paths: the OU process ``dw = -w dt + sigma dB``. Posterior: ``dw = (-w +
    g_phi(w, t)) dt + sigma dB`` (:class:`~ctflow.bayes.weight_posterior.WeightPosteriorDrift`,
    zero-initialised, so training starts at the prior). Both start from the learned weights
    ``w0`` (a point estimate, no KL on it). The KL is the Girsanov path KL, estimated on the
    augmented state ``[h, w, l]`` (:func:`~ctflow.bayes.girsanov.girsanov_sdeint`).

    Args:
        in_features: input size.
        out_features: classes or regression targets.
        state: hidden-state size ``d``.
        field_hidden: width of the trunk field (``P`` weights follow the SDE).
        hyper_hidden: hidden widths of the posterior's hypernetwork.
        sigma: diffusion of prior and posterior.
        steps: Euler-Maruyama steps (override per call: tunable precision).
        estimator: ``"path"`` (``int |u|^2/2 dt``), ``"stl"`` (sticking the landing) or
            ``"full"`` (see :mod:`ctflow.bayes.girsanov`).
        shared_path: one weight path for the whole minibatch (unbiased, higher variance)
            instead of one per example.
        backend: ``"native"`` Euler-Maruyama or ``"torchsde"``.
        adjoint: train through torchsde's stochastic adjoint (memory O(1) in ``steps``;
            ``estimator="path"`` only).
        act: the trunk's activation.
        likelihood: ``"categorical"`` or ``"gaussian"``.

    Examples:
        >>> model = SDEBNN(64, 10, steps=5)
        >>> x, y = torch.randn(8, 64), torch.randint(0, 10, (8,))
        >>> loss, extras = model.loss(x, y, n_data=1000)
        >>> model.predict(x, samples=4).probs.shape
        torch.Size([8, 10])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        state: int = 16,
        field_hidden: int = 16,
        hyper_hidden: tuple[int, ...] = (32,),
        sigma: float = 0.5,
        steps: int = 10,
        estimator: str = "path",
        shared_path: bool = False,
        backend: str = "native",
        adjoint: bool = False,
        act: str = "tanh",
        likelihood: str = "categorical",
    ) -> None:
        super().__init__(
            in_features,
            out_features,
            state=state,
            field_hidden=field_hidden,
            act=act,
            likelihood=likelihood,
            steps=steps,
        )
        if estimator not in ESTIMATORS:
            raise ValueError(
                f"unknown estimator {estimator!r}; choose one of: {', '.join(ESTIMATORS)}"
            )
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        if (adjoint or backend == "torchsde") and estimator != "path":
            raise ValueError(
                "the torchsde backend and the adjoint support estimator='path' only (the STL and "
                "full estimators need the Brownian increments of the native solver)"
            )
        if adjoint and backend != "torchsde":
            raise ValueError("adjoint=True needs backend='torchsde'")
        self.sigma, self.estimator = float(sigma), estimator
        self.shared_path, self.backend, self.adjoint = shared_path, backend, adjoint
        self.w0 = nn.Parameter(self.field.initial_weights())
        self.posterior = WeightPosteriorDrift(self.field.n_weights, hidden=tuple(hyper_hidden))

    def sample(
        self,
        x: Tensor,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        predictive: bool = False,
    ) -> tuple[Tensor, Tensor]:
        steps = self.steps if steps is None else self._check_steps(steps)
        self._check_input(x)
        h0 = self.encoder(x)
        shared = self.shared_path and not predictive
        w0 = self.w0 if shared else self.w0.expand(*h0.shape[:-1], -1)
        solution = girsanov_sdeint(
            self.posterior,
            ou_drift,
            self.sigma,
            w0,
            field=self.field,
            h0=h0,
            steps=steps,
            estimator=self.estimator if torch.is_grad_enabled() else "path",
            backend=self.backend,
            adjoint=self.adjoint and torch.is_grad_enabled(),
            generator=generator,
        )
        return self.head(solution.h), solution.logratio
