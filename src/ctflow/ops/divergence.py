"""Divergence of a vector field: exact (the Jacobian trace) and Hutchinson's estimator.

Both return the field's value with its divergence, since every caller (a CNF's log-density ODE)
needs the two together and the field is evaluated once.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["divergence", "DIVERGENCE_METHODS", "ANALYTIC_MAX_DIM", "check_divergence_choice"]

DIVERGENCE_METHODS = ("exact", "hutchinson")
# Above this, the analytic pass's (N, D, H) Jacobians cost more memory than autograd's D passes.
ANALYTIC_MAX_DIM = 64


def check_divergence_choice(method: str, probe: str) -> None:
    """Refuse an unknown divergence method or Hutchinson probe, listing the choices (what every
    density model built on :func:`divergence` takes as options)."""
    from .probes import PROBES

    if method not in DIVERGENCE_METHODS:
        raise ValueError(
            f"unknown divergence {method!r}; choose one of: {', '.join(DIVERGENCE_METHODS)}"
        )
    if probe not in PROBES:
        raise ValueError(f"unknown probe {probe!r}; choose one of: {', '.join(PROBES)}")


def divergence(
    f: Callable[[Tensor, Tensor], Tensor],
    t: Tensor,
    x: Tensor,
    *,
    method: str = "exact",
    probe: Tensor | None = None,
    event_ndim: int = 1,
    analytic: bool = True,
) -> tuple[Tensor, Tensor]:
    """Evaluate ``f(t, x)`` and its divergence with respect to ``x``'s event dimensions.

    The result is differentiable when gradients are enabled (e.g. for maximum-likelihood
    training of a CNF) and detached otherwise; autograd is switched on internally either way.

    Args:
        f: the vector field ``f(t, x)``, returning a tensor of ``x``'s shape.
        t: time, a 0-d tensor (passed through to ``f``).
        x: points, shape ``(*batch, *event)`` where ``event`` is the last ``event_ndim`` dims.
        method: ``"exact"`` (trace of the Jacobian, one vectorised backward pass over the ``D``
            event coordinates) or ``"hutchinson"`` (unbiased estimate ``e^T (df/dx) e``).
        probe: Hutchinson probe ``e`` of ``x``'s shape (draw it once per solve with
            :func:`ctflow.ops.rademacher_like` or :func:`ctflow.ops.gaussian_like`).
        event_ndim: how many trailing dims form one point.
        analytic: for ``"exact"``, use ``f.value_and_divergence(t, x)`` when ``f`` offers one (as
            :class:`ctflow.nn.TimeMLP` does: one pass, no autograd) and ``D <= ANALYTIC_MAX_DIM``.

    Returns:
        ``(dx, div)``: ``f(t, x)`` of shape ``x.shape`` and the divergence, shape ``batch``.

    Examples:
        >>> x = torch.randn(10, 3)
        >>> dx, div = divergence(lambda t, x: 2 * x, torch.tensor(0.0), x)
        >>> torch.allclose(div, torch.full((10,), 6.0))
        True
    """
    if method not in DIVERGENCE_METHODS:
        raise ValueError(
            f"unknown divergence method {method!r}; choose one of: {', '.join(DIVERGENCE_METHODS)}"
        )
    if not isinstance(x, Tensor) or x.dim() < event_ndim or event_ndim < 1:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(
            f"x must be a tensor with at least event_ndim={event_ndim} >= 1 dims, got {shape}"
        )
    if method == "hutchinson":
        if probe is None:
            raise ValueError(
                "method='hutchinson' needs a probe of x's shape (see ctflow.ops.rademacher_like)"
            )
        if probe.shape != x.shape:
            raise ValueError(
                f"probe shape {tuple(probe.shape)} must equal x's shape {tuple(x.shape)}"
            )
    if method == "exact" and analytic and event_ndim == 1 and x.shape[-1] <= ANALYTIC_MAX_DIM:
        closed_form = getattr(f, "value_and_divergence", None)
        if callable(closed_form):
            try:
                return closed_form(t, x)
            except NotImplementedError:
                pass  # e.g. an activation without a closed-form derivative: use autograd
    keep_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        if not (keep_graph and x.requires_grad):
            # a fresh leaf: without an outer graph there is nothing to stay connected to (and a
            # view made under no_grad, as torchdiffeq makes, cannot be differentiated through)
            x = x.detach().requires_grad_(True)
        dx = f(t, x)
        if dx.shape != x.shape:
            raise ValueError(f"f returned shape {tuple(dx.shape)} for x of shape {tuple(x.shape)}")
        if not dx.requires_grad:
            # a field that ignores x and has no parameters (e.g. a constant): divergence 0
            div = x.new_zeros(x.shape[: x.dim() - event_ndim])
        elif method == "exact":
            div = _exact(dx, x, event_ndim, keep_graph)
        else:
            div = _hutchinson(dx, x, probe, event_ndim, keep_graph)
    if not keep_graph:
        dx, div = dx.detach(), div.detach()
    return dx, div


def _exact(dx: Tensor, x: Tensor, event_ndim: int, create_graph: bool) -> Tensor:
    batch = x.shape[: x.dim() - event_ndim]
    d = math.prod(x.shape[x.dim() - event_ndim :])
    dx_flat = dx.reshape(*batch, d)
    if d == 1:
        (g,) = torch.autograd.grad(
            dx_flat.sum(), x, create_graph=create_graph, materialize_grads=True
        )
        return g.reshape(*batch, d).sum(-1)
    # Row i of the Jacobian for every point at once: backpropagate the i-th basis vector. With
    # is_grads_batched the D backward passes run as one vmapped pass.
    basis = torch.eye(d, dtype=dx.dtype, device=dx.device)
    basis = basis.reshape(d, *([1] * len(batch)), d).expand(d, *batch, d)
    try:
        (rows,) = torch.autograd.grad(
            dx_flat,
            x,
            basis,
            create_graph=create_graph,
            is_grads_batched=True,
            materialize_grads=True,
        )
    except RuntimeError:
        # vmap cannot batch every backward (ops without batching rules, or views made inside an
        # autograd.Function as in torchdiffeq's adjoint pass): one backward pass per coordinate
        rows = torch.stack(
            [
                torch.autograd.grad(
                    dx_flat,
                    x,
                    basis[i],
                    create_graph=create_graph,
                    retain_graph=True,
                    materialize_grads=True,
                )[0]
                for i in range(d)
            ]
        )
    if rows.shape != (d, *x.shape):
        # x was unused: autograd materialises one unbatched zero gradient
        rows = rows.new_zeros(d, *x.shape)
    rows = rows.reshape(d, *batch, d)
    return torch.diagonal(rows, dim1=0, dim2=-1).sum(-1)


def _hutchinson(
    dx: Tensor, x: Tensor, probe: Tensor, event_ndim: int, create_graph: bool
) -> Tensor:
    (vjp,) = torch.autograd.grad(dx, x, probe, create_graph=create_graph, materialize_grads=True)
    return (vjp * probe).flatten(start_dim=x.dim() - event_ndim).sum(-1)
