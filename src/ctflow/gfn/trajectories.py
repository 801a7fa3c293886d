"""Sampling complete trajectories and scoring them: one network pass over every visited state
gives ``P_F``, ``P_B`` and ``F`` of the whole batch."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .env import DiscreteEnv

__all__ = ["Trajectories", "sample_trajectories", "score_trajectories"]


@dataclass
class Trajectories:
    """A batch of ``B`` trajectories ``s_0 -> ... -> s_n -> exit``, padded to ``T`` actions.

    Attributes:
        states: ``(T + 1, B, *state_shape)``; ``states[t]`` is ``s_t`` (repeated past the end).
        actions: ``(T, B)`` forward actions (the last one of each trajectory is the exit).
        log_pf: ``(T, B)`` ``log P_F(a_t | s_t)``; 0 past the end.
        log_pb: ``(T, B)`` ``log P_B(s_t | s_{t+1})`` of each move; 0 for the exit and past the end.
        log_flow: ``(T + 1, B)`` ``log F(s_t)``: ``log Z`` at ``t = 0`` and ``log R(x)`` at
            ``t = lengths`` (after the exit); 0 past the end.
        lengths: ``(B,)`` actions taken, the exit included (``n + 1``).
        log_reward: ``(B,)`` ``log R(x)`` of the terminal states.
    """

    states: Tensor
    actions: Tensor
    log_pf: Tensor
    log_pb: Tensor
    log_flow: Tensor
    lengths: Tensor
    log_reward: Tensor

    @property
    def terminal(self) -> Tensor:
        """The terminal states ``x``, ``(B, *state_shape)``."""
        return self.states[-1]

    def step_mask(self) -> Tensor:
        """``(T, B)`` True for the actions actually taken."""
        T = self.actions.shape[0]
        return torch.arange(T, device=self.lengths.device).unsqueeze(1) < self.lengths


def sample_trajectories(
    env: DiscreteEnv,
    policy,
    n: int,
    *,
    epsilon: float = 0.0,
    generator: torch.Generator | None = None,
) -> Trajectories:
    """Roll out ``n`` trajectories of ``policy`` (a :class:`GFlowNetPolicy`) in ``env``.

    The roll-out runs without a graph; :func:`score_trajectories` then evaluates the network once
    on every visited state, batched, and that single pass gives ``log P_F``, ``log P_B`` and
    ``log F`` of the whole batch (gradients flow through them unless called under
    ``torch.no_grad()``).

    Args:
        epsilon: act from ``(1 - epsilon) P_F + epsilon * uniform(legal)`` (off-policy
            exploration); ``log_pf`` is still the policy's own.
        generator: the source of randomness.
    """
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
    device = policy.raw_log_z.device
    states = env.initial(n).to(device)
    exit_ = env.exit_action
    active = torch.ones(n, dtype=torch.bool, device=device)
    lengths = torch.zeros(n, dtype=torch.long, device=device)
    all_states, actions = [states], []
    with torch.no_grad():
        for _ in range(env.max_length):
            if not bool(active.any()):
                break
            fmask = env.forward_mask(states)
            logits = policy(env.features(states))[0].masked_fill(~fmask, float("-inf"))
            probs = torch.softmax(logits, -1)
            if epsilon > 0:
                legal = fmask.to(probs.dtype)
                probs = (1 - epsilon) * probs + epsilon * legal / legal.sum(-1, keepdim=True)
            cdf = probs.cumsum(-1)
            u = torch.rand(n, 1, generator=generator, device=device, dtype=cdf.dtype)
            action = (cdf <= u * cdf[:, -1:]).sum(-1).clamp(max=exit_)
            # never pick an illegal action through rounding at a zero-width bin
            action = torch.where(fmask.gather(1, action.unsqueeze(1)).squeeze(1), action, exit_)
            action = torch.where(active, action, torch.full_like(action, exit_))
            moving = active & (action != exit_)
            states = states.clone()
            states[moving] = env.step(states[moving], action[moving])  # exited rows stay put
            lengths = lengths + active.long()
            all_states.append(states)
            actions.append(action)
            active = moving
    return score_trajectories(env, policy, torch.stack(all_states), torch.stack(actions), lengths)


def score_trajectories(
    env: DiscreteEnv, policy, states: Tensor, actions: Tensor, lengths: Tensor
) -> Trajectories:
    """Score given trajectories with one network pass over all their states.

    Args:
        states: ``(T + 1, B, *state_shape)``, repeated past each trajectory's end.
        actions: ``(T, B)`` forward actions, the exit last (and past the end).
        lengths: ``(B,)`` actions taken, the exit included.
    """
    T1, B = states.shape[:2]
    T = T1 - 1
    exit_ = env.exit_action
    flat = states.reshape(T1 * B, *states.shape[2:])
    log_pf_all, log_pb_all, log_flow = policy.log_probs(env, flat)
    log_pf_all = log_pf_all.reshape(T1, B, -1)
    log_pb_all = log_pb_all.reshape(T1, B, -1)
    log_flow = log_flow.reshape(T1, B)
    steps = torch.arange(T, device=states.device).unsqueeze(1)
    taken = steps < lengths  # (T, B)
    log_pf = log_pf_all[:T].gather(2, actions.unsqueeze(-1)).squeeze(-1)
    log_pf = torch.where(taken, log_pf, torch.zeros_like(log_pf))
    moves = taken & (actions != exit_)
    back = env.backward_action(actions.clamp(max=exit_ - 1))
    log_pb = log_pb_all[1:].gather(2, back.unsqueeze(-1)).squeeze(-1)
    log_pb = torch.where(moves, log_pb, torch.zeros_like(log_pb))
    log_reward = env.log_reward(states[-1]).to(log_pf.dtype)
    t = torch.arange(T1, device=states.device).unsqueeze(1)
    zero = torch.zeros_like(log_flow)
    flows = torch.where((t > 0) & (t < lengths), log_flow, zero)
    flows = torch.where(t == 0, policy.log_z.to(zero.dtype).expand_as(zero), flows)
    flows = torch.where(t == lengths, log_reward.expand(T1, B), flows)
    return Trajectories(
        states=states,
        actions=actions,
        log_pf=log_pf,
        log_pb=log_pb,
        log_flow=flows,
        lengths=lengths,
        log_reward=log_reward,
    )
