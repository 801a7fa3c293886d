"""Solve a weight SDE (and the hidden state it drives) together with its Girsanov log-ratio.

The posterior ``dw = f_q(t, w) dt + sigma dB`` and the prior ``dw = f_p(t, w) dt + sigma dB``
share ``sigma``, so with ``u = (f_q - f_p) / sigma`` the pathwise log density ratio is

    log dQ/dP (w) = int 1/2 |u|^2 dt + int u . dB,

and ``KL(Q || P) = E_Q int 1/2 |u|^2 dt``. One augmented SDE on ``[h, w, l]`` with drift
``[f_h(t, h, w), f_q, |u|^2 / 2]`` and diffusion ``[0, sigma, 0]`` gives ``h_1``, ``w_1`` and the
``dt`` part. Three estimators of the KL term:

* ``"path"``: ``int 1/2 |u|^2 dt`` only (the ``dB`` term has mean zero);
* ``"full"``: the whole log-ratio, ``u`` live in both terms;
* ``"stl"``: sticking the landing; the ``dB`` term uses ``u`` with the posterior's parameters
  detached but ``w`` live, which removes the score term whose variance does not vanish at the
  optimum.

The ``dB`` term needs the Brownian increments, so ``"full"`` and ``"stl"`` use the native
Euler-Maruyama solver, which returns them; it is evaluated after the solve, for all steps at
once. ``"path"`` also runs on torchsde, with the stochastic adjoint if asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call

from .._validate import check_finite
from ..solvers import sdeint

__all__ = ["ESTIMATORS", "GirsanovSolution", "girsanov_sdeint"]

ESTIMATORS = ("path", "stl", "full")

Drift = Callable[[Tensor, Tensor], Tensor]
HiddenField = Callable[[Tensor, Tensor, Tensor], Tensor]


@dataclass
class GirsanovSolution:
    """What :func:`girsanov_sdeint` returns.

    Attributes:
        w: weights at ``t1``, shape of ``w0``.
        logratio: the per-path estimate of ``log dQ/dP`` (the KL estimator), shape ``batch`` for
            per-example paths, ``()`` for a shared one.
        h: hidden state at ``t1`` (shape of ``h0``), or None without a field.
        t1: the time the solve reached (a 0-d tensor, equal to the requested ``t1``).
        steps: solver steps taken.
    """

    w: Tensor
    logratio: Tensor
    h: Tensor | None
    t1: Tensor
    steps: int


class _Packing:
    """Lays ``[h, w, l]`` out as one state: ``(*batch, d + P + 1)`` for per-example weights, or a
    single vector ``(B d + P + 1,)`` when one weight path ``(P,)`` is shared by the batch."""

    def __init__(self, h0: Tensor | None, w0: Tensor) -> None:
        self.shared = h0 is not None and w0.dim() == 1 and h0.dim() > 1
        self.h_shape = None if h0 is None else h0.shape
        self.n_weights = w0.shape[-1]
        if h0 is None:
            self.n_h = 0
        elif self.shared:
            self.n_h = h0.numel()
        else:
            if w0.shape[:-1] != h0.shape[:-1]:
                raise ValueError(
                    f"w0 must be (P,) (shared) or (*batch, P) with h0's batch dims, got "
                    f"w0 {tuple(w0.shape)} and h0 {tuple(h0.shape)}"
                )
            self.n_h = h0.shape[-1]

    def pack(self, h0: Tensor | None, w0: Tensor) -> Tensor:
        zero = w0.new_zeros((*w0.shape[:-1], 1))
        if h0 is None:
            return torch.cat([w0, zero], dim=-1)
        h = h0.reshape(-1) if self.shared else h0.to(w0.dtype)
        return torch.cat([h.to(w0.dtype), w0, zero], dim=-1)

    def unpack(self, z: Tensor) -> tuple[Tensor | None, Tensor, Tensor]:
        h = z[..., : self.n_h]
        w = z[..., self.n_h : self.n_h + self.n_weights]
        if self.h_shape is None:
            h = None
        elif self.shared:
            h = h.reshape(*z.shape[:-1], *self.h_shape)
        return h, w, z[..., -1]

    def diffusion(self, z: Tensor, sigma: float) -> Tensor:
        g = torch.zeros(z.shape[-1], dtype=z.dtype, device=z.device)
        g[self.n_h : self.n_h + self.n_weights] = sigma
        return g.expand(z.shape)


def _detached_call(module: nn.Module, t: Tensor, w: Tensor) -> Tensor:
    params = {name: p.detach() for name, p in module.named_parameters()}
    return functional_call(module, params, (t, w))


def _parameters(*modules: object) -> tuple[Tensor, ...]:
    seen, out = set(), []
    for m in modules:
        if isinstance(m, nn.Module):
            for p in m.parameters():
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    out.append(p)
    return tuple(out)


def girsanov_sdeint(
    posterior_drift: Drift,
    prior_drift: Drift,
    sigma: float,
    w0: Tensor,
    *,
    field: HiddenField | None = None,
    h0: Tensor | None = None,
    steps: int = 20,
    t0: float = 0.0,
    t1: float = 1.0,
    estimator: str = "path",
    backend: str = "native",
    adjoint: bool = False,
    generator: torch.Generator | None = None,
    bm: object | None = None,
) -> GirsanovSolution:
    """Solve the weight SDE, optionally the hidden state it drives, and the log-ratio estimate.

    Args:
        posterior_drift: ``f_q(t, w)``; an ``nn.Module`` for ``estimator="stl"``. For ``"stl"``
            and ``"full"`` it is also called once on all steps at once with ``w`` of shape
            ``(steps, *batch, P)`` and ``t`` of shape ``(steps, 1, ..., 1)`` (one dim per
            dim of ``w.shape[:-1]``), so it must broadcast ``t`` against ``w.shape[:-1]``.
        prior_drift: ``f_p(t, w)``, e.g. :func:`~ctflow.bayes.ou.ou_drift`; parameter-free.
        sigma: the shared diffusion coefficient (> 0).
        w0: initial weights, ``(*batch, P)`` per example or ``(P,)`` shared by the batch of ``h0``.
        field: hidden dynamics ``f_h(t, h, w)`` with ``h`` ``(*batch, d)``; None for a pure
            weight SDE.
        h0: initial hidden state ``(*batch, d)`` (with ``field``).
        steps: Euler-Maruyama steps on ``[t0, t1]``; the solve ends exactly at ``t1``.
        t0, t1: the time interval.
        estimator: one of ``ESTIMATORS``.
        backend: ``"native"`` or ``"torchsde"`` (``estimator="path"`` only).
        adjoint: the stochastic adjoint (torchsde backend, ``"path"`` estimator).
        generator: the noise source (torchsde: seeds its Brownian interval).
        bm: optional Brownian increments (native, shape ``(steps, *state)``) or a torchsde
            Brownian object of the packed state's size, to replay a path.

    Returns:
        A :class:`GirsanovSolution`.

    Examples:
        >>> from ctflow.bayes import ou_drift
        >>> w0 = torch.zeros(64, 3)
        >>> sol = girsanov_sdeint(lambda t, w: -w + 1.0, ou_drift, 0.5, w0, steps=50)
        >>> sol.logratio.shape, float(sol.t1)
        (torch.Size([64]), 1.0)
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of: {', '.join(ESTIMATORS)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not float(sigma) > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    if not t1 > t0:
        raise ValueError(f"need t1 > t0, got t0={t0}, t1={t1}")
    if (field is None) != (h0 is None):
        raise ValueError("field and h0 go together: pass both or neither")
    if estimator != "path" and backend != "native":
        raise ValueError(
            f"estimator {estimator!r} needs the Brownian increments: use backend='native' (or "
            "estimator='path' with torchsde)"
        )
    if estimator == "stl" and not isinstance(posterior_drift, nn.Module):
        raise TypeError("estimator='stl' needs posterior_drift to be an nn.Module (to detach it)")
    sigma = float(sigma)
    check_finite(w0, "w0")
    if h0 is not None:
        check_finite(h0, "h0")
    packing = _Packing(h0, w0)

    def drift(t: Tensor, z: Tensor) -> Tensor:
        h, w, _ = packing.unpack(z)
        fq = posterior_drift(t, w)
        u = (fq - prior_drift(t, w)) / sigma
        parts = [fq, 0.5 * (u * u).sum(-1, keepdim=True)]
        if field is not None:
            dh = field(t, h, w)
            parts.insert(0, dh.reshape(-1) if packing.shared else dh)
        return torch.cat(parts, dim=-1)

    def diffusion(t: Tensor, z: Tensor) -> Tensor:
        return packing.diffusion(z, sigma)

    z0 = packing.pack(h0, w0)
    kw: dict = dict(generator=generator, bm=bm, backend=backend)
    if backend == "torchsde":
        ts = torch.tensor([t0, t1], dtype=z0.dtype, device=z0.device)
        kw.update(dt=(t1 - t0) / steps, adjoint=adjoint)
        if adjoint:
            kw["adjoint_params"] = _parameters(posterior_drift, prior_drift, field)
        zs = sdeint(drift, diffusion, z0, ts, **kw)
        _, _, logratio = packing.unpack(zs[-1])
    elif estimator == "path":
        ts = torch.tensor([t0, t1], dtype=z0.dtype, device=z0.device)
        zs = sdeint(drift, diffusion, z0, ts, dt=(t1 - t0) / steps, adjoint=adjoint, **kw)
        _, _, logratio = packing.unpack(zs[-1])
    else:
        # every step is an output point: the dB term needs w at each step's left end
        ts = torch.linspace(t0, t1, steps + 1, dtype=z0.dtype, device=z0.device)
        zs, dzs = sdeint(drift, diffusion, z0, ts, return_increments=True, adjoint=adjoint, **kw)
        _, ws, ls = packing.unpack(zs[:-1])
        _, dbs, _ = packing.unpack(dzs)
        tk = ts[:-1].reshape(steps, *([1] * (ws.dim() - 2)))  # broadcasts to ws.shape[:-1]
        if estimator == "stl":
            fq = _detached_call(posterior_drift, tk, ws)
        else:
            fq = posterior_drift(tk, ws)
        u = (fq - prior_drift(tk, ws)) / sigma
        logratio = packing.unpack(zs[-1])[2] + (u * dbs).sum(dim=(0, -1))
    h1, w1, _ = packing.unpack(zs[-1])
    return GirsanovSolution(w=w1, logratio=logratio, h=h1, t1=ts[-1], steps=steps)
