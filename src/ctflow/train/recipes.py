"""Shared training recipes: the options of :func:`ctflow.train.fit` that most runs repeat."""

from __future__ import annotations

from typing import Any

__all__ = ["cosine_fit_options"]


def cosine_fit_options(
    steps: int, lr: float, *, warmup_cap: int = 100, grad_clip: float | None = 10.0
) -> dict[str, Any]:
    """Options for :func:`ctflow.train.fit`: a cosine schedule with a short linear warmup.

    The warmup is a tenth of the run, capped at ``warmup_cap`` steps, so that short runs still
    spend most of their steps at the full rate.

    Args:
        steps: optimisation steps.
        lr: peak learning rate.
        warmup_cap: the longest warmup, in steps.
        grad_clip: gradient-norm clip, or ``None`` for none.

    Returns:
        ``{"steps", "lr", "schedule", "warmup", "grad_clip"}`` to pass as keyword arguments.

    Examples:
        >>> cosine_fit_options(30, 1e-3)["warmup"]
        3
        >>> cosine_fit_options(5000, 1e-3, warmup_cap=200)["warmup"]
        200
    """
    return {
        "steps": steps,
        "lr": lr,
        "schedule": "cosine",
        "warmup": min(warmup_cap, steps // 10),
        "grad_clip": grad_clip,
    }
