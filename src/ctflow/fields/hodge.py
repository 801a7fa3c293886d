"""A test problem with a known Hodge decomposition on the flat torus, and a potential network.

``HodgeProblem`` draws a field ``f = grad phi + w`` on ``[0, 2 pi)^d`` from random plane waves:
``phi = sum_m b_m sin(q_m . x + e_m)`` and ``w = sum_m a_m cos(k_m . x + c_m)`` with
``a_m . k_m = 0``, so ``w`` is divergence-free and ``grad phi`` curl-free, each scaled to mean
square 1. On the torus the split is unique up to the constant field, here zero, so a method that
recovers ``w`` from ``f`` can be scored exactly. ``PotentialNet`` is the classical baseline: a
periodic scalar network whose gradient is the curl-free part.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..nn import MLP
from ._checks import batched
from .torus import PeriodicEmbedding

__all__ = ["HodgeProblem", "PotentialNet", "random_wave_vectors", "relative_l2_error"]


def random_wave_vectors(d: int, count: int, gen: torch.Generator) -> Tensor:
    """``count`` distinct nonzero integer wave vectors with entries in {-1, 0, 1}, 1-3 nonzero."""
    chosen: list[tuple[int, ...]] = []
    while len(chosen) < count:
        k = torch.zeros(d, dtype=torch.long)
        support = torch.randperm(d, generator=gen)[: int(torch.randint(1, 4, (), generator=gen))]
        k[support] = torch.randint(0, 2, (len(support),), generator=gen) * 2 - 1
        key = tuple(k.tolist())
        if key not in chosen and tuple(-v for v in key) not in chosen:
            chosen.append(key)
    return torch.tensor(chosen, dtype=torch.float64)


class HodgeProblem:
    """A field on T^d with a known curl-free and divergence-free part (float64, per point).

    Args:
        d: dimension.
        waves: plane waves per part.
        seed: draws the waves.
        swap: exchange the two parts' wave vectors (the same draws otherwise): a control for
            how much of a seed's outcome is which part got the harder waves.
    """

    def __init__(self, d: int, waves: int, seed: int, swap: bool = False):
        gen = torch.Generator().manual_seed(seed)
        self.d = d
        q = random_wave_vectors(d, waves, gen)
        self.e = 2 * math.pi * torch.rand(waves, generator=gen, dtype=torch.float64)
        b = torch.randn(waves, generator=gen, dtype=torch.float64)
        k = random_wave_vectors(d, waves, gen)
        self.c = 2 * math.pi * torch.rand(waves, generator=gen, dtype=torch.float64)
        a = torch.randn(waves, d, generator=gen, dtype=torch.float64)
        self.q, self.k = (k, q) if swap else (q, k)
        # mean square of grad phi = sum_m b_m^2 |q_m|^2 / 2
        self.b = b / torch.sqrt((b**2 * (self.q**2).sum(-1)).sum() / 2)
        a = a - (a * self.k).sum(-1, keepdim=True) / (self.k**2).sum(-1, keepdim=True) * self.k
        self.a = a / torch.sqrt((a**2).sum() / 2)

    def gradient_part(self, x: Tensor) -> Tensor:
        """``grad phi``: ``(*batch, d) -> (*batch, d)``."""
        q, b, e = (v.to(x) for v in (self.q, self.b, self.e))
        return torch.cos(x @ q.T + e) @ (b[:, None] * q)

    def divfree_part(self, x: Tensor) -> Tensor:
        """``w``: ``(*batch, d) -> (*batch, d)``."""
        k, a, c = (v.to(x) for v in (self.k, self.a, self.c))
        return torch.cos(x @ k.T + c) @ a

    def field(self, x: Tensor) -> Tensor:
        """``f = grad phi + w``: ``(*batch, d) -> (*batch, d)``."""
        return self.gradient_part(x) + self.divfree_part(x)

    def divergence(self, x: Tensor) -> Tensor:
        """``div f = Lap phi``: ``(*batch, d) -> (*batch,)``."""
        q, b, e = (v.to(x) for v in (self.q, self.b, self.e))
        return -(torch.sin(x @ q.T + e) * (b * (q**2).sum(-1))).sum(-1)


class PotentialNet(nn.Module):
    """A periodic scalar potential on T^d: ``(*batch, d) -> (*batch,)``.

    ``gradient_and_laplacian(x)`` gives ``grad phi`` ``(*batch, d)`` and ``Lap phi`` ``(*batch,)``
    by forward-over-reverse differentiation, one point at a time.
    """

    def __init__(self, d: int, hidden: tuple[int, ...], act: str):
        super().__init__()
        embed = PeriodicEmbedding(d)
        self.net = nn.Sequential(embed, MLP(embed.out_features, 1, hidden=hidden, act=act))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)[..., 0]

    def gradient_and_laplacian(self, x: Tensor) -> tuple[Tensor, Tensor]:
        def one(p: Tensor) -> Tensor:
            grad_fn = torch.func.grad(lambda q: self(q))
            hess, grad = torch.func.jacfwd(lambda q: (grad_fn(q), grad_fn(q)), has_aux=True)(p)
            return torch.cat([grad, torch.trace(hess)[None]])

        out = batched(one, x)
        return out[..., :-1], out[..., -1]


def relative_l2_error(estimate: Tensor, truth: Tensor) -> float:
    """``||estimate - truth|| / ||truth||``, RMS over points: both ``(n, d)``."""
    return float(((estimate - truth) ** 2).sum(-1).mean().sqrt() / (truth**2).sum(-1).mean().sqrt())
