"""Random probes for Hutchinson trace estimation: E[e e^T] = I."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["rademacher_like", "gaussian_like", "PROBES"]


def rademacher_like(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Entries +-1 with equal probability, shape and dtype of ``x`` (lowest-variance probe)."""
    bits = torch.randint(0, 2, x.shape, generator=generator, device=x.device)
    return (2 * bits - 1).to(x.dtype)


def gaussian_like(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Standard normal entries, shape and dtype of ``x``."""
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


PROBES = {"rademacher": rademacher_like, "gaussian": gaussian_like}
