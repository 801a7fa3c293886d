"""One- and few-step generation: average-velocity fields trained by MeanFlow or shortcut losses.

A flow map jumps along the flow in one evaluation: ``x_t = x_s + (t - s) u(s, t, x_s)``, where
``u`` is the *average* velocity over ``[s, t]``. Time runs from ``s = 0`` (noise) to ``t = 1``
(data), as in :mod:`ctflow.flows.matching`. Models are called ``u(s, t, x)``
(:class:`ctflow.nn.FlowMapMLP`).

- **MeanFlow** (Geng et al., 2025) differentiates ``(t - s) u(s, t, x_s) = int_s^t v`` in ``s``
  along the flow: ``u = v + (t - s) du/ds`` with ``du/ds = v . grad_x u + d_s u``. The loss
  regresses ``u`` on the stop-gradient right-hand side, with ``v`` the conditional velocity and
  ``du/ds`` one forward-mode JVP (``torch.func.jvp``).
- **Shortcut models** (Frans et al., 2024) ask two half jumps to equal one whole jump:
  ``2 u(s, s + 2d) = u(s, s + d, x_s) + u(s + d, s + 2d, x_s + d u(s, s + d, x_s))``.

Both reduce to conditional flow matching where ``s = t``, so a fraction of every batch trains
the instantaneous velocity ``u(t, t, x)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .._validate import check_finite
from ..paths import AffineGaussianPath
from .matching import _draw, _traced

__all__ = [
    "average_velocity_and_derivative",
    "meanflow_loss",
    "shortcut_loss",
    "flow_map_sample",
]

FlowMap = Callable[[Tensor, Tensor, Tensor], Tensor]


def average_velocity_and_derivative(
    model: FlowMap, s: Tensor, t: Tensor, x: Tensor, v: Tensor, context: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """``u(s, t, x)`` and its total derivative in ``s`` along ``dx/ds = v``, in one JVP.

    Args:
        model: the average-velocity field ``u(s, t, x)``.
        s, t: start and end times, shape ``batch`` (``x.shape[:-1]``).
        x: states at ``s``, shape ``(*batch, D)``.
        v: the velocity of ``x`` at ``s``, ``x``'s shape.
        context: passed as the model's fourth argument when given (held fixed).

    Returns:
        ``(u, du/ds)``, both of ``x``'s shape: ``du/ds = v . grad_x u + d_s u`` at fixed ``t``.
        ``u`` carries gradients to the model's parameters; so does ``du/ds`` (detach it for a
        stop-gradient target).
    """
    if context is None:
        return torch.func.jvp(lambda s_, x_: model(s_, t, x_), (s, x), (torch.ones_like(s), v))
    return torch.func.jvp(lambda s_, x_: model(s_, t, x_, context), (s, x), (torch.ones_like(s), v))


def meanflow_loss(
    model: FlowMap,
    path: AffineGaussianPath,
    x1: Tensor,
    *,
    x0: Tensor | None = None,
    s: Tensor | None = None,
    t: Tensor | None = None,
    generator: torch.Generator | None = None,
    context: Tensor | None = None,
    equal_fraction: float = 0.75,
    adaptive_power: float = 0.0,
    adaptive_eps: float = 1e-3,
    velocity: str = "conditional",
) -> Tensor:
    """The MeanFlow loss: ``u(s, t, x_s)`` against ``sg[v + (t - s) du/ds]``.

    Args:
        model: the average-velocity field ``u(s, t, x)``.
        path: the probability path; ``x_s`` and the conditional velocity ``v`` come from it.
        x1: data, shape ``(B, D)``.
        x0: source draws of ``x1``'s shape; default ``N(0, source_scale^2 I)``.
        s, t: start and end times, shape ``(B,)`` with ``s <= t``. By default two uniform draws
            on the path's time range, sorted, and ``t = s`` for a share ``equal_fraction`` of
            the batch (the paper's best setting keeps 75% instantaneous).
        generator: the random generator for ``x0``, ``s`` and ``t``.
        context: passed as the model's fourth argument when given, aligned with ``x1``.
        equal_fraction: the share of examples with ``s = t`` (plain flow matching), in [0, 1].
        adaptive_power: ``p`` of the adaptive weight ``1 / (e + adaptive_eps)^p`` on each
            example's mean squared error ``e`` (the weight is not differentiated). 0 gives the
            plain mean squared error; the paper uses 1.
        adaptive_eps: ``c`` in that weight.
        velocity: ``v`` where ``s < t``, in the JVP's tangent and in the target.
            ``"conditional"`` (the paper): the path's conditional velocity (``x1 - x0`` on
            CondOT). ``"model"``: the model's own instantaneous velocity ``u(s, s, x_s)``,
            without gradient. Both give the same target in expectation over ``x1`` given
            ``x_s`` once ``u(s, s, .)`` is the marginal velocity, and the second has no
            variance from ``x1``: at the exact flow map its loss is 0 on any data (test).
            Examples with ``s = t`` always regress on the conditional velocity, which is what
            trains ``u(s, s, .)``.

    Returns:
        The 0-d loss. With ``s = t`` everywhere and ``adaptive_power = 0`` it equals
        :func:`ctflow.flows.cfm_loss` of the field ``(t, x) -> u(t, t, x)`` at the same draws.

    Examples:
        >>> from ctflow.nn import FlowMapMLP
        >>> from ctflow.paths import CondOTPath
        >>> meanflow_loss(FlowMapMLP(2, hidden=(16,)), CondOTPath(), torch.randn(8, 2)).shape
        torch.Size([])
    """
    if not 0.0 <= equal_fraction <= 1.0:
        raise ValueError(f"equal_fraction must lie in [0, 1], got {equal_fraction}")
    if adaptive_power < 0 or not adaptive_eps > 0:
        raise ValueError("need adaptive_power >= 0 and adaptive_eps > 0")
    if velocity not in ("conditional", "model"):
        raise ValueError(f"velocity must be 'conditional' or 'model', got {velocity!r}")
    x0, s_draw = _draw(model, path, x1, x0, s, generator, 1)
    if x1.dim() != 2:
        raise ValueError(f"x1 must have shape (B, D), got {tuple(x1.shape)}")
    s, t = _times(path, s_draw, s, t, x1, generator, equal_fraction)
    sample = path._sample(x0, x1, s)
    v = sample.dx_t
    if velocity == "model":
        with torch.no_grad():
            args = (s, s, sample.x_t) if context is None else (s, s, sample.x_t, context)
            v = torch.where((s == t).unsqueeze(-1), v, model(*args))
    u, du_ds = average_velocity_and_derivative(model, s, t, sample.x_t, v, context)
    target = (v + (t - s).unsqueeze(-1) * du_ds).detach()
    per_example = (u - target).square().mean(-1)
    if adaptive_power:
        per_example = per_example / (per_example.detach() + adaptive_eps) ** adaptive_power
    return _traced(per_example.mean(), x1=x1, x0=x0, context=context)


def shortcut_loss(
    model: FlowMap,
    path: AffineGaussianPath,
    x1: Tensor,
    *,
    x0: Tensor | None = None,
    generator: torch.Generator | None = None,
    context: Tensor | None = None,
    consistency_fraction: float = 0.25,
    min_step: float = 1 / 128,
) -> Tensor:
    """The shortcut-model loss: flow matching at ``s = t`` plus two-half-jumps consistency.

    A share ``consistency_fraction`` of the batch draws a jump ``2d`` with ``d = min_step 2^k``
    (``k`` uniform over the levels that fit in the time range) and a start ``s`` uniform on
    ``[0, 1 - 2d]``; its target is the mean of the two half jumps' velocities (stop-gradient).
    The rest is conditional flow matching of ``u(s, s, x_s)``. Each part is a mean squared error
    over its examples and entries; they are weighted by their shares of the batch.

    Args:
        model: the average-velocity field ``u(s, t, x)``.
        path: the probability path (its time range must be ``(0, 1)``).
        x1: data, shape ``(B, D)``.
        x0: source draws of ``x1``'s shape; default ``N(0, source_scale^2 I)``.
        generator: the random generator for ``x0``, the times and the levels.
        context: passed as the model's fourth argument when given, aligned with ``x1``.
        consistency_fraction: the share of the batch in the consistency part, in [0, 1].
        min_step: the smallest half jump ``d``; ``1 / min_step`` must be a power of two.

    Returns:
        The 0-d loss (the plain CFM loss when ``consistency_fraction = 0``).
    """
    if not 0.0 <= consistency_fraction <= 1.0:
        raise ValueError(f"consistency_fraction must lie in [0, 1], got {consistency_fraction}")
    levels = math.log2(1.0 / min_step) if 0 < min_step <= 0.5 else float("nan")
    if not levels == round(levels):
        raise ValueError(f"min_step must be 1/2^k with k >= 1, got {min_step}")
    if tuple(path.t_range) != (0.0, 1.0):
        raise ValueError(f"shortcut_loss needs a path on [0, 1], got t_range {path.t_range}")
    x0, s = _draw(model, path, x1, x0, None, generator, 1)
    if x1.dim() != 2:
        raise ValueError(f"x1 must have shape (B, D), got {tuple(x1.shape)}")
    n = x1.shape[0]
    n_sc = round(consistency_fraction * n)

    def call(a, b, x, part):
        return model(a, b, x) if context is None else model(a, b, x, context[part])

    loss = x1.new_zeros(())
    if n_sc < n:  # flow matching part: u(s, s, x_s) against the conditional velocity
        fm = path._sample(x0[n_sc:], x1[n_sc:], s[n_sc:])
        u = call(fm.t, fm.t, fm.x_t, slice(n_sc, None))
        loss = loss + (u - fm.dx_t).square().mean() * (n - n_sc) / n
    if n_sc:
        k = torch.randint(int(levels), (n_sc,), generator=generator).to(x1.device)
        d = (min_step * 2.0**k).to(x1.dtype)
        start = torch.rand(n_sc, generator=generator, dtype=x1.dtype).to(x1.device) * (1 - 2 * d)
        x_s = path._sample(x0[:n_sc], x1[:n_sc], start).x_t
        with torch.no_grad():
            head = slice(None, n_sc)
            first = call(start, start + d, x_s, head)
            second = call(start + d, start + 2 * d, x_s + d.unsqueeze(-1) * first, head)
            target = 0.5 * (first + second)
        u = call(start, start + 2 * d, x_s, slice(None, n_sc))
        loss = loss + (u - target).square().mean() * n_sc / n
    return _traced(loss, x1=x1, x0=x0, context=context)


def flow_map_sample(
    model: FlowMap,
    x0: Tensor,
    steps: int = 1,
    t0: float = 0.0,
    t1: float = 1.0,
    context: Tensor | None = None,
) -> Tensor:
    """Jump from ``x0`` at ``t0`` to ``t1`` in ``steps`` equal jumps: ``x += (t - s) u(s, t, x)``.

    Args:
        model: the average-velocity field ``u(s, t, x)``.
        x0: source draws, shape ``(*batch, D)``.
        steps: the number of jumps (model evaluations), at least 1.
        t0, t1: the start and end times.
        context: passed as the model's fourth argument when given, aligned with ``x0``.

    Returns:
        The states at ``t1``, ``x0``'s shape.

    Examples:
        >>> from ctflow.nn import FlowMapMLP
        >>> flow_map_sample(FlowMapMLP(2, hidden=(16,)), torch.randn(4, 2), steps=2).shape
        torch.Size([4, 2])
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    check_finite(x0, "x0")
    grid = torch.linspace(t0, t1, steps + 1, dtype=x0.dtype, device=x0.device)
    x = x0
    for s, t in zip(grid[:-1], grid[1:]):
        u = model(s, t, x) if context is None else model(s, t, x, context)
        x = x + (t - s) * u
    return x


def _times(path, s_draw, s, t, x1, generator, equal_fraction) -> tuple[Tensor, Tensor]:
    """``(s, t)`` of shape ``(B,)``: the given ones (checked), or sorted uniform draws."""
    batch = x1.shape[:1]
    if s is not None or t is not None:
        if s is None or t is None:
            raise ValueError("give both s and t, or neither")
        t = torch.as_tensor(t, dtype=x1.dtype, device=x1.device).expand(batch)
        s = s_draw
        if bool((t < s).any()):
            raise ValueError("t must be >= s everywhere")
        return s, t
    t_min, t_max = path.t_range
    other = t_min + (t_max - t_min) * torch.rand(batch, generator=generator, dtype=x1.dtype)
    other = other.to(x1.device)
    s, t = torch.minimum(s_draw, other), torch.maximum(s_draw, other)
    equal = torch.rand(batch, generator=generator, dtype=x1.dtype).to(x1.device) < equal_fraction
    return torch.where(equal, t, s), t
