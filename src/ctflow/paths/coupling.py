"""Minibatch optimal-transport couplings of source and data batches (squared Euclidean cost).

Re-pairing each data point with a nearby source draw before flow matching straightens the
conditional paths (Tong et al. 2023, Pooladian et al. 2023). The pairing is a fixed choice, not
differentiated through: gradients reach the returned rows by indexing only.
"""

from __future__ import annotations

import math

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from ctflow._validate import check_finite, check_positive

__all__ = ["ot_coupling", "sinkhorn_plan", "COUPLING_METHODS"]

COUPLING_METHODS = ("exact", "sinkhorn")


def sinkhorn_plan(cost: Tensor, reg: float, n_iter: int = 200, *, tol: float = 1e-6) -> Tensor:
    """Entropic OT plan between uniform marginals, by log-domain Sinkhorn iterations.

    Minimises ``<P, C> - reg * H(P)`` over plans ``P`` with row sums ``1/n`` and column sums
    ``1/m``. Iterates in float64 and in the log domain, so small ``reg`` does not underflow. The
    column sums are exact after every iteration; the row sums converge (geometrically, more
    slowly for small ``reg`` relative to the cost's scale), and the iterations stop early once
    every row sum is within a relative ``tol`` of ``1/n``. Not differentiable.

    Args:
        cost: cost matrix, shape ``(n, m)``.
        reg: entropic regularisation ``> 0``, in the units of ``cost``.
        n_iter: the most Sinkhorn iterations (each updates both potentials), ``>= 1``.
        tol: stop when ``max_i |log(n * row_sum_i)| < tol`` (checked every 10 iterations);
            0 runs all ``n_iter``.

    Returns:
        The plan, shape ``(n, m)``, summing to 1, in ``cost``'s dtype and device.

    Examples:
        >>> plan = sinkhorn_plan(torch.rand(4, 3), reg=0.1)
        >>> plan.shape, bool(torch.allclose(plan.sum(0), torch.full((3,), 1 / 3)))
        (torch.Size([4, 3]), True)
    """
    if not isinstance(cost, Tensor) or not cost.is_floating_point():
        raise TypeError(f"cost must be a floating-point tensor, got {_describe(cost)}")
    if cost.dim() != 2 or 0 in cost.shape:
        raise ValueError(f"cost must have shape (n, m) with n, m >= 1, got {tuple(cost.shape)}")
    if not bool(torch.isfinite(cost).all()):
        raise ValueError("cost contains NaN or inf values")
    reg = check_positive(reg, "reg")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol >= 0:
        raise ValueError(f"tol must be a number >= 0, got {tol!r}")
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 1:
        raise ValueError(f"n_iter must be a positive integer, got {n_iter!r}")
    n, m = cost.shape
    with torch.no_grad():
        log_k = -cost.to(torch.float64) / reg
        log_a, log_b = -math.log(n), -math.log(m)
        # u, v are the dual potentials divided by reg; plan = exp(log_k + u_i + v_j)
        u = torch.zeros(n, dtype=torch.float64, device=cost.device)
        v = torch.zeros(m, dtype=torch.float64, device=cost.device)
        for i in range(n_iter):
            lse_rows = torch.logsumexp(log_k + v[None, :], dim=1)
            # log(n * row sums) of the current plan; checked sparsely, as it syncs a device
            if tol > 0 and i > 0 and i % 10 == 0 and (u + lse_rows - log_a).abs().max() < tol:
                break
            u = log_a - lse_rows
            v = log_b - torch.logsumexp(log_k + u[:, None], dim=0)
        plan = torch.exp(log_k + u[:, None] + v[None, :])
    return plan.to(cost.dtype)


