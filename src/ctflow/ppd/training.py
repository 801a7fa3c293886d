"""Training one manifold field three ways: PPD, maximum likelihood and geodesic flow matching.

:func:`train_field` trains a :class:`ctflow.flows.TangentField` by any of the three on the same
optimiser, schedule and batches, and records its validation NLL against training wall time (the
evaluations' own time excluded), so that the methods' time to a common level can be compared.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..flows import RiemannianCNF, TangentField
from ..manifolds import Manifold
from ..ops import map_chunks
from ..train import Callback, KeepBest, SeriesLogger, TrainResult, fit
from .loss import ppd_loss
from .paths import KernelMixturePath
from .rfm import geodesic_fm_loss

__all__ = ["METHODS", "Curve", "make_field", "make_flow", "nll", "train_field"]

METHODS = ("ppd", "mle", "rfm")
MLE_MAX_STEPS = 200  # dopri5 steps per maximum-likelihood training solve (see train_field)


def make_field(manifold: Manifold, hidden: int, depth: int) -> TangentField:
    """A tangent MLP field on ``manifold`` with ``depth`` SiLU layers of width ``hidden``."""
    return TangentField(manifold, hidden=(hidden,) * depth, act="silu")


def make_flow(
    field: TangentField,
    manifold: Manifold,
    *,
    method: str = "dopri5",
    tol: float = 1e-5,
    step_size: float | None = None,
    divergence: str = "exact",
    max_steps: int = 20_000,
) -> RiemannianCNF:
    """The CNF on ``field``; an adaptive solve that needs more than ``max_steps`` steps raises
    :class:`ctflow.solvers.SolverError`."""
    return RiemannianCNF(
        field,
        manifold,
        method=method,
        atol=tol,
        rtol=tol,
        step_size=step_size,
        divergence=divergence,
        options={"max_num_steps": max_steps} if step_size is None else None,
    )


def nll(flow: RiemannianCNF, x: Tensor, batch: int = 2048) -> tuple[float, float, Tensor]:
    """Mean negative log-likelihood of ``x`` ``(n, dim)``, its standard error and the ``(n,)``
    per-point values, in chunks of ``batch`` points."""
    with torch.no_grad():
        values = map_chunks(lambda chunk: -flow().log_prob(chunk), x, batch)
    stderr = float(values.std() / math.sqrt(len(values))) if len(values) > 1 else 0.0
    return float(values.mean()), stderr, values


@dataclass
class Curve:
    """Validation NLL against training wall time (evaluation time excluded)."""

    seconds: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    val_nll: list[float] = field(default_factory=list)

    def time_to(self, target: float) -> float:
        """First training time at which the validation NLL is <= ``target`` (nan: never)."""
        for s, v in zip(self.seconds, self.val_nll):
            if v <= target:
                return s
        return float("nan")


def train_field(
    method: str,
    field_: TangentField,
    manifold: Manifold,
    *,
    tag: str,
    steps: int,
    lr: float,
    batch_size: int,
    gen: torch.Generator,
    device: torch.device,
    path: KernelMixturePath | None = None,
    data=None,
    power: int = 2,
    divergence: str = "exact",
    mle_tol: float = 1e-5,
    val_x: Tensor | None = None,
    eval_every: int = 0,
    eval_step_size: float = 0.05,
    keep_best: bool = False,
    fit: Callable[..., TrainResult] = fit,
    logger: SeriesLogger | None = None,
) -> tuple[TrainResult, Curve]:
    """Train ``field_`` by ``method`` and record a validation curve.

    The three methods train the same network with the same optimiser, schedule and batches, so
    their curves compare: PPD along ``path`` with no ODE solve, maximum likelihood through a
    dopri5 solve per step, geodesic flow matching on data pairs.

    Args:
        method: ``"ppd"`` (needs ``path``), ``"mle"`` or ``"rfm"`` (need ``data``: a tensor of
            training points, or a callable ``data(n, gen)`` drawing fresh ones).
        mle_tol: the maximum-likelihood baseline's dopri5 tolerance (pinned at 1e-5).
        val_x, eval_every: validation points ``(n, dim)`` and how often (in steps) to evaluate
            their NLL (rk4 at ``eval_step_size``); the evaluation time is not counted as
            training time.
        keep_best: end with the weights of the lowest validation NLL on the curve (model
            selection on validation data, :class:`ctflow.train.KeepBest`) instead of the last
            ones; needs ``val_x`` and ``eval_every``.
        fit: the training loop, :func:`ctflow.train.fit` or one with the same signature (an
            experiment passes its ``RunContext.fit``, which adds its logger and checkpointer).
        logger: where the validation rows go (``<tag>/val``), if anywhere.

    Returns:
        ``(TrainResult, Curve)``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
    if method == "ppd" and path is None:
        raise ValueError(f"{tag}: method 'ppd' trains along a path; pass path=")
    if method != "ppd" and (data is None or (not callable(data) and len(data) == 0)):
        raise ValueError(
            f"{tag}: method {method!r} trains on data; pass data= (points or a sampler)"
        )
    if keep_best and (val_x is None or not eval_every):
        raise ValueError(
            f"{tag}: keep_best selects on the validation curve; pass val_x= and eval_every="
        )
    # A training solve keeps every step's activations for backprop, so a diverging field would
    # exhaust memory long before 20k steps; the largest solves seen in ppd-earth and T^20
    # training took 116 evaluations (~20 steps), so 200 steps leaves 10x headroom.
    mle_flow = make_flow(
        field_, manifold, tol=mle_tol, divergence=divergence, max_steps=MLE_MAX_STEPS
    )
    val_flow = make_flow(field_, manifold, method="rk4", step_size=eval_step_size)
    curve = Curve()

    def batch() -> Tensor:
        if callable(data):
            return data(batch_size, gen).to(device)
        idx = torch.randint(len(data), (batch_size,), generator=gen)
        return data[idx].to(device)

    def loss_fn(step: int):
        if method == "ppd":
            return ppd_loss(
                field_, path, batch_size, power=power, divergence=divergence, generator=gen
            )
        if method == "rfm":
            return geodesic_fm_loss(field_, manifold, batch(), generator=gen)
        return -mle_flow().log_prob(batch()).mean()

    callbacks = []
    if val_x is not None and eval_every:
        callbacks.append(
            _ValidationCurve(curve, val_flow, val_x, eval_every, logger, tag, keep_best)
        )
    if keep_best:
        callbacks.append(KeepBest("val_nll"))
    result = fit(
        loss_fn,
        field_,
        tag=tag,
        generators=[gen],
        device=device,
        steps=steps,
        lr=lr,
        schedule="cosine",
        warmup=min(50, steps // 10),
        grad_clip=10.0,
        callbacks=callbacks,
    )
    return result, curve


class _ValidationCurve(Callback):
    """The validation NLL every ``every`` steps (not at step 0) and at the end, against the
    training time so far: the evaluations' own time is not counted."""

    def __init__(
        self, curve: Curve, flow, val_x: Tensor, every: int, logger, tag: str, report: bool
    ):
        self.curve, self.flow, self.val_x, self.every, self.logger, self.tag = (
            curve, flow, val_x, every, logger, tag
        )  # fmt: skip
        self.report = report
        self.start, self.eval_seconds = None, 0.0

    def on_start(self, trainer) -> None:
        self.start = time.perf_counter()

    def _evaluate(self, trainer, step: int) -> None:
        t0 = time.perf_counter()
        trained = t0 - self.start - self.eval_seconds  # training time so far
        v = nll(self.flow, self.val_x)[0]
        self.eval_seconds += time.perf_counter() - t0
        self.curve.seconds.append(trained)
        self.curve.steps.append(step)
        self.curve.val_nll.append(v)
        if self.logger is not None:
            self.logger.log(
                {"tag": f"{self.tag}/val", "step": step, "seconds": trained, "val_nll": v}
            )
        if self.report:  # to KeepBest
            trainer.report({"val_nll": v}, step)

    def before_step(self, trainer, step: int) -> None:
        if step % self.every == 0 and step > 0:
            self._evaluate(trainer, step)

    def on_end(self, trainer) -> None:
        if self.start is not None:
            self._evaluate(trainer, trainer.step)
