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
from torch.distributions import Distribution, constraints

from .._validate import check_positive, check_sample_shape
from ..manifolds import Euclidean, FlatTorus, Manifold, Product, Sphere
from ..nn import MLP
from ..ops import DIVERGENCE_METHODS, PROBES, divergence
from ..solvers import METHODS, IntegralDynamics, odeint

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


class RiemannianCNF(nn.Module):
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
        super().__init__()
        if not isinstance(manifold, Manifold):
            raise TypeError(f"manifold must be a ctflow Manifold, got {type(manifold).__name__}")
        manifold.log_volume()  # raises ValueError for a non-compact manifold (no uniform base)
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
        if divergence not in DIVERGENCE_METHODS:
            raise ValueError(
                f"unknown divergence {divergence!r}; choose one of: {', '.join(DIVERGENCE_METHODS)}"
            )
        if probe not in PROBES:
            raise ValueError(f"unknown probe {probe!r}; choose one of: {', '.join(PROBES)}")
        if not t1 > t0:
            raise ValueError(f"need t0 < t1, got t0={t0}, t1={t1}")
        atol, rtol = check_positive(atol, "atol"), check_positive(rtol, "rtol")
        if step_size is not None:
            step_size = check_positive(step_size, "step_size")
        self.field, self.manifold = field, manifold
        self.t0, self.t1 = float(t0), float(t1)
        self.solver = dict(method=method, atol=atol, rtol=rtol, step_size=step_size)
        if options:
            self.solver["options"] = dict(options)
        self.divergence, self.probe = divergence, probe
        self.register_buffer("_anchor", torch.zeros(()))  # follows .to(device/dtype)

    def forward(self, c: None = None) -> RiemannianCNFDistribution:
        if c is not None:
            raise ValueError("RiemannianCNF is unconditional: call it without a context")
        return RiemannianCNFDistribution(self)

    def _integrate(
        self, state: tuple[Tensor, Tensor], t_from: float, t_to: float, sign: float
    ) -> tuple[Tensor, Tensor]:
        """Solve ``[x, l]`` with ``dl/dt = sign * div_g v`` from ``t_from`` to ``t_to``."""
        x = state[0]
        if x.dim() == 1:  # one unbatched point: odeint refuses the 0-d ``l``, so add a batch axis
            x_end, l_end = self._integrate(
                (x.unsqueeze(0), state[1].unsqueeze(0)), t_from, t_to, sign
            )
            return x_end.squeeze(0), l_end.squeeze(0)
        probe = PROBES[self.probe](x) if self.divergence == "hutchinson" else None

        def field_and_change(t, x):
            dx, div = divergence(self.field, t, x, method=self.divergence, probe=probe)
            return dx, sign * div

        # l is an integral along x's path: stages of zero weight skip the divergence
        dynamics = IntegralDynamics(self.field, field_and_change)

        t = torch.tensor([t_from, t_to], dtype=x.dtype, device=x.device)
        xs, ls = odeint(dynamics, state, t, manifold=self.manifold, **self.solver)
        return xs[-1], ls[-1]

    def _check_x(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a tensor, got {type(x).__name__}")
        d = self.manifold.ambient_dim
        if x.dim() < 1 or x.shape[-1] != d:
            raise ValueError(f"x must have shape (..., {d}), got {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError("x contains NaN or inf values")


class RiemannianCNFDistribution(Distribution):
    """The distribution of a :class:`RiemannianCNF` (see ``RiemannianCNF.forward``).

    Densities are with respect to the Riemannian volume of the manifold.
    """

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, flow: RiemannianCNF):
        self.flow = flow
        super().__init__(Size(), Size((flow.manifold.ambient_dim,)), validate_args=False)

    def log_prob(self, x: Tensor) -> Tensor:
        """Log-density w.r.t. the Riemannian volume, shape ``x.shape[:-1]``.

        Integrates ``(x, delta)`` from ``t1`` back to ``t0`` with ``d delta/dt = div_g v``:
        ``log p_1(x) = log U(x_0) + delta(t0)``.
        """
        self.flow._check_x(x)
        zeros = torch.zeros(x.shape[:-1], dtype=x.dtype, device=x.device)
        x0, delta = self.flow._integrate((x, zeros), self.flow.t1, self.flow.t0, 1.0)
        return self.flow.manifold.uniform_logprob(x0) + delta

    def rsample(self, sample_shape: Sequence[int] = Size()) -> Tensor:
        """Samples ``(*sample_shape, ambient_dim)`` on the manifold, differentiable in the field."""
        x0 = self._base_sample(sample_shape)
        t = torch.tensor([self.flow.t0, self.flow.t1], dtype=x0.dtype, device=x0.device)
        return odeint(self.flow.field, x0, t, manifold=self.flow.manifold, **self.flow.solver)[-1]

    def sample(self, sample_shape: Sequence[int] = Size()) -> Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)

    def rsample_and_log_prob(self, sample_shape: Sequence[int] = Size()) -> tuple[Tensor, Tensor]:
        """Samples and their log-density in one forward solve (no inversion)."""
        x0 = self._base_sample(sample_shape)
        logp0 = self.flow.manifold.uniform_logprob(x0)
        return self.flow._integrate((x0, logp0), self.flow.t0, self.flow.t1, -1.0)

    def _base_sample(self, sample_shape: Sequence[int]) -> Tensor:
        anchor = self.flow._anchor
        return self.flow.manifold.random_uniform(
            tuple(check_sample_shape(sample_shape)), dtype=anchor.dtype, device=anchor.device
        )
