"""How well samples match a 2-D toy: exact W2, MMD, the share on a bounded support; the toy's
entropy (exact or Monte Carlo); a density on a grid. Shared by the 2-D density experiments."""

from __future__ import annotations

import torch
from torch import Tensor

from ..metrics import mmd, wasserstein2
from ..ops import map_chunks
from .toy2d import has_log_prob, toy_entropy, toy_entropy_mc, toy_log_prob

__all__ = ["sample_quality", "entropy_of", "density_grid"]


def sample_quality(samples: Tensor, reference: Tensor, dataset: str) -> dict[str, float]:
    """Exact W2 and multi-bandwidth MMD of ``samples`` (n, 2) against ``reference`` (n, 2), and for
    the checkerboard the share of samples on its support."""
    samples, reference = samples.detach().cpu().double(), reference.detach().cpu().double()
    if not torch.isfinite(samples).all():
        return {"w2": float("nan"), "mmd": float("nan")}
    out = {"w2": float(wasserstein2(samples, reference)), "mmd": float(mmd(samples, reference))}
    if dataset == "checkerboard":  # bounded support: how many samples land on it
        out["in_support"] = float(torch.isfinite(toy_log_prob(dataset, samples)).double().mean())
    return out


def entropy_of(dataset: str, generator: torch.Generator) -> float | None:
    """The data's differential entropy in nats: exact where known, else Monte Carlo (200k)
    from the closed-form density; ``None`` for a dataset with neither (moons, spirals, ...)."""
    try:
        return toy_entropy(dataset)
    except ValueError:
        if not has_log_prob(dataset):
            return None
        mean, _ = toy_entropy_mc(dataset, 200_000, generator=generator)
        return float(mean)


def density_grid(log_prob_fn, limit: float, n: int, device: torch.device) -> tuple[Tensor, float]:
    """``exp(log_prob)`` on an ``(n, n)`` grid over ``[-limit, limit]^2`` and its total mass."""
    axis = torch.linspace(-limit, limit, n)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), dim=-1).reshape(-1, 2)
    logp = map_chunks(lambda chunk: log_prob_fn(chunk.to(device)).cpu(), grid, 4096)
    density = logp.exp().reshape(n, n)
    return density, float(density.sum() * (2 * limit / (n - 1)) ** 2)
