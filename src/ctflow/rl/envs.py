"""gymnasium environments: partially observed wrappers and RNG state for exact resumes.

Needs the ``rl`` extra (``pip install ctflow[rl]``); ``ctflow.rl`` imports this module lazily.
"""

from __future__ import annotations

import json
from collections import deque

import numpy as np

try:
    import gymnasium as gym
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "ctflow.rl environments need gymnasium: pip install ctflow[rl]  (gymnasium[mujoco])"
    ) from err

__all__ = [
    "FlickerObservation",
    "NoisyObservation",
    "HistoryObservation",
    "make_env",
    "env_rng_state",
    "set_env_rng_state",
]


class _SeededWrapper(gym.ObservationWrapper):
    """An observation wrapper with its own NumPy generator, reseeded by ``reset(seed=...)``."""

    def __init__(self, env):
        super().__init__(env)
        self.rng = np.random.default_rng(0)

    def reset(self, *, seed=None, options=None):
        if seed is not None:  # a stream distinct from the environment's own
            self.rng = np.random.default_rng([seed, 7001])
        return super().reset(seed=seed, options=options)


class FlickerObservation(_SeededWrapper):
    """With probability ``p`` each observation is replaced by zeros (a dropped frame)."""

    def __init__(self, env, p: float = 0.5):
        if not 0 <= p < 1:
            raise ValueError(f"flicker probability must be in [0, 1), got {p}")
        super().__init__(env)
        self.p = p

    def observation(self, observation):
        if self.rng.random() < self.p:
            return np.zeros_like(observation)
        return observation


class NoisyObservation(_SeededWrapper):
    """Adds ``N(0, std^2)`` noise to every observation entry."""

    def __init__(self, env, std: float = 0.1):
        if std < 0:
            raise ValueError(f"noise std must be >= 0, got {std}")
        super().__init__(env)
        self.std = std

    def observation(self, observation):
        noise = self.rng.normal(0.0, self.std, size=np.shape(observation))
        return (observation + noise).astype(observation.dtype)


class HistoryObservation(gym.ObservationWrapper):
    """The last ``length`` observations, oldest first, flattened (zeros before the episode)."""

    def __init__(self, env, length: int):
        if length < 1:
            raise ValueError(f"history length must be >= 1, got {length}")
        super().__init__(env)
        self.length = length
        space = env.observation_space
        low = np.repeat(space.low[None], length, 0).reshape(-1)
        high = np.repeat(space.high[None], length, 0).reshape(-1)
        self.observation_space = gym.spaces.Box(np.minimum(low, 0), np.maximum(high, 0))
        self._frames: deque = deque(maxlen=length)

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._frames.clear()
        for _ in range(self.length - 1):
            self._frames.append(np.zeros_like(obs))
        return self.observation(obs), info

    def observation(self, observation):
        self._frames.append(observation)
        return np.concatenate(list(self._frames)).astype(np.float32)


def make_env(
    name: str,
    *,
    observe: str = "full",
    flicker_p: float = 0.5,
    noise_std: float = 0.1,
    history: int = 1,
):
    """A gymnasium environment, optionally partially observed, optionally with a history window.

    Args:
        name: a gymnasium id, e.g. ``"Pendulum-v1"``, ``"InvertedPendulum-v5"``.
        observe: ``"full"``, ``"flicker"`` (frames dropped with probability ``flicker_p``) or
            ``"noisy"`` (Gaussian noise of ``noise_std``).
        history: stack this many observations (1: none).
    """
    if observe not in ("full", "flicker", "noisy"):
        raise ValueError(f"observe must be 'full', 'flicker' or 'noisy', got {observe!r}")
    try:
        env = gym.make(name)
    except gym.error.Error as err:  # an unknown id, a missing extra (MuJoCo), a bad version
        raise ValueError(f"cannot make environment {name!r}: {err}") from None
    if observe == "flicker":
        env = FlickerObservation(env, flicker_p)
    elif observe == "noisy":
        env = NoisyObservation(env, noise_std)
    if history > 1:
        env = HistoryObservation(env, history)
    return env


def _generators(env):
    """Every NumPy generator an environment draws from: the base env's, then each wrapper's."""
    out = []
    layer = env
    while True:
        if isinstance(layer, _SeededWrapper):
            out.append(("wrapper", layer))
        if not hasattr(layer, "env"):
            break
        layer = layer.env
    return [("env", env.unwrapped)] + out[::-1]


def env_rng_state(env) -> list[str]:
    """The environment's random state (base env and wrappers), as JSON strings that a
    ``weights_only`` checkpoint can hold. Taken between episodes, it fixes all that follows."""
    states = []
    for kind, owner in _generators(env):
        gen = owner.np_random if kind == "env" else owner.rng
        states.append(json.dumps(gen.bit_generator.state))
    return states


def set_env_rng_state(env, states: list[str]) -> None:
    """Restore :func:`env_rng_state`; the next ``reset()`` (without a seed) continues exactly."""
    owners = _generators(env)
    if len(owners) != len(states):
        raise ValueError(f"saved {len(states)} environment generators, this env has {len(owners)}")
    for (kind, owner), text in zip(owners, states):
        state = json.loads(text)
        gen = np.random.Generator(getattr(np.random, state["bit_generator"])())
        gen.bit_generator.state = state
        if kind == "env":
            owner.np_random = gen
        else:
            owner.rng = gen
