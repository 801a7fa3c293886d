"""Training losses of class-conditional flows for classifier-free guidance: labels dropped to a
null class at random, a one-hot context, and (continuous case) a choice of minibatch coupling
that does or does not respect the labels."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..paths import AffineGaussianPath, ot_coupling
from ..train.labels import drop_labels
from .matching import cfm_loss

__all__ = ["LABELLED_COUPLINGS", "labelled_cfm_loss"]

LABELLED_COUPLINGS = ("independent", "exact", "sinkhorn", "global")


def labelled_cfm_loss(
    field: nn.Module,
    path: AffineGaussianPath,
    x1: Tensor,
    labels: Tensor,
    num_classes: int,
    *,
    null_fraction: float,
    coupling: str = "independent",
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Conditional flow matching of ``field(t, x, context)`` on labelled data, the labels
    dropped to the null class ``num_classes`` with probability ``null_fraction``.

    Draws, in this order from ``generator``: the dropped labels, the source ``x0 ~ N(0, I)``
    of ``x1``'s shape, then what :func:`cfm_loss` draws.

    Args:
        field: Velocity field taking a ``(B, num_classes + 1)`` one-hot context.
        path: The probability path, e.g. :class:`ctflow.paths.CondOTPath`.
        x1: Data ``(B, D)`` (on the generator's device).
        labels: Integer labels ``(B,)`` in ``[0, num_classes)``.
        num_classes: Number of real classes; the null class is the last one-hot entry.
        null_fraction: Probability of dropping a label, in ``[0, 1]``.
        coupling: ``"independent"`` pairs; ``"exact"`` or ``"sinkhorn"`` minibatch OT within
            equal (post-drop) labels; ``"global"``: one exact OT plan over the whole batch with
            the labels ignored (what a coupling unaware of the context does).
        generator: The random stream.
        device: Where the field lives; the batch is moved there (default: left in place).

    Returns:
        The scalar loss.

    Raises:
        ValueError: For an unknown ``coupling``.
    """
    if coupling not in LABELLED_COUPLINGS:
        raise ValueError(f"coupling must be one of {LABELLED_COUPLINGS}, got {coupling!r}")
    labels = drop_labels(labels, null_fraction, num_classes, generator)
    context = F.one_hot(labels, num_classes + 1).float()
    x0 = torch.randn(x1.shape, generator=generator)
    method = None if coupling in ("independent", "global") else coupling
    if coupling == "global":
        x0, _ = ot_coupling(x0, x1)
    return cfm_loss(
        field,
        path,
        x1.to(device),
        x0=x0.to(device),
        context=context.to(device),
        coupling=method,
        generator=generator,
    )
