"""Checks on user input that every layer shares: finite tensors and positive numbers.

A finiteness check reads the tensor back to the host. That is free on the CPU but stalls an
accelerator's queue, and it cannot run inside ``torch.func`` transforms or while ``torch.compile``
traces. So :func:`check_finite` checks CPU tensors outside those contexts, and skips the rest: on
an accelerator a NaN reaches the loss, where the trainer's guard stops the run and names the step.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "check_finite",
    "check_in_range",
    "check_positive",
    "check_real",
    "check_sample_shape",
    "finite_check_applies",
]


def finite_check_applies(x: Tensor) -> bool:
    """Whether :func:`check_finite` inspects ``x``: a plain CPU tensor outside tracing."""
    if x.device.type != "cpu" or torch.compiler.is_compiling():
        return False
    # vmap / jacrev / jvp wrap their inputs; reading a value back from them is an error
    return not torch._C._functorch.is_functorch_wrapped_tensor(x)


def check_finite(x: Tensor, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` if the CPU tensor ``x`` holds NaN or infinity.

    Examples:
        >>> check_finite(torch.tensor([1.0, float("nan")]), "x1")
        Traceback (most recent call last):
        ...
        ValueError: x1 contains NaN or infinite values (first at flat index 1)
    """
    if not finite_check_applies(x) or not (x.is_floating_point() or x.is_complex()):
        return
    values = _as_numpy(x)
    # numpy's isfinite is 5-20x faster than torch's on the CPU (no bool tensor is allocated)
    if values is not None and bool(np.isfinite(values).all()):
        return
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        first = int((~finite).reshape(-1).nonzero()[0])
        raise ValueError(f"{name} contains NaN or infinite values (first at flat index {first})")


def check_in_range(x: Tensor, low: float, high: float, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` unless every value of a CPU tensor is in
    ``[low, high]`` (NaN is not).

    Examples:
        >>> check_in_range(torch.tensor([0.5, 2.0]), 0.0, 1.0, "t")
        Traceback (most recent call last):
        ...
        ValueError: t must lie in [0.0, 1.0], got values in [0.5, 2.0]
    """
    if not finite_check_applies(x) or x.numel() == 0:
        return
    values = _as_numpy(x)
    if values is None:
        values = x.detach().double().numpy()
    lo, hi = values.min(), values.max()  # NaN propagates into both
    if not (lo >= low and hi <= high):
        raise ValueError(f"{name} must lie in [{low}, {high}], got values in [{lo}, {hi}]")


def _as_numpy(x: Tensor) -> np.ndarray | None:
    """A zero-copy NumPy view of a CPU tensor, or None for dtypes NumPy lacks (bfloat16)."""
    if x.dtype == torch.bfloat16 or x.is_conj() or x.is_neg():
        return None
    return x.detach().numpy()


def check_real(value: object, name: str) -> float:
    """``value`` as a finite float, or ``TypeError``/``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_positive(value: object, name: str, *, allow_zero: bool = False) -> float:
    """``value`` as a finite float ``> 0`` (``>= 0`` with ``allow_zero``), or a named error.

    Examples:
        >>> check_positive(0.5, "sigma")
        0.5
        >>> check_positive(-1, "sigma")
        Traceback (most recent call last):
        ...
        ValueError: sigma must be a finite number > 0, got -1.0
    """
    value = check_real(value, name)
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value}")
    return value


def check_sample_shape(sample_shape: object) -> torch.Size:
    """A distribution's ``sample_shape`` as a ``torch.Size`` of non-negative ints, or an error.

    Examples:
        >>> check_sample_shape((3, 2))
        torch.Size([3, 2])
        >>> check_sample_shape((-3,))
        Traceback (most recent call last):
        ...
        ValueError: sample_shape must hold non-negative ints, got (-3,)
    """
    if isinstance(sample_shape, numbers.Integral):
        sample_shape = (sample_shape,)
    try:
        shape = tuple(sample_shape)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"sample_shape must be a tuple of ints, got {type(sample_shape).__name__}"
        ) from None
    if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in shape):
        raise TypeError(f"sample_shape must hold ints, got {shape}")
    if any(n < 0 for n in shape):
        raise ValueError(f"sample_shape must hold non-negative ints, got {shape}")
    return torch.Size(int(n) for n in shape)
