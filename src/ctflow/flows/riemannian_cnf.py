"""Continuous normalizing flows on compact Riemannian manifolds (spheres, tori, products).

The base at ``t0`` is the uniform distribution on the manifold; the data are at ``t1``. Along a
trajectory ``d log p(x_t)/dt = -div_g v(t, x_t)`` with the Riemannian divergence ``div_g``.

:class:`TangentField` builds fields whose *ambient* Jacobian trace is the Riemannian divergence:
on a sphere factor the network sees ``x / |x|`` and its output is projected with
``I - x^ x^^T`` (so the field is tangent and constant along rays: the radial direction adds
nothing to the trace); on a torus factor it sees ``(cos x, sin x)`` and the metric is flat. So
:func:`ctflow.ops.divergence` (exact or Hutchinson) gives ``div_g`` directly, in any dimension.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Size, Tensor, nn

from ..manifolds import Euclidean, FlatTorus, Manifold, Product, Sphere
from ..nn import MLP
from .ode_flow import ODEFlow, ODEFlowDistribution

__all__ = ["RiemannianCNF", "RiemannianCNFDistribution", "TangentField", "manifold_features"]


def manifold_features(manifold: Manifold, x: Tensor) -> Tensor:
    """Smooth, chart-free input features of points ``x`` of shape ``(*batch, ambient_dim)``.

    Sphere: ``x / |x|``; flat torus: ``(cos x, sin x)`` (periodic); Euclidean: ``x``; a product
    concatenates its factors' features.

    Returns:
        Features of shape ``(*batch, feature_dim(manifold))``.
    """
    if isinstance(manifold, Sphere):
        return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    if isinstance(manifold, FlatTorus):
        return torch.cat([torch.cos(x), torch.sin(x)], dim=-1)
    if isinstance(manifold, Euclidean):
        return x
    if isinstance(manifold, Product):
        parts = x.split(manifold.sizes, dim=-1)
        return torch.cat([manifold_features(m, p) for m, p in zip(manifold.manifolds, parts)], -1)
    raise TypeError(f"no features for manifold {manifold!r}; use Sphere, FlatTorus, Euclidean")


def feature_dim(manifold: Manifold) -> int:
    """Size of :func:`manifold_features`' last axis."""
    if isinstance(manifold, FlatTorus):
        return 2 * manifold.dim
    if isinstance(manifold, Product):
        return sum(feature_dim(m) for m in manifold.manifolds)
    if isinstance(manifold, (Sphere, Euclidean)):
        return manifold.ambient_dim
    raise TypeError(f"no features for manifold {manifold!r}; use Sphere, FlatTorus, Euclidean")


def _tangent(manifold: Manifold, x: Tensor, u: Tensor) -> Tensor:
    """Project ``u`` onto the tangent space at ``x / |x|`` (sphere factors), a radially constant
    projection whose ambient Jacobian trace is the Riemannian divergence."""
    if isinstance(manifold, Sphere):
        xh = x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)
        return u - (xh * u).sum(-1, keepdim=True) * xh
    if isinstance(manifold, Product):
        xs, us = x.split(manifold.sizes, dim=-1), u.split(manifold.sizes, dim=-1)
        return torch.cat([_tangent(m, a, b) for m, a, b in zip(manifold.manifolds, xs, us)], -1)
    return u  # flat factors: every vector is tangent


class TangentField(nn.Module):
    """A time-dependent tangent vector field ``v(t, x)`` on a manifold.

    ``v(t, x) = P_x net([features(x), t])`` (see :func:`manifold_features`), so its ambient
    Jacobian trace equals its Riemannian divergence (module docstring).

    Args:
        manifold: a Sphere, FlatTorus, Euclidean or a Product of them.
        hidden: hidden widths of the default MLP.
        act: activation of the default MLP (smooth ones: the divergence is differentiated).
        net: optional module mapping ``(*batch, feature_dim + 1)`` to ``(*batch, ambient_dim)``
            instead of the MLP (the last input is ``t``).

    Shapes: ``t`` is 0-d or of shape ``x.shape[:-1]``; ``x`` is ``(*batch, ambient_dim)``.

    Examples:
        >>> field = TangentField(Sphere(2), hidden=(32, 32))
        >>> x = Sphere(2).random_uniform(5)
        >>> bool(Sphere(2).check_tangent(x, field(torch.tensor(0.5), x)).all())
        True
    """

    def __init__(
        self,
        manifold: Manifold,
        hidden: Sequence[int] = (64, 64),
        act: str = "silu",
        net: nn.Module | None = None,
    ):
        super().__init__()
        if not isinstance(manifold, Manifold):
            raise TypeError(f"manifold must be a ctflow Manifold, got {type(manifold).__name__}")
        self.manifold = manifold
        self.net = (
            net
            if net is not None
            else MLP(feature_dim(manifold) + 1, manifold.ambient_dim, hidden, act)
        )

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        if x.shape[-1] != self.manifold.ambient_dim:
            raise ValueError(
                f"x must end in {self.manifold.ambient_dim} coordinates, got {tuple(x.shape)}"
            )
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[:-1])
        u = self.net(torch.cat([manifold_features(self.manifold, x), t.unsqueeze(-1)], dim=-1))
        return _tangent(self.manifold, x, u)


