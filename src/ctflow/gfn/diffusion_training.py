"""Training and scoring a :class:`DiffusionGFN` two ways: as a GFlowNet or as a plain DDPM.

- ``"mle-gfn"``: :func:`ctflow.gfn.mle_gfn_loss`, the forward policy ascends
  ``E_{P_B(tau | x)} log P_F(tau) / P_B(tau | x)`` on whole noising paths;
- ``"ddpm"``: the simplified noise-prediction loss (:meth:`DiffusionGFN.noise_loss`).

Both are then scored by the same likelihood bounds (:func:`diffusion_nll_bounds`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..ops import map_chunks
from .chain import mle_gfn_loss
from .diffusion import DiffusionGFN

__all__ = ["DIFFUSION_OBJECTIVES", "diffusion_loss", "diffusion_nll_bounds"]

DIFFUSION_OBJECTIVES = ("mle-gfn", "ddpm")


def diffusion_loss(
    objective: str, model: DiffusionGFN, x: Tensor, paths: int = 1
) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
    """One batch's loss of ``model`` under ``objective`` (torch's global RNG draws the noise).

    Args:
        objective: ``"mle-gfn"`` or ``"ddpm"``.
        model: the diffusion.
        x: data batch ``(B, D)``.
        paths: noising paths per data point (``"mle-gfn"`` only).

    Returns:
        The 0-d loss; for ``"mle-gfn"`` also ``{"elbo": ...}`` to log (the form
        :func:`ctflow.train.fit` accepts from a loss function).
    """
    if objective == "ddpm":
        return model.noise_loss(x, generator=None)
    if objective != "mle-gfn":
        raise ValueError(f"unknown objective {objective!r}; choose from {DIFFUSION_OBJECTIVES}")
    loss, stats = mle_gfn_loss(model, x, k=paths, train_backward=False)
    return loss, {"elbo": stats["elbo"]}


@torch.no_grad()
def diffusion_nll_bounds(
    model: DiffusionGFN, x: Tensor, paths: int, chunk: int = 256
) -> dict[str, float]:
    """Upper bounds on the NLL (nats) of held-out points: one-path ELBO and ``paths``-path IWAE.

    Uses torch's global RNG for the noising paths: seed it first for repeatable numbers.

    Args:
        model: the diffusion.
        x: held-out points ``(N, D)``.
        paths: noising paths per point of the importance-weighted bound.
        chunk: points per ELBO batch (the IWAE batches hold about ``32 * chunk`` paths).

    Returns:
        ``{"neg_elbo", "neg_elbo_stderr", "neg_iwae", "neg_iwae_stderr", "eval_paths"}``.
    """
    elbo = map_chunks(model.elbo, x, chunk)
    iwae = map_chunks(lambda part: model.iwae(part, paths), x, max(1, 32 * chunk // paths))
    return {
        "neg_elbo": float(-elbo.mean()),
        "neg_elbo_stderr": float(elbo.std() / math.sqrt(len(elbo))),
        "neg_iwae": float(-iwae.mean()),
        "neg_iwae_stderr": float(iwae.std() / math.sqrt(len(iwae))),
        "eval_paths": float(paths),
    }
