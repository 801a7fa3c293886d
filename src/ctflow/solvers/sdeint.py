"""``sdeint``: Ito SDE solves on an output grid, natively or through torchsde.

The native backend (Euler-Maruyama, Milstein) accepts states of any batch shape ``(*batch, d)``,
can be driven by user-supplied Brownian increments, and can return the increments it used; it is
differentiated by ordinary backpropagation. The torchsde backend adds SRK, adaptive stepping and
the stochastic adjoint; states are flattened to the ``(B, d)`` torchsde requires and back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Literal, overload

import torch
from torch import Tensor, nn

from ._checks import as_state_tuple, check_method, check_positive, check_times, steps_per_interval
from .counting import SolveStats
from .sde_steps import (
    BrownianIncrements,
    diffusion_shape,
    euler_maruyama_step,
    integrate_fixed,
    milstein_step,
)

__all__ = ["sdeint"]

VectorField = Callable[[Tensor, Tensor], Tensor]

NOISE_TYPES = ("diagonal", "general")
BACKENDS = ("native", "torchsde")
NATIVE_METHODS = ("euler", "milstein")
# Ito methods torchsde implements; all but euler need diagonal noise.
TORCHSDE_METHODS = ("euler", "milstein", "srk")

SDEOutput = (
    Tensor | tuple[Tensor, Tensor] | tuple[Tensor, SolveStats] | tuple[Tensor, Tensor, SolveStats]
)


# The return type follows return_increments and return_stats (see Returns below).
@overload
def sdeint(
    f: VectorField,
    g: VectorField,
    x0: Tensor,
    t: Tensor | Sequence[float],
    *,
    method: str = ...,
    dt: float | None = ...,
    noise: str = ...,
    bm: object | None = ...,
    return_increments: Literal[False] = ...,
    return_stats: Literal[False] = ...,
    generator: torch.Generator | None = ...,
    backend: str = ...,
    adaptive: bool = ...,
    adjoint: bool = ...,
    adjoint_params: Sequence[Tensor] | None = ...,
    atol: float = ...,
    rtol: float = ...,
) -> Tensor: ...


@overload
def sdeint(
    f: VectorField,
    g: VectorField,
    x0: Tensor,
    t: Tensor | Sequence[float],
    *,
    method: str = ...,
    dt: float | None = ...,
    noise: str = ...,
    bm: object | None = ...,
    return_increments: Literal[True],
    return_stats: Literal[False] = ...,
    generator: torch.Generator | None = ...,
    backend: str = ...,
    adaptive: bool = ...,
    adjoint: bool = ...,
    adjoint_params: Sequence[Tensor] | None = ...,
    atol: float = ...,
    rtol: float = ...,
) -> tuple[Tensor, Tensor]: ...


@overload
def sdeint(
    f: VectorField,
    g: VectorField,
    x0: Tensor,
    t: Tensor | Sequence[float],
    *,
    method: str = ...,
    dt: float | None = ...,
    noise: str = ...,
    bm: object | None = ...,
    return_increments: Literal[False] = ...,
    return_stats: Literal[True],
    generator: torch.Generator | None = ...,
    backend: str = ...,
    adaptive: bool = ...,
    adjoint: bool = ...,
    adjoint_params: Sequence[Tensor] | None = ...,
    atol: float = ...,
    rtol: float = ...,
) -> tuple[Tensor, SolveStats]: ...


@overload
def sdeint(
    f: VectorField,
    g: VectorField,
    x0: Tensor,
    t: Tensor | Sequence[float],
    *,
    method: str = ...,
    dt: float | None = ...,
    noise: str = ...,
    bm: object | None = ...,
    return_increments: Literal[True],
    return_stats: Literal[True],
    generator: torch.Generator | None = ...,
    backend: str = ...,
    adaptive: bool = ...,
    adjoint: bool = ...,
    adjoint_params: Sequence[Tensor] | None = ...,
    atol: float = ...,
    rtol: float = ...,
) -> tuple[Tensor, Tensor, SolveStats]: ...


def sdeint(
    f: VectorField,
    g: VectorField,
    x0: Tensor,
    t: Tensor | Sequence[float],
    *,
    method: str = "euler",
    dt: float | None = None,
    noise: str = "diagonal",
    bm: object | None = None,
    return_increments: bool = False,
    return_stats: bool = False,
    generator: torch.Generator | None = None,
    backend: str = "native",
    adaptive: bool = False,
    adjoint: bool = False,
    adjoint_params: Sequence[Tensor] | None = None,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> SDEOutput:
    """Solve the Ito SDE ``dX = f(t, X) dt + g(t, X) dW`` and return ``X`` at the times ``t``.

    Each output interval ``[t_i, t_{i+1}]`` is split into equal steps no longer than ``dt`` (one
    step when ``dt`` is None). ``t`` is passed to ``f`` and ``g`` as a 0-d tensor.

    Args:
        f: drift, ``f(t, x)`` with the shape of ``x``.
        g: diffusion; shape ``(*batch, d)`` for ``noise="diagonal"`` (elementwise noise, ``dW``
            has ``x``'s shape) or ``(*batch, d, m)`` for ``noise="general"`` (``dW`` has shape
            ``(*batch, m)``). Additive noise is either of these with ``g`` independent of ``x``.
        x0: initial state, shape ``(*batch, d)`` with any number of batch dims (also none).
        t: strictly increasing output times, shape ``(T,)``, ``T >= 2``.
        method: native: ``"euler"`` (Euler-Maruyama) or ``"milstein"`` (diagonal noise only;
            assumes ``g_i`` depends on ``x_i`` only; its ``dg_i/dx_i`` uses autograd, so under
            grad mode the output requires grad even without parameters: use ``torch.no_grad()``
            for inference). torchsde: ``"euler"``, and for diagonal noise ``"milstein"``,
            ``"srk"``.
        dt: maximal step size; None means one step per output interval (with the torchsde
            backend: the smallest output interval, as torchsde steps with a fixed ``dt`` from
            ``t[0]`` and interpolates linearly onto ``t``).
        noise: ``"diagonal"`` or ``"general"``.
        bm: what drives the solve. Native backend: a tensor of increments of shape
            ``(n_steps, *noise_shape)`` (``n_steps`` is the total over all intervals), or a
            torchsde Brownian object of size ``(B, m)``, ``B = prod(batch)``, queried per step.
            torchsde backend: a torchsde Brownian object of size ``(B, m)``. None: fresh
            ``N(0, h)`` draws from ``generator`` (native) or a ``torchsde.BrownianInterval`` whose
            entropy is drawn from ``generator`` (torchsde).
        return_increments: also return the increments used (native backend only), e.g. for the
            sticking-the-landing estimator or to replay the path via ``bm``.
        return_stats: also return a :class:`~ctflow.solvers.counting.SolveStats`: ``nfe`` counts
            drift evaluations (the methods here evaluate ``g`` about as often), ``nfe_backward``
            those of an adjoint backward pass (filled in when it runs), ``steps`` the native steps.
        generator: random generator for the noise; None uses torch's global one.
        backend: ``"native"`` or ``"torchsde"``.
        adaptive: adaptive stepping (torchsde backend only; ``atol``/``rtol`` apply).
        adjoint: use ``torchsde.sdeint_adjoint`` (torchsde backend only).
        adjoint_params: tensors to differentiate with the adjoint; required when ``f`` is not an
            ``nn.Module``. Default: parameters of ``f`` plus those of ``g`` if it is a module (a
            plain-callable ``g`` is assumed parameter-free; pass ``adjoint_params`` otherwise).
        atol: absolute tolerance for adaptive stepping.
        rtol: relative tolerance for adaptive stepping.

    Returns:
        States of shape ``(T, *x0.shape)``; with ``return_increments=True`` also ``dWs`` of shape
        ``(n_steps, *noise_shape)`` in step order, and with ``return_stats=True`` also the stats,
        in that order: ``xs``, ``(xs, dWs)``, ``(xs, stats)`` or ``(xs, dWs, stats)``.

    Raises:
        TypeError: non-tensor ``x0``/``bm`` or non-callable ``f``/``g``.
        ValueError: bad times, unknown method/noise/backend, non-positive ``dt``, NaN in ``x0``,
            wrongly shaped ``bm`` or ``g(t, x)``, or options the chosen backend lacks.

    Examples:
        >>> x0 = torch.ones(16, 2)
        >>> xs = sdeint(lambda t, x: -x, lambda t, x: 0.1 * x, x0, [0.0, 0.5, 1.0], dt=0.01)
        >>> xs.shape
        torch.Size([3, 16, 2])
    """
    x0, t = _check_inputs(f, g, x0, t)
    check_method(noise, NOISE_TYPES, "noise")
    check_method(backend, BACKENDS, "backend")
    check_method(method, TORCHSDE_METHODS)
    if backend == "native" and method not in NATIVE_METHODS:
        raise ValueError(
            f"method {method!r} needs backend='torchsde'; the native methods are "
            f"{', '.join(NATIVE_METHODS)}"
        )
    if method != "euler" and noise == "general":
        raise ValueError(
            f"method {method!r} supports diagonal noise only; use method='euler' for general noise"
        )
    dt = check_positive(dt, "dt", allow_none=True)
    atol = check_positive(atol, "atol")
    rtol = check_positive(rtol, "rtol")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if adjoint_params is not None and not adjoint:
        raise ValueError("adjoint_params is only used with adjoint=True")
    stats = SolveStats(method=method)
    drift = _CountingDrift(f, stats)
    if backend == "torchsde":
        if return_increments:
            raise ValueError(
                "return_increments needs backend='native' (torchsde does not expose them)"
            )
        if adjoint and adjoint_params is None:
            adjoint_params = _default_adjoint_params(f, g)
        xs = _sdeint_torchsde(
            drift,
            g,
            x0,
            t,
            noise=noise,
            bm=bm,
            generator=generator,
            adjoint=adjoint,
            adjoint_params=adjoint_params,
            method=method,
            dt=dt,
            adaptive=adaptive,
            atol=atol,
            rtol=rtol,
        )
        drift.backward = True  # later calls come from an adjoint backward pass
        return (xs, stats) if return_stats else xs
    if adjoint or adaptive:
        which = "adjoint" if adjoint else "adaptive"
        raise ValueError(
            f"{which}=True needs backend='torchsde'; the native backend uses fixed steps and plain "
            "backpropagation"
        )
    counts = steps_per_interval(t, dt)
    stats.steps = sum(counts)
    noise_shape = _noise_shape(g, x0, t, noise)
    source = _increment_source(bm, stats.steps, noise_shape, x0, generator, return_increments)
    if method == "euler":
        step = partial(euler_maruyama_step, drift, g, noise=noise)
    else:
        step = partial(milstein_step, drift, g)
    xs = integrate_fixed(step, x0, t, counts, source)
    out: tuple[Tensor | SolveStats, ...] = (xs,)
    if return_increments:
        out += (source.stacked(),)
    if return_stats:
        out += (stats,)
    return out if len(out) > 1 else xs


class _CountingDrift:
    """Counts drift evaluations into ``stats`` (forward, or backward once ``backward`` is set)."""

    def __init__(self, f: VectorField, stats: SolveStats) -> None:
        self.f, self.stats, self.backward = f, stats, False

    def __call__(self, t: Tensor, x: Tensor) -> Tensor:
        if self.backward:
            self.stats.nfe_backward += 1
        else:
            self.stats.nfe += 1
        return self.f(t, x)


def _check_inputs(
    f: object, g: object, x0: object, t: Tensor | Sequence[float]
) -> tuple[Tensor, Tensor]:
    for name, fn in (("f", f), ("g", g)):
        if not callable(fn):
            raise TypeError(f"{name} must be callable as {name}(t, x), got {type(fn).__name__}")
    if not isinstance(x0, Tensor):
        raise TypeError(f"x0 must be a tensor of shape (*batch, d), got {type(x0).__name__}")
    as_state_tuple(x0)
    t = check_times(t, x0)
    if bool(t[1] < t[0]):
        raise ValueError("t must be increasing: SDEs are solved forward in time")
    return x0, t


def _noise_shape(g: VectorField, x0: Tensor, t: Tensor, noise: str) -> torch.Size:
    """``dW``'s shape; general noise learns ``m`` from one probe call of ``g``."""
    if noise == "diagonal":
        return x0.shape
    with torch.no_grad():
        probe = g(t[0], x0)
    if not isinstance(probe, Tensor):
        raise TypeError(f"g(t, x) must return a tensor, got {type(probe).__name__}")
    if probe.dim() != x0.dim() + 1 or probe.shape[:-1] != x0.shape:
        raise ValueError(
            f"g(t, x) returned shape {tuple(probe.shape)}, expected {(*x0.shape, 'm')} for "
            "noise='general' (m = number of Brownian motions)"
        )
    return torch.Size((*x0.shape[:-1], probe.shape[-1]))


