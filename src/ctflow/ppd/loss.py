"""The log mass conservation residual and the probability path divergence (PPD) loss.

For a path ``p_t`` and a tangent field ``v_t`` on a manifold,

    r_t(x) = d/dt log p_t(x) + div_g v_t(x) + <grad_g log p_t(x), v_t(x)>_g,

which vanishes everywhere exactly when ``v`` transports ``p_t`` (the continuity equation divided
by ``p_t``). The PPD loss ``E_{t ~ U[0,1], x ~ p_t} |r_t(x)|^l`` (``l`` in {1, 2}) trains ``v``
with no ODE solve. If the flow starts at ``q_0 = p_0``, then along its trajectories
``log q_1 - log p_1 = -int r_t dt``, so small residuals bound ``KL(q_1 || p_1)``.

References:
    Ben-Hamu et al., "Matching Normalizing Flows and Probability Paths on Manifolds", ICML 2022
    (arXiv 2207.04711).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor

from ..manifolds import Manifold
from ..ops import PROBES, check_divergence_choice
from ..ops import divergence as divergence_of_field
from .paths import KernelMixturePath, PathPoint

__all__ = ["log_mass_residual", "path_residual", "ppd_loss", "POWERS"]

POWERS = (1, 2)


def log_mass_residual(
    field: Callable[[Tensor, Tensor], Tensor],
    log_prob: Callable[[Tensor, Tensor], Tensor],
    manifold: Manifold,
    t: Tensor,
    x: Tensor,
    *,
    divergence: str = "exact",
    probe: Tensor | None = None,
    method: str | None = None,
) -> Tensor:
    """``r_t(x)`` for any differentiable ``log_prob(t, x)`` (its derivatives by autograd).

    Args:
        field: tangent field ``v(t, x)`` whose ambient Jacobian trace is ``div_g``
            (e.g. :class:`ctflow.flows.TangentField`, or a Killing field).
        log_prob: ``log p_t(x)`` for ``t`` of shape ``(n,)`` and ``x`` of shape ``(n, D)``.
        manifold: the manifold (its ``proju`` and metric).
        t: times, shape ``(n,)``.
        x: points on the manifold, shape ``(n, D)``.
        divergence: ``"exact"`` or ``"hutchinson"`` (then pass ``probe``).
        probe: Hutchinson probe of ``x``'s shape.
        method: deprecated name of ``divergence``.

    Returns:
        The residuals, shape ``(n,)``; differentiable in the field's parameters.
    """
    divergence = _renamed(method, "method", divergence)
    with torch.enable_grad():
        t_ = t.detach().requires_grad_(True)
        x_ = x.detach().requires_grad_(True)
        logp = log_prob(t_, x_)
        if logp.requires_grad:
            dt, dx = torch.autograd.grad(logp.sum(), (t_, x_), materialize_grads=True)
        else:  # a density constant in t and x (e.g. the uniform one)
            dt, dx = torch.zeros_like(t), torch.zeros_like(x)
    point = PathPoint(t=t, x_t=x, logp=logp.detach(), dlogp_dt=dt, grad_logp=manifold.proju(x, dx))
    return path_residual(field, point, manifold, divergence=divergence, probe=probe)


def path_residual(
    field: Callable[[Tensor, Tensor], Tensor],
    point: PathPoint,
    manifold: Manifold,
    *,
    divergence: str = "exact",
    probe: Tensor | None = None,
    method: str | None = None,
) -> Tensor:
    """``r_t(x)`` at a :class:`PathPoint` (the target's derivatives already computed).

    Args:
        field: tangent field ``v(t, x)``.
        point: the target path's point and derivatives (``KernelMixturePath.sample``).
        manifold: the manifold.
        divergence: ``"exact"`` or ``"hutchinson"`` (then pass ``probe``).
        probe: Hutchinson probe of ``point.x_t``'s shape.
        method: deprecated name of ``divergence``.

    Returns:
        The residuals, shape ``(n,)``.
    """
    divergence = _renamed(method, "method", divergence)
    manifold._check_all("path_residual", x_t=point.x_t, grad_logp=point.grad_logp)
    return _residual(field, point, manifold, divergence, probe)


def _renamed(old_value: str | None, old_name: str, value: str) -> str:
    """``divergence`` is the one name of the divergence method (as in ``CNF``); the old
    keyword still works, with a warning."""
    if old_value is None:
        return value
    warnings.warn(f"{old_name}= is renamed divergence=", DeprecationWarning, stacklevel=3)
    return old_value


def _residual(
    field: Callable[[Tensor, Tensor], Tensor],
    point: PathPoint,
    manifold: Manifold,
    method: str,
    probe: Tensor | None,
) -> Tensor:
    # unchecked: ppd_loss calls it on a point its path drew
    v, div = divergence_of_field(field, point.t, point.x_t, method=method, probe=probe)
    return point.dlogp_dt + div + manifold._inner(point.x_t, point.grad_logp, v)


def ppd_loss(
    field: Callable[[Tensor, Tensor], Tensor],
    path: KernelMixturePath,
    batch_size: int,
    *,
    power: int = 2,
    divergence: str = "exact",
    probe: str = "rademacher",
    generator: torch.Generator | None = None,
    t_eps: float = 1e-4,
    return_residual: bool = False,
    divergence_method: str | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """The PPD loss ``mean |r_t(x_t)|^power`` over ``t ~ U[t_eps, 1 - t_eps]``, ``x_t ~ p_t``.

    Args:
        field: the tangent field being trained.
        path: the target path (it samples ``x_t`` and gives the target's derivatives).
        batch_size: number of ``(t, x_t)`` pairs.
        power: ``1`` (the l1 form, the bound on KL) or ``2``.
        divergence: ``"exact"`` or ``"hutchinson"`` (one probe per pair).
        probe: Hutchinson probe distribution, ``"rademacher"`` or ``"gaussian"``.
        generator: random generator for ``t``, ``x_t`` and the probe.
        t_eps: keeps ``t`` off the ends, where ``log t`` or ``log(1 - t)`` is infinite.
        return_residual: also return the residuals (detached), shape ``(batch_size,)``.
        divergence_method: deprecated name of ``divergence``.

    Returns:
        The scalar loss (and the residuals).

    Examples:
        >>> import torch
        >>> from ctflow.flows import TangentField
        >>> from ctflow.manifolds import Sphere
        >>> from ctflow.ppd import KernelMixturePath, ppd_loss
        >>> _ = torch.manual_seed(0)
        >>> M = Sphere(2)
        >>> path = KernelMixturePath(M, M.random_uniform(20), scale_end=0.3)
        >>> ppd_loss(TangentField(M, hidden=(16,)), path, 8).shape
        torch.Size([])
    """
    divergence = _renamed(divergence_method, "divergence_method", divergence)
    if power not in POWERS:
        raise ValueError(f"power must be 1 or 2, got {power!r}")
    check_divergence_choice(divergence, probe)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not 0 < t_eps < 0.5:
        raise ValueError(f"t_eps must be in (0, 0.5), got {t_eps}")
    centers = path.centers
    u = torch.rand(batch_size, generator=generator, dtype=centers.dtype, device=centers.device)
    t = t_eps + (1 - 2 * t_eps) * u
    point = path.sample(t, generator)
    e = None
    if divergence == "hutchinson":
        e = PROBES[probe](point.x_t, generator=generator)
    r = _residual(field, point, path.manifold, divergence, e)
    loss = r.abs().mean() if power == 1 else r.pow(2).mean()
    return (loss, r.detach()) if return_residual else loss
