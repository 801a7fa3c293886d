"""The native fixed-step explicit Runge-Kutta stepper (the fast path of ``odeint``).

States are tensors or tuples of tensors. Step sizes are Python floats so each update is one fused
``torch.add(y, k, alpha=h * a)``; the per-step overhead stays small next to a network call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .integrals import IntegralDynamics
from .tableaus import ButcherTableau

__all__ = ["solve_fixed_grid"]


def _add_tensor(y: Tensor, k: Tensor, alpha: float) -> Tensor:
    return torch.add(y, k, alpha=alpha)


def _add_tuple(y: tuple, k: tuple, alpha: float) -> tuple:
    return tuple(torch.add(a, b, alpha=alpha) for a, b in zip(y, k))


def solve_fixed_grid(
    f: Callable,
    y0: Tensor | tuple[Tensor, ...],
    t: Tensor,
    tableau: ButcherTableau,
    steps: Sequence[int],
    project: Callable[[Tensor], Tensor] | None = None,
    compile: bool = False,
) -> list:
    """Integrate ``dy/dt = f(t, y)`` with equal fixed steps inside each output interval.

    Args:
        f: the field, ``f(t, y)`` with ``t`` a 0-d tensor.
        y0: the state at ``t[0]``: a tensor or a tuple of tensors.
        t: output times, shape ``(T,)``, strictly monotone.
        tableau: the explicit Runge-Kutta method.
        steps: number of equal steps in each of the ``T - 1`` intervals.
        project: applied to the state (its first tensor, for tuples) after every step.
        compile: run each step as one ``torch.compile`` graph (all stages and the update).

    Returns:
        A list of ``T`` states, one per output time.
    """
    is_tuple = isinstance(y0, tuple)
    if compile:
        return _solve_compiled(f, y0, t, tableau, steps, project, is_tuple)
    if isinstance(f, IntegralDynamics):
        return _solve_with_integrals(f, y0, t, tableau, steps, project)
    add = _add_tuple if is_tuple else _add_tensor
    a_rows, b, c = tableau.a, tableau.b, tableau.c
    y = y0
    out = [y0]
    t_list = t.tolist()
    for i, n in enumerate(steps):
        t_start, t_end = t_list[i], t_list[i + 1]
        h = (t_end - t_start) / n
        for s in range(n):
            t_s = t_start + s * h
            ks = []
            for ci, row in zip(c, a_rows):
                y_stage = y
                for j, a in enumerate(row):
                    if a != 0.0:
                        y_stage = add(y_stage, ks[j], h * a)
                # fields see t as a 0-d tensor of the state's dtype and device
                t_stage = torch.full((), t_s + ci * h, dtype=t.dtype, device=t.device)
                ks.append(f(t_stage, y_stage))
            for bi, k in zip(b, ks):
                if bi != 0.0:
                    y = add(y, k, h * bi)
            if project is not None:
                y = (project(y[0]), *y[1:]) if is_tuple else project(y)
        out.append(y)
    return out


def _solve_with_integrals(
    f: IntegralDynamics,
    y0: tuple[Tensor, ...],
    t: Tensor,
    tableau: ButcherTableau,
    steps: Sequence[int],
    project: Callable[[Tensor], Tensor] | None,
) -> list:
    """:func:`solve_fixed_grid` for ``(y, *q)``: stages carry ``y`` alone, and the integrands are
    evaluated only at stages of non-zero weight, where they are added to ``q`` straight away."""
    a_rows, b, c = tableau.a, tableau.b, tableau.c
    y, q = y0[0], y0[1:]
    out = [y0]
    t_list = t.tolist()
    for i, n in enumerate(steps):
        t_start, t_end = t_list[i], t_list[i + 1]
        h = (t_end - t_start) / n
        for s in range(n):
            t_s = t_start + s * h
            ks = []
            for ci, row, bi in zip(c, a_rows, b):
                y_stage = y
                for j, a in enumerate(row):
                    if a != 0.0:
                        y_stage = torch.add(y_stage, ks[j], alpha=h * a)
                t_stage = torch.full((), t_s + ci * h, dtype=t.dtype, device=t.device)
                if bi == 0.0:
                    ks.append(f.field(t_stage, y_stage))
                else:
                    k, *g = f.field_and_integrands(t_stage, y_stage)
                    ks.append(k)
                    q = tuple(torch.add(qk, gk, alpha=h * bi) for qk, gk in zip(q, g))
            for bi, k in zip(b, ks):
                if bi != 0.0:
                    y = torch.add(y, k, alpha=h * bi)
            if project is not None:
                y = project(y)
        out.append((y, *q))
    return out


def _explicit_step(f: Callable, tableau: ButcherTableau, t0: Tensor, h: Tensor, y, is_tuple: bool):
    """One Runge-Kutta step with ``t0`` and ``h`` as 0-d tensors, the form torch.compile traces
    once per (tableau, field) without specialising on the step size."""

    def axpy(y, k, coef):
        return tuple(a + coef * b for a, b in zip(y, k)) if is_tuple else y + coef * k

    ks = []
    for ci, row in zip(tableau.c, tableau.a):
        y_stage = y
        for j, a in enumerate(row):
            if a != 0.0:
                y_stage = axpy(y_stage, ks[j], h * a)
        ks.append(f(t0 + ci * h, y_stage))
    for bi, k in zip(tableau.b, ks):
        if bi != 0.0:
            y = axpy(y, k, h * bi)
    return y


_compiled_step: Callable | None = None


def _solve_compiled(f, y0, t, tableau, steps, project, is_tuple) -> list:
    global _compiled_step
    if _compiled_step is None:  # one compiled function: its cache holds a graph per field/tableau
        _compiled_step = torch.compile(_explicit_step, dynamic=False)
    y, out = y0, [y0]
    for i, n in enumerate(steps):
        h = (t[i + 1] - t[i]) / n
        for s in range(n):
            y = _compiled_step(f, tableau, t[i] + s * h, h, y, is_tuple)
            if project is not None:
                y = (project(y[0]), *y[1:]) if is_tuple else project(y)
        out.append(y)
    return out
