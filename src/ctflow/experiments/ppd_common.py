"""What the PPD experiments share: the field, the three trainers (PPD, maximum likelihood,
geodesic flow matching) on one network, validation curves in training wall time, test NLLs and
lat/lon density maps."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..flows import RiemannianCNF, TangentField
from ..manifolds import Manifold
from ..ops import map_chunks
from ..ppd import KernelMixturePath, geodesic_fm_loss, ppd_loss
from ..train import Callback
from .base import RunContext

METHODS = ("ppd", "mle", "rfm")
MLE_MAX_STEPS = 200  # dopri5 steps per maximum-likelihood training solve (see train)


def make_field(manifold: Manifold, hidden: int, depth: int) -> TangentField:
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
    """Mean negative log-likelihood, its standard error and the per-point values."""
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


def train(
    ctx: RunContext,
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
):
    """Train ``field_`` by ``method`` and record a validation curve.

    Args:
        method: ``"ppd"`` (needs ``path``), ``"mle"`` or ``"rfm"`` (need ``data``: a tensor of
            training points, or a callable ``data(n, gen)`` drawing fresh ones).
        mle_tol: the maximum-likelihood baseline's dopri5 tolerance (pinned at 1e-5).
        val_x, eval_every: validation points and how often (in steps) to evaluate their NLL
            (rk4 at ``eval_step_size``); the evaluation time is not counted as training time.

    Returns:
        ``(TrainResult, Curve)``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
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
        callbacks.append(_ValidationCurve(curve, val_flow, val_x, eval_every, ctx, tag))
    result = ctx.fit(
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

    def __init__(self, curve: Curve, flow, val_x: Tensor, every: int, ctx, tag: str):
        self.curve, self.flow, self.val_x, self.every, self.ctx, self.tag = (
            curve, flow, val_x, every, ctx, tag
        )  # fmt: skip
        self.start, self.eval_seconds = None, 0.0

    def on_start(self, trainer) -> None:
        self.start = time.perf_counter()

    def _evaluate(self, step: int) -> None:
        t0 = time.perf_counter()
        trained = t0 - self.start - self.eval_seconds  # training time so far
        v = nll(self.flow, self.val_x)[0]
        self.eval_seconds += time.perf_counter() - t0
        self.curve.seconds.append(trained)
        self.curve.steps.append(step)
        self.curve.val_nll.append(v)
        self.ctx.logger.log(
            {"tag": f"{self.tag}/val", "step": step, "seconds": trained, "val_nll": v}
        )

    def before_step(self, trainer, step: int) -> None:
        if step % self.every == 0 and step > 0:
            self._evaluate(step)

    def on_end(self, trainer) -> None:
        if self.start is not None:
            self._evaluate(trainer.step)


def latlon_grid(n_lat: int, n_lon: int, dtype=torch.float32) -> tuple[Tensor, Tensor, Tensor]:
    """Cell centres of a lat/lon grid: lat and lon axes (degrees) and unit vectors
    ``(n_lat * n_lon, 3)``."""
    lat = (torch.arange(n_lat, dtype=dtype) + 0.5) / n_lat * 180 - 90
    lon = (torch.arange(n_lon, dtype=dtype) + 0.5) / n_lon * 360 - 180
    la, lo = torch.meshgrid(torch.deg2rad(lat), torch.deg2rad(lon), indexing="ij")
    x = torch.stack([la.cos() * lo.cos(), la.cos() * lo.sin(), la.sin()], -1).reshape(-1, 3)
    return lat, lon, x


def density_maps_figure(maps: dict[str, Tensor], points: Tensor | None, title: str):
    """Equirectangular log-density maps ``{name: (n_lat, n_lon)}`` side by side, with points."""
    import matplotlib.pyplot as plt

    from ..data.earth import xyz_to_latlon

    fig, axes = plt.subplots(1, len(maps), figsize=(3.6 * len(maps), 2.2), dpi=80)
    axes = [axes] if len(maps) == 1 else list(axes)
    vmax = max(float(m.max()) for m in maps.values())
    for ax, (name, m) in zip(axes, maps.items()):
        image = ax.imshow(
            m.cpu().numpy(),
            origin="lower",
            extent=(-180, 180, -90, 90),
            cmap="magma",
            vmin=vmax - 8,
            vmax=vmax,
            aspect="auto",
            interpolation="nearest",
        )
        if points is not None:
            ll = xyz_to_latlon(points.double().cpu())
            ax.scatter(ll[:, 1], ll[:, 0], s=0.6, c="cyan", alpha=0.5, linewidths=0)
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    # one shared scale, the top 8 nats of log-density
    bar = fig.colorbar(image, ax=axes, fraction=0.02, pad=0.01)
    bar.set_label("log density", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    return fig
