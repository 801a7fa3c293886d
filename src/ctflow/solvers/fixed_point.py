"""Fixed points ``x = f(x)`` with implicit-function-theorem gradients (roots: :mod:`.roots`).

The forward solves run without building a graph; gradients come from one differentiable
re-application at the solution, so memory does not grow with the number of iterations. Gradients
reach every tensor that ``f``/``F`` closes over (parameters, inputs); they do not flow to ``x0``,
which the solution does not depend on. Only first-order gradients are supported.

Non-convergence does not raise: it emits a :class:`ConvergenceWarning` naming the residual and
iteration count and returns the best iterate found, since a slightly unconverged solution is
usually still useful (e.g. mid-training of a deep equilibrium model). Turn it into an error with
``warnings.simplefilter("error", ConvergenceWarning)``; ``return_info=True`` exposes the flag.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ._checks import check_method, check_positive

__all__ = ["ConvergenceWarning", "fixed_point"]

Map = Callable[[Tensor], Tensor]

FIXED_POINT_METHODS = ("anderson", "iteration")


class ConvergenceWarning(UserWarning):
    """A fixed-point or root solve stopped at ``max_iter`` above its tolerance."""


def _check_x0(x0: object, min_dim: int) -> Tensor:
    if not isinstance(x0, Tensor):
        raise TypeError(f"x0 must be a tensor, got {type(x0).__name__}")
    if not x0.is_floating_point():
        raise TypeError(f"x0 must be a floating-point tensor, got dtype {x0.dtype}")
    if x0.dim() < min_dim:
        raise ValueError("x0 must have shape (*batch, d) with at least one dimension, got 0-d")
    if not bool(torch.isfinite(x0).all()):
        raise ValueError("x0 contains NaN or inf values")
    return x0


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _floor_tol(tol: float, dtype: torch.dtype) -> float:
    # Residuals below a few ulps are not attainable in the working precision.
    return max(tol, 32 * torch.finfo(dtype).eps)


def _checked_map(f: Map, shape: torch.Size, what: str) -> Map:
    def call(x: Tensor) -> Tensor:
        out = f(x)
        if not isinstance(out, Tensor) or out.shape != shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"{what} must return the shape of x, {tuple(shape)}, got {got}")
        return out

    return call


def _residual(fx: Tensor, x: Tensor, floor: float) -> float:
    """``||f(x) - x|| / max(||f(x)||, floor)``: relative, absolute below ``floor``."""
    num = torch.linalg.vector_norm(fx - x)
    den = torch.linalg.vector_norm(fx).clamp_min(floor)
    # One host sync per iteration; 0/0 (a zero map at zero) counts as converged.
    return float(torch.where(den > 0, num / den, num))


class _Best:
    """The iterate with the smallest residual so far (returned if the solve does not converge)."""

    def __init__(self) -> None:
        self.x: Tensor | None = None
        self.fx: Tensor | None = None
        self.residual = math.inf

    def offer(self, x: Tensor, fx: Tensor, residual: float) -> None:
        if residual < self.residual or self.x is None:
            self.x, self.fx, self.residual = x, fx, residual


def _picard(
    f: Map, x: Tensor, tol: float, max_iter: int, damping: float, floor: float, **_: Any
) -> tuple[_Best, int]:
    best = _Best()
    for k in range(1, max_iter + 1):
        fx = f(x)
        residual = _residual(fx, x, floor)
        best.offer(x, fx, residual)
        if residual <= tol or not math.isfinite(residual):
            return best, k
        x = x + damping * (fx - x)
    return best, max_iter


def _anderson(
    f: Map, x: Tensor, tol: float, max_iter: int, damping: float, floor: float, memory: int
) -> tuple[_Best, int]:
    """Anderson acceleration (type II) on the flattened state; ``memory`` past differences."""
    shape = x.shape

    def fflat(v: Tensor) -> Tensor:
        return f(v.reshape(shape)).reshape(-1)

    x = x.reshape(-1)
    fx = fflat(x)
    r = fx - x
    residual = _residual(fx, x, floor)
    best = _Best()
    best.offer(x, fx, residual)
    dxs: list[Tensor] = []
    drs: list[Tensor] = []
    # Tikhonov weight relative to the Gram matrix scale: keeps the small solve well-posed.
    lam = math.sqrt(torch.finfo(x.dtype).eps)
    k = 1
    while k < max_iter and residual > tol and math.isfinite(residual):
        x_new = x + damping * r
        if dxs:
            dx, dr = torch.stack(dxs, 1), torch.stack(drs, 1)
            gram = dr.T @ dr
            reg = lam * gram.diagonal().mean() + torch.finfo(x.dtype).tiny
            eye = torch.eye(gram.shape[0], dtype=x.dtype, device=x.device)
            gamma = torch.linalg.solve(gram + reg * eye, dr.T @ r)
            x_new = x_new - (dx + damping * dr) @ gamma
        fx_new = fflat(x_new)
        r_new = fx_new - x_new
        k += 1
        dxs.append(x_new - x)
        drs.append(r_new - r)
        if len(dxs) > memory:
            dxs.pop(0)
            drs.pop(0)
        x, fx, r = x_new, fx_new, r_new
        residual = _residual(fx, x, floor)
        best.offer(x, fx, residual)
    best.x, best.fx = best.x.reshape(shape), best.fx.reshape(shape)
    return best, k


def _solve(
    f: Map,
    x0: Tensor,
    method: str,
    tol: float,
    max_iter: int,
    damping: float,
    memory: int,
    floor: float,
) -> tuple[_Best, int]:
    solver = _anderson if method == "anderson" else _picard
    with torch.no_grad():
        return solver(
            f, x0, tol=tol, max_iter=max_iter, damping=damping, floor=floor, memory=memory
        )


def _warn_unconverged(what: str, residual: float, tol: float, iters: int, hint: str) -> None:
    warnings.warn(
        f"{what} did not converge: residual {residual:.3e} > tol {tol:.1e} after {iters} "
        f"iterations; returning the best iterate. {hint}",
        ConvergenceWarning,
        stacklevel=3,
    )


def fixed_point(
    f: Map,
    x0: Tensor,
    *,
    method: str = "anderson",
    tol: float = 1e-8,
    max_iter: int = 500,
    backward_tol: float | None = None,
    backward_max_iter: int | None = None,
    anderson_m: int = 5,
    damping: float = 1.0,
    return_info: bool = False,
) -> Tensor | tuple[Tensor, dict[str, Any]]:
    """Solve ``x* = f(x*)``, differentiable by the implicit function theorem.

    The forward iterations run under ``torch.no_grad()``. The output is one differentiable
    application ``f(x*)`` whose backward hook replaces the incoming gradient ``v`` by the solution
    of the adjoint fixed point ``u = v + J^T u`` (``J = df/dx`` at ``x*``, via vector-Jacobian
    products), solved by the same method; so ``dL/dtheta = u^T df/dtheta`` for every tensor
    ``theta`` that ``f`` closes over, with memory independent of the iteration count.

    Convergence is measured by ``||f(x) - x|| / max(||f(x)||, 1)`` (2-norms over the whole tensor):
    relative for large states, absolute for small ones; the backward solve uses the purely
    relative ``||.|| / ||.||``. Tolerances below ``32 * eps`` of the dtype are raised to it.

    Args:
        f: map with ``f(x).shape == x.shape``; a contraction near ``x*`` for ``"iteration"``.
        x0: initial guess, any shape, float32 or float64.
        method: ``"anderson"`` (Anderson acceleration on the flattened tensor) or ``"iteration"``
            (damped Picard iteration ``x <- x + damping (f(x) - x)``).
        tol: forward residual tolerance.
        max_iter: maximal number of evaluations of ``f`` in the forward solve.
        backward_tol: adjoint residual tolerance; defaults to ``tol``.
        backward_max_iter: maximal adjoint iterations; defaults to ``max_iter``.
        anderson_m: number of past differences Anderson keeps.
        damping: step fraction in ``(0, 1]`` (mixing parameter for Anderson).
        return_info: also return a dict with ``iterations``, ``residual``, ``converged``; after a
            backward pass it also holds ``backward_iterations``, ``backward_residual``,
            ``backward_converged``.

    Returns:
        ``x*`` with ``x0``'s shape (or ``(x*, info)``). Emits :class:`ConvergenceWarning` when a
        solve stops at its iteration limit above tolerance.

    Raises:
        TypeError: non-callable ``f`` or non-float ``x0``.
        ValueError: unknown method, bad numeric options, NaN in ``x0``, or ``f`` changing the shape.

    Examples:
        >>> a = torch.tensor([0.1, 0.2], requires_grad=True)
        >>> x = fixed_point(lambda x: 0.5 * torch.cos(x) + a, torch.zeros(2))
        >>> torch.allclose(x, 0.5 * torch.cos(x) + a)
        True
        >>> x.sum().backward()  # a.grad = 1 / (1 + 0.5 sin(x*)) elementwise
    """
    if not callable(f):
        raise TypeError(f"f must be callable as f(x), got {type(f).__name__}")
    x0 = _check_x0(x0, min_dim=0)
    check_method(method, FIXED_POINT_METHODS)
    tol = _floor_tol(check_positive(tol, "tol"), x0.dtype)
    backward_tol = _floor_tol(
        check_positive(tol if backward_tol is None else backward_tol, "backward_tol"), x0.dtype
    )
    max_iter = _check_count(max_iter, "max_iter")
    if backward_max_iter is None:
        backward_max_iter = max_iter
    backward_max_iter = _check_count(backward_max_iter, "backward_max_iter")
    memory = _check_count(anderson_m, "anderson_m")
    damping = check_positive(damping, "damping")
    if damping > 1:
        raise ValueError(f"damping must be in (0, 1], got {damping}")
    fmap = _checked_map(f, x0.shape, "f(x)")

    best, iters = _solve(fmap, x0.detach(), method, tol, max_iter, damping, memory, floor=1.0)
    info: dict[str, Any] = {
        "iterations": iters,
        "residual": best.residual,
        "converged": best.residual <= tol,
    }
    if not info["converged"]:
        _warn_unconverged(
            "fixed_point",
            best.residual,
            tol,
            iters,
            "Increase max_iter, lower damping, or check that f is a contraction near the solution.",
        )
    x = _reattach(fmap, best.x, method, backward_tol, backward_max_iter, damping, memory, info)
    return (x, info) if return_info else x


def _reattach(
    f: Map,
    x_star: Tensor,
    method: str,
    tol: float,
    max_iter: int,
    damping: float,
    memory: int,
    info: dict[str, Any],
) -> Tensor:
    """``f(x*)`` with a graph to ``f``'s captured tensors and the implicit-gradient hook."""
    if not torch.is_grad_enabled():
        return f(x_star)
    z = x_star.detach().requires_grad_(True)
    fz = f(z)
    if not fz.requires_grad:
        return fz

    def implicit_grad(grad: Tensor | None) -> Tensor | None:
        if grad is None or not bool(grad.any()):  # undefined or zero: the adjoint is zero too
            return grad

        def adjoint_map(u: Tensor) -> Tensor:
            (vjp,) = torch.autograd.grad(fz, z, u, retain_graph=True, allow_unused=True)
            return grad if vjp is None else grad + vjp

        best, iters = _solve(adjoint_map, grad, method, tol, max_iter, damping, memory, floor=0.0)
        info.update(
            backward_iterations=iters,
            backward_residual=best.residual,
            backward_converged=best.residual <= tol,
        )
        if not info["backward_converged"]:
            _warn_unconverged(
                "fixed_point backward (adjoint) solve",
                best.residual,
                tol,
                iters,
                "Increase backward_max_iter or backward_tol.",
            )
        return best.fx

    # The hook sits on a copy: the adjoint VJPs start at fz and must not re-trigger it.
    out = fz.clone()
    out.register_hook(implicit_grad)
    return out


def __getattr__(name: str):
    # find_root lived here before it moved to .roots; old imports keep working
    if name == "find_root":
        from .roots import find_root

        return find_root
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
