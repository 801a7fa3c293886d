"""One network for a discrete GFlowNet: forward logits, backward logits and the log state flow
come out of a single pass, so sampling a trajectory also scores it under ``P_B`` and ``F``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..nn import MLP
from .env import DiscreteEnv, masked_log_softmax

__all__ = ["GFlowNetPolicy"]


class GFlowNetPolicy(nn.Module):
    """``features -> (forward logits, backward logits, log F(s))`` with one shared trunk.

    ``log_z`` (the flow of ``s_0``) is its own parameter, ``log_z_scale * raw``, trained by every
    balance objective; under Adam the scale multiplies its learning rate (GFlowNets usually train
    ``log Z`` about 100x faster than the network). Under the flow-matching objective the forward
    logits are the log edge flows.

    Args:
        feature_dim: input size (``env.feature_dim``).
        n_actions: forward actions, exit included (``env.n_actions``).
        n_backward: backward actions (``env.n_backward``).
        hidden: hidden widths; ``()`` makes a linear map (a table on one-hot features).
        act: activation name.
        uniform_backward: fix ``P_B`` to uniform over the legal parents (no backward head).
        log_z_scale: ``log Z = log_z_scale * raw parameter``.
    """

    def __init__(
        self,
        feature_dim: int,
        n_actions: int,
        n_backward: int,
        hidden: Sequence[int] = (256, 256),
        act: str = "relu",
        uniform_backward: bool = False,
        log_z_scale: float = 1.0,
    ):
        super().__init__()
        if not log_z_scale > 0:
            raise ValueError(f"log_z_scale must be > 0, got {log_z_scale}")
        self.log_z_scale = log_z_scale
        self.n_actions, self.n_backward = n_actions, n_backward
        self.uniform_backward = uniform_backward
        self.net = MLP(feature_dim, n_actions + n_backward + 1, tuple(hidden), act)
        self.raw_log_z = nn.Parameter(torch.zeros(()))

    @property
    def log_z(self) -> Tensor:
        """``log Z``, the log flow of the initial state."""
        return self.raw_log_z * self.log_z_scale

    @torch.no_grad()
    def set_log_z(self, value: float) -> None:
        self.raw_log_z.fill_(float(value) / self.log_z_scale)

    @classmethod
    def for_env(cls, env: DiscreteEnv, **kwargs) -> GFlowNetPolicy:
        return cls(env.feature_dim, env.n_actions, env.n_backward, **kwargs)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out = self.net(features.to(self.log_z.dtype))
        forward, backward, log_flow = out.split((self.n_actions, self.n_backward, 1), -1)
        if self.uniform_backward:
            backward = torch.zeros_like(backward)
        return forward, backward, log_flow.squeeze(-1)

    def log_probs(self, env: DiscreteEnv, states: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(log P_F (batch, n_actions), log P_B (batch, n_backward), log F (batch,))`` at
        ``states``, illegal actions at ``-inf``."""
        forward, backward, log_flow = self(env.features(states))
        return (
            masked_log_softmax(forward, env.forward_mask(states)),
            masked_log_softmax(backward, env.backward_mask(states)),
            log_flow,
        )
