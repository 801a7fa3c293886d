"""Divergence-free fields on a torus (periodic axes), plus quadrature over the torus.

Any smooth divergence-free field on the flat torus T^d is ``div A + c``: a periodic potential's
divergence plus a constant vector c (the harmonic fields, which are divergence-free but not the
divergence of a periodic potential). In space-time (t, x) with x periodic, c_0 is the mean density,
so the mass ``int rho dx = c_0 * volume`` for every t, and c_j is the mean flux along axis j.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ..nn import MLP
from ._checks import check_dim
from .matrix_field import MatrixField, n_entries
from .vector_field import VectorField

__all__ = ["PeriodicEmbedding", "torus_field", "torus_grid", "torus_integral"]

CONSTRUCTIONS = ("matrix", "vector")


class PeriodicEmbedding(nn.Module):
    """Features that are periodic along some axes: ``y -> (y_free, cos(2 pi k y_p / L),
    sin(2 pi k y_p / L))`` for k = 1..harmonics.

    Args:
        n: input dimension.
        periodic: which axes are periodic (length n); default all.
        periods: the period L of each periodic axis (a number or one per axis of ``y``).
        harmonics: frequencies per periodic axis.

    Shapes:
        ``(*batch, n) -> (*batch, n_free + 2 * harmonics * n_periodic)`` (``out_features``).
    """

    def __init__(
        self,
        n: int,
        periodic: Sequence[bool] | None = None,
        periods: float | Sequence[float] = 2 * math.pi,
        harmonics: int = 1,
    ):
        super().__init__()
        periodic = [True] * n if periodic is None else [bool(p) for p in periodic]
        if len(periodic) != n or not any(periodic):
            raise ValueError(f"periodic must name n={n} axes with at least one periodic one")
        if isinstance(periods, (int, float)):
            periods = [float(periods)] * n
        periods = [float(p) for p in periods]
        if len(periods) != n or not all(p > 0 for p in periods):
            raise ValueError(f"periods must be positive, one per axis (n={n}), got {periods}")
        if not isinstance(harmonics, int) or harmonics < 1:
            raise ValueError(f"harmonics must be a positive integer, got {harmonics!r}")
        self.n = n
        self.periodic = tuple(periodic)
        self.periods = tuple(periods)
        self.register_buffer(
            "free", torch.tensor([i for i in range(n) if not periodic[i]], dtype=torch.long)
        )
        self.register_buffer(
            "wrap", torch.tensor([i for i in range(n) if periodic[i]], dtype=torch.long)
        )
        # axis-major angular frequencies, kept as Python floats so that they take the input's
        # precision (a float32 buffer cast to float64 would break periodicity at 1e-7)
        self.freqs = [
            2 * math.pi * k / periods[i]
            for i in range(n)
            if periodic[i]
            for k in range(1, harmonics + 1)
        ]
        self.harmonics = harmonics
        self.out_features = len(self.free) + 2 * len(self.freqs)

    def forward(self, y: Tensor) -> Tensor:
        freqs = torch.tensor(self.freqs, dtype=y.dtype, device=y.device)
        angles = y[..., self.wrap].repeat_interleave(self.harmonics, dim=-1) * freqs
        return torch.cat([y[..., self.free], torch.cos(angles), torch.sin(angles)], dim=-1)


def torus_field(
    n: int,
    construction: str = "matrix",
    periodic: Sequence[bool] | None = None,
    periods: float | Sequence[float] = 2 * math.pi,
    hidden: Sequence[int] = (64, 64),
    act: str = "tanh",
    harmonics: int = 1,
    constant: Tensor | None = None,
    learn_constant: bool = True,
    time_dependent: bool = False,
) -> MatrixField | VectorField:
    """A divergence-free field that is periodic along the ``periodic`` axes, with its constant.

    The potential network sees ``PeriodicEmbedding`` features, so A (or b) and hence u are exactly
    periodic; ``constant`` (shape ``(n,)``) supplies the harmonic part that no periodic potential
    can. In space-time ``y = (t, x)`` use ``periodic=(False, True, ...)``; then ``constant[0]`` is
    the mean density (the mass over the volume): fixed with ``learn_constant=False``.

    Args:
        n: dimension (>= 2).
        construction: ``"matrix"`` or ``"vector"``.
        periodic, periods, harmonics: see :class:`PeriodicEmbedding`.
        hidden, act: the potential MLP.
        constant, learn_constant: the harmonic constant (default zero) and whether it trains.
        time_dependent: inputs are ``(t, x)`` and u is divergence-free in x (see
            :class:`MatrixField`); ``periodic`` and ``periods`` then describe x only.

    Returns:
        A :class:`MatrixField` or :class:`VectorField` mapping ``(*batch, n) -> (*batch, n)``.
    """
    check_dim(n)
    if construction not in CONSTRUCTIONS:
        raise ValueError(
            f"unknown construction {construction!r}; choose one of: {', '.join(CONSTRUCTIONS)}"
        )
    if time_dependent:
        periodic = (False, *([True] * n if periodic is None else periodic))
        periods = (1.0, *([periods] * n if isinstance(periods, (int, float)) else periods))
    embed = PeriodicEmbedding(n + int(time_dependent), periodic, periods, harmonics)
    out = n_entries(n) if construction == "matrix" else n
    net = nn.Sequential(embed, MLP(embed.out_features, out, hidden=hidden, act=act))
    cls = MatrixField if construction == "matrix" else VectorField
    return cls(
        n,
        net=net,
        constant=constant,
        learn_constant=learn_constant,
        time_dependent=time_dependent,
    )


def torus_grid(
    periods: Sequence[float], points: int, dtype: torch.dtype = torch.float64
) -> tuple[Tensor, float]:
    """A uniform grid on the torus ``prod [0, L_i)`` and the volume of one cell.

    The rectangle rule on it integrates smooth periodic functions to spectral accuracy.

    Returns:
        ``(x, cell)``: ``x`` of shape ``(points ** d, d)`` and the cell volume.
    """
    if not isinstance(points, int) or points < 1:
        raise ValueError(f"points must be a positive integer, got {points!r}")
    axes = [torch.arange(points, dtype=dtype) * (float(p) / points) for p in periods]
    x = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(axes))
    return x, math.prod(float(p) / points for p in periods)


def torus_integral(
    fn: Callable[[Tensor], Tensor], periods: Sequence[float], points: int = 32
) -> Tensor:
    """``int_torus fn(x) dx`` by the rectangle rule; ``fn: (m, d) -> (m, *out)``.

    Returns:
        A tensor of shape ``out``.
    """
    x, cell = torus_grid(periods, points)
    return fn(x).sum(0) * cell
