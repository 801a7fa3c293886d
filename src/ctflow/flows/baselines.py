"""Reference normalizing flows from zuko, sized to match another model's parameter count, so a
comparison measures the method and not the budget."""

from __future__ import annotations

import zuko
from torch import nn

from ..nn.counting import parameter_count

__all__ = ["BASELINES", "zuko_flow", "matched_baseline"]

BASELINES = ("maf", "nsf")


def zuko_flow(kind: str, features: int, width: int, transforms: int) -> nn.Module:
    """zuko's affine autoregressive flow (``"maf"``) or neural-spline flow (``"nsf"``) on
    ``features`` dimensions: ``transforms`` layers, each conditioner two hidden layers of
    ``width``. Call the result for the distribution: ``flow().log_prob(x)``, ``x (N, features)``.
    """
    if kind == "maf":
        return zuko.flows.MAF(features, transforms=transforms, hidden_features=(width, width))
    if kind == "nsf":
        return zuko.flows.NSF(features, transforms=transforms, hidden_features=(width, width))
    raise ValueError(f"unknown baseline {kind!r}; choose one of: {', '.join(BASELINES)}")


def matched_baseline(kind: str, features: int, target: int, transforms: int) -> nn.Module:
    """The :func:`zuko_flow` of ``kind`` whose parameter count is closest to ``target``, over
    even hidden widths 4 to 256 (the count grows with the width, so the search stops once past).

    Examples:
        >>> flow = matched_baseline("maf", 2, target=5000, transforms=3)
        >>> abs(parameter_count(flow) - 5000) < 0.1 * 5000
        True
    """
    if target < 1:
        raise ValueError(f"target must be a positive parameter count, got {target}")
    best, best_gap = None, None
    for width in range(4, 257, 2):
        model = zuko_flow(kind, features, width, transforms)
        gap = abs(parameter_count(model) - target)
        if best_gap is None or gap < best_gap:
            best, best_gap = model, gap
        elif parameter_count(model) > target:
            break
    return best
