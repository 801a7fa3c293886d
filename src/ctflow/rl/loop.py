"""Off-policy training with periodic evaluation and exact, resumable checkpoints.

A checkpoint is taken between episodes and holds the agent (through the run's checkpointer), its
optimisers, the replay buffer, the buffer's sampling generator, every global RNG and the training
environment's generators, so a resumed run continues bit-identically.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..seeding import set_rng_state
from .agent import ActorCritic
from .buffer import ReplayBuffer

__all__ = ["TrainConfig", "TrainLog", "train_agent", "evaluate", "random_policy_returns"]


@dataclass
class TrainConfig:
    """How :func:`train_agent` runs.

    Attributes:
        steps: environment steps.
        start_steps: steps of uniform random actions before the policy acts (updates begin then).
        batch_size: transitions per gradient step.
        buffer_size: replay capacity.
        update_every: environment steps per gradient step (1: one update per step).
        eval_every: evaluate every this many steps (and at the end).
        eval_episodes: episodes per evaluation (deterministic policy, fixed seeds).
        checkpoint_every: save, at the next episode boundary, once this many steps have passed.
    """

    steps: int = 10_000
    start_steps: int = 1000
    batch_size: int = 256
    buffer_size: int = 100_000
    update_every: int = 1
    eval_every: int = 1000
    eval_episodes: int = 5
    checkpoint_every: int = 2000

    def __post_init__(self):
        for name in ("steps", "batch_size", "buffer_size", "update_every", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("start_steps", "eval_episodes", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclass
class TrainLog:
    """What :func:`train_agent` returns: evaluation curve and training episode returns."""

    eval_steps: list[int] = field(default_factory=list)
    eval_returns: list[float] = field(default_factory=list)
    episode_returns: list[float] = field(default_factory=list)
    seconds: float = 0.0
    updates: int = 0


def _to_env(action: torch.Tensor, space) -> np.ndarray:
    low, high = space.low, space.high
    return (low + (action.numpy().astype(np.float64) + 1) * 0.5 * (high - low)).astype(space.dtype)


def evaluate(agent: ActorCritic, env, episodes: int, seed: int = 10_000) -> float:
    """Mean return of the deterministic policy over ``episodes`` episodes seeded ``seed + i``.

    Draws no global randomness, so evaluating does not change training.
    """
    total = 0.0
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done = False
        while not done:
            a = agent.act(torch.as_tensor(obs, dtype=torch.float32)[None], deterministic=True)[0]
            obs, reward, terminated, truncated, _ = env.step(_to_env(a, env.action_space))
            total += float(reward)
            done = terminated or truncated
    return total / max(episodes, 1)


def random_policy_returns(env, episodes: int, seed: int = 10_000) -> list[float]:
    """Returns of a uniformly random policy over ``episodes`` episodes seeded ``seed + i``.

    The reference every learned policy must beat. Actions come from the environment's action
    space, seeded with ``seed``, so the returns are reproducible and draw no global randomness.

    Returns:
        One return per episode.
    """
    env.action_space.seed(seed)
    returns = []
    for i in range(episodes):
        env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return returns


def train_agent(
    agent: ActorCritic,
    env,
    config: TrainConfig,
    *,
    seed: int = 0,
    eval_env=None,
    tag: str = "agent",
    checkpointer=None,
    logger=None,
) -> TrainLog:
    """Train ``agent`` on ``env`` (a gymnasium environment with a Box action space).

    Args:
        agent: an :class:`~ctflow.rl.agent.ActorCritic`.
        env: the training environment; reset with ``seed`` at the start.
        config: a :class:`TrainConfig`.
        seed: seeds the environment and the replay sampling.
        eval_env: the evaluation environment (default: no evaluation).
        tag: this training's name in the checkpoint and the series log.
        checkpointer: a :class:`ctflow.checkpoint.Checkpointer`; its tracked models must
            include ``agent`` (the run registers them), so the weights are restored on resume.
        logger: a :class:`ctflow.train.SeriesLogger` for eval rows ``{tag, step, eval_return}``.

    Returns:
        A :class:`TrainLog`.
    """
    from .envs import env_rng_state, set_env_rng_state

    obs_dim = int(np.prod(env.observation_space.shape))
    act_dim = int(np.prod(env.action_space.shape))
    if (obs_dim, act_dim) != (agent.obs_dim, agent.act_dim):
        raise ValueError(
            f"agent is for obs/action sizes {(agent.obs_dim, agent.act_dim)}, "
            f"the env has {(obs_dim, act_dim)}"
        )
    buffer = ReplayBuffer(obs_dim, act_dim, min(config.buffer_size, config.steps))
    gen = torch.Generator().manual_seed(seed + 1_000_003)
    log = TrainLog()
    step, resumed = 0, False
    saved = checkpointer.phase(tag) if checkpointer is not None else None
    if saved is not None:
        set_rng_state(saved["rng"])
        log = TrainLog(
            list(saved["eval_steps"]),
            list(saved["eval_returns"]),
            list(saved["episode_returns"]),
            float(saved["seconds"]),
            int(saved["updates"]),
        )
        if saved["done"]:
            return log
        agent.load_optimizer_state(saved["agent"])
        buffer.load_state_dict(saved["buffer"])
        gen.set_state(saved["generator"])
        set_env_rng_state(env, saved["env_rng"])
        step, resumed = int(saved["step"]), True
        if logger is not None and log.eval_steps and log.eval_steps[-1] == step:
            # the run log is cut back to rows before the checkpoint's step: restore this one
            logger.log({"tag": tag, "step": step, "eval_return": log.eval_returns[-1]})
    start = time.perf_counter() - log.seconds
    last_save = step

    def record(done: bool) -> dict:
        rec = {
            "eval_steps": list(log.eval_steps),
            "eval_returns": list(log.eval_returns),
            "episode_returns": list(log.episode_returns),
            "seconds": time.perf_counter() - start,
            "updates": agent.updates,
        }
        if not done:
            rec.update(
                agent=agent.optimizer_state(),
                buffer=buffer.state_dict(),
                generator=gen.get_state(),
                env_rng=env_rng_state(env),
            )
        return rec

    def maybe_evaluate(at: int) -> None:
        if eval_env is None or config.eval_episodes == 0:
            return
        if at % config.eval_every == 0 or at == config.steps:
            value = evaluate(agent, eval_env, config.eval_episodes)
            log.eval_steps.append(at)
            log.eval_returns.append(value)
            if logger is not None:
                logger.log({"tag": tag, "step": at, "eval_return": value})

    if not resumed:
        maybe_evaluate(0)
    first = True
    while step < config.steps:
        # an episode boundary: the only place a checkpoint is taken
        if (
            checkpointer is not None
            and config.checkpoint_every
            and step - last_save >= config.checkpoint_every
        ):
            log.seconds = time.perf_counter() - start
            checkpointer.save(tag, step=step, done=False, record=record(False))
            last_save = step
        obs, _ = env.reset(seed=seed if (first and not resumed) else None)
        first = False
        episode_return, done = 0.0, False
        while not done and step < config.steps:
            obs_t = torch.as_tensor(obs, dtype=torch.float32)
            if step < config.start_steps:
                action = torch.rand(act_dim, generator=gen) * 2 - 1
            else:
                action = agent.act(obs_t[None])[0]
            next_obs, reward, terminated, truncated, _ = env.step(_to_env(action, env.action_space))
            buffer.add(obs_t, action, float(reward), next_obs, terminated)
            episode_return += float(reward)
            obs, done = next_obs, terminated or truncated
            step += 1
            if step >= config.start_steps and step % config.update_every == 0:
                agent.update(buffer.sample(config.batch_size, gen))
            maybe_evaluate(step)
        if done:
            log.episode_returns.append(episode_return)
    log.seconds = time.perf_counter() - start
    log.updates = agent.updates
    if checkpointer is not None:
        checkpointer.save(tag, step=step, done=True, record=record(True))
    return log
