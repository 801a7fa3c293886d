"""Losses and scores for learning the divergence-free part of a field on the torus T^d.

Two routes to the Hodge split ``f = grad phi + w``: a divergence-free network ``v`` trained so
that ``f - v`` is curl-free (:func:`curl_loss`), or a potential network trained so that
``f - grad phi`` is divergence-free (:func:`potential_loss`); :func:`hodge_scores` compares the
recovered ``w`` of both against the truth.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .hodge import HodgeProblem, PotentialNet, relative_l2_error
from .pde import curl_components, value_and_jacobian

__all__ = ["curl_loss", "potential_loss", "hodge_scores"]

Field = Callable[[Tensor], Tensor]


def curl_loss(field: Field, divfree: Field, x: Tensor) -> Tensor:
    """``E |curl(f - v)|^2``: the ``d(d-1)/2`` entries of ``J - J^T`` of ``f - v``.

    Args:
        field: the given field ``f`` at one point, ``(d,) -> (d,)``.
        divfree: the model ``v`` at one point (e.g. a ``torus_field``'s ``single``).
        x: points ``(n, d)``.

    Returns:
        A 0-d tensor.

    Examples:
        >>> curl_loss(lambda p: p, lambda p: 0 * p, torch.randn(5, 3)).item()  # grad |x|^2/2
        0.0
    """
    _, jac_f = value_and_jacobian(field, x)
    _, jac_v = value_and_jacobian(divfree, x)
    return curl_components(jac_f - jac_v).pow(2).sum(-1).mean()


def potential_loss(divergence: Field, potential: PotentialNet, x: Tensor) -> Tensor:
    """``E (div f - Lap phi)^2``: the squared divergence of ``f - grad phi``.

    Args:
        divergence: ``div f`` for a batch, ``(n, d) -> (n,)``.
        potential: a :class:`PotentialNet` ``phi``.
        x: points ``(n, d)``.

    Returns:
        A 0-d tensor.
    """
    _, lap = potential.gradient_and_laplacian(x)
    return (divergence(x) - lap).pow(2).mean()


@torch.no_grad()
def hodge_scores(
    problem: HodgeProblem,
    divfree: Field,
    potential: PotentialNet,
    x: Tensor,
) -> dict[str, float]:
    """Both estimates of the divergence-free part ``w`` scored on points ``x``.

    The divergence-free model's estimate is ``v``; the potential model's is ``f - grad phi``.

    Args:
        problem: the field with its known parts.
        divfree: the divergence-free model at one point, ``(d,) -> (d,)``.
        potential: the potential model.
        x: evaluation points ``(n, d)``.

    Returns:
        ``{"ncl:rel_error", "potential:rel_error", "ncl:div_rms", "potential:div_rms",
        "ncl:curl_rms", "potential:curl_rms"}``: relative L2 error of ``w``, the RMS divergence
        of each ``w`` estimate and the RMS curl of each gradient-part estimate (exactly 0 for
        the potential).
    """
    w = problem.divfree_part(x)
    v, jac_v = value_and_jacobian(divfree, x)
    _, jac_f = value_and_jacobian(problem.field, x)
    grad, lap = potential.gradient_and_laplacian(x)
    w_pot = problem.field(x) - grad
    div_v = torch.diagonal(jac_v, dim1=-2, dim2=-1).sum(-1)
    return {
        "ncl:rel_error": relative_l2_error(v.detach(), w),
        "potential:rel_error": relative_l2_error(w_pot.detach(), w),
        "ncl:div_rms": float(div_v.pow(2).mean().sqrt()),
        "potential:div_rms": float((problem.divergence(x) - lap).pow(2).mean().sqrt()),
        "ncl:curl_rms": float(curl_components(jac_f - jac_v).pow(2).sum(-1).mean().sqrt()),
        "potential:curl_rms": 0.0,
    }
