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

from .voronoi import VoronoiTessellation

__all__ = ["VoronoiMixture", "FlowMixture", "MixtureDistribution"]


def _default_component(features: int, context: int, **kwargs) -> nn.Module:
    import zuko

    kwargs.setdefault("transforms", 2)
    kwargs.setdefault("hidden_features", (32, 32))
    return zuko.flows.NSF(features, context=context, **kwargs)


class _CellMixtureBase(nn.Module):
    """Mixture weights, cell embeddings and the shared conditional component flow."""

    def __init__(
        self,
        num_cells: int,
        features: int,
        context: int = 0,
        *,
        embedding: int = 8,
        component: nn.Module | None = None,
        **component_kwargs,
    ):
        super().__init__()
        if not isinstance(num_cells, int) or num_cells < 1:
            raise ValueError(f"num_cells must be a positive integer, got {num_cells!r}")
        if not isinstance(features, int) or features < 1:
            raise ValueError(f"features must be a positive integer, got {features!r}")
        self.num_cells, self.features, self.context = num_cells, features, context
        self.logits = nn.Parameter(torch.zeros(num_cells))
        self.embedding = nn.Embedding(num_cells, embedding)
        nn.init.normal_(self.embedding.weight, std=0.1)
        self.component = component or _default_component(
            features, embedding + context, **component_kwargs
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
        component: a conditional density ``component(ctx)`` over ``R^D`` with context size
            ``embedding + context``; by default a small zuko NSF (``component_kwargs`` go to it).

    Example:
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
        component: nn.Module | None = None,
        **component_kwargs,
    ):
        super().__init__(
            num_cells,
            features,
            context,
            embedding=embedding,
            component=component,
            **component_kwargs,
        )
        self.tessellation = VoronoiTessellation(
            num_cells, features, box=box, anchors=anchors, scale=scale
        )

    def log_prob_flat(self, x: Tensor, c: Tensor | None) -> Tensor:
        """``log p(x)`` for ``x (N, D)`` (and ``c (N, C)``): one component per point."""
        k = self.tessellation.quantize(x)
        v, ladj = self.tessellation.from_cell(x, k)
        logp = self.log_weights()[k] + self.component(self.component_context(k, c)).log_prob(v)
        logp = logp + ladj
        if self.tessellation.bounded:
            logp = torch.where(self.tessellation.in_box(x), logp, -torch.inf)
        return logp

    def rsample_flat(self, k: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        """Samples of components ``k (N,)`` and their ``log p``; differentiable except in ``pi``."""
        v, log_q = self.component(self.component_context(k, c)).rsample_and_log_prob()
        x, ladj = self.tessellation.to_cell(v, k)
        return x, self.log_weights()[k] + log_q - ladj


class FlowMixture(_CellMixtureBase):
    """The ordinary mixture ``p(x) = sum_k pi_k q(x | k)`` of the same conditional flow (the
    baseline of :class:`VoronoiMixture`): every component is evaluated at every point."""

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
        shape = torch.broadcast_shapes(x.shape[:-1], self.batch_shape)
        flat = x.expand(*shape, D).reshape(-1, D)
        c = None
        if self.c is not None:
            c = self.c.expand(*shape, self.c.shape[-1]).reshape(-1, self.c.shape[-1])
        return self.model.log_prob_flat(flat, c).reshape(shape)

    def rsample_and_log_prob(
        self, sample_shape: Size | tuple[int, ...] = ()
    ) -> tuple[Tensor, Tensor]:
        shape = Size(sample_shape) + self.batch_shape
        n = math.prod(shape)
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
