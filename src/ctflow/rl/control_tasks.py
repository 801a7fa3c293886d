"""Named gymnasium control tasks, fully or partially observed, and the summary of a training
run on one (:class:`ctflow.rl.TrainLog`).

gymnasium (the ``rl`` extra) is imported only when an environment is made.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .loop import TrainLog, random_policy_returns

__all__ = [
    "ControlTask",
    "CONTROL_TASKS",
    "task_history",
    "make_task_envs",
    "random_return_stats",
    "train_log_summary",
]


class ControlTask(NamedTuple):
    """A gymnasium id with how the agent observes it and its sizes."""

    env_id: str
    observe: str  # "full" or "flicker" (frames dropped to zeros)
    obs_dim: int
    act_dim: int
    mujoco: bool


CONTROL_TASKS = {
    "pendulum": ControlTask("Pendulum-v1", "full", 3, 1, False),
    "pendulum-flicker": ControlTask("Pendulum-v1", "flicker", 3, 1, False),
    "inverted-pendulum": ControlTask("InvertedPendulum-v5", "full", 4, 1, True),
    "hopper": ControlTask("Hopper-v5", "full", 11, 3, True),
    "half-cheetah": ControlTask("HalfCheetah-v5", "full", 17, 6, True),
}


def _task(task: str) -> ControlTask:
    if task not in CONTROL_TASKS:
        raise ValueError(f"unknown task {task!r}; choose from: {', '.join(CONTROL_TASKS)}")
    return CONTROL_TASKS[task]


def task_history(task: str, history: int) -> int:
    """The observation window on ``task``: ``history`` steps if partially observed, else 1.

    Examples:
        >>> task_history("pendulum", 4), task_history("pendulum-flicker", 4)
        (1, 4)
    """
    return history if _task(task).observe != "full" else 1


def make_task_envs(task: str, flicker_p: float = 0.5, history: int = 1, count: int = 2):
    """``count`` independent environments of ``task`` (e.g. one to train, one to evaluate).

    Args:
        task: a key of ``CONTROL_TASKS``.
        flicker_p: probability of a dropped frame on flickering tasks.
        history: requested window (see :func:`task_history`).
        count: how many environments.

    Returns:
        A tuple of gymnasium environments.
    """
    from .envs import make_env

    spec = _task(task)
    kwargs = dict(observe=spec.observe, flicker_p=flicker_p, history=task_history(task, history))
    return tuple(make_env(spec.env_id, **kwargs) for _ in range(count))


def random_return_stats(env, episodes: int) -> tuple[float, float]:
    """Mean and standard deviation (0 for one episode) of a uniformly random policy's returns,
    the floor every learned policy must clear (see :func:`ctflow.rl.random_policy_returns`)."""
    returns = torch.tensor(random_policy_returns(env, episodes))
    std = float(returns.std(correction=1)) if len(returns) > 1 else 0.0
    return float(returns.mean()), std


def train_log_summary(log: TrainLog) -> dict[str, float]:
    """Scores of a training run: ``final_return`` (last evaluation), ``last2_return`` (mean of
    the last two), ``curve_mean_return`` (mean over the curve), present only with
    evaluations; ``train_seconds`` and ``updates_per_second``.

    Examples:
        >>> summary = train_log_summary(TrainLog([1, 2], [1.0, 3.0], seconds=2.0, updates=10))
        >>> [summary[k] for k in ("final_return", "last2_return", "updates_per_second")]
        [3.0, 2.0, 5.0]
    """
    out: dict[str, float] = {}
    if log.eval_returns:
        tail = log.eval_returns[-2:]
        out["final_return"] = float(log.eval_returns[-1])
        out["last2_return"] = float(sum(tail) / len(tail))
        out["curve_mean_return"] = float(sum(log.eval_returns) / len(log.eval_returns))
    out["train_seconds"] = float(log.seconds)
    out["updates_per_second"] = float(log.updates / max(log.seconds, 1e-9))
    return out
