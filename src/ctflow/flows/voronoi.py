"""A differentiable Voronoi tessellation and the bijection from R^D onto one of its cells.

Cell ``k`` of anchors ``x_1..x_K`` is the convex polytope
``{y : 2 (x_i - x_k)^T y <= ||x_i||^2 - ||x_k||^2 for all i != k}``, intersected with an
axis-aligned box when the tessellation has one. Seen from its anchor, the cell's boundary in the
unit direction ``u`` lies at the ray distance ``lambda(u)``; we work with its inverse

    rho(u) = 1 / lambda(u) = max(0, max_i a_i^T u / (b_i - a_i^T x_k)),

which is 0 in a direction where an unbounded cell (no box) never ends. The bijection of an offset
``v = r u`` onto the cell is radial:

    t = s r rho(u),   z = x_k + s v / (1 + t),   log |det dz/dv| = D log s - (D + 1) log(1 + t),

so ``||z - x_k|| = lambda t / (1 + t) < lambda``: every image lies strictly inside its cell. With
``lambda`` finite this is the paper's ``alpha = t / (1 + t)``, ``z = x_k + alpha lambda u``. The
active face is chosen without gradient and then recomputed differentiably, so gradients reach the
anchors (and the box). ``quantize`` is the nearest anchor, which inverts the cell assignment
exactly.

References:
    Chen, Amos and Nickel, "Semi-Discrete Normalizing Flows through Differentiable Tessellation"
    (NeurIPS 2022, arXiv 2203.06832).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["VoronoiTessellation"]


class VoronoiTessellation(nn.Module):
    """``K`` learnable anchors in ``R^D``, optionally inside a learnable box.

    Args:
        num_cells: the number of cells ``K`` (>= 1).
        features: the dimension ``D``.
        box: half-width of the initial box ``[-box, box]^D`` (its centre and per-axis half-widths
            are learned), or ``None`` for unbounded cells.
        anchors: initial anchors ``(K, D)``; by default uniform in the box (or in ``[-1, 1]^D``).
        scale: initial value of each cell's scale ``s`` (learned, one per cell).
        learn_box: learn the box's centre and half-widths.

    Examples:
        >>> tess = VoronoiTessellation(5, 2)
        >>> v, k = torch.randn(7, 2), torch.randint(5, (7,))
        >>> z, ladj = tess.to_cell(v, k)
        >>> bool((tess.quantize(z) == k).all())
        True
    """

    def __init__(
        self,
        num_cells: int,
        features: int,
        *,
        box: float | None = 1.0,
        anchors: Tensor | None = None,
        scale: float = 1.0,
        learn_box: bool = True,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if not isinstance(num_cells, int) or num_cells < 1:
            raise ValueError(f"num_cells must be a positive integer, got {num_cells!r}")
        if not isinstance(features, int) or features < 1:
            raise ValueError(f"features must be a positive integer, got {features!r}")
        if box is not None and not box > 0:
            raise ValueError(f"box must be a positive half-width or None, got {box!r}")
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale!r}")
        self.num_cells, self.features = num_cells, features
        self.bounded = box is not None
        if anchors is None:
            half = box if box is not None else 1.0
            anchors = (2 * torch.rand(num_cells, features, generator=generator) - 1) * 0.9 * half
        anchors = torch.as_tensor(anchors, dtype=torch.get_default_dtype())
        if anchors.shape != (num_cells, features):
            raise ValueError(
                f"anchors must have shape ({num_cells}, {features}), got {tuple(anchors.shape)}"
            )
        if self.bounded:
            self.box_center = nn.Parameter(torch.zeros(features), requires_grad=learn_box)
            self.box_log_half = nn.Parameter(
                torch.full((features,), math.log(box)), requires_grad=learn_box
            )
            frac = ((anchors / box + 1) / 2).clamp(1e-4, 1 - 1e-4)
            self.anchor_raw = nn.Parameter(torch.logit(frac))  # anchors stay inside the box
        else:
            self.anchor_raw = nn.Parameter(anchors.clone())
        self.log_scale = nn.Parameter(torch.full((num_cells,), math.log(scale)))

    # ---- geometry -------------------------------------------------------------------------
    def box(self) -> tuple[Tensor, Tensor] | None:
        """``(lo, hi)`` of the box, each ``(D,)``, or ``None`` for unbounded cells."""
        if not self.bounded:
            return None
        half = self.box_log_half.exp()
        return self.box_center - half, self.box_center + half

    @property
    def anchors(self) -> Tensor:
        """The anchors ``(K, D)`` (inside the box when there is one)."""
        if not self.bounded:
            return self.anchor_raw
        lo, hi = self.box()
        return lo + (hi - lo) * torch.sigmoid(self.anchor_raw)

    def quantize(self, z: Tensor) -> Tensor:
        """The index of the nearest anchor, ``(...)`` long, for points ``z (..., D)``."""
        self._check_points(z)
        anchors = self.anchors.detach().to(z.dtype)
        # ||z - x_k||^2 up to the term ||z||^2 that every k shares; ties are measure zero
        dist = (anchors * anchors).sum(-1) - 2 * z @ anchors.T
        return dist.argmin(-1)

    def inverse_ray_distance(self, k: Tensor, u: Tensor) -> Tensor:
        """``rho = 1 / lambda``: the inverse distance from anchor ``k`` to its cell's boundary
        along unit directions ``u``.

        Args:
            k: cell indices ``(N,)`` long.
            u: unit directions ``(N, D)``.

        Returns:
            ``(N,)``, >= 0 (0 where an unbounded cell never ends in that direction).
        """
        anchors, box, _ = self._params(u.dtype, len(k))
        return _inverse_ray_distance(anchors, box, k, u)

    # ---- the bijection ------------------------------------------------------------------------
    def to_cell(self, v: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
        """Map offsets ``v`` in ``R^D`` into cells ``k``.

        Args:
            v: ``(..., D)``.
            k: ``(...)`` long cell indices (broadcast with ``v``'s batch shape).

        Returns:
            ``(z, ladj)``: points ``(..., D)`` inside their cells and ``log |det dz/dv|`` ``(...)``.
        """
        v, k, shape = self._flatten(v, k)
        z, ladj = _to_cell(*self._params(v.dtype, len(k)), k, v)
        return z.reshape(*shape, self.features), ladj.reshape(shape)

    def from_cell(self, z: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
        """The inverse of :meth:`to_cell`: offsets ``v`` and ``log |det dv/dz|``.

        ``z`` must lie inside cell ``k`` (e.g. ``k = quantize(z)`` and, with a box, ``z`` in the
        box); otherwise the result is not finite.
        """
        z, k, shape = self._flatten(z, k)
        v, ladj = _from_cell(*self._params(z.dtype, len(k)), k, z)
        return v.reshape(*shape, self.features), ladj.reshape(shape)

    def _params(self, dtype: torch.dtype, n: int):
        """Anchors ``(n, K, D)`` (an expanded view), the box ``((n, D), (n, D))`` or ``None``, and
        the log-scales ``(n, K)``, as the functional core takes them."""
        anchors = self.anchors.to(dtype).expand(n, -1, -1)
        box = None
        if self.bounded:
            box = tuple(b.to(dtype).expand(n, -1) for b in self.box())
        return anchors, box, self.log_scale.to(dtype).expand(n, -1)

    @staticmethod
    def stacked_to_cell(
        tessellations: list[VoronoiTessellation], v: Tensor, k: Tensor
    ) -> tuple[Tensor, Tensor]:
        """:meth:`to_cell` of ``V`` tessellations with the same ``K``, ``D`` and boundedness at
        once: ``v (..., V, D)``, ``k (..., V)`` -> ``z (..., V, D)``, ``ladj (..., V)``."""
        first = tessellations[0]
        V, D = len(tessellations), first.features
        anchors = torch.stack([t.anchors for t in tessellations]).to(v.dtype)  # (V, K, D)
        log_s = torch.stack([t.log_scale for t in tessellations]).to(v.dtype)  # (V, K)
        batch = v.shape[:-2]
        n = math.prod(batch)
        index = torch.arange(V, device=v.device).repeat(n)  # variable of each flattened point
        box = None
        if first.bounded:
            lo, hi = (torch.stack(b).to(v.dtype) for b in zip(*(t.box() for t in tessellations)))
            box = (lo[index], hi[index])
        z, ladj = _to_cell(anchors[index], box, log_s[index], k.reshape(-1), v.reshape(-1, D))
        return z.reshape(*batch, V, D), ladj.reshape(*batch, V)

    def in_box(self, z: Tensor) -> Tensor:
        """Whether points ``(..., D)`` lie inside the box (always true without one)."""
        if not self.bounded:
            return torch.ones(z.shape[:-1], dtype=torch.bool, device=z.device)
        lo, hi = self.box()
        return ((z >= lo.to(z.dtype)) & (z <= hi.to(z.dtype))).all(-1)

    # ---- helpers --------------------------------------------------------------------------
    def _check_points(self, z: Tensor) -> None:
        if not torch.is_tensor(z) or z.ndim < 1 or z.shape[-1] != self.features:
            shape = tuple(z.shape) if torch.is_tensor(z) else type(z).__name__
            raise ValueError(f"expected points of shape (..., {self.features}), got {shape}")

    def _flatten(self, v: Tensor, k: Tensor) -> tuple[Tensor, Tensor, torch.Size]:
        self._check_points(v)
        if not torch.is_tensor(k) or k.dtype not in (torch.long, torch.int32, torch.int64):
            raise TypeError("cell indices k must be an integer tensor")
        shape = torch.broadcast_shapes(v.shape[:-1], k.shape)
        if ((k < 0) | (k >= self.num_cells)).any():
            raise ValueError(
                f"cell indices must lie in [0, {self.num_cells}), got {k.min()}..{k.max()}"
            )
        v = v.expand(*shape, self.features).reshape(-1, self.features)
        k = k.expand(shape).reshape(-1).long()
        return v, k, shape

    def extra_repr(self) -> str:
        return f"num_cells={self.num_cells}, features={self.features}, bounded={self.bounded}"


# ---- the functional core: per-point anchor sets A (N, K, D), box (lo, hi) (N, D) or None -----


def _inverse_ray_distance(
    anchors: Tensor, box: tuple[Tensor, Tensor] | None, k: Tensor, u: Tensor
) -> Tensor:
    n, K, D = anchors.shape
    rows = torch.arange(n, device=u.device)
    x_k = anchors[rows, k]  # (N, D)
    with torch.no_grad():  # pick the active face; its value is recomputed with gradients
        diff = anchors.detach() - x_k.detach()[:, None, :]  # (N, K, D)
        num = 2 * (diff * u.detach()[:, None, :]).sum(-1)
        den = diff.pow(2).sum(-1)
        own = torch.zeros(n, K, dtype=torch.bool, device=u.device)
        own[rows, k] = True
        ratios = torch.where(own, -torch.inf, num / torch.where(own, 1.0, den))
        if box is not None:
            lo, hi = (b.detach() for b in box)
            xd, ud = x_k.detach(), u.detach()
            ratios = torch.cat([ratios, ud / (hi - xd), -ud / (xd - lo)], -1)
        best, index = ratios.max(-1)
    # the same ratio for the chosen face, differentiable in u, the anchors and the box
    d = anchors[rows, index.clamp(max=K - 1)] - x_k
    rho = 2 * (d * u).sum(-1) / d.pow(2).sum(-1).clamp_min(torch.finfo(u.dtype).tiny)
    if box is not None:
        lo, hi = box
        axis = ((index - K) % D)[:, None]
        upper = (index - K) < D
        u_a, x_a = u.gather(-1, axis)[:, 0], x_k.gather(-1, axis)[:, 0]
        lo_a, hi_a = lo.gather(-1, axis)[:, 0], hi.gather(-1, axis)[:, 0]
        rho_box = torch.where(upper, u_a / (hi_a - x_a), -u_a / (x_a - lo_a))
        rho = torch.where(index >= K, rho_box, rho)
    return torch.where(best > 0, rho, torch.zeros_like(rho))


def _to_cell(anchors, box, log_scale, k, v):
    """``z = x_k + s v / (1 + s ||v|| rho(u))`` and ``D log s - (D + 1) log(1 + t)``."""
    rows = torch.arange(len(k), device=v.device)
    D = v.shape[-1]
    r = v.norm(dim=-1)
    u = v / r.clamp_min(torch.finfo(v.dtype).tiny)[:, None]
    rho = _inverse_ray_distance(anchors, box, k, u)
    log_s = log_scale[rows, k]
    s = log_s.exp()
    t = s * r * rho
    z = anchors[rows, k] + (s / (1 + t))[:, None] * v
    return z, D * log_s - (D + 1) * torch.log1p(t)


def _from_cell(anchors, box, log_scale, k, z):
    """The inverse: ``v = w / (s (1 - ||w|| rho))`` with ``w = z - x_k``."""
    rows = torch.arange(len(k), device=z.device)
    D = z.shape[-1]
    w = z - anchors[rows, k]
    big_r = w.norm(dim=-1)
    u = w / big_r.clamp_min(torch.finfo(z.dtype).tiny)[:, None]
    rho = _inverse_ray_distance(anchors, box, k, u)
    log_s = log_scale[rows, k]
    inside = 1 - big_r * rho  # alpha = R rho = t / (1 + t), so 1 - alpha = 1 / (1 + t)
    v = w / (log_s.exp() * inside)[:, None]
    return v, -D * log_s - (D + 1) * torch.log(inside)
