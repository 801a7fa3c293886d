"""Input checks and the per-sample batching shared by the divergence-free constructions."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def check_dim(n: int) -> int:
    """``n`` as an int, or a ValueError when it is not an integer >= 2."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"a divergence-free field needs dimension n >= 2 (an int), got {n!r}")
    return n


def check_points(y: Tensor, n: int, name: str = "y") -> None:
    """A ValueError unless ``y`` is a floating tensor of shape ``(*batch, n)``."""
    if not isinstance(y, Tensor):
        raise ValueError(f"{name} must be a tensor, got {type(y).__name__}")
    if y.ndim < 1 or y.shape[-1] != n:
        raise ValueError(f"{name} must have shape (*batch, {n}), got {tuple(y.shape)}")
    if not y.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {y.dtype}")


def batched(fn: Callable[[Tensor], Tensor], y: Tensor) -> Tensor:
    """Apply a per-point function ``fn: (n,) -> (*out)`` to ``y: (*batch, n)`` with ``vmap``."""
    batch = y.shape[:-1]
    flat = y.reshape(-1, y.shape[-1])
    out = torch.func.vmap(fn)(flat)
    return out.reshape(*batch, *out.shape[1:])


def pack_time(t: Tensor | float, x: Tensor) -> Tensor:
    """``t`` (a number, 0-d, or shape ``batch``) and ``x: (*batch, d)`` as ``(*batch, 1 + d)``."""
    if not isinstance(x, Tensor) or x.ndim < 1:
        raise ValueError("x must be a tensor of shape (*batch, d)")
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    if t.ndim > 0 and t.shape != x.shape[:-1]:
        if t.shape[-1:] == (1,) and t.shape[:-1] == x.shape[:-1]:
            t = t[..., 0]
        else:
            raise ValueError(
                f"t must be a scalar or have the batch shape {tuple(x.shape[:-1])}, "
                f"got {tuple(t.shape)}"
            )
    return torch.cat([t.expand(x.shape[:-1]).unsqueeze(-1), x], dim=-1)


def field_input(field, args: tuple) -> Tensor:
    """The packed input of a field called as ``field(x)``, ``field(t, x)`` or ``field(y)``.

    ``field(t, x)`` is the solvers' convention: a time-dependent field packs ``y = (t, x)``;
    a time-independent one ignores ``t``. ``field(y)`` takes the packed point as it is.
    """
    if len(args) == 1:
        return args[0]
    if len(args) != 2:
        raise TypeError(f"a field takes (x) or (t, x), got {len(args)} arguments")
    t, x = args
    return pack_time(t, x) if field.time_dependent else x
