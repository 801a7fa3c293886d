"""Counting function evaluations (NFE) of a vector field."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

__all__ = ["SolveStats", "CountingField"]


@dataclass
class SolveStats:
    """What a solve cost.

    Attributes:
        nfe: evaluations of the field during the forward solve.
        nfe_backward: evaluations made afterwards, e.g. by an adjoint backward pass.
        method: the method that ran.
        steps: accepted fixed steps (``None`` for adaptive methods).
    """

    nfe: int = 0
    nfe_backward: int = 0
    method: str = ""
    steps: int | None = None


class CountingField:
    """Wraps ``f(t, x)``, counts its calls into a :class:`SolveStats`, and checks the first output.

    Calls made while ``forward_done`` is set count as backward evaluations.
    """

    def __init__(self, f: Callable, stats: SolveStats, shapes: tuple[tuple[int, ...], ...]):
        self.f = f
        self.stats = stats
        self.shapes = shapes
        self.forward_done = False
        self._checked = False

    def __call__(self, t: Tensor, x):
        out = self.f(t, x)
        if self.forward_done:
            self.stats.nfe_backward += 1
        else:
            self.stats.nfe += 1
        if not self._checked:
            self._check(out)
            self._checked = True
        return out

    def _check(self, out) -> None:
        outs = (out,) if isinstance(out, Tensor) else out
        if not isinstance(outs, (tuple, list)) or not all(isinstance(o, Tensor) for o in outs):
            raise TypeError(
                f"the vector field must return a tensor or tuple of tensors, "
                f"got {type(out).__name__}"
            )
        got = tuple(tuple(o.shape) for o in outs)
        if got != self.shapes:
            want = self.shapes[0] if len(self.shapes) == 1 else self.shapes
            have = got[0] if len(got) == 1 else got
            raise ValueError(
                f"the vector field returned shape {have} for a state of shape {want}; "
                "f(t, x) must return dx/dt with the state's shape"
            )
