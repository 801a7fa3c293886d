"""The discrete environment interface and its exact terminal distribution.

A GFlowNet builds an object ``x`` by a sequence of actions ``s_0 -> s_1 -> ... -> s_n -> x``:
each forward action moves to a child state, and a final *exit* action (the last action index)
stops at the current state, which becomes the terminal object. The backward policy chooses
among the parents of a state. Environments describe states as integer tensors of shape
``(batch, *state_shape)`` and give the masks of legal actions, so one network pass over
``env.features(states)`` can produce both policies' logits (see :class:`GFlowNetPolicy`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor

__all__ = ["DiscreteEnv", "terminal_distribution", "l1_distance"]


class DiscreteEnv(ABC):
    """A finite DAG of states with forward, exit and backward actions.

    Attributes:
        n_actions: forward actions, the exit action (index ``n_actions - 1``) included.
        n_backward: backward actions (at least 1; an environment with a single parent per state,
            such as a sequence built left to right, has ``P_B = 1``).
        feature_dim: size of ``features(states)``.
        max_length: the most forward actions (exit included) any trajectory takes.
    """

    n_actions: int
    n_backward: int
    feature_dim: int
    max_length: int

    @property
    def exit_action(self) -> int:
        return self.n_actions - 1

    @abstractmethod
    def initial(self, n: int) -> Tensor:
        """``n`` copies of the initial state ``s_0``: ``(n, *state_shape)`` long."""

    @abstractmethod
    def features(self, states: Tensor) -> Tensor:
        """Float network input ``(batch, feature_dim)``."""

    @abstractmethod
    def forward_mask(self, states: Tensor) -> Tensor:
        """``(batch, n_actions)`` bool: legal forward actions (exit included)."""

    @abstractmethod
    def backward_mask(self, states: Tensor) -> Tensor:
        """``(batch, n_backward)`` bool: legal backward actions (all False at ``s_0``)."""

    @abstractmethod
    def step(self, states: Tensor, actions: Tensor) -> Tensor:
        """Children after the non-exit forward ``actions`` ``(batch,)``."""

    @abstractmethod
    def backward_step(self, states: Tensor, actions: Tensor) -> Tensor:
        """Parents after the backward ``actions`` ``(batch,)``."""

    @abstractmethod
    def backward_action(self, actions: Tensor) -> Tensor:
        """The backward action that undoes each non-exit forward action."""

    @abstractmethod
    def forward_action(self, backward_actions: Tensor) -> Tensor:
        """The forward action that each backward action undoes."""

    @abstractmethod
    def log_reward(self, states: Tensor) -> Tensor:
        """``log R(x)`` of terminal states, ``(batch,)`` float."""

    @abstractmethod
    def all_states(self) -> Tensor:
        """Every state, ordered so that each parent comes before its children."""

    @abstractmethod
    def depth(self, states: Tensor) -> Tensor:
        """Number of forward steps from ``s_0`` to each state, ``(batch,)`` long."""

    @abstractmethod
    def state_index(self, states: Tensor) -> Tensor:
        """Position of each state in :meth:`all_states`."""

    def terminal_states(self) -> Tensor:
        """The states where exit is legal (the support of the terminal distribution)."""
        states = self.all_states()
        return states[self.forward_mask(states)[:, self.exit_action]]

    def reward_distribution(self) -> tuple[Tensor, Tensor]:
        """``(terminal states, R(x) / Z)``: the target terminal distribution, enumerated."""
        x = self.terminal_states()
        return x, torch.softmax(self.log_reward(x).double(), 0)

    def parents(self, states: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Every parent of each state and the forward action that leads from it.

        Returns:
            ``(parents (batch, n_backward, *state_shape), forward actions (batch, n_backward),
            mask (batch, n_backward))``; entries outside the mask are placeholders.
        """
        mask = self.backward_mask(states)
        batch = states.shape[0]
        b_actions = torch.arange(self.n_backward, device=states.device).expand(batch, -1)
        rep = states.unsqueeze(1).expand(batch, self.n_backward, *states.shape[1:])
        safe = torch.where(mask, b_actions, torch.zeros_like(b_actions))
        flat = rep.reshape(batch * self.n_backward, *states.shape[1:])
        flat_actions = safe.reshape(-1)
        legal = mask.reshape(-1)
        parents = flat.clone()  # placeholders: the state itself
        parents[legal] = self.backward_step(flat[legal], flat_actions[legal])
        parents = parents.reshape(rep.shape)
        return parents, self.forward_action(safe), mask


def masked_log_softmax(logits: Tensor, mask: Tensor) -> Tensor:
    """``log_softmax`` over the legal entries; ``-inf`` elsewhere; zeros where none is legal."""
    logits = logits.masked_fill(~mask, float("-inf"))
    out = torch.log_softmax(logits, -1)
    none = ~mask.any(-1, keepdim=True)
    return torch.where(none, torch.zeros_like(out), out)


@torch.no_grad()
def terminal_distribution(env: DiscreteEnv, policy) -> tuple[Tensor, Tensor]:
    """The exact probability that ``policy`` terminates at each terminal state.

    Dynamic programming over :meth:`DiscreteEnv.all_states` (parents first): the probability of
    reaching each state is pushed to its children, and ``P_T(x) = P(reach x) P_F(exit | x)``.

    Returns:
        ``(terminal states, P_T)`` in the order of :meth:`DiscreteEnv.terminal_states`.
    """
    states = env.all_states()
    log_pf, _, _ = policy.log_probs(env, states)
    pf = log_pf.double().exp()
    reach = torch.zeros(len(states), dtype=torch.float64, device=states.device)
    reach[env.state_index(env.initial(1))] = 1.0
    depth = env.depth(states)
    exit_ = env.exit_action
    for d in range(int(depth.max()) + 1):
        idx = torch.nonzero(depth == d).squeeze(-1)
        if idx.numel() == 0:
            continue
        legal = env.forward_mask(states[idx])
        for a in range(env.n_actions - 1):
            ok = legal[:, a]
            if not ok.any():
                continue
            src = idx[ok]
            child = env.step(states[src], torch.full((len(src),), a, device=states.device))
            reach.index_add_(0, env.state_index(child), reach[src] * pf[src, a])
    term = env.forward_mask(states)[:, exit_]
    return states[term], reach[term] * pf[term, exit_]


def l1_distance(env: DiscreteEnv, policy) -> float:
    """``sum_x |P_T(x) - R(x)/Z|``, exactly, over every terminal state."""
    _, p = terminal_distribution(env, policy)
    _, target = env.reward_distribution()
    return float((p - target).abs().sum())
