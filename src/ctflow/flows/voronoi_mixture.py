"""The Voronoi mixture model: a mixture whose components live on disjoint Voronoi cells.

    p(x) = pi_k p_k(x)   for x in cell V_k,   p_k(x) = q(v | k) |det dv/dx|,  x = T_k(v),

where ``T_k`` is the tessellation's bijection from ``R^D`` onto cell ``k`` and ``q(. | k)`` is one
conditional flow with a learned embedding of ``k`` as its context. Because the cells are disjoint,
``log p(x)`` evaluates a single component (the one whose cell holds ``x``, found by a nearest-anchor
search), so its cost is nearly constant in the number of cells ``K``; an ordinary mixture
(:class:`FlowMixture`, the baseline) evaluates all ``K``. A Voronoi mixture is itself a density
module (``model(c)`` returns a distribution) and can serve as the base of another flow (e.g.
``zuko.flows.Flow(transforms, VoronoiMixture(...))``), the flow's layers then acting before it.

Without a box (the default here) the cells tile all of ``R^D`` and the mixture is a density on
``R^D``; with a box its support is the box.

Tails. The cell map squashes ``R^D`` radially into the cell: where ``x`` comes within ``eps`` of
its cell's boundary, ``||v|| ~ lambda / eps`` and ``log |det dv/dx| ~ (D + 1) log(1 / eps)``.
On a Gaussian base ``log q(v) ~ -||v||^2 / 2``, so ``p(x)`` vanishes like
``exp(-lambda^2 / (2 eps^2))`` at every cell boundary, and a held-out point near a boundary costs
hundreds of nats. The default component base is therefore the radial (multivariate) Student-t
with ``df = nu`` degrees of freedom, ``q(v) ~ ||v||^{-(nu + D)}``, for which
``p(x) ~ t^{1 - nu}`` with ``t = s ||v|| / lambda``: bounded away from 0 at the boundaries for
``nu = 1`` and decaying only polynomially for ``nu > 1`` (``tails="normal"`` keeps the Gaussian).
Neural-spline components are the identity beyond their bound, so these tails are the tails of
the component.

References:
    Chen, Amos and Nickel, "Semi-Discrete Normalizing Flows through Differentiable Tessellation"
    (arXiv 2203.06832), Section 4.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Size, Tensor, nn
from torch.distributions import Distribution, constraints

from .._validate import check_finite, check_sample_shape
from .voronoi import VoronoiTessellation

__all__ = ["VoronoiMixture", "FlowMixture", "MixtureDistribution", "RadialStudentT", "TAILS"]

TAILS = ("student", "normal")


class RadialStudentT(Distribution):
    """The standard multivariate Student-t on ``R^D`` (identity scale, centre ``loc``):

        log q(v) = lgamma((nu + D) / 2) - lgamma(nu / 2) - (D / 2) log(nu pi)
                   - ((nu + D) / 2) log(1 + ||v - loc||^2 / nu).

    Its density depends on ``v`` through ``||v - loc||`` only and decays like
    ``||v||^{-(nu + D)}``; ``nu = 1`` is the multivariate Cauchy. Samples are reparameterised:
    ``v = loc + z / sqrt(w)`` with ``z ~ N(0, I)`` and ``w ~ Gamma(nu / 2, rate nu / 2)``.

    Args:
        loc: centres ``(*batch, D)``.
        df: degrees of freedom ``nu > 0`` (a float or a 0-d tensor).
    """

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc: Tensor, df: float | Tensor):
        df = torch.as_tensor(df, dtype=loc.dtype, device=loc.device)
        if df.ndim != 0 or not bool(df > 0):
            raise ValueError(f"df must be one positive number, got {df}")
        self.loc, self.df = loc, df
        super().__init__(loc.shape[:-1], loc.shape[-1:], validate_args=False)

    def expand(self, batch_shape, _instance=None) -> RadialStudentT:
        D = self.event_shape[0]
        return RadialStudentT(self.loc.expand(*batch_shape, D), self.df)

    def log_prob(self, v: Tensor) -> Tensor:
        D, nu = self.event_shape[0], self.df
        r2 = (v - self.loc).pow(2).sum(-1)
        norm = torch.lgamma((nu + D) / 2) - torch.lgamma(nu / 2) - D / 2 * torch.log(nu * math.pi)
        return norm - (nu + D) / 2 * torch.log1p(r2 / nu)

    def rsample(self, sample_shape: Size | tuple[int, ...] = ()) -> Tensor:
        shape = Size(sample_shape) + self.batch_shape
        loc = self.loc.expand(*shape, self.event_shape[0])
        z = torch.randn_like(loc)
        half = (self.df / 2).expand(shape)
        w = torch.distributions.Gamma(half, half).rsample()
        # w can underflow to 0 for small nu; the sample is then at infinity, so keep it finite
        w = w.clamp_min(torch.finfo(loc.dtype).tiny)
        return loc + z / w.sqrt()[..., None]


class _StudentBase(nn.Module):
    """A lazy, unconditional :class:`RadialStudentT` base for a zuko flow (``df`` a buffer)."""

    def __init__(self, features: int, df: float):
        super().__init__()
        self.register_buffer("loc", torch.zeros(features))
        self.register_buffer("df", torch.tensor(float(df)))

    def forward(self, c: Tensor | None = None) -> RadialStudentT:
        return RadialStudentT(self.loc, self.df)


def _default_component(
    features: int, context: int, tails: str = "student", df: float = 1.0, **kwargs
) -> nn.Module:
    import zuko

    kwargs.setdefault("transforms", 2)
    kwargs.setdefault("hidden_features", (32, 32))
    flow = zuko.flows.NSF(features, context=context, **kwargs)
    if tails == "student":
        flow.base = _StudentBase(features, df)
    return flow


class _CellMixtureBase(nn.Module):
    """Mixture weights, cell embeddings and the shared conditional component flow."""

    def __init__(
        self,
        num_cells: int,
        features: int,
        context: int = 0,
        *,
        embedding: int = 8,
        tails: str = "student",
        df: float = 1.0,
        component: nn.Module | None = None,
        **component_kwargs,
    ):
        super().__init__()
        if not isinstance(num_cells, int) or num_cells < 1:
            raise ValueError(f"num_cells must be a positive integer, got {num_cells!r}")
        if not isinstance(features, int) or features < 1:
            raise ValueError(f"features must be a positive integer, got {features!r}")
        if tails not in TAILS:
            raise ValueError(f"tails must be one of {TAILS}, got {tails!r}")
        if not isinstance(df, (int, float)) or not df > 0:
            raise ValueError(f"df must be a positive number, got {df!r}")
        self.num_cells, self.features, self.context = num_cells, features, context
        self.tails, self.df = tails, float(df)
        self.logits = nn.Parameter(torch.zeros(num_cells))
        self.embedding = nn.Embedding(num_cells, embedding)
        nn.init.normal_(self.embedding.weight, std=0.1)
        self.component = component or _default_component(
            features, embedding + context, tails, df, **component_kwargs
        )

    def component_context(self, k: Tensor, c: Tensor | None) -> Tensor:
        e = self.embedding(k)
        if c is None:
            return e
        return torch.cat([e, c.expand(*k.shape, c.shape[-1]).to(e.dtype)], -1)

    def log_weights(self) -> Tensor:
        return F.log_softmax(self.logits, -1)

    def forward(self, c: Tensor | None = None) -> MixtureDistribution:
        if (c is None) != (self.context == 0):
            raise ValueError(
                f"this mixture takes a context of size {self.context}; got "
                f"{'none' if c is None else tuple(c.shape)}"
            )
        return MixtureDistribution(self, c)


class VoronoiMixture(_CellMixtureBase):
    """A Voronoi mixture over ``num_cells`` learnable cells of ``R^features``.

    Args:
        num_cells: the number of cells (components) ``K``.
        features: the dimension ``D``.
        context: size of an optional context ``c`` passed to every component.
        embedding: size of the learned per-cell embedding (the components' context).
        box: half-width of a learnable box bounding the cells, or ``None`` (cells tile ``R^D``).
        anchors: initial anchors ``(K, D)`` (e.g. k-means centres of the data).
        scale: initial cell scale ``s``.
        tails: the base of the default component flow: ``"student"`` (radial Student-t with
            ``df`` degrees of freedom; the default, so that the density stays positive at the
            cell boundaries, see the module docstring) or ``"normal"`` (``N(0, I)``, the density
            then vanishes faster than any power at every boundary).
        df: the Student-t's degrees of freedom ``nu > 0`` (1: the multivariate Cauchy, whose
            mixture density has a finite, nonzero limit at the boundaries).
        component: a conditional density ``component(ctx)`` over ``R^D`` with context size
            ``embedding + context``; by default a small zuko NSF (``component_kwargs`` go to it)
            on the base that ``tails`` names. ``tails`` and ``df`` are ignored when given.

    Examples:
        >>> vm = VoronoiMixture(16, 2)
        >>> x = vm().sample((5,))
        >>> vm().log_prob(x).shape
        torch.Size([5])
    """

    def __init__(
        self,
        num_cells: int,
        features: int,
        context: int = 0,
        *,
        embedding: int = 8,
        box: float | None = None,
        anchors: Tensor | None = None,
        scale: float = 1.0,
        tails: str = "student",
        df: float = 1.0,
        component: nn.Module | None = None,
        **component_kwargs,
    ):
        super().__init__(
            num_cells,
            features,
            context,
            embedding=embedding,
            tails=tails,
            df=df,
            component=component,
            **component_kwargs,
        )
        self.tessellation = VoronoiTessellation(
            num_cells, features, box=box, anchors=anchors, scale=scale
        )

    def log_prob_flat(self, x: Tensor, c: Tensor | None) -> Tensor:
        """``log p(x)`` for ``x (N, D)`` (and ``c (N, C)``): one component per point.

        The cell geometry (nearest anchor, ray distance, inverse map) runs in float64: in float32
        a point within rounding of a face can be assigned to a cell whose inverse map then puts
        it outside (``1 - alpha <= 0``, a NaN log-det). With heavy tails the faces no longer
        repel the data, so such points do occur in training.
        """
        xg = x.to(_geometry_dtype(x.dtype))
        k = self.tessellation.quantize(xg)
        v, ladj = self.tessellation.from_cell(xg, k)
        v, ladj = v.to(x.dtype), ladj.to(x.dtype)
        logp = self.log_weights()[k] + self.component(self.component_context(k, c)).log_prob(v)
        logp = logp + ladj
        if self.tessellation.bounded:
            logp = torch.where(self.tessellation.in_box(x), logp, -torch.inf)
        return logp

    def rsample_flat(self, k: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        """Samples of components ``k (N,)`` and their ``log p``; differentiable except in ``pi``."""
        v, log_q = self.component(self.component_context(k, c)).rsample_and_log_prob()
        x, ladj = self.tessellation.to_cell(v.to(_geometry_dtype(v.dtype)), k)
        return x.to(v.dtype), self.log_weights()[k] + log_q - ladj.to(v.dtype)


def _geometry_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype in (torch.float16, torch.bfloat16, torch.float32) else dtype


class FlowMixture(_CellMixtureBase):
    """The ordinary mixture ``p(x) = sum_k pi_k q(x | k)`` of the same conditional flow (the
    baseline of :class:`VoronoiMixture`): every component is evaluated at every point.

    Takes the arguments of :class:`VoronoiMixture` that are not about cells (``num_cells``,
    ``features``, ``context``, ``embedding``, ``tails``, ``df``, ``component`` and the component's
    keyword arguments), so the two can be built with the same component."""

    def log_prob_flat(self, x: Tensor, c: Tensor | None) -> Tensor:
        n, K = x.shape[0], self.num_cells
        k = torch.arange(K, device=x.device)[:, None].expand(K, n)
        cc = None if c is None else c.expand(K, *c.shape)
        logq = self.component(self.component_context(k, cc)).log_prob(x.expand(K, n, -1))
        return torch.logsumexp(self.log_weights()[:, None] + logq, 0)

    def rsample_flat(self, k: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        x = self.component(self.component_context(k, c)).rsample()
        return x, self.log_prob_flat(x, c)


class MixtureDistribution(Distribution):
    """What a :class:`VoronoiMixture` or :class:`FlowMixture` returns when called.

    ``rsample`` is reparameterised given the sampled component (the mixture weights get no
    gradient through it, as in any mixture).
    """

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, model: _CellMixtureBase, c: Tensor | None = None):
        self.model, self.c = model, c
        batch = c.shape[:-1] if c is not None else Size()
        super().__init__(batch, Size([model.features]), validate_args=False)

    def log_prob(self, x: Tensor) -> Tensor:
        D = self.model.features
        if not torch.is_tensor(x) or x.ndim < 1 or x.shape[-1] != D:
            raise ValueError(f"expected points of shape (..., {D}), got {tuple(x.shape)}")
        check_finite(x, "x")
        shape = torch.broadcast_shapes(x.shape[:-1], self.batch_shape)
        flat = x.expand(*shape, D).reshape(-1, D)
        c = None
        if self.c is not None:
            c = self.c.expand(*shape, self.c.shape[-1]).reshape(-1, self.c.shape[-1])
        return self.model.log_prob_flat(flat, c).reshape(shape)

    def rsample_and_log_prob(
        self, sample_shape: Size | tuple[int, ...] = ()
    ) -> tuple[Tensor, Tensor]:
        shape = check_sample_shape(sample_shape) + self.batch_shape
        n = math.prod(shape)
        if n == 0:  # multinomial refuses to draw nothing
            x = self.model.logits.new_zeros(*shape, self.model.features)
            return x, x.sum(-1)
        logits = self.model.logits.detach()
        k = torch.multinomial(logits.softmax(-1).expand(1, -1), n, replacement=True)[0]
        c = None
        if self.c is not None:
            c = self.c.expand(*shape, self.c.shape[-1]).reshape(n, self.c.shape[-1])
        x, logp = self.model.rsample_flat(k, c)
        return x.reshape(*shape, self.model.features), logp.reshape(shape)

    def rsample(self, sample_shape: Size | tuple[int, ...] = ()) -> Tensor:
        return self.rsample_and_log_prob(sample_shape)[0]

    def sample(self, sample_shape: Size | tuple[int, ...] = ()) -> Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)