def _is_brownian(bm: object) -> bool:
    import torchsde  # deferred: only needed when a Brownian object may be involved

    return isinstance(bm, torchsde.BaseBrownian)


def _check_brownian(bm: object, noise_shape: torch.Size) -> None:
    flat = (math.prod(noise_shape[:-1]), noise_shape[-1])
    if tuple(bm.shape) != flat:
        raise ValueError(
            f"the Brownian object bm must have size (B, m) = {flat} (batch flattened), got "
            f"{tuple(bm.shape)}"
        )


def _increment_source(
    bm: object | None,
    n_steps: int,
    noise_shape: torch.Size,
    x0: Tensor,
    generator: torch.Generator | None,
    record: bool,
) -> BrownianIncrements:
    if bm is None:
        return BrownianIncrements(noise_shape, x0, generator=generator, record=record)
    if isinstance(bm, Tensor):
        expected = (n_steps, *noise_shape)
        if tuple(bm.shape) != expected:
            raise ValueError(
                f"bm must have shape (n_steps, *noise_shape) = {expected} for these t, dt and "
                f"noise, got {tuple(bm.shape)}"
            )
        if not bm.is_floating_point():
            raise TypeError(f"bm must be a floating-point tensor, got dtype {bm.dtype}")
        increments = bm.to(device=x0.device, dtype=x0.dtype)
        return BrownianIncrements(noise_shape, x0, increments=increments, record=record)
    if _is_brownian(bm):
        _check_brownian(bm, noise_shape)
        return BrownianIncrements(noise_shape, x0, brownian=bm, record=record)
    raise TypeError(
        f"bm must be a tensor of increments or a torchsde Brownian object, got {type(bm).__name__}"
    )


