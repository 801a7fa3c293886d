"""What the two flow-map experiments (``meanflow-2d``, ``meanflow-digits``) share: the methods,
their option checks, the training loss of each method, and sampling at each budget."""

from __future__ import annotations

import torch

from ..flows import cfm_loss, flow_map_sample, meanflow_loss, shortcut_loss
from ..paths import AffineGaussianPath
from ..solvers import odeint

__all__ = ["METHODS", "check_flow_map_options", "flow_map_training_loss", "budget_samples"]

# flow matching (the reference and the few-step baseline), MeanFlow (the paper's target, and
# with the model's own velocity where s < t: meanflow_loss(velocity="model")), shortcut models
METHODS = ("fm", "meanflow", "meanflow-own", "shortcut")


def check_flow_map_options(config) -> None:
    """Refuse bad methods, budgets and loss options of a flow-map experiment config."""
    bad = [m for m in config.methods if m not in METHODS]
    if bad or "fm" not in config.methods:
        raise ValueError(
            f"methods must include 'fm' (the reference) and come from {', '.join(METHODS)}; "
            f"got {config.methods}"
        )
    if not config.few_steps or any(n < 1 for n in config.few_steps):
        raise ValueError(f"few_steps must be positive step counts, got {config.few_steps}")
    if config.reference_nfe < 2 or config.reference_nfe % 2:
        raise ValueError(
            f"reference_nfe must be an even number >= 2 (midpoint), got {config.reference_nfe}"
        )
    if not 0 <= config.equal_fraction <= 1 or not 0 <= config.consistency_fraction <= 1:
        raise ValueError("equal_fraction and consistency_fraction must lie in [0, 1]")
    if not config.lr > 0 or config.adaptive_power < 0:
        raise ValueError("need lr > 0 and adaptive_power >= 0")


def flow_map_training_loss(
    method: str,
    net,
    path: AffineGaussianPath,
    x1: torch.Tensor,
    generator: torch.Generator,
    config,
    context: torch.Tensor | None = None,
) -> torch.Tensor:
    """The 0-d loss of ``method`` on the batch ``x1`` ``(B, D)`` with the config's options."""
    if method == "fm":
        return cfm_loss(net, path, x1, generator=generator, context=context)
    if method in ("meanflow", "meanflow-own"):
        return meanflow_loss(
            net,
            path,
            x1,
            generator=generator,
            context=context,
            equal_fraction=config.equal_fraction,
            adaptive_power=config.adaptive_power,
            velocity="model" if method == "meanflow-own" else "conditional",
        )
    return shortcut_loss(
        net,
        path,
        x1,
        generator=generator,
        context=context,
        consistency_fraction=config.consistency_fraction,
        min_step=config.min_step,
    )


@torch.no_grad()
def budget_samples(
    method: str, net, x0: torch.Tensor, config, context: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Samples ``x0``'s shape by budget label: ``<n>step`` for each few-step count (flow
    matching: Euler steps; the others: jumps) and ``ref``, flow matching's midpoint solve with
    ``reference_nfe`` evaluations."""

    def field(t, x):
        return net(t, x) if context is None else net(t, x, context)

    out = {}
    for n in config.few_steps:
        if method == "fm":
            grid = torch.linspace(0.0, 1.0, n + 1, device=x0.device)
            out[f"{n}step"] = odeint(field, x0, grid, method="euler")[-1]
        else:
            out[f"{n}step"] = flow_map_sample(net, x0, n, context=context)
    if method == "fm":
        step = 2.0 / config.reference_nfe
        out["ref"] = odeint(field, x0, [0.0, 1.0], method="midpoint", step_size=step)[-1]
    return out
