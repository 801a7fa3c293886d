"""A replay buffer of transitions in preallocated tensors, saved whole in checkpoints."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["ReplayBuffer"]


class ReplayBuffer:
    """A ring buffer of ``(obs, action, reward, next_obs, terminated)`` transitions.

    Args:
        obs_dim, act_dim: sizes of an observation and an action.
        capacity: the most transitions kept; the oldest are overwritten.
        dtype: storage dtype.

    Examples:
        >>> import torch
        >>> from ctflow.rl import ReplayBuffer
        >>> buf = ReplayBuffer(3, 1, capacity=1000)
        >>> buf.add([0.0, 0.1, 0.2], [0.5], 1.0, [0.1, 0.2, 0.3], False)
        >>> buf.add([0.1, 0.2, 0.3], [-0.5], 0.0, [0.2, 0.3, 0.4], True)
        >>> len(buf)
        2
        >>> batch = buf.sample(256, torch.Generator().manual_seed(0))  # with replacement
        >>> batch["obs"].shape, batch["action"].shape, batch["reward"].shape
        (torch.Size([256, 3]), torch.Size([256, 1]), torch.Size([256]))
    """

    FIELDS = ("obs", "action", "reward", "next_obs", "terminated")

    def __init__(self, obs_dim: int, act_dim: int, capacity: int, dtype=torch.float32):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity, self.obs_dim, self.act_dim = capacity, obs_dim, act_dim
        self.data = {
            "obs": torch.zeros(capacity, obs_dim, dtype=dtype),
            "action": torch.zeros(capacity, act_dim, dtype=dtype),
            "reward": torch.zeros(capacity, dtype=dtype),
            "next_obs": torch.zeros(capacity, obs_dim, dtype=dtype),
            "terminated": torch.zeros(capacity, dtype=dtype),
        }
        self.position = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs, action, reward, next_obs, terminated) -> None:
        """Append one transition (array-likes of the right sizes)."""
        i = self.position
        values = (obs, action, reward, next_obs, float(terminated))
        for key, value in zip(self.FIELDS, values):
            slot = self.data[key][i]
            value = torch.as_tensor(value, dtype=slot.dtype)
            if value.shape != slot.shape:  # assignment would broadcast a scalar silently
                raise ValueError(
                    f"{key} must have shape {tuple(slot.shape)}, got {tuple(value.shape)}"
                )
            slot.copy_(value)
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def add_batch(self, **values: Tensor) -> None:
        """Append ``n`` transitions at once (each field a tensor with leading size ``n``)."""
        n = len(values["obs"])
        index = (self.position + torch.arange(n)) % self.capacity
        for key in self.FIELDS:
            self.data[key][index] = values[key].to(self.data[key].dtype)
        self.position = int((self.position + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """``batch_size`` transitions drawn uniformly with replacement."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        index = torch.randint(self.size, (batch_size,), generator=generator)
        return {key: value[index] for key, value in self.data.items()}

    def state_dict(self) -> dict:
        """The stored transitions (only the filled part) and the write position."""
        return {
            "data": {k: v[: self.size].clone() for k, v in self.data.items()},
            "position": self.position,
            "size": self.size,
        }

    def load_state_dict(self, state: dict) -> None:
        size = int(state["size"])
        if size > self.capacity:
            raise ValueError(f"saved buffer holds {size} transitions, capacity is {self.capacity}")
        for key, value in state["data"].items():
            self.data[key][:size] = value
        self.position, self.size = int(state["position"]), size
