"""Dequantization of categorical data: Voronoi cells, uniform bins and binary argmax orthants.

A dequantizer owns, for each category of one variable, a region of a continuous space and a
bijection from ``R^d`` onto it (with its log-determinant), plus the quantizer that recovers the
category from any point of the region exactly. :class:`Dequantization` ties one dequantizer per
variable to a conditional flow ``q(v | x)`` and any ctflow density ``p(z)`` and gives the
variational bounds

    log P(x) >= E_q[log p(z) - log q(z | x)]                       (ELBO)
    log P(x) >= E[log (1/S) sum_s p(z_s) / q(z_s | x)]              (importance-weighted, S samples)

with ``z = T_x(v)``, ``log q(z | x) = log q(v | x) - log |det dT_x/dv|``. All three dequantizers
share this one code path.

References:
    Chen, Amos and Nickel, "Semi-Discrete Normalizing Flows through Differentiable Tessellation"
    (arXiv 2203.06832); Hoogeboom et al., "Argmax Flows and Multinomial Diffusion" (arXiv
    2102.05379) for the argmax baseline; Ho et al., "Flow++" (arXiv 1902.00275) for variational
    dequantization.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..ops.reductions import log_mean_exp
from .voronoi import _from_cell, _to_cell

__all__ = [
    "Dequantizer",
    "VoronoiDequantizer",
    "UniformDequantizer",
    "ArgmaxDequantizer",
    "Dequantization",
    "DEQUANTIZERS",
    "make_dequantizer",
    "dequantization_posterior",
]


class Dequantizer(nn.Module):
    """One variable with ``num_classes`` categories, dequantized into ``R^dim``.

    Subclasses implement ``forward(v, x) -> (z, ladj)`` (``v (..., dim)`` onto the region of
    category ``x (...)``) and ``quantize(z) -> x``.
    """

    num_classes: int
    dim: int

    def quantize(self, z: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class VoronoiDequantizer(Dequantizer):
    """Each category owns a cell of a learnable Voronoi tessellation of ``R^dim`` in a box.

    One module can hold the tessellations of several variables (``variables``), each with its own
    anchors, box and scales, evaluated in one batched call (parameters stacked along a leading
    variable axis); it then reads ``variables`` columns of ``x`` and ``variables * dim`` of ``z``.

    Args:
        num_classes: categories ``K``.
        dim: dimension of each tessellation (``>= 1``; 2 to 6 in the paper).
        variables: how many variables (independent tessellations) this module covers.
        box: initial half-width of the boxes; ``scale``: initial cell scale ``s``.
    """

    def __init__(
        self,
        num_classes: int,
        dim: int = 2,
        *,
        variables: int = 1,
        box: float = 2.0,
        scale: float = 1.0,
    ):
        super().__init__()
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        if not isinstance(variables, int) or variables < 1:
            raise ValueError(f"variables must be a positive integer, got {variables!r}")
        if not box > 0 or not scale > 0:
            raise ValueError(f"box and scale must be > 0, got {box!r}, {scale!r}")
        self.num_classes, self.dim, self.variables = num_classes, dim, variables
        V, K = variables, num_classes
        frac = (torch.rand(V, K, dim) * 0.9 + 0.05).clamp(1e-4, 1 - 1e-4)
        self.anchor_raw = nn.Parameter(torch.logit(frac))  # anchors stay inside their box
        self.box_center = nn.Parameter(torch.zeros(V, dim))
        self.box_log_half = nn.Parameter(torch.full((V, dim), math.log(box)))
        self.log_scale = nn.Parameter(torch.full((V, K), math.log(scale)))

    def box(self) -> tuple[Tensor, Tensor]:
        """``(lo, hi)``, each ``(variables, dim)``."""
        half = self.box_log_half.exp()
        return self.box_center - half, self.box_center + half

    @property
    def anchors(self) -> Tensor:
        """``(variables, K, dim)``."""
        lo, hi = self.box()
        return lo[:, None] + (hi - lo)[:, None] * torch.sigmoid(self.anchor_raw)

    def _core_args(self, dtype: torch.dtype, n: int):
        index = torch.arange(self.variables, device=self.anchor_raw.device).repeat(n)
        lo, hi = (b.to(dtype)[index] for b in self.box())
        return self.anchors.to(dtype)[index], (lo, hi), self.log_scale.to(dtype)[index]

    def _split(self, v: Tensor, x: Tensor):
        V, d = self.variables, self.dim
        batch = torch.broadcast_shapes(v.shape[:-1], x.shape if V == 1 else x.shape[:-1])
        v = v.expand(*batch, V * d).reshape(-1, d)
        x = (x[..., None] if V == 1 else x).expand(*batch, V).reshape(-1)
        return v, x, batch

    def forward(self, v: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """``v (..., variables * dim)``, ``x (..., variables)`` (or ``(...)`` for one variable)."""
        v_flat, x_flat, batch = self._split(v, x)
        n = math.prod(batch)
        z, ladj = _to_cell(*self._core_args(v.dtype, n), x_flat.long(), v_flat)
        return z.reshape(*batch, -1), ladj.reshape(*batch, self.variables).sum(-1)

    def from_cell(self, z: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """The inverse of :meth:`forward` for points ``z`` inside the cells of ``x``."""
        z_flat, x_flat, batch = self._split(z, x)
        n = math.prod(batch)
        v, ladj = _from_cell(*self._core_args(z.dtype, n), x_flat.long(), z_flat)
        return v.reshape(*batch, -1), ladj.reshape(*batch, self.variables).sum(-1)

    def in_box(self, z: Tensor) -> Tensor:
        """Whether every variable's part of ``z (..., variables * dim)`` lies in its box."""
        parts = z.reshape(*z.shape[:-1], self.variables, self.dim)
        lo, hi = (b.to(z.dtype) for b in self.box())
        return ((parts >= lo) & (parts <= hi)).all(-1).all(-1)

    def quantize(self, z: Tensor) -> Tensor:
        """Nearest anchor per variable: ``(..., variables)`` (``(...)`` for one variable)."""
        parts = z.reshape(*z.shape[:-1], self.variables, 1, self.dim)
        anchors = self.anchors.detach().to(z.dtype)  # (V, K, d)
        x = (parts - anchors).pow(2).sum(-1).argmin(-1)
        return x[..., 0] if self.variables == 1 else x