def _as_time(t: object, like: Tensor) -> Tensor:
    if isinstance(t, Tensor):
        return t.to(dtype=like.dtype)
    return torch.as_tensor(t, dtype=like.dtype, device=like.device)


class _TorchsdeSDE(nn.Module):
    """Adapter: ``(B, d)`` torchsde states to the user's ``(*batch, d)`` drift and diffusion."""

    sde_type = "ito"

    def __init__(
        self, drift: VectorField, diffusion: VectorField, x_shape: torch.Size, noise: str, m: int
    ) -> None:
        super().__init__()
        self.drift, self.diffusion = drift, diffusion
        self.noise_type = noise
        self.x_shape = x_shape
        self.g_shape = diffusion_shape(x_shape, (m,), noise)

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        out = self.drift(_as_time(t, y), y.reshape(self.x_shape))
        if not isinstance(out, Tensor) or out.shape != self.x_shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"f(t, x) returned {got}, expected shape {tuple(self.x_shape)}")
        return out.reshape(y.shape)

    def g(self, t: Tensor, y: Tensor) -> Tensor:
        out = self.diffusion(_as_time(t, y), y.reshape(self.x_shape))
        if not isinstance(out, Tensor) or out.shape != self.g_shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"g(t, x) returned {got}, expected shape {tuple(self.g_shape)}")
        # The batch dims flatten to one; g keeps its trailing (d,) or (d, m).
        return out.reshape(y.shape[0], *self.g_shape[len(self.x_shape) - 1 :])


