"""Sampling a velocity field at several solver budgets, and a model's test NLL with its error.

The question these answer: how many function evaluations (NFE) does a trained field need? An
adaptive solver (dopri5) reports its NFE at each tolerance; a fixed-step midpoint solve spends a
budget chosen in advance.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..solvers import odeint
from .mle import nll_stats

__all__ = ["BudgetSample", "sample_at_budgets", "mean_nll"]

Field = Callable[[Tensor, Tensor], Tensor]


@dataclass
class BudgetSample:
    """One solve of :func:`sample_at_budgets`.

    Attributes:
        key: metric suffix, ``"tol<tol>"`` (dopri5) or ``"midpoint<nfe>"``.
        label: a figure caption with the NFE spent (or why the solve failed).
        samples: ``(N, D)`` end states; all NaN where the solve failed.
        nfe: function evaluations (NaN where dopri5 failed).
    """

    key: str
    label: str
    samples: Tensor
    nfe: float


@torch.no_grad()
def sample_at_budgets(
    field: Field,
    x0: Tensor,
    t1: float = 1.0,
    tols: Sequence[float] = (),
    midpoint_nfe: Sequence[int] = (),
    max_num_steps: int | None = None,
) -> list[BudgetSample]:
    """Integrate ``x0`` from ``t = 0`` to ``t1`` once per budget.

    Args:
        field: velocity ``field(t, x)``.
        x0: starting points ``(N, D)``.
        t1: end time.
        tols: dopri5 tolerances (``atol = rtol = tol``); a solve that fails (stiff field, too
            many steps) gives NaN samples and NFE instead of raising.
        midpoint_nfe: even evaluation budgets for the fixed-step midpoint method.
        max_num_steps: dopri5's step limit, or ``None`` for the solver's default.

    Returns:
        The dopri5 solves (in ``tols`` order), then the midpoint solves.

    Examples:
        >>> out = sample_at_budgets(lambda t, x: -x, torch.ones(3, 1), midpoint_nfe=(4,))
        >>> out[0].key, out[0].nfe, round(float(out[0].samples[0, 0]), 3)  # exp(-1) = 0.368
        ('midpoint4', 4.0, 0.391)
    """
    if any(n < 2 or n % 2 for n in midpoint_nfe):
        raise ValueError(f"midpoint_nfe must be even numbers >= 2, got {tuple(midpoint_nfe)}")
    options = {} if max_num_steps is None else {"options": {"max_num_steps": max_num_steps}}
    out = []
    t = torch.tensor([0.0, t1], device=x0.device)
    for tol in tols:
        name = f"dopri5 tol {tol:g}"
        try:
            xs, stats = odeint(
                field, x0, t, method="dopri5", atol=tol, rtol=tol, return_stats=True, **options
            )
            out.append(BudgetSample(f"tol{tol:g}", f"{name} ({stats.nfe} NFE)", xs[-1], stats.nfe))
        except (AssertionError, RuntimeError) as err:  # stiff fields can defeat dopri5
            nan = torch.full_like(x0, float("nan"))
            label = f"{name} (failed: {type(err).__name__})"
            out.append(BudgetSample(f"tol{tol:g}", label, nan, float("nan")))
    for nfe in midpoint_nfe:  # nfe / 2 midpoint steps of equal size
        grid = torch.linspace(0.0, t1, nfe // 2 + 1, device=x0.device)
        xs = odeint(field, x0, grid, method="midpoint")
        out.append(BudgetSample(f"midpoint{nfe}", f"midpoint ({nfe} NFE)", xs[-1], float(nfe)))
    return out


def mean_nll(log_prob: Callable[[Tensor], Tensor], x: Tensor) -> dict[str, float]:
    """Test NLL (nats) of ``x`` under ``log_prob``, its standard error and the time it took.

    Args:
        log_prob: maps points ``(N, D)`` to log-densities ``(N,)``.
        x: test points ``(N, D)``.

    Returns:
        ``{"test_nll", "test_nll_stderr", "nll_seconds"}``; NaN values where ``log_prob``
        fails (an adaptive solver giving up).

    Examples:
        >>> normal = torch.distributions.Normal(0.0, 1.0)
        >>> out = mean_nll(lambda x: normal.log_prob(x).sum(-1), torch.zeros(4, 1))
        >>> round(out["test_nll"], 4), out["test_nll_stderr"]
        (0.9189, 0.0)
    """
    start = time.perf_counter()
    try:
        nll, stderr = nll_stats(log_prob(x))
        out = {"test_nll": nll, "test_nll_stderr": stderr}
    except (AssertionError, RuntimeError):
        out = {"test_nll": float("nan"), "test_nll_stderr": float("nan")}
    out["nll_seconds"] = time.perf_counter() - start
    return out
