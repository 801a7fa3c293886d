"""The hypergrid (Bengio et al. 2021): a ``height^ndim`` grid whose reward can be enumerated."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .env import DiscreteEnv

__all__ = ["HyperGrid"]


class HyperGrid(DiscreteEnv):
    """States are points of ``{0, ..., height-1}^ndim``, starting at the origin.

    Forward action ``d < ndim`` adds 1 to coordinate ``d`` (legal below ``height - 1``); action
    ``ndim`` exits, so every state is terminal. Backward action ``d`` subtracts 1 from coordinate
    ``d``. The reward is the "original" one of the GFlowNet paper: with ``a = |x/(H-1) - 0.5|``,
    ``R = R0 + R1 prod(0.25 < a) + R2 prod(0.3 < a < 0.4)``.

    Args:
        ndim: dimensions.
        height: points per dimension.
        r0, r1, r2: the reward levels.
        encoding: network input, ``"khot"`` (one-hot per coordinate, ``ndim * height``) or
            ``"onehot"`` (one-hot of the state index; with a linear policy this is a table).

    Examples:
        >>> env = HyperGrid(ndim=2, height=8)
        >>> x, p = env.reward_distribution()      # 64 states and R(x)/Z
    """

    def __init__(
        self,
        ndim: int = 2,
        height: int = 8,
        r0: float = 0.1,
        r1: float = 0.5,
        r2: float = 2.0,
        encoding: str = "khot",
    ):
        if ndim < 1 or height < 2:
            raise ValueError(f"need ndim >= 1 and height >= 2, got ndim={ndim}, height={height}")
        if min(r0, r1, r2) < 0 or r0 <= 0:
            raise ValueError(f"rewards need r0 > 0 and r1, r2 >= 0, got {r0}, {r1}, {r2}")
        if encoding not in ("khot", "onehot"):
            raise ValueError(f"encoding must be 'khot' or 'onehot', got {encoding!r}")
        self.ndim, self.height = ndim, height
        self.r0, self.r1, self.r2 = r0, r1, r2
        self.encoding = encoding
        self.n_actions = ndim + 1
        self.n_backward = ndim
        self.feature_dim = ndim * height if encoding == "khot" else height**ndim
        self.max_length = ndim * (height - 1) + 1
        self._radix = height ** torch.arange(ndim - 1, -1, -1)
        self._eyes: dict = {}

    def initial(self, n: int) -> Tensor:
        return torch.zeros(n, self.ndim, dtype=torch.long)

    def _eye(self, n: int, device: torch.device) -> Tensor:
        # rows of an identity matrix, looked up by index: cheaper than one_hot's range checks
        key = (n, device)
        if key not in self._eyes:
            self._eyes[key] = torch.eye(n, device=device)
        return self._eyes[key]

    def features(self, states: Tensor) -> Tensor:
        if self.encoding == "onehot":
            return self._eye(self.feature_dim, states.device)[self.state_index(states)]
        hot = self._eye(self.height, states.device)[states]
        return hot.reshape(states.shape[0], self.feature_dim)

    def forward_mask(self, states: Tensor) -> Tensor:
        grow = states < self.height - 1
        return torch.cat([grow, torch.ones_like(grow[:, :1])], dim=1)

    def backward_mask(self, states: Tensor) -> Tensor:
        return states > 0

    def step(self, states: Tensor, actions: Tensor) -> Tensor:
        self._check_actions(actions, self.ndim, "step")
        new = states + self._unit(states.device)[actions]
        if bool((new >= self.height).any()):
            raise ValueError(f"an action leaves the grid (height {self.height}); see forward_mask")
        return new

    def backward_step(self, states: Tensor, actions: Tensor) -> Tensor:
        self._check_actions(actions, self.ndim, "backward_step")
        new = states - self._unit(states.device)[actions]
        if bool((new < 0).any()):
            raise ValueError("a backward action leaves the grid (below 0); see backward_mask")
        return new

    @staticmethod
    def _check_actions(actions: Tensor, count: int, name: str) -> None:
        if actions.dtype.is_floating_point or actions.dtype == torch.bool:
            raise TypeError(f"{name} takes integer actions, got {actions.dtype}")
        if actions.numel() and not (0 <= int(actions.min()) and int(actions.max()) < count):
            raise ValueError(
                f"{name} takes actions in 0..{count - 1} (the exit action is not a step), got "
                f"{int(actions.min())}..{int(actions.max())}"
            )

    def _unit(self, device: torch.device) -> Tensor:
        key = ("unit", device)
        if key not in self._eyes:
            self._eyes[key] = torch.eye(self.ndim, dtype=torch.long, device=device)
        return self._eyes[key]

    def backward_action(self, actions: Tensor) -> Tensor:
        return actions

    def forward_action(self, backward_actions: Tensor) -> Tensor:
        return backward_actions

    def reward(self, states: Tensor) -> Tensor:
        """``R(x)`` in float64."""
        a = (states.double() / (self.height - 1) - 0.5).abs()
        eps = 1e-9  # decide grid points on the band edges the same way on every platform
        outer = (a > 0.25 + eps).all(-1).double()
        band = ((a > 0.3 + eps) & (a < 0.4 - eps)).all(-1).double()
        return self.r0 + self.r1 * outer + self.r2 * band

    def log_reward(self, states: Tensor) -> Tensor:
        return self.reward(states).log()

    def all_states(self) -> Tensor:
        grid = torch.cartesian_prod(*[torch.arange(self.height)] * self.ndim)
        grid = grid.reshape(-1, self.ndim)
        return grid[torch.argsort(grid.sum(-1), stable=True)]

    def depth(self, states: Tensor) -> Tensor:
        return states.sum(-1)

    def state_index(self, states: Tensor) -> Tensor:
        # position in all_states(): states sorted by coordinate sum, then lexicographically
        return self._order().to(states.device)[(states * self._radix.to(states.device)).sum(-1)]

    def _order(self) -> Tensor:
        if not hasattr(self, "_order_cache"):
            grid = torch.cartesian_prod(*[torch.arange(self.height)] * self.ndim)
            grid = grid.reshape(-1, self.ndim)
            order = torch.argsort(grid.sum(-1), stable=True)
            inverse = torch.empty_like(order)
            inverse[order] = torch.arange(len(order))
            self._order_cache = inverse
        return self._order_cache

    def log_partition(self) -> float:
        return math.log(float(self.reward(self.all_states()).sum()))
