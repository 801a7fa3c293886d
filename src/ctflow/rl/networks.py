"""Networks of the actor-critic agents: an MLP whose second input joins late, squashed Gaussian
heads, and stochastic latent encoders (feed-forward, or recurrent over an observation history).

Sharing the observation trunk across particles: :class:`InjectMLP` runs its layers up to
``inject`` once per state and adds the particle input (a latent ``z_k``, an action ``a_k``) to the
pre-activation of hidden layer ``inject``; only the layers after it run once per particle. With
``inject`` the last hidden layer, a particle costs one small matrix product and the output layer.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = [
    "InjectMLP",
    "MLPEncoder",
    "RecurrentEncoder",
    "tanh_log_det",
    "squashed_log_prob",
    "LOG_STD_MIN",
    "LOG_STD_MAX",
]

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def tanh_log_det(u: Tensor) -> Tensor:
    """``sum log |d tanh(u) / du|`` over the last axis, computed stably as ``2 (log 2 - u -
    softplus(-2 u))``."""
    return (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)


def squashed_log_prob(u: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """``log pi(tanh(u))`` for ``u ~ N(mean, exp(log_std)^2)`` (diagonal), summed over the last
    axis; the arguments broadcast, so one ``u`` can be scored under many particles' Gaussians."""
    z = (u - mean) * torch.exp(-log_std)
    gauss = -0.5 * z.pow(2) - log_std - _HALF_LOG_2PI
    return gauss.sum(-1) - tanh_log_det(u)


class InjectMLP(nn.Module):
    """An MLP of ``x`` whose particle input ``e`` joins at hidden layer ``inject``.

    ``h_0 = x``; ``h_{l+1} = act(W_l h_l + [l == inject] V e)``; output ``W_L h_L``. The layers
    before ``inject`` see only ``x`` and run once per row of ``x``.

    Args:
        in_features: size of ``x``.
        extra_features: size of ``e`` (0: no particle input).
        out_features: output size.
        hidden: hidden widths.
        inject: the hidden layer ``e`` joins (0: with ``x`` at the input, a plain MLP of
            ``cat(x, e)``; ``len(hidden) - 1``: the last hidden layer).

    Shapes:
        ``forward(x, e)``: ``x`` is ``(*batch, in_features)``, ``e`` is ``(*batch, P,
        extra_features)`` for ``P`` particles; the output is ``(*batch, P, out_features)``.
    """

    def __init__(
        self,
        in_features: int,
        extra_features: int,
        out_features: int,
        hidden: tuple[int, ...] = (256, 256),
        inject: int = 0,
    ):
        super().__init__()
        if not hidden:
            raise ValueError("InjectMLP needs at least one hidden layer")
        if not 0 <= inject < len(hidden):
            raise ValueError(f"inject must be in [0, {len(hidden) - 1}], got {inject}")
        widths = (in_features, *hidden)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.extra = (
            nn.Linear(extra_features, hidden[inject], bias=False) if extra_features else None
        )
        self.out = nn.Linear(hidden[-1], out_features)
        self.inject = inject

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        h = x
        for layer in self.layers[: self.inject]:
            h = F.relu(layer(h))
        pre = self.layers[self.inject](h).unsqueeze(-2)  # (*batch, 1, width)
        if self.extra is not None:
            pre = pre + self.extra(e)
        else:
            pre = pre.expand(*e.shape[:-1], pre.shape[-1])
        h = F.relu(pre)
        for layer in self.layers[self.inject + 1 :]:
            h = F.relu(layer(h))
        return self.out(h)


class MLPEncoder(nn.Module):
    """A stochastic encoder ``p(z | s) = N(mu(s), sigma(s)^2)`` (diagonal), an MLP of ``s``."""

    def __init__(self, obs_dim: int, latent_dim: int, hidden: tuple[int, ...] = (64,)):
        super().__init__()
        widths = (obs_dim, *hidden)
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], 2 * latent_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """``(mean, log_std)`` of ``p(z | s)``, each ``(*batch, latent_dim)``."""
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)


class RecurrentEncoder(nn.Module):
    """A latent belief: a GRU reads the last ``history`` observations, then ``p(z | history) =
    N(mu, sigma^2)`` from its final state.

    The observation is the flattened window ``(*batch, history * step_dim)``, oldest first, as
    :class:`ctflow.rl.envs.HistoryObservation` stacks it; the window replaces the recurrent
    world-model state of the paper (a belief the replay buffer can store per transition).
    """

    def __init__(self, step_dim: int, history: int, latent_dim: int, hidden: int = 64):
        super().__init__()
        if history < 1:
            raise ValueError(f"history must be >= 1, got {history}")
        self.step_dim, self.history = step_dim, history
        self.gru = nn.GRU(step_dim, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 2 * latent_dim)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        batch = obs.shape[:-1]
        seq = obs.reshape(-1, self.history, self.step_dim)
        _, last = self.gru(seq)
        mean, log_std = self.head(last[-1]).chunk(2, dim=-1)
        mean = mean.reshape(*batch, -1)
        return mean, log_std.reshape(*batch, -1).clamp(LOG_STD_MIN, LOG_STD_MAX)
