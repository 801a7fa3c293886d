"""GFlowNet training objectives on a batch of :class:`Trajectories`.

With ``C_t = sum_{k<t} (log P_F(a_k|s_k) - log P_B(s_k|s_{k+1}))`` and the state flows of the
batch (``log F(s_0) = log Z``, ``log F`` after the exit ``= log R(x)``), the residual of the
sub-trajectory from ``s_i`` to ``s_j`` is ``log F(s_i) + C_j - C_i - log F(s_j)``:

- trajectory balance (Malkin et al. 2022) squares the one from ``s_0`` to the end;
- detailed balance (Bengio et al. 2021) squares every single step's;
- sub-trajectory balance (Madan et al. 2023) averages all of them with weights
  ``lambda^(j - i)``, normalised per trajectory.

Flow matching (Bengio et al. 2021) instead matches, at every visited state, the log inflow from
its parents to the log outflow (the forward logits are log edge flows), and the exit flow of
each terminal state to its reward.

References:
    Bengio et al., "Flow Network based Generative Models ...", NeurIPS 2021.
    Malkin et al., "Trajectory balance: Improved credit assignment in GFlowNets", 2022.
    Madan et al., "Learning GFlowNets from partial episodes ...", arXiv 2209.12782.
    Zhang et al., "Unifying Generative Models with GFlowNets and Beyond", arXiv 2209.02606.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .env import DiscreteEnv
from .trajectories import Trajectories

__all__ = [
    "OBJECTIVES",
    "trajectory_balance",
    "detailed_balance",
    "subtrajectory_balance",
    "flow_matching",
    "subtrajectory_residuals",
    "gfn_loss",
]

OBJECTIVES = ("tb", "db", "subtb", "fm")


def _cumulative(traj: Trajectories) -> Tensor:
    steps = traj.log_pf - traj.log_pb
    zero = torch.zeros_like(steps[:1])
    return torch.cat([zero, steps.cumsum(0)])  # (T + 1, B)


def trajectory_balance(traj: Trajectories) -> Tensor:
    """``mean_b (log Z + sum log P_F - log R(x) - sum log P_B)^2``."""
    residual = traj.log_flow[0] + (traj.log_pf - traj.log_pb).sum(0) - traj.log_reward
    return residual.pow(2).mean()


def detailed_balance(traj: Trajectories) -> Tensor:
    """Mean over every step taken of ``(log F(s) + log P_F(s'|s) - log F(s') - log P_B(s|s'))^2``
    (the exit step ends at ``log R(x)``)."""
    residual = traj.log_flow[:-1] + traj.log_pf - traj.log_flow[1:] - traj.log_pb
    mask = traj.step_mask()
    return residual.pow(2).masked_fill(~mask, 0).sum() / mask.sum()


def subtrajectory_residuals(traj: Trajectories) -> tuple[Tensor, Tensor]:
    """``(residual (T+1, T+1, B), valid (T+1, T+1, B))`` for every pair ``i < j <= length``."""
    C = _cumulative(traj)
    F = traj.log_flow
    residual = (F - C).unsqueeze(1) - (F - C).unsqueeze(0)  # [i, j] = F_i - C_i - F_j + C_j
    T1 = F.shape[0]
    idx = torch.arange(T1, device=F.device)
    upper = idx.view(-1, 1) < idx.view(1, -1)
    valid = upper.unsqueeze(-1) & (idx.view(1, -1, 1) <= traj.lengths.view(1, 1, -1))
    return residual, valid


def subtrajectory_balance(traj: Trajectories, lamda: float = 0.9) -> Tensor:
    """Every sub-trajectory's squared residual, weighted by ``lamda^(j - i)`` and normalised
    within each trajectory, averaged over the batch."""
    if not lamda > 0:
        raise ValueError(f"lamda must be > 0, got {lamda}")
    residual, valid = subtrajectory_residuals(traj)
    idx = torch.arange(residual.shape[0], device=residual.device, dtype=residual.dtype)
    weight = (lamda ** (idx.view(1, -1) - idx.view(-1, 1))).unsqueeze(-1) * valid
    per_traj = (weight * residual.pow(2).masked_fill(~valid, 0)).sum((0, 1)) / weight.sum((0, 1))
    return per_traj.mean()


def flow_matching(env: DiscreteEnv, policy, traj: Trajectories) -> Tensor:
    """Flow-matching loss (GFlowNet sense) with the forward logits as log edge flows.

    For each visited state after ``s_0``, ``(log sum_parents F(p -> s) - log sum_children
    F(s -> c))^2`` (the exit edge is a child), plus ``(log F(x -> exit) - log R(x))^2`` at each
    terminal state; the two means are added.
    """
    T = traj.actions.shape[0]
    visited = torch.arange(1, T + 1, device=traj.lengths.device).unsqueeze(1) < traj.lengths
    states = traj.states[1:][visited]  # every non-initial state before the exit
    shape = states.shape[1:]
    logits, _, _ = policy(env.features(states))
    outflow = logits.masked_fill(~env.forward_mask(states), float("-inf")).logsumexp(-1)
    parents, actions, mask = env.parents(states)
    P = parents.shape[1]
    parent_logits, _, _ = policy(env.features(parents.reshape(-1, *shape)))
    edge = parent_logits.gather(1, actions.reshape(-1, 1)).reshape(-1, P)
    inflow = edge.masked_fill(~mask, float("-inf")).logsumexp(-1)
    x = traj.terminal
    exit_logit = policy(env.features(x))[0][:, env.exit_action]
    return (inflow - outflow).pow(2).mean() + (exit_logit - traj.log_reward).pow(2).mean()


def gfn_loss(
    objective: str, env: DiscreteEnv, policy, traj: Trajectories, lamda: float = 0.9
) -> Tensor:
    """The loss of ``objective`` (one of ``OBJECTIVES``)."""
    if objective == "tb":
        return trajectory_balance(traj)
    if objective == "db":
        return detailed_balance(traj)
    if objective == "subtb":
        return subtrajectory_balance(traj, lamda)
    if objective == "fm":
        return flow_matching(env, policy, traj)
    raise ValueError(f"unknown objective {objective!r}; choose one of: {', '.join(OBJECTIVES)}")