def _default_adjoint_params(f: object, g: object) -> tuple[Tensor, ...]:
    if not isinstance(f, nn.Module):
        raise ValueError(
            "adjoint=True with a plain-callable f needs adjoint_params (the tensors to "
            "differentiate); pass adjoint_params=() if there are none"
        )
    params = list(f.parameters())
    if isinstance(g, nn.Module):
        seen = {id(p) for p in params}
        params += [p for p in g.parameters() if id(p) not in seen]
    return tuple(params)


def _sdeint_torchsde(
    f: VectorField,
    g: VectorField,
    x0: Tensor,
    t: Tensor,
    *,
    noise: str,
    bm: object | None,
    generator: torch.Generator | None,
    adjoint: bool,
    adjoint_params: Sequence[Tensor] | None,
    method: str,
    dt: float | None,
    **solver_kw: Any,
) -> Tensor:
    """torchsde solve; ``f`` is wrapped, so the adjoint parameters arrive resolved."""
    import torchsde  # deferred: the native backend does not need it

    if isinstance(bm, Tensor):
        raise ValueError(
            "a tensor of increments as bm needs backend='native'; for torchsde pass a torchsde "
            "Brownian object such as torchsde.BrownianInterval"
        )
    if adjoint:
        adjoint_params = tuple(adjoint_params)
        if not all(isinstance(p, Tensor) for p in adjoint_params):
            raise TypeError("adjoint_params must be a sequence of tensors")
    noise_shape = _noise_shape(g, x0, t, noise)
    batch, m = math.prod(x0.shape[:-1]), noise_shape[-1]
    ts = t.detach()
    step = dt if dt is not None else float((ts[1:] - ts[:-1]).min())
    if bm is None:
        # torchsde seeds its Brownian motion by an integer entropy; derive it from generator.
        entropy = None
        if generator is not None:
            draw = torch.randint(0, 2**31 - 1, (), generator=generator, device=generator.device)
            entropy = int(draw)
        bm = torchsde.BrownianInterval(
            t0=float(ts[0]),
            t1=float(ts[-1]),
            size=(batch, m),
            dtype=x0.dtype,
            device=x0.device,
            entropy=entropy,
            levy_area_approximation="space-time" if method == "srk" else "none",
        )
    elif not isinstance(bm, torchsde.BaseBrownian):
        raise TypeError(
            f"bm must be a torchsde Brownian object for backend='torchsde', got {type(bm).__name__}"
        )
    else:
        _check_brownian(bm, noise_shape)
    sde = _TorchsdeSDE(f, g, x0.shape, noise, m)
    y0 = x0.reshape(batch, x0.shape[-1])
    common = dict(bm=bm, method=method, dt=step, **solver_kw)
    if adjoint:
        ys = torchsde.sdeint_adjoint(sde, y0, ts, adjoint_params=adjoint_params, **common)
    else:
        ys = torchsde.sdeint(sde, y0, ts, **common)
    return ys.reshape(ts.numel(), *x0.shape)
