"""Per-path negative-ELBO gradients on the OU posterior problem (a known exact posterior), to
compare the Girsanov estimators (path, full, sticking-the-landing) by their variance."""

from __future__ import annotations

import torch
from torch import Tensor

from .girsanov import girsanov_sdeint
from .ou import OUObservation, OUObservationDrift, ou_drift

__all__ = ["ou_negative_elbo", "ou_per_path_gradients"]


def ou_negative_elbo(
    drift: OUObservationDrift,
    problem: OUObservation,
    n_paths: int,
    steps: int,
    estimator: str,
    generator: torch.Generator,
) -> Tensor:
    """Per-path negative ELBO ``-log p(y | w_1) + log q/p (path)`` under ``drift`` (float64).

    Args:
        drift: Variational drift (the posterior family).
        problem: The OU prior with its observation.
        n_paths: Paths, all started at ``problem.x0``.
        steps: Euler-Maruyama steps on ``[0, 1]``.
        estimator: A Girsanov estimator name (``ctflow.bayes.ESTIMATORS``).
        generator: Brownian stream.

    Returns:
        ``(n_paths,)`` negative ELBO per path (differentiable in the drift's parameters).
    """
    w0 = torch.full((n_paths, 1), problem.x0, dtype=torch.float64)
    sol = girsanov_sdeint(
        drift, ou_drift, problem.sigma, w0, steps=steps, estimator=estimator, generator=generator
    )
    return -problem.log_likelihood(sol.w[:, 0]) + sol.logratio


def ou_per_path_gradients(
    problem: OUObservation,
    theta: tuple[float, float],
    n_paths: int,
    steps: int,
    estimator: str,
    seed: int,
) -> tuple[Tensor, Tensor]:
    """Gradient of each path's negative ELBO with respect to ``theta`` (one path per row).

    Args:
        problem: The OU prior with its observation.
        theta: Variational parameters ``(theta_1, theta_2)``; ``(1, 1)`` is the exact posterior.
        n_paths: Paths.
        steps: Euler-Maruyama steps.
        estimator: A Girsanov estimator name.
        seed: Seed of the Brownian paths (equal seeds: equal paths for every estimator).

    Returns:
        ``(grad (n_paths, 2), negative ELBO (n_paths,))``, detached.
    """
    drift = OUObservationDrift(problem, theta=tuple(theta), n_paths=n_paths)
    gen = torch.Generator().manual_seed(seed)
    loss = ou_negative_elbo(drift, problem, n_paths, steps, estimator, gen)
    (grad,) = torch.autograd.grad(loss.sum(), drift.theta)
    return grad, loss.detach()
