"""Training and sampling flow maps next to flow matching, by method name.

One name picks the loss (:func:`flow_map_loss`) and the sampler (:func:`budget_samples`), so a
comparison of one- and few-step generators can loop over methods:

- ``"fm"``: conditional flow matching, a plain velocity ``v(t, x)`` (the reference);
- ``"meanflow"``: :func:`ctflow.flows.meanflow_loss` with the conditional velocity in its target;
- ``"meanflow-own"``: the same with the model's own velocity where ``s < t``;
- ``"shortcut"``: :func:`ctflow.flows.shortcut_loss`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ..paths import AffineGaussianPath
from ..solvers import odeint
from .flow_maps import flow_map_sample, meanflow_loss, shortcut_loss
from .matching import cfm_loss

__all__ = [
    "FLOW_MAP_METHODS",
    "check_flow_map_options",
    "flow_map_loss",
    "flow_map_step_loss",
    "budget_samples",
]

FLOW_MAP_METHODS = ("fm", "meanflow", "meanflow-own", "shortcut")


def check_flow_map_options(
    methods: Sequence[str],
    few_steps: Sequence[int],
    reference_nfe: int,
    *,
    equal_fraction: float = 0.75,
    consistency_fraction: float = 0.25,
    lr: float = 1e-3,
    adaptive_power: float = 0.0,
) -> None:
    """Refuse methods, sampling budgets and loss options that cannot run.

    Args:
        methods: method names from :data:`FLOW_MAP_METHODS`; must include ``"fm"`` (the
            reference every other method is compared with).
        few_steps: positive step counts to sample with.
        reference_nfe: evaluations of the midpoint reference solve: even and at least 2.
        equal_fraction, consistency_fraction: shares of a batch, in ``[0, 1]``.
        lr: learning rate, positive.
        adaptive_power: MeanFlow's adaptive weight power, non-negative.

    Raises:
        ValueError: naming the first bad option.

    Examples:
        >>> check_flow_map_options(("fm", "meanflow"), (1, 2), 100)
        >>> check_flow_map_options(("meanflow",), (1,), 100)
        Traceback (most recent call last):
        ...
        ValueError: methods must include 'fm' (the reference) and come from fm, meanflow, meanflow-own, shortcut; got ('meanflow',)
    """  # noqa: E501
    bad = [m for m in methods if m not in FLOW_MAP_METHODS]
    if bad or "fm" not in methods:
        raise ValueError(
            f"methods must include 'fm' (the reference) and come from "
            f"{', '.join(FLOW_MAP_METHODS)}; got {methods}"
        )
    if not few_steps or any(n < 1 for n in few_steps):
        raise ValueError(f"few_steps must be positive step counts, got {few_steps}")
    if reference_nfe < 2 or reference_nfe % 2:
        raise ValueError(
            f"reference_nfe must be an even number >= 2 (midpoint), got {reference_nfe}"
        )
    if not 0 <= equal_fraction <= 1 or not 0 <= consistency_fraction <= 1:
        raise ValueError("equal_fraction and consistency_fraction must lie in [0, 1]")
    if not lr > 0 or adaptive_power < 0:
        raise ValueError("need lr > 0 and adaptive_power >= 0")


def flow_map_loss(
    method: str,
    net: nn.Module,
    path: AffineGaussianPath,
    x1: Tensor,
    generator: torch.Generator | None = None,
    *,
    context: Tensor | None = None,
    equal_fraction: float = 0.75,
    adaptive_power: float = 0.0,
    consistency_fraction: float = 0.25,
    min_step: float = 1 / 128,
) -> Tensor:
    """The training loss of ``method`` on one batch.

    Args:
        method: a name from :data:`FLOW_MAP_METHODS`.
        net: ``v(t, x[, c])`` for ``"fm"``, else an average velocity ``u(s, t, x[, c])``.
        path: the probability path from noise to data.
        x1: data batch ``(B, D)``.
        generator: draws the noise and the times.
        context: per-example context ``(B, C)`` passed to ``net``, or ``None``.
        equal_fraction, adaptive_power: MeanFlow's options (:func:`ctflow.flows.meanflow_loss`).
        consistency_fraction, min_step: the shortcut loss's options.

    Returns:
        The 0-d loss.
    """
    if method == "fm":
        return cfm_loss(net, path, x1, generator=generator, context=context)
    if method in ("meanflow", "meanflow-own"):
        return meanflow_loss(
            net,
            path,
            x1,
            generator=generator,
            context=context,
            equal_fraction=equal_fraction,
            adaptive_power=adaptive_power,
            velocity="model" if method == "meanflow-own" else "conditional",
        )
    if method != "shortcut":
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(FLOW_MAP_METHODS)}")
    return shortcut_loss(
        net,
        path,
        x1,
        generator=generator,
        context=context,
        consistency_fraction=consistency_fraction,
        min_step=min_step,
    )


def flow_map_step_loss(
    method: str,
    net: nn.Module,
    path: AffineGaussianPath,
    draw: Callable[[], Tensor | tuple[Tensor, Tensor]],
    generator: torch.Generator | None = None,
    **options: float,
) -> Callable[[int], Tensor]:
    """A loss function of the step number for :func:`ctflow.train.fit`: each call draws a batch.

    Args:
        method, net, path, generator: as for :func:`flow_map_loss`.
        draw: returns a data batch ``(B, D)``, or ``(batch, context)`` with context ``(B, C)``.
        **options: the loss options of :func:`flow_map_loss`.

    Returns:
        ``loss_fn(step) -> 0-d loss``.
    """

    def loss_fn(step: int) -> Tensor:
        batch = draw()
        x1, context = batch if isinstance(batch, tuple) else (batch, None)
        return flow_map_loss(method, net, path, x1, generator, context=context, **options)

    return loss_fn


@torch.no_grad()
def budget_samples(
    method: str,
    net: nn.Module,
    x0: Tensor,
    few_steps: Sequence[int],
    reference_nfe: int | None = None,
    context: Tensor | None = None,
) -> dict[str, Tensor]:
    """Push the noise ``x0`` to data at each evaluation budget.

    Args:
        method: a name from :data:`FLOW_MAP_METHODS`.
        net: the trained network of that method.
        x0: starting noise ``(N, D)``.
        few_steps: step counts; flow matching takes Euler steps, the others jumps.
        reference_nfe: for ``"fm"`` only, also a midpoint solve with this many evaluations.
        context: ``(N, C)`` passed to ``net``, or ``None``.

    Returns:
        Samples of ``x0``'s shape keyed ``"<n>step"``, and ``"ref"`` for the reference solve.
    """

    def field(t, x):
        return net(t, x) if context is None else net(t, x, context)

    out = {}
    for n in few_steps:
        if method == "fm":
            grid = torch.linspace(0.0, 1.0, n + 1, device=x0.device)
            out[f"{n}step"] = odeint(field, x0, grid, method="euler")[-1]
        else:
            out[f"{n}step"] = flow_map_sample(net, x0, n, context=context)
    if method == "fm" and reference_nfe is not None:
        step = 2.0 / reference_nfe
        out["ref"] = odeint(field, x0, [0.0, 1.0], method="midpoint", step_size=step)[-1]
    return out