class UniformDequantizer(Dequantizer):
    """The ordinal baseline: category ``x`` owns the interval ``[x, x + 1)``, rescaled to ``[-half,
    half)`` overall: ``z = (x + m + (1 - 2m) sigmoid(v)) * 2 half / K - half`` (one dimension).

    The margin ``m`` (default 1e-4 of a bin) keeps images off the bin edges, so that rounding never
    moves a point into the next bin; it costs the model at most that share of each bin's mass.
    """

    def __init__(self, num_classes: int, *, half: float = 3.0, margin: float = 1e-4):
        super().__init__()
        if not 0 <= margin < 0.5:
            raise ValueError(f"margin must lie in [0, 0.5), got {margin}")
        self.num_classes, self.dim = num_classes, 1
        self.half, self.margin = float(half), float(margin)

    def forward(self, v: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        width = 2 * self.half / self.num_classes
        m = self.margin
        frac = m + (1 - 2 * m) * torch.sigmoid(v)
        z = (x[..., None].to(v.dtype) + frac) * width - self.half
        ladj = F.logsigmoid(v) + F.logsigmoid(-v) + math.log(width * (1 - 2 * m))
        return z, ladj[..., 0]

    def quantize(self, z: Tensor) -> Tensor:
        width = 2 * self.half / self.num_classes
        return torch.floor((z[..., 0] + self.half) / width).long().clamp(0, self.num_classes - 1)


class ArgmaxDequantizer(Dequantizer):
    """The binary argmax baseline: category ``x`` is written in ``ceil(log2 K)`` bits and owns the
    orthant whose signs are those bits: ``z_j = (2 b_j - 1) (m + softplus(v_j))``. Codes ``>= K``
    decode to ``K - 1`` (their probability mass is simply lost to the bound). The margin ``m``
    keeps images off the coordinate planes, where ``softplus`` would underflow to 0."""

    def __init__(self, num_classes: int, *, margin: float = 1e-4):
        super().__init__()
        self.num_classes, self.margin = num_classes, float(margin)
        self.dim = max(1, math.ceil(math.log2(num_classes)))
        self.register_buffer("powers", 2 ** torch.arange(self.dim), persistent=False)

    def forward(self, v: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        bits = (x[..., None].long() // self.powers) % 2
        z = (2 * bits - 1).to(v.dtype) * (self.margin + F.softplus(v))
        return z, F.logsigmoid(v).sum(-1)

    def quantize(self, z: Tensor) -> Tensor:
        code = ((z > 0).long() * self.powers).sum(-1)
        return code.clamp(max=self.num_classes - 1)


DEQUANTIZERS = ("voronoi", "uniform", "argmax")


def make_dequantizer(kind: str, num_classes: int, *, dim: int = 2, **kwargs) -> Dequantizer:
    """A dequantizer by name (one of ``DEQUANTIZERS``); ``dim`` (and ``variables``, ``box``,
    ``scale``) are used by ``voronoi`` only."""
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if kind == "voronoi":
        return VoronoiDequantizer(num_classes, dim, **kwargs)
    if kind == "uniform":
        return UniformDequantizer(num_classes, **kwargs)
    if kind == "argmax":
        return ArgmaxDequantizer(num_classes, **kwargs)
    raise ValueError(f"unknown dequantizer {kind!r}; choose one of: {', '.join(DEQUANTIZERS)}")


class Dequantization(nn.Module):
    """A discrete model ``P(x)`` over ``V`` categorical variables through a continuous density.

    Args:
        dequantizers: :class:`Dequantizer` s covering the variables in order: one per variable,
            or a :class:`VoronoiDequantizer` with ``variables > 1`` covering several at once
            (each variable keeps its own tessellation).
        prior: the model ``p(z)`` over ``R^{sum of dims}``: any ctflow/zuko density module,
            ``prior(c)`` returning a distribution with ``log_prob``.
        posterior: the conditional flow ``q(v | x[, c])`` over the same space, called as
            ``posterior(context)`` with ``context`` the concatenated one-hot codes of ``x`` (and
            ``c``); it must offer ``rsample_and_log_prob``. See :func:`dequantization_posterior`.

    Examples:
        >>> import zuko
        >>> deq = [make_dequantizer("voronoi", 5, dim=2) for _ in range(3)]
        >>> model = Dequantization(deq, zuko.flows.NSF(6), zuko.flows.NSF(6, context=15, passes=2))
        >>> x = torch.randint(5, (8, 3))
        >>> model.elbo(x).shape, model.iwae(x, 10).shape
        (torch.Size([8]), torch.Size([8]))
    """

    def __init__(self, dequantizers: Sequence[Dequantizer], prior: nn.Module, posterior: nn.Module):
        super().__init__()
        if not dequantizers:
            raise ValueError("need at least one dequantizer (one per variable)")
        self.dequantizers = nn.ModuleList(dequantizers)
        self.prior, self.posterior = prior, posterior
        self.variables = [getattr(d, "variables", 1) for d in dequantizers]
        self.dims = [d.dim * v for d, v in zip(dequantizers, self.variables)]
        self.classes = [
            d.num_classes for d, v in zip(dequantizers, self.variables) for _ in range(v)
        ]

    @property
    def features(self) -> int:
        """The continuous dimension ``sum of dims``."""
        return sum(self.dims)

    @property
    def context_features(self) -> int:
        """The size of the one-hot context the posterior receives (without ``c``)."""
        return sum(self.classes)

    def one_hot(self, x: Tensor) -> Tensor:
        """The concatenated one-hot codes ``(..., sum K)`` of ``x (..., V)``."""
        self._check(x)
        if len(set(self.classes)) == 1:
            return F.one_hot(x, self.classes[0]).flatten(-2).to(self._dtype())
        return torch.cat([F.one_hot(x[..., i], k) for i, k in enumerate(self.classes)], -1).to(
            self._dtype()
        )

    def dequantize(self, v: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """Map ``v (..., features)`` into the regions of ``x (..., V)``: ``(z, ladj)``."""
        zs, ladj = [], 0.0
        columns = x.split(self.variables, -1)
        for deq, part, cols in zip(self.dequantizers, v.split(self.dims, -1), columns):
            cols = cols.expand(*part.shape[:-1], cols.shape[-1])
            z, l_i = deq(part, cols if getattr(deq, "variables", 1) > 1 else cols[..., 0])
            zs.append(z)
            ladj = ladj + l_i
        return torch.cat(zs, -1), ladj

    def quantize(self, z: Tensor) -> Tensor:
        """The categories ``(..., V)`` of continuous points ``z (..., features)`` (exact inverse of
        :meth:`dequantize`'s assignment)."""
        parts = z.split(self.dims, -1)
        out = [d.quantize(p) for d, p in zip(self.dequantizers, parts)]
        return torch.cat([o if o.ndim == z.ndim else o[..., None] for o in out], -1)

    def sample_posterior(self, x: Tensor, samples: int = 1, c: Tensor | None = None):
        """``z ~ q(z | x)`` of shape ``(samples, ..., features)`` and ``log q(z | x)``."""
        context = self.one_hot(x)
        if c is not None:
            context = torch.cat([context, c.expand(*x.shape[:-1], c.shape[-1])], -1)
        v, log_q = self.posterior(context).rsample_and_log_prob((samples,))
        z, ladj = self.dequantize(v, x.expand(samples, *x.shape))
        return z, log_q - ladj

    def log_weights(self, x: Tensor, samples: int, c: Tensor | None = None) -> Tensor:
        """``log p(z_s) - log q(z_s | x)`` for ``samples`` draws: ``(samples, ...)``."""
        z, log_q = self.sample_posterior(x, samples, c)
        return self.prior(c).log_prob(z) - log_q

    def elbo(self, x: Tensor, c: Tensor | None = None, samples: int = 1) -> Tensor:
        """The evidence lower bound on ``log P(x)`` (nats), ``(...)``, averaged over samples."""
        return self.log_weights(x, samples, c).mean(0)

    def iwae(self, x: Tensor, k: int, c: Tensor | None = None, chunk: int | None = None) -> Tensor:
        """The importance-weighted bound with ``k`` samples (nats), ``(...)``.

        ``chunk`` draws the samples that many at a time (same bound, less memory).
        """
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        chunk = chunk or k
        logw = torch.cat([self.log_weights(x, min(chunk, k - i), c) for i in range(0, k, chunk)], 0)
        return log_mean_exp(logw, 0)

    @torch.no_grad()
    def sample(self, shape: Sequence[int] = (), c: Tensor | None = None) -> Tensor:
        """Draw ``x ~ P`` (``(*shape, V)`` long): ``z ~ p``, then quantize."""
        return self.quantize(self.prior(c).sample(tuple(shape)))

    def _check(self, x: Tensor) -> None:
        if not torch.is_tensor(x) or x.dtype not in (torch.long, torch.int32, torch.int64):
            raise TypeError("x must be an integer tensor of categories, shape (..., V)")
        if x.ndim < 1 or x.shape[-1] != len(self.classes):
            raise ValueError(f"x must have shape (..., {len(self.classes)}), got {tuple(x.shape)}")

    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype


def dequantization_posterior(features: int, context: int, **kwargs) -> nn.Module:
    """A conditional coupling spline flow for ``q(v | x)`` (zuko's NSF with two passes: one
    network call per layer in both directions). Keyword arguments go to ``zuko.flows.NSF``.

    Args:
        features: the continuous dimension (``Dequantization.features``).
        context: the one-hot context size (``Dequantization.context_features``, plus any ``c``).

    Returns:
        A conditional flow: ``posterior(context)`` offers ``rsample_and_log_prob``.
    """
    import zuko

    kwargs.setdefault("transforms", 3)
    kwargs.setdefault("hidden_features", (64, 64))
    return zuko.flows.NSF(features, context=context, passes=2, **kwargs)


def make_posterior(features: int, context: int, **kwargs) -> nn.Module:
    """Deprecated name of :func:`dequantization_posterior` (``ctflow.vi.make_posterior`` is the
    one ``make_posterior``: a variational posterior by kind)."""
    warnings.warn(
        "ctflow.flows.make_posterior is renamed dequantization_posterior",
        DeprecationWarning,
        stacklevel=2,
    )
    return dequantization_posterior(features, context, **kwargs)
