"""Maximum-entropy reinforcement learning: SAC and the stochastic marginal actor-critic (SMAC).

The agents, the estimator and the replay buffer need only torch. Environments come from
gymnasium, the ``rl`` extra (``pip install ctflow[rl]``), imported on first use of
:mod:`ctflow.rl.envs` or the names it provides.
"""

from __future__ import annotations

import importlib

from .action_stats import histogram_entropy, mode_masses
from .agent import SAC, SMAC, ActorCritic, AgentConfig
from .buffer import ReplayBuffer
from .control_tasks import (
    CONTROL_TASKS,
    ControlTask,
    make_task_envs,
    random_return_stats,
    task_history,
    train_log_summary,
)
from .estimators import AGGREGATIONS, aggregate_particles, marginal_log_prob
from .latent_gaussian import (
    linear_gaussian_conditional_entropy,
    linear_gaussian_entropy,
    linear_gaussian_log_prob,
    particle_entropy_bound,
)
from .loop import TrainConfig, TrainLog, evaluate, random_policy_returns, train_agent
from .max_entropy import boltzmann_policy, grid_entropy, grid_expectation, grid_mode_masses
from .networks import InjectMLP, MLPEncoder, RecurrentEncoder, squashed_log_prob, tanh_log_det
from .variants import AGENT_VARIANTS, agent_variant

_ENV_NAMES = (
    "FlickerObservation",
    "NoisyObservation",
    "HistoryObservation",
    "make_env",
    "env_rng_state",
    "set_env_rng_state",
)

__all__ = [
    "AGGREGATIONS",
    "ActorCritic",
    "AgentConfig",
    "InjectMLP",
    "MLPEncoder",
    "RecurrentEncoder",
    "ReplayBuffer",
    "SAC",
    "SMAC",
    "TrainConfig",
    "TrainLog",
    "aggregate_particles",
    "boltzmann_policy",
    "evaluate",
    "grid_entropy",
    "grid_expectation",
    "grid_mode_masses",
    "histogram_entropy",
    "linear_gaussian_conditional_entropy",
    "linear_gaussian_entropy",
    "linear_gaussian_log_prob",
    "mode_masses",
    "particle_entropy_bound",
    "random_policy_returns",
    "marginal_log_prob",
    "squashed_log_prob",
    "tanh_log_det",
    "train_agent",
    "AGENT_VARIANTS",
    "agent_variant",
    "CONTROL_TASKS",
    "ControlTask",
    "make_task_envs",
    "random_return_stats",
    "task_history",
    "train_log_summary",
    *_ENV_NAMES,
]


def __getattr__(name: str):
    if name in _ENV_NAMES:
        return getattr(importlib.import_module(".envs", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
