"""Exact guided laws over short token sequences, and how far samples are from them.

Over a support small enough to enumerate (``V^L`` sequences), a sequence is coded by its
base-``V`` number, so samples become counts and can be compared with a known law exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["sequence_codes", "cfg_tilted_law", "empirical_total_variation"]


def sequence_codes(x: Tensor, vocab_size: int) -> Tensor:
    """Each sequence of tokens ``0..V-1`` as its base-``V`` number (first token most significant).

    Args:
        x: ``(N, L)`` long tokens.
        vocab_size: ``V``.

    Returns:
        ``(N,)`` long codes in ``0..V^L - 1``.

    Examples:
        >>> sequence_codes(torch.tensor([[1, 0, 2]]), 3).tolist()
        [11]
    """
    length = x.shape[-1]
    radix = vocab_size ** torch.arange(length - 1, -1, -1, device=x.device)
    return (x * radix).sum(-1)


def cfg_tilted_law(p_cond: Tensor, p_null: Tensor, scale: float) -> Tensor:
    """The classifier-free guided law ``p(x | c)^w p(x)^(1 - w)``, normalised.

    Args:
        p_cond: the conditional law ``(n,)``.
        p_null: the unconditional law ``(n,)``.
        scale: the guidance scale ``w``.

    Returns:
        ``(n,)`` probabilities.

    Examples:
        >>> cfg_tilted_law(torch.tensor([0.5, 0.5]), torch.tensor([0.25, 0.75]), 0.0).tolist()
        [0.25, 0.75]
    """
    tilt = p_cond**scale * p_null ** (1 - scale)
    return tilt / tilt.sum()


def empirical_total_variation(x: Tensor, law: Tensor, vocab_size: int) -> float:
    """Total variation between the empirical law of sequences ``x`` and ``law``.

    Args:
        x: ``(N, L)`` long tokens in ``0..V-1``.
        law: ``(V^L,)`` probabilities, indexed by :func:`sequence_codes`.
        vocab_size: ``V``.

    Returns:
        ``0.5 * sum |counts / N - law|``, in ``[0, 1]``.

    Examples:
        >>> x = torch.tensor([[0], [0], [1], [1]])
        >>> empirical_total_variation(x, torch.tensor([0.75, 0.25]), 2)
        0.25
    """
    if law.shape != (vocab_size ** x.shape[-1],):
        raise ValueError(f"law must have V^L = {vocab_size ** x.shape[-1]} entries")
    counts = torch.bincount(sequence_codes(x, vocab_size), minlength=len(law)).double() / len(x)
    return float(0.5 * (counts - law).abs().sum())