def ot_coupling(
    x0: Tensor,
    x1: Tensor,
    *,
    method: str = "exact",
    reg: float = 0.05,
    n_iter: int = 200,
    generator: torch.Generator | None = None,
    condition: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Re-pair source draws ``x0`` with data ``x1`` by minibatch optimal transport.

    The cost is the squared Euclidean distance between flattened rows. ``"exact"`` solves the
    assignment problem (``scipy.optimize.linear_sum_assignment``, equal batch sizes) and returns a
    permutation of ``x0``. ``"sinkhorn"`` computes the entropic plan for the cost divided by its
    mean (so ``reg`` is relative to the typical cost) and gives each ``x1`` row an ``x0`` row drawn
    from the plan's conditional ``P(. | x1_j)``, with replacement. ``x1`` is returned unchanged, so
    anything aligned with it (labels, contexts) stays aligned.

    Args:
        x0: source draws, shape ``(n, *event)``.
        x1: data, shape ``(m, *event)`` (``m = n`` for ``"exact"``).
        method: ``"exact"`` or ``"sinkhorn"``.
        reg: ``"sinkhorn"`` only: regularisation relative to the mean cost, ``> 0``.
        n_iter: ``"sinkhorn"`` only: iterations of :func:`sinkhorn_plan`.
        generator: ``"sinkhorn"`` only: the random generator for drawing the pairs.
        condition: what each ``x1`` row is conditioned on, shape ``(m,)`` (labels) or
            ``(m, k)`` (context rows, e.g. one-hot). Pairs are then formed only within groups
            of equal condition: ``x0`` row ``i`` joins ``x1`` row ``i``'s group (``x0`` is drawn
            independently of the condition, so this is a random split), and each group is
            coupled on its own. Needs ``n = m``. A condition with no repeats (a continuous
            context) cannot be honoured by any minibatch coupling and is refused.

    Returns:
        ``(x0_paired, x1)``, both of shape ``(m, *event)``; row ``j`` of ``x0_paired`` is a row of
        ``x0`` paired with ``x1[j]``.

    Examples:
        >>> x0, x1 = torch.randn(16, 2), torch.randn(16, 2) + 3
        >>> x0p, _ = ot_coupling(x0, x1)
        >>> bool((x0p - x1).square().sum() <= (x0 - x1).square().sum())
        True
    """
    if method not in COUPLING_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(COUPLING_METHODS)}")
    for value, name in ((x0, "x0"), (x1, "x1")):
        if not isinstance(value, Tensor) or not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {_describe(value)}")
        if value.dim() < 1 or value.shape[0] == 0:
            raise ValueError(
                f"{name} must have shape (n, *event) with n >= 1, got {tuple(value.shape)}"
            )
        check_finite(value, name)
    if x0.shape[1:] != x1.shape[1:]:
        raise ValueError(
            f"x0 and x1 must share the event shape, got {tuple(x0.shape)} and {tuple(x1.shape)}"
        )
    if method == "exact" and x0.shape[0] != x1.shape[0]:
        raise ValueError(
            f"method='exact' pairs batches of equal size, got {x0.shape[0]} and {x1.shape[0]}; "
            "use method='sinkhorn' for unequal sizes"
        )
    if condition is not None:
        return x0[_grouped_index(x0, x1, condition, method, reg, n_iter, generator)], x1
    return x0[_coupling_index(x0, x1, method, reg, n_iter, generator)], x1


def _coupling_index(x0, x1, method, reg, n_iter, generator) -> Tensor:
    """For each ``x1`` row, the ``x0`` row the minibatch OT coupling pairs it with."""
    with torch.no_grad():
        a = x0.detach().reshape(x0.shape[0], -1).to(torch.float64)
        b = x1.detach().reshape(x1.shape[0], -1).to(torch.float64)
        # exact differences rather than |a|^2 + |b|^2 - 2ab, to avoid cancellation
        cost = torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist").square()
        if method == "exact":
            # rows of cost.T are x1's, so cols[j] is the x0 row assigned to x1[j]
            _, cols = linear_sum_assignment(cost.T.cpu().numpy())
            return torch.as_tensor(cols, device=x0.device)
        scale = cost.mean()
        # all points equal: every pairing is optimal, and the uniform plan is the answer
        scale = scale if scale > 0 else torch.ones_like(scale)
        plan = sinkhorn_plan(cost / scale, reg, n_iter)
        return torch.multinomial(plan.T, 1, generator=generator).squeeze(1).to(x0.device)


def _condition_groups(condition: Tensor, n: int) -> Tensor:
    """Group ids ``(n,)`` (0, 1, ...) of the rows of ``condition``, equal rows sharing an id.

    Raises ``ValueError`` when no two rows are equal: a coupling within groups of one would
    leave the pairs as they were.
    """
    if not isinstance(condition, Tensor) or condition.dim() not in (1, 2):
        raise ValueError("condition must be a tensor of shape (m,) or (m, k)")
    if len(condition) != n:
        raise ValueError(f"condition has {len(condition)} rows for {n} points")
    check_finite(condition, "condition")
    _, ids = torch.unique(condition.detach(), dim=0, return_inverse=True)
    if n > 1 and int(ids.max()) + 1 == n:
        raise ValueError(
            "every row of the condition is different (a continuous context?): a minibatch "
            "coupling cannot honour it, since each point is alone in its group. Pass discrete "
            "labels, or use coupling=None"
        )
    return ids


def _grouped_index(x0, x1, condition, method, reg, n_iter, generator) -> Tensor:
    """For each ``x1`` row, the ``x0`` row it is paired with, coupling within condition groups."""
    if len(x0) != len(x1):
        raise ValueError(
            f"a conditional coupling pairs batches of equal size, got {len(x0)} and {len(x1)}"
        )
    ids = _condition_groups(condition, len(x1)).to(x0.device)
    index = torch.arange(len(x1), device=x0.device)
    for group in torch.unique(ids):
        rows = (ids == group).nonzero().squeeze(1)
        if len(rows) > 1:
            index[rows] = rows[_coupling_index(x0[rows], x1[rows], method, reg, n_iter, generator)]
    return index


def _describe(value: object) -> str:
    return f"dtype {value.dtype}" if isinstance(value, Tensor) else type(value).__name__
