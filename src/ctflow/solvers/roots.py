"""Roots ``F(x) = 0`` by Newton's method, with implicit-function-theorem gradients; the checks,
warnings and conventions are those of :mod:`.fixed_point`."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ._checks import check_positive
from .fixed_point import (
    Map,
    _check_count,
    _check_x0,
    _checked_map,
    _floor_tol,
    _warn_unconverged,
)

__all__ = ["find_root"]


def _value_and_jacobian(F: Map, x: Tensor) -> tuple[Tensor, Tensor]:
    """``F(x)`` and the per-batch-element Jacobian ``dF_i/dx_j``, shape ``(*batch, d, d)``."""
    d = x.shape[-1]
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        fx = F(xg)
        rows = []
        for i in range(d):
            # One VJP per output coordinate; valid because batch elements do not interact.
            row = None
            if fx.requires_grad:
                (row,) = torch.autograd.grad(
                    fx[..., i].sum(), xg, retain_graph=i < d - 1, allow_unused=True
                )
            rows.append(torch.zeros_like(x) if row is None else row)
    return fx.detach(), torch.stack(rows, dim=-2)


def _newton_solve(jac: Tensor, rhs: Tensor, iteration: int) -> Tensor:
    try:
        return torch.linalg.solve(jac, rhs.unsqueeze(-1)).squeeze(-1)
    except torch.linalg.LinAlgError:
        raise ValueError(
            f"find_root: the Jacobian dF/dx is singular at iteration {iteration}; Newton's method "
            "needs an invertible Jacobian near the root (try another x0)"
        ) from None


def find_root(
    F: Map,
    x0: Tensor,
    *,
    tol: float = 1e-10,
    max_iter: int = 50,
    return_info: bool = False,
) -> Tensor | tuple[Tensor, dict[str, Any]]:
    """Solve ``F(x) = 0`` by Newton's method, batched, with implicit gradients.

    ``F`` maps ``(*batch, d)`` to ``(*batch, d)`` and must treat batch elements independently:
    the Jacobian of each element is ``(d, d)``, built from ``d`` vector-Jacobian products, and
    each Newton step is a batched ``torch.linalg.solve``. Iteration stops when every element has
    ``||F(x)|| <= tol`` or a Newton step ``||dx|| <= max(tol, 32 eps) (1 + ||x||)``.

    Gradients: the output is ``x* - J^{-1} F(x*)`` with ``J`` detached and ``F(x*)`` evaluated
    with its graph to the tensors ``F`` closes over. Its value is ``x*`` plus one Newton
    correction (zero at the root) and its first-order gradient is the implicit-function-theorem
    one, ``dx*/dtheta = -J^{-1} dF/dtheta``.

    Args:
        F: residual function, ``F(x).shape == x.shape``.
        x0: initial guess, shape ``(*batch, d)``, float32 or float64.
        tol: tolerance on ``||F(x)||`` per batch element (2-norm over ``d``).
        max_iter: maximal number of Newton steps.
        return_info: also return a dict with ``iterations``, ``residual`` (max over the batch of
            ``||F(x)||``) and ``converged``.

    Returns:
        The root, shape ``x0.shape`` (or ``(root, info)``). Emits :class:`ConvergenceWarning`
        when ``max_iter`` steps do not reach the tolerance.

    Raises:
        TypeError: non-callable ``F`` or non-float ``x0``.
        ValueError: 0-d or non-finite ``x0``, bad options, wrong output shape, singular Jacobian.

    Examples:
        >>> a = torch.tensor([[8.0], [27.0]], dtype=torch.float64, requires_grad=True)
        >>> root = find_root(lambda x: x**3 - a, torch.ones(2, 1, dtype=torch.float64))
        >>> root.detach().squeeze(-1)
        tensor([2., 3.], dtype=torch.float64)
        >>> root.sum().backward()  # a.grad = a^(-2/3) / 3
    """
    if not callable(F):
        raise TypeError(f"F must be callable as F(x), got {type(F).__name__}")
    x0 = _check_x0(x0, min_dim=1)
    tol = check_positive(tol, "tol")
    max_iter = _check_count(max_iter, "max_iter")
    fmap = _checked_map(F, x0.shape, "F(x)")
    step_tol = _floor_tol(tol, x0.dtype)

    x = x0.detach()
    iters, small_step = 0, False
    while True:
        fx, jac = _value_and_jacobian(fmap, x)
        residual = float(torch.linalg.vector_norm(fx, dim=-1).max())
        converged = residual <= tol or small_step
        if converged or iters == max_iter or not math.isfinite(residual):
            break
        dx = _newton_solve(jac, fx, iters)
        x = x - dx
        iters += 1
        dx_norm = torch.linalg.vector_norm(dx, dim=-1)
        small_step = bool((dx_norm <= step_tol * (1 + torch.linalg.vector_norm(x, dim=-1))).all())
    if not converged:
        _warn_unconverged(
            "find_root", residual, tol, iters, "Increase max_iter or start closer to the root."
        )
    # One more Newton correction, differentiable in F's captured tensors only (J is detached).
    root = x - _newton_solve(jac, fmap(x), iters)
    info = {"iterations": iters, "residual": residual, "converged": converged}
    return (root, info) if return_info else root
