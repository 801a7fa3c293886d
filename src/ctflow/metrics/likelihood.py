"""Likelihood metrics: negative log-likelihood, bits per dimension, and dequantized bounds."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ctflow.ops.quantization import dequantize
from ctflow.ops.reductions import log_mean_exp

__all__ = ["bits_per_dim", "dequantized_log_likelihood", "log_mean_exp", "nll"]


def _check_float_tensor(value: Tensor, name: str) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")


def _check_positive_int(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


def nll(log_prob: Tensor) -> Tensor:
    """Mean negative log-likelihood in nats.

    Args:
        log_prob: per-example log-likelihoods of any non-empty shape, e.g. ``(N,)``.

    Returns:
        A 0-d tensor, ``-mean(log_prob)``.
    """
    _check_float_tensor(log_prob, "log_prob")
    if log_prob.numel() == 0:
        raise ValueError("log_prob is empty; pass at least one log-likelihood")
    n_nan = int(torch.isnan(log_prob).sum())
    if n_nan:
        raise ValueError(
            f"log_prob contains {n_nan} NaN value(s) out of {log_prob.numel()}; a NaN "
            "log-likelihood usually means the model diverged"
        )
    return -log_prob.mean()


def bits_per_dim(log_prob: Tensor, dim: int, bin_width: float = 1.0) -> Tensor:
    """Per-example bits per dimension of quantized data from a continuous log-density.

    ``log_prob`` is a continuous log-density ``log p(y)`` of dequantized data ``y``; turning it
    into a discrete log-probability adds ``dim * ln(bin_width)`` (the log-volume of one
    quantization bin), so ``bpd = (-log_prob - dim * ln(bin_width)) / (dim * ln 2)``.
    ``bin_width`` is the width of one bin in the units of ``y``: ``1`` for integer data modelled
    on its own scale, ``1 / levels`` (e.g. ``1 / 17`` for the digits) for data dequantized to
    ``[0, 1)``, and ``2 / levels`` for data mapped to ``[-1, 1]``.

    Args:
        log_prob: log-densities in nats, any shape, e.g. ``(N,)``.
        dim: number of dimensions ``D`` of one example.
        bin_width: width of one quantization bin, positive.

    Returns:
        Bits per dimension with the shape of ``log_prob``.
    """
    _check_float_tensor(log_prob, "log_prob")
    _check_positive_int(dim, "dim")
    if isinstance(bin_width, bool) or not isinstance(bin_width, (int, float)):
        raise TypeError(f"bin_width must be a number, got {type(bin_width).__name__}")
    if not (math.isfinite(bin_width) and bin_width > 0):
        raise ValueError(f"bin_width must be a finite positive number, got {bin_width}")
    if bool(torch.isnan(log_prob).any()):  # -inf is a valid log-likelihood; NaN is not
        raise ValueError("log_prob contains NaN; a NaN log-likelihood usually means divergence")
    return (-log_prob - dim * math.log(bin_width)) / (dim * math.log(2.0))


def dequantized_log_likelihood(
    log_prob_fn: Callable[[Tensor], Tensor],
    x_int: Tensor,
    levels: int,
    *,
    k: int = 1,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Importance-weighted lower bound on the discrete log-probability of integer data.

    With ``y_j = (x + u_j) / levels`` and ``u_j ~ U[0, 1)^D`` (``j = 1..k``), Jensen's
    inequality gives ``log P(x) >= log_mean_exp_j log p(y_j) - D ln(levels)``; the bound
    tightens as ``k`` grows and is exact for any ``k`` when ``p`` is constant on each bin.

    Args:
        log_prob_fn: continuous log-density of data in ``[0, 1)^D``; it receives ``y`` of shape
            ``(k * B, D)`` and must return shape ``(k * B,)``.
        x_int: integer data of shape ``(..., D)`` with values in ``[0, levels)``; ``B`` is the
            product of the leading dimensions.
        levels: number of quantization levels.
        k: number of dequantization samples per example.
        generator: the only source of randomness; ``None`` uses torch's global generator.
        dtype: floating dtype of the ``y`` passed to ``log_prob_fn``.

    Returns:
        Lower bounds on ``log P(x)`` in nats, of shape ``x_int.shape[:-1]``.
    """
    if not callable(log_prob_fn):
        raise TypeError(f"log_prob_fn must be callable, got {type(log_prob_fn).__name__}")
    if not isinstance(x_int, Tensor) or x_int.dim() == 0:
        raise TypeError("x_int must be an integer tensor of shape (..., D)")
    _check_positive_int(k, "k")
    batch_shape, d = x_int.shape[:-1], x_int.shape[-1]
    flat = x_int.reshape(-1, d)
    b = flat.shape[0]
    y = dequantize(flat.unsqueeze(0).expand(k, b, d), levels, generator=generator, dtype=dtype)
    log_p = log_prob_fn(y.reshape(k * b, d))
    if not isinstance(log_p, Tensor) or tuple(log_p.shape) != (k * b,):
        got = tuple(log_p.shape) if isinstance(log_p, Tensor) else type(log_p).__name__
        raise ValueError(
            f"log_prob_fn must map y of shape (k * B, D) = {(k * b, d)} to log-densities of "
            f"shape ({k * b},), got {got}"
        )
    bound = log_mean_exp(log_p.reshape(k, b), dim=0) - d * math.log(levels)
    return bound.reshape(batch_shape)