class RiemannianCNF(ODEFlow):
    """A CNF on a compact manifold: uniform at ``t0``, data at ``t1``, ``dx/dt = v(t, x)``.

    Integration projects onto the manifold (``odeint(..., manifold=M)``), and the log-density
    ODE uses the Riemannian divergence, exact (one vmapped backward over the ambient coordinates)
    or Hutchinson (one probe per solve) for high dimensions. Calling the module returns a
    :class:`RiemannianCNFDistribution`.

    Args:
        field: tangent field ``v(t, x)`` whose ambient Jacobian trace is ``div_g`` (a
            :class:`TangentField`, or any field with that property).
        manifold: a compact manifold (it needs ``random_uniform`` and ``uniform_logprob``).
        t0, t1: base and data times.
        method, atol, rtol, step_size, options: the solver (see :func:`ctflow.solvers.odeint`).
        divergence: ``"exact"`` or ``"hutchinson"``.
        probe: Hutchinson probe distribution, ``"rademacher"`` or ``"gaussian"``.

    Examples:
        >>> M = Sphere(2)
        >>> flow = RiemannianCNF(TangentField(M, hidden=(16,)), M, method="rk4", step_size=0.25)
        >>> x = flow().sample((4,))
        >>> flow().log_prob(x).shape
        torch.Size([4])
    """

    def __init__(
        self,
        field: nn.Module,
        manifold: Manifold,
        *,
        t0: float = 0.0,
        t1: float = 1.0,
        method: str = "dopri5",
        atol: float = 1e-5,
        rtol: float = 1e-5,
        step_size: float | None = None,
        divergence: str = "exact",
        probe: str = "rademacher",
        options: dict | None = None,
    ):
        if not isinstance(manifold, Manifold):
            raise TypeError(f"manifold must be a ctflow Manifold, got {type(manifold).__name__}")
        manifold.log_volume()  # raises ValueError for a non-compact manifold (no uniform base)
        super().__init__(field, t0=t0, t1=t1, method=method, atol=atol, rtol=rtol,
                         step_size=step_size, divergence=divergence, probe=probe,
                         options=options)  # fmt: skip
        self.manifold, self.event_size = manifold, manifold.ambient_dim
        self.register_buffer("_anchor", torch.zeros(()))  # follows .to(device/dtype)

    def forward(self, c: None = None) -> RiemannianCNFDistribution:
        if c is not None:
            raise ValueError("RiemannianCNF is unconditional: call it without a context")
        return RiemannianCNFDistribution(self)

    def _field(self, c: None) -> nn.Module:
        return self.field

    def _odeint_kwargs(self, c: None) -> dict:
        return dict(manifold=self.manifold, **self.solver)  # solves stay on the manifold

    def _base_log_prob(self, x0: Tensor) -> Tensor:
        return self.manifold.uniform_logprob(x0)

    def _base_sample(self, shape: Size) -> Tensor:
        anchor = self._anchor
        return self.manifold.random_uniform(tuple(shape), dtype=anchor.dtype, device=anchor.device)


class RiemannianCNFDistribution(ODEFlowDistribution):
    """The distribution of a :class:`RiemannianCNF` (see ``RiemannianCNF.forward``): densities
    are with respect to the Riemannian volume of the manifold; the methods are those of
    :class:`~ctflow.flows.ode_flow.ODEFlowDistribution`."""

    def __init__(self, flow: RiemannianCNF):
        super().__init__(flow, None)
