"""Convex potential flows, CP-Flow (Huang et al., arXiv 2012.05942).

Each block is the gradient map ``f = grad F`` of a strongly convex potential

    F(x) = softplus(w1) ICNN(x) + softplus(w0) ||x||^2 / 2,

so its Jacobian is the Hessian of ``F``: symmetric, with eigenvalues ``>= softplus(w0) > 0``, hence
invertible, and ``f`` is the optimal-transport (Brenier) map between its input and output laws.
In zuko's convention the flow maps data to the base (``log p(x) = log N(f(x)) + log det H``) and
samples by inverting: ``x = argmin_x F(x) - <x, y>`` (the convex conjugate) by L-BFGS, with
implicit gradients.

Log-determinants: ``"exact"`` builds ``H`` from ``D`` Hessian-vector products and takes slogdet
(differentiable; for small ``D``). ``"stochastic"`` returns the exact value (small ``D``) or a
stochastic Lanczos estimate, and carries the gradient of the unbiased surrogate
``sum((H v) * w.detach())`` with ``w = H^-1 v`` from conjugate gradients (``v`` Rademacher): its
memory does not grow with the CG iterations. Either way ``log_prob`` returns a log-density value,
never the surrogate.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
import zuko
from torch import Tensor, nn
from torch.distributions import constraints

from ..nn.icnn import ICNN
from ..ops.krylov import conjugate_gradient, lanczos_logdet

__all__ = [
    "ConvexPotential",
    "ConvexPotentialLayer",
    "ConvexPotentialTransform",
    "LOGDET_METHODS",
]

LOGDET_METHODS = ("exact", "stochastic")
# up to this dimension the stochastic mode still reports the exact log-det value
EXACT_VALUE_MAX_DIM = 16
_TRANSFORM_OPTIONS = (
    "logdet",
    "probes",
    "cg_tol",
    "lanczos_steps",
    "inverse_tol",
    "inverse_max_iter",
)


def _inverse_softplus(y: float) -> float:
    return math.log(math.expm1(y))


class ConvexPotential(nn.Module):
    """``F(x, c) = softplus(w1) ICNN(x, c) + softplus(w0) ||x||^2 / 2``: shape ``(*batch, D)``
    to ``(*batch,)``.

    The strong-convexity modulus ``softplus(w0)`` starts at ``modulus`` and the ICNN's weight at
    ``icnn_scale``; ``context_gating`` lets the context gate the ICNN's layers (``ICNN``).
    """

    def __init__(
        self,
        features: int,
        context: int = 0,
        hidden: tuple[int, ...] = (64, 64),
        activation: str = "softplus",
        modulus: float = 1.0,
        icnn_scale: float = 1.0,
        context_gating: bool = False,
    ):
        super().__init__()
        self.icnn = ICNN(features, context, hidden, activation, context_gating=context_gating)
        self.w0 = nn.Parameter(torch.tensor(_inverse_softplus(modulus)))
        self.w1 = nn.Parameter(torch.tensor(_inverse_softplus(icnn_scale)))
        self.features = features

    @property
    def modulus(self) -> Tensor:
        """The strong-convexity modulus: every Hessian eigenvalue is at least this."""
        return F.softplus(self.w0)

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return F.softplus(self.w1) * self.icnn(x, c) + 0.5 * self.modulus * (x * x).sum(-1)

    def gradient(self, x: Tensor, c: Tensor | None = None, create_graph: bool = False) -> Tensor:
        """``grad_x F``, shape of ``x``; with ``create_graph`` it can be differentiated again."""
        with torch.enable_grad():
            x = x if x.requires_grad else x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self(x, c).sum(), x, create_graph=create_graph)
        return g


def _hvp_factory(g: Tensor, x: Tensor, create_graph: bool = False):
    """``v -> H v`` from a gradient ``g = grad F(x)`` that still has its graph."""

    def hvp(v: Tensor) -> Tensor:
        (hv,) = torch.autograd.grad(g, x, v, retain_graph=True, create_graph=create_graph)
        return hv

    return hvp


def _hessian(g: Tensor, x: Tensor, create_graph: bool) -> Tensor:
    """Rows of the (batched) Hessian from ``D`` HVPs: ``(B, D) -> (B, D, D)``."""
    eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
    rows = [
        torch.autograd.grad(g, x, e.expand_as(x), retain_graph=True, create_graph=create_graph)[0]
        for e in eye
    ]
    return torch.stack(rows, dim=-2)


class _SolveHessian(torch.autograd.Function):
    """``w = H^-1 r`` at a fixed point ``x`` (the inverse's implicit gradient): linear in ``r``,
    so the backward is one more solve with the same symmetric ``H``."""

    @staticmethod
    def forward(ctx, r: Tensor, solve) -> Tensor:
        ctx.solve = solve
        return solve(r.detach())

    @staticmethod
    def backward(ctx, grad_w: Tensor):
        return ctx.solve(grad_w), None


class ConvexPotentialTransform(zuko.transforms.Transform):
    """``y = grad F(x)`` for a fixed context, as a torch/zuko transform (data -> base).

    Args:
        potential: the convex potential.
        context: its context (or ``None``).
        logdet: ``"exact"`` or ``"stochastic"`` (see the module docstring).
        probes: Rademacher probes for the stochastic surrogate and Lanczos value.
        cg_tol: conjugate-gradient absolute tolerance for the surrogate.
        lanczos_steps: Lanczos steps for the stochastic value when ``D > 16``.
        inverse_tol: the inverse stops when ``max |grad F(x) - y| <= inverse_tol``.
        inverse_max_iter: L-BFGS iterations at most (per round; up to 5 rounds).
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(
        self,
        potential: ConvexPotential,
        context: Tensor | None = None,
        logdet: str = "exact",
        probes: int = 1,
        cg_tol: float = 1e-3,
        lanczos_steps: int = 10,
        inverse_tol: float = 1e-6,
        inverse_max_iter: int = 200,
    ):
        super().__init__()
        if logdet not in LOGDET_METHODS:
            raise ValueError(f"logdet must be one of {LOGDET_METHODS}, got {logdet!r}")
        self.potential, self.context = potential, context
        self.logdet, self.probes, self.cg_tol = logdet, probes, cg_tol
        self.lanczos_steps = lanczos_steps
        self.inverse_tol, self.inverse_max_iter = inverse_tol, inverse_max_iter

    def _flat(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        c = self.context
        if c is not None:
            c = c.expand(*x.shape[:-1], c.shape[-1]).reshape(-1, c.shape[-1])
        return x.reshape(-1, x.shape[-1]), c

    def _call(self, x: Tensor) -> Tensor:
        return self.potential.gradient(x, self.context, create_graph=torch.is_grad_enabled())

    def call_and_ladj(self, x: Tensor) -> tuple[Tensor, Tensor]:
        shape = x.shape
        xf, c = self._flat(x)
        grad_on = torch.is_grad_enabled()
        with torch.enable_grad():
            xf = xf if xf.requires_grad else xf.detach().requires_grad_(True)
            g = self.potential.gradient(xf, c, create_graph=True)
            ladj = self._logdet(g, xf, grad_on)
        if not grad_on:
            g, ladj = g.detach(), ladj.detach()
        return g.reshape(shape), ladj.reshape(shape[:-1])

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return self.call_and_ladj(x)[1]

    def _logdet(self, g: Tensor, x: Tensor, grad_on: bool) -> Tensor:
        D = x.shape[-1]
        if self.logdet == "exact":
            return torch.linalg.slogdet(_hessian(g, x, create_graph=grad_on)).logabsdet
        # value: exact for small D, stochastic Lanczos otherwise (no graph either way)
        hvp = _hvp_factory(g, x)
        if D <= EXACT_VALUE_MAX_DIM:
            value = torch.linalg.slogdet(_hessian(g, x, create_graph=False)).logabsdet
        else:
            value = lanczos_logdet(
                lambda v: hvp(v).detach(),
                tuple(x.shape),
                steps=self.lanczos_steps,
                probes=self.probes,
                dtype=x.dtype,
                device=x.device,
            )
        if not grad_on:
            return value
        # gradient: the CG surrogate, averaged over probes; its value is removed again
        surrogate = 0.0
        for _ in range(self.probes):
            v = torch.randint(0, 2, x.shape, device=x.device).to(x.dtype) * 2 - 1
            w = conjugate_gradient(lambda u: hvp(u).detach(), v, atol=self.cg_tol)
            (hv,) = torch.autograd.grad(g, x, v, retain_graph=True, create_graph=True)
            surrogate = surrogate + (hv * w).sum(-1) / self.probes
        return value.detach() + surrogate - surrogate.detach()

    def _inverse(self, y: Tensor) -> Tensor:
        shape = y.shape
        yf, c = self._flat(y)
        x_star = self._solve_conjugate(yf.detach(), c)
        if not torch.is_grad_enabled():
            return x_star.reshape(shape)
        # Implicit function theorem: x = x* - H^-1 (grad F(x*) - y) has the value x* (the
        # residual is ~0) and the derivative -H^-1 d(grad F - y) with respect to the parameters
        # and y, H taken at x* and held fixed.
        with torch.enable_grad():
            x0 = x_star.detach().requires_grad_(True)
            g = self.potential.gradient(x0, c, create_graph=True)
            H = _hessian(g, x0, create_graph=False).detach()
        residual = self.potential.gradient(x_star, c, create_graph=True) - yf
        step = _SolveHessian.apply(
            residual, lambda r: torch.linalg.solve(H, r.unsqueeze(-1)).squeeze(-1)
        )
        return (x_star - step).reshape(shape)

    def _residual(self, x: Tensor, y: Tensor, c: Tensor | None) -> float:
        if not y.numel():
            return 0.0
        return float((self.potential.gradient(x, c) - y).abs().amax())

    def _newton_polish(self, x: Tensor, y: Tensor, c: Tensor | None, steps: int = 2) -> Tensor:
        """A few Newton steps with the dense Hessian: L-BFGS stalls near float precision (its
        line search compares objective values), Newton converges quadratically there."""
        for _ in range(steps):
            with torch.enable_grad():
                x0 = x.detach().requires_grad_(True)
                g = self.potential.gradient(x0, c, create_graph=True)
                H = _hessian(g, x0, create_graph=False)
            x = x0.detach() - torch.linalg.solve(H, (g.detach() - y).unsqueeze(-1)).squeeze(-1)
        return x.detach().requires_grad_(True)

    @torch.no_grad()
    def _solve_conjugate(self, y: Tensor, c: Tensor | None) -> Tensor:
        """``argmin_x F(x) - <x, y>`` for every row at once (the objective is separable)."""
        x = (y / self.potential.modulus.detach()).clone().requires_grad_(True)
        for _ in range(5):
            opt = torch.optim.LBFGS(
                [x],
                lr=1.0,
                max_iter=self.inverse_max_iter,
                tolerance_grad=self.inverse_tol / 10,
                tolerance_change=0.0,
                history_size=20,
                line_search_fn="strong_wolfe",
            )

            def closure(opt=opt, x=x):
                opt.zero_grad()
                with torch.enable_grad():
                    loss = (self.potential(x, c) - (x * y).sum(-1)).sum()
                    loss.backward()
                return loss

            opt.step(closure)
            residual = self._residual(x, y, c)
            if residual > self.inverse_tol and x.shape[-1] <= EXACT_VALUE_MAX_DIM:
                x = self._newton_polish(x, y, c)
                residual = self._residual(x, y, c)
            if residual <= self.inverse_tol:
                break
        else:
            warnings.warn(
                f"CP-Flow inverse stopped at max |grad F(x) - y| = {residual:.3g} > "
                f"inverse_tol={self.inverse_tol:g}; raise inverse_max_iter or inverse_tol",
                stacklevel=3,
            )
        return x.detach()


class ConvexPotentialLayer(zuko.flows.LazyTransform):
    """A lazy CP-Flow block: ``layer(c)`` is the transform ``grad F(., c)``.

    Args:
        potential: the (partially input-) convex potential ``F``.
        **options: :class:`ConvexPotentialTransform` settings (``logdet``, ``probes``, ...).

    Examples:
        >>> layer = ConvexPotentialLayer(ConvexPotential(2, context=3, hidden=(8,)))
        >>> layer(torch.randn(3))(torch.randn(5, 2)).shape
        torch.Size([5, 2])
    """

    def __init__(self, potential: ConvexPotential, **options):
        super().__init__()
        unknown = set(options) - set(_TRANSFORM_OPTIONS)
        if unknown:
            raise ValueError(f"unknown options {sorted(unknown)}; known: {_TRANSFORM_OPTIONS}")
        self.potential = potential
        self.options = dict(options)

    def forward(self, c: Tensor | None = None) -> ConvexPotentialTransform:
        return ConvexPotentialTransform(self.potential, c, **self.options)


def __getattr__(name: str):
    # CPFlow lived here before it moved to .cpflow_model; old imports keep working
    if name == "CPFlow":
        from .cpflow_model import CPFlow

        return CPFlow
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
