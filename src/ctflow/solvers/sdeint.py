"""``sdeint``: Ito SDE solves on an output grid, natively or through torchsde.

The native backend (Euler-Maruyama, Milstein) accepts states of any batch shape ``(*batch, d)``,
can be driven by user-supplied Brownian increments, and can return the increments it used; it is
differentiated by ordinary backpropagation. The torchsde backend adds SRK, adaptive stepping and
the stochastic adjoint; states are flattened to the ``(B, d)`` torchsde requires and back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Literal, overload

import torch
from torch import Tensor

from ._checks import as_state_tuple, check_method, check_positive, check_times, steps_per_interval
from .counting import SolveStats
from .sde_steps import (
    BrownianIncrements,
    check_brownian,
    euler_maruyama_step,
    integrate_fixed,
    milstein_step,
    noise_shape_of,
)
from .sde_torchsde import default_adjoint_params, sdeint_torchsde

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
            adjoint_params = default_adjoint_params(f, g)
        xs = sdeint_torchsde(
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
    noise_shape = noise_shape_of(g, x0, t, noise)
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


def _is_brownian(bm: object) -> bool:
    import torchsde  # deferred: only needed when a Brownian object may be involved

    return isinstance(bm, torchsde.BaseBrownian)


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
        check_brownian(bm, noise_shape)
        return BrownianIncrements(noise_shape, x0, brownian=bm, record=record)
    raise TypeError(
        f"bm must be a tensor of increments or a torchsde Brownian object, got {type(bm).__name__}"
    )
