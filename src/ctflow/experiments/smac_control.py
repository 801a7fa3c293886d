"""``smac-control``: SAC vs latent SAC (K = 0) vs SMAC on gymnasium control tasks.

Tasks: ``pendulum`` (Pendulum-v1), ``pendulum-flicker`` (Pendulum-v1 whose observation is
dropped to zeros with probability ``flicker_p``; every agent sees the last ``history``
observations and the latent agents encode them with a recurrent stochastic encoder, a belief;
on fully observed tasks the latent is drawn from ``N(0, I)``), and the MuJoCo tasks
``inverted-pendulum`` (InvertedPendulum-v5), ``hopper`` (Hopper-v5) and ``half-cheetah``
(HalfCheetah-v5). All three agents share one architecture (the observation trunk, then a
per-particle layer where the latent and the action join); SAC has no latent. The critics see
the observation (window) and the action, not ``z``, unless ``critic_latent``. Metrics per
method and task: the final evaluation return (deterministic policy, ``eval_episodes``
fixed-seed episodes), the mean over the evaluation curve, and the update rate. Training is
checkpointed between episodes with the replay buffer and every RNG, so ``ctflow run --resume``
continues a seed exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from ..plotting.curves import curve_panels_figure
from ..rl import ActorCritic, AgentConfig, TrainConfig, random_policy_returns, train_agent

__all__ = ["SMACControlConfig", "run", "build_models", "TASKS"]

# name -> (gymnasium id, observation mode, obs size, action size, MuJoCo?)
TASKS = {
    "pendulum": ("Pendulum-v1", "full", 3, 1, False),
    "pendulum-flicker": ("Pendulum-v1", "flicker", 3, 1, False),
    "inverted-pendulum": ("InvertedPendulum-v5", "full", 4, 1, True),
    "hopper": ("Hopper-v5", "full", 11, 3, True),
    "half-cheetah": ("HalfCheetah-v5", "full", 17, 6, True),
}
METHODS = ("sac", "latent-sac", "smac")


@dataclass
class SMACControlConfig(ExperimentConfig):
    tasks: tuple[str, ...] = ("pendulum", "pendulum-flicker", "inverted-pendulum")
    methods: tuple[str, ...] = METHODS
    steps: int = 5000
    mujoco_steps: int = 3000
    start_steps: int = 500
    batch_size: int = 64
    hidden: tuple[int, ...] = (64, 64)
    head: int = 32
    latent_dim: int = 8
    particles: int = 16
    history: int = 4
    flicker_p: float = 0.5
    critic_latent: bool = False
    lr: float = 1e-3
    eval_every: int = 1000
    eval_episodes: int = 3
    random_episodes: int = 20
    checkpoint_every: int = 1000

    def __post_init__(self):
        unknown = [t for t in self.tasks if t not in TASKS]
        if not self.tasks or unknown:
            raise ValueError(f"unknown tasks {unknown}; choose from: {', '.join(TASKS)}")
        bad = [m for m in self.methods if m not in METHODS]
        if not self.methods or bad:
            raise ValueError(f"unknown methods {bad}; choose from: {', '.join(METHODS)}")
        check_fields(self, at_least_one="steps mujoco_steps batch_size head latent_dim history")
        for name in (
            "particles",
            "start_steps",
            "eval_episodes",
            "random_episodes",
            "checkpoint_every",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden widths must be positive, got {self.hidden}")
        if not 0 <= self.flicker_p < 1 or not self.lr > 0 or self.eval_every < 1:
            raise ValueError("need 0 <= flicker_p < 1, lr > 0 and eval_every >= 1")


SIZES = {
    "smoke": dict(
        tasks=("pendulum-flicker", "inverted-pendulum"),
        steps=50,
        mujoco_steps=50,
        start_steps=25,
        batch_size=16,
        hidden=(16, 16),
        head=8,
        particles=4,
        eval_every=50,
        eval_episodes=1,
        random_episodes=2,
        checkpoint_every=0,
    ),
    # Pendulum at its full budget (SAC and SMAC only): 1500 steps learned nothing yet
    "quick": dict(tasks=("pendulum",), methods=("sac", "smac"), steps=5000, eval_every=1000),
}


def _history(config: SMACControlConfig, task: str) -> int:
    return config.history if TASKS[task][1] != "full" else 1


def _agent_config(config: SMACControlConfig, method: str, task: str) -> AgentConfig:
    history = _history(config, task)
    return AgentConfig(
        hidden=(*config.hidden, config.head),
        latent_dim=0 if method == "sac" else config.latent_dim,
        particles=config.particles if method == "smac" else 0,
        inject="last",
        encoder="gru" if history > 1 else "prior",
        history=history,
        critic_latent=config.critic_latent,
        lr=config.lr,
    )


def build_models(config: SMACControlConfig) -> dict[str, torch.nn.Module]:
    torch.manual_seed(config.seed)
    models = {}
    for task in config.tasks:
        obs_dim, act_dim = TASKS[task][2] * _history(config, task), TASKS[task][3]
        for method in config.methods:
            models[f"{method}/{task}"] = ActorCritic(
                obs_dim, act_dim, _agent_config(config, method, task)
            )
    return models


def _make(config: SMACControlConfig, task: str):
    from ..rl.envs import make_env

    env_id, observe = TASKS[task][:2]
    kwargs = dict(observe=observe, flicker_p=config.flicker_p, history=_history(config, task))
    return make_env(env_id, **kwargs), make_env(env_id, **kwargs)


def run(config: SMACControlConfig, ctx: RunContext | None = None) -> Results:
    ctx = ctx or RunContext(seed=config.seed)
    models = build_models(config)
    ctx.track(models)
    results = Results(models=models)
    curves: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
    for t_index, task in enumerate(config.tasks):
        steps = config.mujoco_steps if TASKS[task][4] else config.steps
        train = TrainConfig(
            steps=steps,
            start_steps=min(config.start_steps, steps),
            batch_size=config.batch_size,
            buffer_size=steps,
            eval_every=config.eval_every,
            eval_episodes=config.eval_episodes,
            checkpoint_every=config.checkpoint_every,
        )
        if config.random_episodes:
            # the floor every learned policy must clear: uniformly random actions
            env, spare = _make(config, task)
            returns = torch.tensor(random_policy_returns(env, config.random_episodes))
            env.close()
            spare.close()
            results.metrics[f"random/{task}/return"] = float(returns.mean())
            results.metrics[f"random/{task}/return_std"] = (
                float(returns.std(correction=1)) if len(returns) > 1 else 0.0
            )
        for method in config.methods:
            key = f"{method}/{task}"
            env, eval_env = _make(config, task)
            log = train_agent(
                models[key],
                env,
                train,
                seed=config.seed * 1000 + t_index,
                eval_env=eval_env,
                tag=key,
                checkpointer=ctx.checkpointer,
                logger=ctx.logger,
            )
            env.close()
            eval_env.close()
            curves.setdefault(task, {})[method] = (log.eval_steps, log.eval_returns)
            if log.eval_returns:
                tail = log.eval_returns[-2:]
                results.metrics[f"{key}/final_return"] = float(log.eval_returns[-1])
                results.metrics[f"{key}/last2_return"] = float(sum(tail) / len(tail))
                results.metrics[f"{key}/curve_mean_return"] = float(
                    sum(log.eval_returns) / len(log.eval_returns)
                )
            results.metrics[f"{key}/train_seconds"] = float(log.seconds)
            results.metrics[f"{key}/updates_per_second"] = float(
                log.updates / max(log.seconds, 1e-9)
            )
            results.metrics[f"{key}/env_steps"] = float(steps)
    results.figures["smac_control_curves"] = curve_panels_figure(
        curves,
        style="o-",
        styles={m: {"ms": 3} for m in config.methods},
        xlabel="environment steps",
        ylabel=["evaluation return"] + [""] * (len(curves) - 1),
    )
    results.notes.append(
        "final_return: mean return of the deterministic policy over eval_episodes fixed-seed "
        "episodes at the end of training; last2_return averages the last two evaluations; "
        "random/<task>/return is a uniformly random policy's mean return over random_episodes "
        "episodes (return_std: their standard deviation)."
    )
    return results


register(
    Experiment(
        name="smac-control",
        config_cls=SMACControlConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="SMAC vs SAC vs latent SAC on Pendulum (full and flickering) and MuJoCo",
    )
)
