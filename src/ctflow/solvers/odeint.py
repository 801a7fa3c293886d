"""``odeint``: one entry point for every ODE solve in ctflow.

Fixed-step methods (euler, midpoint, heun, rk4) run natively; adaptive methods and the adjoint
backward pass go through torchdiffeq. The argument order follows torchdiffeq: ``f(t, x)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, overload

import torch
import torchdiffeq
from torch import Tensor, nn

from ..manifolds.base import Manifold
from ._checks import as_state_tuple, check_method, check_positive, check_times, steps_per_interval
from .counting import CountingField, SolveStats
from .fixed_grid import solve_fixed_grid
from .integrals import IntegralDynamics
from .tableaus import FIXED_STEP_TABLEAUS

__all__ = ["odeint", "SolverError", "FIXED_STEP_METHODS", "ADAPTIVE_METHODS", "METHODS"]

FIXED_STEP_METHODS = tuple(FIXED_STEP_TABLEAUS)
ADAPTIVE_METHODS = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun")
METHODS = FIXED_STEP_METHODS + ADAPTIVE_METHODS
# torchdiffeq's names for our fixed-step methods (its rk4 is the 3/8 rule: same order and NFE).
_TORCHDIFFEQ_NAME = {"euler": "euler", "midpoint": "midpoint", "heun": "heun2", "rk4": "rk4"}
# torchdiffeq reports a failed adaptive solve by a bare AssertionError with one of these prefixes.
_SOLVE_FAILURES = {
    "max_num_steps exceeded": "took more steps than options['max_num_steps'] allows",
    "underflow in dt": "shrank its step size to zero",
    "non-finite values in state": "reached non-finite values in the state",
}


class SolverError(RuntimeError):
    """An adaptive solve gave up: too many steps, a vanishing step or a non-finite state.

    Usually the field has become stiff or is blowing up (e.g. training diverged).
    """


# The return type follows the arguments: a tensor state gives a tensor (a tuple state a tuple),
# and return_stats=True pairs it with the SolveStats.
@overload
def odeint(
    f: Callable[[Tensor, Any], Any],
    x0: Tensor,
    t: Tensor | Sequence[float],
    *,
    method: str = ...,
    atol: float = ...,
    rtol: float = ...,
    step_size: float | None = ...,
    adjoint: bool = ...,
    adjoint_params: Sequence[Tensor] | None = ...,
    manifold: Any | None = ...,
    return_stats: Literal[False] = ...,
    options: dict | None = ...,
    compile: bool = ...,
) -> Tensor: ...


@overload
def odeint(
    f: Callable[[Tensor, Any], Any],
    x0: tuple[Tensor, ...],
    t: Tensor | Sequence[float],
    *,
    method: str = ...,
    atol: float = ...,
    rtol: float = ...,
    step_size: float | None = ...,
    adjoint: bool = ...,
    adjoint_params: Sequence[Tensor] | None = ...,
    manifold: Any | None = ...,
    return_stats: Literal[False] = ...,
    options: dict | None = ...,
    compile: bool = ...,
) -> tuple[Tensor, ...]: ...


@overload
def odeint(
    f: Callable[[Tensor, Any], Any],
    x0: Tensor,
    t: Tensor | Sequence[float],
    *,
    method: str = ...,
    atol: float = ...,
    rtol: float = ...,
    step_size: float | None = ...,
    adjoint: bool = ...,
    adjoint_params: Sequence[Tensor] | None = ...,
    manifold: Any | None = ...,
    return_stats: Literal[True],
    options: dict | None = ...,
    compile: bool = ...,
) -> tuple[Tensor, SolveStats]: ...


@overload
def odeint(
    f: Callable[[Tensor, Any], Any],
    x0: tuple[Tensor, ...],
    t: Tensor | Sequence[float],
    *,
    method: str = ...,
    atol: float = ...,
    rtol: float = ...,
    step_size: float | None = ...,
    adjoint: bool = ...,
    adjoint_params: Sequence[Tensor] | None = ...,
    manifold: Any | None = ...,
    return_stats: Literal[True],
    options: dict | None = ...,
    compile: bool = ...,
) -> tuple[tuple[Tensor, ...], SolveStats]: ...


def odeint(
    f: Callable[[Tensor, Any], Any],
    x0: Tensor | tuple[Tensor, ...],
    t: Tensor | Sequence[float],
    *,
    method: str = "dopri5",
    atol: float = 1e-6,
    rtol: float = 1e-5,
    step_size: float | None = None,
    adjoint: bool = False,
    adjoint_params: Sequence[Tensor] | None = None,
    manifold: Any | None = None,
    return_stats: bool = False,
    options: dict | None = None,
    compile: bool = False,
) -> Tensor | tuple[Tensor, ...] | tuple[Tensor | tuple[Tensor, ...], SolveStats]:
    """Solve ``dx/dt = f(t, x)`` from ``x(t[0]) = x0`` and return ``x`` at every time in ``t``.

    Args:
        f: the vector field ``f(t, x) -> dx/dt``; ``t`` is a 0-d tensor, ``x`` has ``x0``'s shape.
            For a tuple state, ``f`` takes and returns a tuple of the same shapes.
        x0: initial state, shape ``(*batch, *event)`` (any batch shape), or a tuple of tensors.
        t: output times, shape ``(T,)`` with ``T >= 2``, strictly increasing or decreasing.
        method: one of ``METHODS``: fixed-step ``euler``, ``midpoint``, ``heun``, ``rk4``, or
            adaptive ``dopri5``, ``dopri8``, ``bosh3``, ``fehlberg2``, ``adaptive_heun``.
        atol, rtol: tolerances of adaptive methods (ignored by fixed-step ones).
        step_size: largest step of a fixed-step method; each output interval gets equal steps.
            ``None`` takes one step per interval of ``t``.
        adjoint: backpropagate by solving the adjoint ODE (memory independent of the step count).
        adjoint_params: the tensors that receive gradients in adjoint mode. Required when ``f``
            is a plain callable; defaults to ``f.parameters()`` when ``f`` is an ``nn.Module``.
        manifold: an object with ``projx(x)`` (and ``proju(x, u)``). Fixed-step methods project the
            state (the first tensor of a tuple) back onto it after every step; adaptive methods
            project the field onto the tangent space and every output onto the manifold.
        return_stats: also return a :class:`SolveStats` with the number of evaluations.
        options: extra options passed to torchdiffeq (adaptive methods only), e.g.
            ``{"max_num_steps": 1000}`` to stop a runaway solve (which, with gradients, holds
            every step's activations) with a :class:`SolverError` instead of exhausting memory.
        compile: fixed-step methods only: run each step (all stages and the update) as one
            ``torch.compile`` graph. The first call compiles (seconds); later calls with the same
            field and method reuse the graph and skip most per-step Python and dispatch overhead.
            A new state shape or network recompiles; torch's ``recompile_limit`` (8) caps how
            many graphs it keeps before falling back to eager steps.

    Returns:
        Fixed by the arguments: the solution, shape ``(T, *x0.shape)`` (a tuple of such tensors
        for a tuple state); with ``return_stats=True``, the pair ``(solution, SolveStats)``.

    Raises:
        SolverError: an adaptive solve exceeded ``max_num_steps``, underflowed its step size, or
            reached a non-finite state; the message gives the method, tolerances and NFE so far.

    Examples:
        >>> x0 = torch.ones(5, 2)
        >>> xs = odeint(lambda t, x: -x, x0, torch.tensor([0.0, 1.0]), method="rk4", step_size=0.1)
        >>> xs.shape
        torch.Size([2, 5, 2])
    """
    if not callable(f):
        raise TypeError(f"f must be callable as f(t, x), got {type(f).__name__}")
    tensors, is_tuple = as_state_tuple(x0)
    t = check_times(t, tensors[0])
    check_method(method, METHODS)
    atol = check_positive(atol, "atol")
    rtol = check_positive(rtol, "rtol")
    step_size = check_positive(step_size, "step_size", allow_none=True)
    if step_size is not None and method in ADAPTIVE_METHODS:
        raise ValueError(
            f"step_size applies to fixed-step methods {FIXED_STEP_METHODS}, not {method!r}"
        )
    if compile and (method not in FIXED_STEP_METHODS or adjoint):
        raise ValueError(
            "compile=True applies to fixed-step methods without adjoint: "
            f"{', '.join(FIXED_STEP_METHODS)}"
        )
    if manifold is not None and not callable(getattr(manifold, "projx", None)):
        raise TypeError("manifold must provide projx(x) (and proju(x, u) for adaptive methods)")
    if adjoint:
        adjoint_params = _adjoint_params(f, adjoint_params)
        if manifold is not None:
            raise ValueError("adjoint=True does not support manifold projection; use adjoint=False")

    stats = SolveStats(method=method)
    shapes = tuple(tuple(v.shape) for v in tensors)
    field = CountingField(f, stats, shapes)
    y0 = tensors if is_tuple else tensors[0]

    if method in FIXED_STEP_METHODS and not adjoint:
        steps = steps_per_interval(t, step_size)
        stats.steps = sum(steps)
        project = _projection(manifold, "projx") if manifold is not None else None
        # compiled steps call f directly: dynamo cannot trace through the counting wrapper cheaply
        func = f if compile else field
        if isinstance(f, IntegralDynamics) and is_tuple and not compile:
            # each stage calls one of the two, so each call is one evaluation
            func = IntegralDynamics(
                CountingField(f.field, stats, shapes[:1]),
                CountingField(f.field_and_integrands, stats, shapes),
            )
        states = solve_fixed_grid(func, y0, t, FIXED_STEP_TABLEAUS[method], steps, project, compile)
        if compile:
            stats.nfe = stats.steps * FIXED_STEP_TABLEAUS[method].stages
        ys = (
            tuple(torch.stack(parts) for parts in zip(*states)) if is_tuple else torch.stack(states)
        )
    else:
        try:
            ys = _solve_torchdiffeq(
                field,
                y0,
                t,
                method,
                atol,
                rtol,
                step_size,
                adjoint,
                adjoint_params,
                manifold,
                options,
                stats,
            )
        except AssertionError as error:
            failure = next((v for k, v in _SOLVE_FAILURES.items() if str(error).startswith(k)), "")
            if not failure:
                raise
            raise SolverError(
                f"{method} (atol={atol:g}, rtol={rtol:g}) {failure} after {stats.nfe} field "
                f"evaluations on [{float(t[0]):g}, {float(t[-1]):g}]: the field is likely stiff or "
                "blowing up (a diverged training run?). Lower the learning rate, loosen the "
                "tolerances, or use a fixed-step method."
            ) from error
    field.forward_done = True
    return (ys, stats) if return_stats else ys


def _adjoint_params(f: Callable, adjoint_params: Sequence[Tensor] | None) -> tuple[Tensor, ...]:
    if adjoint_params is None:
        if isinstance(f, nn.Module):
            return tuple(f.parameters())
        raise ValueError(
            "adjoint=True with a plain callable needs adjoint_params=(tensors to differentiate); "
            "without them those parameters would silently get no gradient. Pass adjoint_params=() "
            "if f has none, or make f an nn.Module."
        )
    params = tuple(adjoint_params)
    if not all(isinstance(p, Tensor) for p in params):
        raise TypeError("adjoint_params must be a sequence of tensors")
    return params


def _solve_torchdiffeq(
    field, y0, t, method, atol, rtol, step_size, adjoint, adjoint_params, manifold, options, stats
):
    opts = dict(options or {})
    if method in FIXED_STEP_METHODS:
        grid = _grid_constructor(step_size)
        opts["grid_constructor"] = grid
        stats.steps = sum(steps_per_interval(t, step_size))
        method = _TORCHDIFFEQ_NAME[method]
    func = field
    if manifold is not None:
        func = _TangentField(field, manifold)
    if adjoint:
        ys = torchdiffeq.odeint_adjoint(
            func,
            y0,
            t,
            rtol=rtol,
            atol=atol,
            method=method,
            options=opts,
            adjoint_params=adjoint_params,
        )
    else:
        ys = torchdiffeq.odeint(func, y0, t, rtol=rtol, atol=atol, method=method, options=opts)
    if manifold is not None:
        ys = (manifold.projx(ys[0]), *ys[1:]) if isinstance(ys, tuple) else manifold.projx(ys)
    return ys


def _grid_constructor(step_size: float | None):
    """torchdiffeq grid with the native stepper's layout: equal steps inside each interval."""

    def construct(func, y0, t: Tensor) -> Tensor:
        steps = steps_per_interval(t, step_size)
        pieces = [
            torch.linspace(float(t[i]), float(t[i + 1]), n + 1, dtype=t.dtype, device=t.device)[:-1]
            for i, n in enumerate(steps)
        ]
        return torch.cat([*pieces, t[-1:]])

    return construct


class _TangentField:
    """Projects the field onto the manifold's tangent space (first tensor of a tuple state)."""

    def __init__(self, f: Callable, manifold: Any):
        self.f, self.proju = f, _projection(manifold, "proju")

    def __call__(self, t: Tensor, y):
        dy = self.f(t, y)
        if isinstance(y, tuple):
            return (self.proju(y[0], dy[0]), *dy[1:])
        return self.proju(y, dy)


def _projection(manifold: Any, name: str) -> Callable:
    """``manifold.<name>``, without the input checks for a ctflow :class:`Manifold`.

    The solver checked the initial state once; checking every stage of every step again would
    read each state back to the host (a few percent of a small model's solve).
    """
    if isinstance(manifold, Manifold):
        return getattr(manifold, f"_{name}")
    return getattr(manifold, name)
