"""Exact conditional fields and guided targets of an isotropic Gaussian mixture.

For data ``(1/K) sum_k N(m_k, s^2 I)`` with class ``k`` the ``k``-th component, these give what a
class-conditional flow and its guidance should produce, with no training error:

- :func:`class_conditional_mixture_field`: the exact field ``v(t, x, c)`` for one-hot contexts
  with a null class (the whole mixture);
- :func:`cfg_tilt_samples`: samples of the classifier-free tilt ``p(x | k)^w p(x)^(1 - w)``;
- :func:`linear_reward_tilt_samples`: samples of the reward tilt ``p(x) exp(lambda a . x)``,
  again a Gaussian mixture.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..ops import log_mean_exp
from .exact import GaussianMixtureVelocity

__all__ = ["class_conditional_mixture_field", "cfg_tilt_samples", "linear_reward_tilt_samples"]


def class_conditional_mixture_field(
    means: Tensor, std: float
) -> Callable[[Tensor | float, Tensor, Tensor], Tensor]:
    """The exact CondOT field of each class of ``(1/K) sum_k N(m_k, std^2 I)``.

    Args:
        means: ``(K, D)`` component means; class ``k`` is component ``k``.
        std: the components' common standard deviation.

    Returns:
        ``field(t, x, c)`` with ``x (N, D)`` and one-hot ``c (N, K + 1)``: rows whose last
        column is set (the null class) follow the whole mixture, the others class ``argmax c``.

    Examples:
        >>> field = class_conditional_mixture_field(torch.tensor([[1.0], [-1.0]]), 0.5)
        >>> c = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> field(0.0, torch.zeros(2, 1), c).tolist()   # class 1 heads to -1; the mixture stays
        [[-1.0], [0.0]]
    """
    k = len(means)
    classes = [
        GaussianMixtureVelocity(F.one_hot(torch.tensor(j), k).double(), means, [std] * k)
        for j in range(k)
    ]
    mixture = GaussianMixtureVelocity([1.0] * k, means, [std] * k)

    def field(t, x, c):
        if c.shape[-1] != k + 1:
            raise ValueError(f"contexts must be (N, {k + 1}) one-hot, got {tuple(c.shape)}")
        out = mixture(t, x)
        label = c[:, :k].argmax(-1)
        for j in range(k):
            rows = (label == j) & (c[:, k] == 0)
            if rows.any():
                out[rows] = classes[j](t, x[rows])
        return out

    return field


def cfg_tilt_samples(
    means: Tensor,
    std: float,
    label: int,
    scale: float,
    n: int,
    generator: torch.Generator | None = None,
    *,
    half_width: float = 6.0,
    spacing: float = 0.02,
) -> Tensor:
    """Samples of ``p(x | label)^scale p(x)^(1 - scale)`` for a 2-D mixture, from a grid.

    The density is evaluated on a square grid over ``[-half_width, half_width)^2``; cells are
    drawn by their mass and a point is placed uniformly within the chosen cell.

    Args:
        means: ``(K, 2)`` component means of the equal-weight mixture.
        std: the components' common standard deviation.
        label: the requested class.
        scale: the guidance scale ``w``.
        n: number of samples.
        generator: the random stream.
        half_width, spacing: the grid's extent and step.

    Returns:
        ``(n, 2)`` float64 samples.

    Examples:
        >>> x = cfg_tilt_samples(torch.tensor([[2.0, 0.0], [-2.0, 0.0]]), 0.5, 0, 1.0, 4000)
        >>> abs(float(x[:, 0].mean()) - 2.0) < 0.05
        True
    """
    if means.dim() != 2 or means.shape[-1] != 2:
        raise ValueError(f"means must be (K, 2), got {tuple(means.shape)}")
    axis = torch.arange(-half_width, half_width, spacing, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    comp = -0.5 * (grid[:, None, :] - means.double()[None]).square().sum(-1) / std**2
    log_q = scale * comp[:, label] + (1 - scale) * log_mean_exp(comp, -1)
    idx = torch.multinomial(torch.softmax(log_q, 0).float(), n, True, generator=generator)
    jitter = torch.rand(n, 2, generator=generator, dtype=torch.float64) - 0.5
    return grid[idx] + spacing * jitter


def linear_reward_tilt_samples(
    means: Tensor,
    std: float,
    direction: Tensor,
    scale: float,
    n: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Samples of ``p(x) exp(scale * direction . x)`` for ``p = (1/K) sum_k N(m_k, std^2 I)``.

    The tilt is again a Gaussian mixture: means ``m_k + scale std^2 a``, weights
    ``~ exp(scale a . m_k)``.

    Args:
        means: ``(K, D)`` component means.
        std: the components' common standard deviation.
        direction: the reward's gradient ``a``, ``(D,)``.
        scale: the reward scale ``lambda``.
        n: number of samples.
        generator: draws the components, then the Gaussian noise.

    Returns:
        ``(n, D)`` float64 samples.

    Examples:
        >>> x = linear_reward_tilt_samples(torch.zeros(1, 1), 1.0, torch.ones(1), 2.0, 20000)
        >>> abs(float(x.mean()) - 2.0) < 0.05
        True
    """
    mu = means.double()
    a = direction.double()
    weights = torch.softmax(scale * (mu @ a), 0)
    c = torch.multinomial(weights, n, True, generator=generator)
    noise = torch.randn(n, mu.shape[-1], generator=generator, dtype=torch.float64)
    return mu[c] + scale * std**2 * a + std * noise
