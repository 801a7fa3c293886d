"""Input validation shared by the ODE and SDE solvers.

Every check raises ``ValueError``/``TypeError`` with a message a user can act on, up front, before
any work is done (torchdiffeq's opaque assertions are the counterexample we avoid).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

State = Tensor | tuple[Tensor, ...]


def as_state_tuple(x0: State, name: str = "x0") -> tuple[tuple[Tensor, ...], bool]:
    """Return ``(tensors, was_tuple)``; every tensor must be floating point and finite."""
    if isinstance(x0, Tensor):
        tensors, was_tuple = (x0,), False
    elif isinstance(x0, (tuple, list)) and len(x0) > 0 and all(isinstance(v, Tensor) for v in x0):
        tensors, was_tuple = tuple(x0), True
    else:
        raise TypeError(
            f"{name} must be a tensor or a non-empty tuple of tensors, got {type(x0).__name__}"
        )
    for i, v in enumerate(tensors):
        where = f"{name}[{i}]" if was_tuple else name
        if not v.is_floating_point():
            raise TypeError(f"{where} must be a floating-point tensor, got dtype {v.dtype}")
        if v.dim() == 0:
            raise ValueError(f"{where} must have at least one dimension, got a 0-d tensor")
        if not bool(torch.isfinite(v).all()):
            raise ValueError(f"{where} contains NaN or inf values")
    devices = {v.device for v in tensors}
    if len(devices) > 1:
        raise ValueError(
            f"all tensors of {name} must be on one device, got {sorted(map(str, devices))}"
        )
    return tensors, was_tuple


def check_times(t: Tensor | Sequence[float], like: Tensor, name: str = "t") -> Tensor:
    """Validate a 1-D, strictly monotone, finite time grid and cast it to ``like``'s dtype/device.

    Args:
        t: output times, shape ``(T,)`` with ``T >= 2``, strictly increasing or decreasing.
        like: a state tensor whose floating dtype and device the times adopt.

    Returns:
        ``t`` as a tensor of shape ``(T,)``.
    """
    if not isinstance(t, Tensor):
        try:
            t = torch.as_tensor(t, dtype=like.dtype)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be a 1-D tensor or sequence of times: {err}") from None
    if t.dim() != 1:
        raise ValueError(f"{name} must be 1-D (the output times), got shape {tuple(t.shape)}")
    if t.numel() < 2:
        raise ValueError(f"{name} must hold at least two times (start and end), got {t.numel()}")
    if t.is_complex():
        raise TypeError(f"{name} must be real, got dtype {t.dtype}")
    t = t.to(device=like.device, dtype=like.dtype)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or inf values")
    dt = t[1:] - t[:-1]
    if not (bool((dt > 0).all()) or bool((dt < 0).all())):
        raise ValueError(
            f"{name} must be strictly increasing or strictly decreasing, got {t.tolist()}"
        )
    return t


def check_method(method: str, choices: Sequence[str], what: str = "method") -> str:
    """Raise a ValueError listing the valid choices when ``method`` is unknown."""
    if not isinstance(method, str) or method not in choices:
        raise ValueError(f"unknown {what} {method!r}; choose one of: {', '.join(choices)}")
    return method


def check_positive(value: float | None, name: str, allow_none: bool = False) -> float | None:
    """A finite, strictly positive number (or ``None`` when allowed)."""
    if value is None:
        if allow_none:
            return None
        raise ValueError(f"{name} is required")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite positive number, got {value}")
    return float(value)


def steps_per_interval(t: Tensor, step_size: float | None) -> list[int]:
    """Number of equal fixed steps in each output interval ``[t_i, t_{i+1}]``.

    With ``step_size=None`` the output grid is the step grid (one step per interval).
    """
    if step_size is None:
        return [1] * (t.numel() - 1)
    spans = (t[1:] - t[:-1]).abs().tolist()
    # a tiny slack so that e.g. 1.0 / 0.1 gives 10 steps, not 11
    return [max(1, math.ceil(span / step_size - 1e-9)) for span in spans]
