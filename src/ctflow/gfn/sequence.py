"""Sequences built left to right: every state has one parent, so ``P_B = 1`` and a forward
policy on this environment is an autoregressive model."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .env import DiscreteEnv

__all__ = ["SequenceEnv"]


class SequenceEnv(DiscreteEnv):
    """Fixed-length sequences over ``vocab`` tokens.

    A state is ``(length,)`` long: tokens ``1..vocab`` then ``0`` for the empty slots. Forward
    action ``v < vocab`` appends token ``v + 1`` (legal while the sequence is short); action
    ``vocab`` exits (legal once it is full). The single backward action removes the last token.

    Args:
        vocab: number of tokens.
        length: sequence length.
        log_reward_fn: ``log R`` of full sequences given as ``(batch, length)`` tokens in
            ``0..vocab-1``; default: uniform.
    """

    def __init__(
        self,
        vocab: int = 4,
        length: int = 4,
        log_reward_fn: Callable[[Tensor], Tensor] | None = None,
    ):
        if vocab < 1 or length < 1:
            raise ValueError(f"need vocab >= 1 and length >= 1, got {vocab}, {length}")
        self.vocab, self.length = vocab, length
        self.log_reward_fn = log_reward_fn
        self.n_actions = vocab + 1
        self.n_backward = 1
        self.feature_dim = length * (vocab + 1)
        self.max_length = length + 1

    def initial(self, n: int) -> Tensor:
        return torch.zeros(n, self.length, dtype=torch.long)

    def features(self, states: Tensor) -> Tensor:
        hot = torch.nn.functional.one_hot(states, self.vocab + 1).float()
        return hot.reshape(states.shape[0], self.feature_dim)

    def depth(self, states: Tensor) -> Tensor:
        return (states > 0).sum(-1)

    def forward_mask(self, states: Tensor) -> Tensor:
        full = self.depth(states) == self.length
        grow = (~full).unsqueeze(-1).expand(-1, self.vocab)
        return torch.cat([grow, full.unsqueeze(-1)], dim=1)

    def backward_mask(self, states: Tensor) -> Tensor:
        return (self.depth(states) > 0).unsqueeze(-1)

    def step(self, states: Tensor, actions: Tensor) -> Tensor:
        pos = self.depth(states).clamp(max=self.length - 1)
        out = states.clone()
        out[torch.arange(len(states)), pos] = actions + 1
        return out

    def backward_step(self, states: Tensor, actions: Tensor) -> Tensor:
        pos = (self.depth(states) - 1).clamp(min=0)
        out = states.clone()
        out[torch.arange(len(states)), pos] = 0
        return out

    def backward_action(self, actions: Tensor) -> Tensor:
        return torch.zeros_like(actions)

    def forward_action(self, backward_actions: Tensor) -> Tensor:
        raise NotImplementedError("the parent's token is the state's last token: use last_token")

    def parents(self, states: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        parent = self.backward_step(states, torch.zeros(len(states), dtype=torch.long))
        pos = (self.depth(states) - 1).clamp(min=0)
        token = (states[torch.arange(len(states)), pos] - 1).clamp(min=0)
        return parent.unsqueeze(1), token.unsqueeze(1), self.backward_mask(states)

    def tokens(self, states: Tensor) -> Tensor:
        """Full sequences as tokens in ``0..vocab-1``."""
        return states - 1

    def log_reward(self, states: Tensor) -> Tensor:
        if self.log_reward_fn is None:
            return torch.zeros(states.shape[0], dtype=torch.float64, device=states.device)
        return self.log_reward_fn(self.tokens(states)).double()

    def all_states(self) -> Tensor:
        out = [torch.zeros(1, self.length, dtype=torch.long)]
        for n in range(1, self.length + 1):
            prefix = torch.cartesian_prod(*[torch.arange(1, self.vocab + 1)] * n).reshape(-1, n)
            pad = torch.zeros(len(prefix), self.length - n, dtype=torch.long)
            out.append(torch.cat([prefix, pad], dim=1))
        return torch.cat(out)

    def state_index(self, states: Tensor) -> Tensor:
        depth = self.depth(states)
        v = self.vocab
        # prefixes of depth n start after sum_{m<n} v^m states; within a depth, base-v order
        offset = torch.tensor([sum(v**m for m in range(n)) for n in range(self.length + 1)])
        code = torch.zeros_like(depth)
        for i in range(self.length):
            inside = i < depth
            code = torch.where(inside, code * v + (states[:, i] - 1).clamp(min=0), code)
        return offset.to(states.device)[depth] + code
