"""Gradient-based design through a differentiable objective: projected Adam ascent from many
starts at once, central-difference gradient checks, and the regular-grid baseline that ascent
is measured against (at an equal budget of objective evaluations).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..ops import map_chunks

__all__ = [
    "central_difference_gradient",
    "densest_grid_size",
    "first_index_reaching",
    "grid_search_max",
    "projected_adam_ascent",
    "relative_error",
]


def central_difference_gradient(fn: Callable[[Tensor], Tensor], x: Tensor, h: float) -> Tensor:
    """``(f(x + h e_i) - f(x - h e_i)) / 2h`` for each unit vector ``e_i``.

    Args:
        fn: Scalar function of a ``(D,)`` tensor.
        x: ``(D,)`` point.
        h: Step.

    Returns:
        ``(D,)`` finite-difference gradient.

    Examples:
        >>> g = central_difference_gradient(lambda v: (v**2).sum(), torch.tensor([1.0, -2.0]), 1e-2)
        >>> [round(float(c), 4) for c in g]
        [2.0, -4.0]
    """
    if x.dim() != 1:
        raise ValueError(f"x must be 1-D, got shape {tuple(x.shape)}")
    eye = torch.eye(len(x), dtype=x.dtype)
    return torch.stack([(fn(x + h * e) - fn(x - h * e)) / (2 * h) for e in eye])


def relative_error(estimate: Tensor, reference: Tensor) -> float:
    """``|estimate - reference| / |reference|`` in the Euclidean (Frobenius) norm.

    Examples:
        >>> relative_error(torch.tensor([3.0, 4.0]), torch.tensor([3.0, 0.0]))
        1.3333333730697632
    """
    return float((estimate - reference).norm() / reference.norm())


def first_index_reaching(values: Sequence[float], level: float) -> float:
    """Index of the first value ``>= level`` (as a float), ``nan`` if none does.

    Examples:
        >>> first_index_reaching([0.1, 0.5, 0.9, 0.95], 0.9)
        2.0
    """
    return next((float(i) for i, v in enumerate(values) if v >= level), float("nan"))


def densest_grid_size(budget: int, per_point: int, dims: int) -> int:
    """Points per axis ``n >= 2`` of the densest regular grid whose ``per_point * n**dims``
    evaluations fit in ``budget`` (``n = 2`` even when that is over budget).

    Examples:
        >>> densest_grid_size(10_000, 1, 4), densest_grid_size(10_000, 2, 4)
        (10, 8)
    """
    if per_point < 1 or dims < 1:
        raise ValueError(f"need per_point >= 1 and dims >= 1, got {per_point}, {dims}")
    return max(2, int((budget / per_point) ** (1 / dims) + 1e-9))


@torch.no_grad()
def grid_search_max(
    objective: Callable[[Tensor], Tensor], axes: Sequence[Tensor], chunk: int = 4096
) -> float:
    """Largest value of ``objective`` over the regular grid spanned by ``axes``.

    Args:
        objective: Batched objective, ``(B, D)`` points -> ``(B,)`` values.
        axes: ``D`` 1-D tensors of grid coordinates.
        chunk: Points per objective call (bounds memory).

    Returns:
        The maximum over all ``prod(len(a))`` grid points.

    Examples:
        >>> axes = [torch.linspace(-1, 1, 5), torch.linspace(-1, 1, 5)]
        >>> grid_search_max(lambda p: 1 - (p**2).sum(-1), axes)
        1.0
    """
    mesh = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(axes))
    return float(map_chunks(objective, mesh, chunk).max())


def projected_adam_ascent(
    objective: Callable[[Tensor], Tensor],
    start: Tensor,
    lower: Tensor,
    upper: Tensor,
    *,
    lr: float,
    iterations: int,
    on_step: Callable[[int, Tensor, Tensor], None] | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Adam ascent of ``K`` independent starts at once, clipped to the box after each step.

    Args:
        objective: ``(K, D)`` designs -> ``(K,)`` values, differentiable.
        start: ``(K, D)`` initial designs.
        lower: ``(D,)`` box lower bounds (``-inf`` for none).
        upper: ``(D,)`` box upper bounds (``inf`` for none).
        lr: Adam learning rate.
        iterations: Ascent steps.
        on_step: Called as ``on_step(step, values, designs)`` (detached ``(K,)`` and ``(K, D)``,
            before the step), e.g. to log.

    Returns:
        ``(designs (K, D), final values (K,), value history (T, K), design history (T, K, D))``;
        the histories hold each iteration's designs and values before its step.
    """
    design = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([design], lr=lr)
    values_seen, designs_seen = [], []
    for step in range(iterations):
        values = objective(design)
        opt.zero_grad()
        (-values.sum()).backward()  # the starts are independent: one summed backward
        values_seen.append(values.detach().clone())
        designs_seen.append(design.detach().clone())
        if on_step is not None:
            on_step(step, values.detach(), design.detach())
        opt.step()
        with torch.no_grad():
            design.copy_(torch.maximum(torch.minimum(design, upper), lower))
    with torch.no_grad():
        final = objective(design)
    return design.detach(), final, torch.stack(values_seen), torch.stack(designs_seen)
