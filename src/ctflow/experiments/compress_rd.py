"""``compress-rd``: rate-distortion of learned vs uniform latent time points, against baselines.

Per dataset (bouncing balls: complexity varies in time; smooth Lissajous control: uniform
complexity; a synthetic planar skeleton; real motion capture from ``../shared/data/mocap``), one
frame autoencoder with an OU prior is trained with every time point stored. Codecs that differ
only in their time points then share it:

- ``learned``: the keep network (a bidirectional GRU over the latent sequence) distilled from
  a teacher's time points, hazard refitted, prior refitted; swept over the teacher's levels.
  The teacher (``selector``) is ``rd-oracle`` by default, or ``oracle``.
- ``learned-refined`` (with the ``rd-oracle`` teacher): the same network's points, each moved a
  frame or dropped at the encoder where that lowers ``D + lam R`` at its teacher's ``lam``, and
  segment midpoints stored where that lowers it (``refine_insert``).
- ``uniform``: every ``stride``-th point (the paper's uniform-grid baseline), prior refitted.
- ``rd-oracle``: rate-distortion optimal time points on the same latents (dynamic programming
  over decoded-frame error + ``lam`` x bits), swept over ``rd_lams``.
- ``oracle``: greedy knots at a latent tolerance on the same latents, swept over ``tols``.

Non-neural references on the raw frames: ``knots`` (quantised frames, greedy knots, OU-prior
coding) and ``knots-uniform``; ``zlib`` / ``lzma`` on quantised, time-delta coded frames; ``h264``
through ffmpeg for the videos where ffmpeg is installed. Every rate is a real bitstream: the
whole test set coded as one stream, payload bits (headers excluded) per sequence. BD-rates
compare curves at matched PSNR (negative: fewer bits).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..compress import (
    MIN_OVERLAP,
    KnotCodec,
    OracleCodec,
    RDOracleCodec,
    RefinedKeepCodec,
    SequenceCodec,
    bd_overlap,
    bd_rate,
    psnr,
    rd_latent_masks,
    segment_costs,
)
from ..compress.baselines import ffmpeg_available, h264_roundtrip, quantized_lossless
from ..compress.figures import keep_figure, rd_figure
from ..compress.train import (
    distill_keeps,
    evaluate_codec,
    greedy_latent_masks,
    train_codec,
    with_keep,
)
from ..data.bvh import mocap_root
from ..harness.base import ExperimentConfig, Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from .compress_data import VIDEO, frame_dim, make_dataset

__all__ = [
    "CodecTrainingConfig",
    "CompressRDConfig",
    "run",
    "build_models",
    "make_dataset",
    "fit_shared",
    "DATASETS",
]

DATASETS = ("bouncing-balls", "smooth-control", "skeleton", "mocap")


@dataclass
class CodecTrainingConfig(ExperimentConfig):
    """The data and codec-training fields both compression experiments share."""

    n_train: int = 256
    frames: int = 48
    size: int = 16
    latent_dim: int = 3
    hidden: int = 64
    ae_steps: int = 1200
    keep_steps: int = 300
    prior_steps: int = 60
    batch_size: int = 32
    lr: float = 3e-3
    lam: float = 1e-3
    mocap_file: str = "walk_meredith.bvh"
    # the rate the motion capture is trained and coded at: every round(file fps / mocap_fps)-th
    # frame (walk_meredith.bvh: 120 fps, every 4th)
    mocap_fps: float = 30.0

    def check_training(self, datasets: tuple[str, ...]) -> None:
        unknown = set(self.datasets) - set(datasets)
        if unknown or not self.datasets:
            raise ValueError(f"datasets must be among {datasets}, got {self.datasets}")
        check_fields(
            self,
            at_least_one="n_train n_test latent_dim hidden batch_size",
            non_negative="ae_steps keep_steps prior_steps lam",
            positive="lr mocap_fps",
        )
        if self.frames < 4 or self.size < 4:
            raise ValueError("frames and size must be >= 4")


@dataclass
class CompressRDConfig(CodecTrainingConfig):
    # A larger, longer-trained frame autoencoder than compress-framerate's: its own error caps
    # what time placement can gain (docs/results/compression.md), and the keep network needs
    # the longer distillation to follow its greedy teacher.
    latent_dim: int = 6
    hidden: int = 96
    ae_steps: int = 3000
    keep_steps: int = 2000
    # sequences the keep network is distilled on (the training set plus fresh draws from the
    # same generator; mocap has only its training windows): on 256 it memorised its teacher
    # and placed test points a frame off (docs/results/compression.md)
    n_distill: int = 4096
    datasets: tuple[str, ...] = DATASETS
    n_test: int = 64
    # the keep network's teacher: "rd-oracle" (exact rate-distortion optimal time points) or
    # "oracle" (greedy knots at a latent tolerance)
    selector: str = "rd-oracle"
    # learned-refined: also store segment midpoints where that pays (ctflow.compress.refine;
    # false: moves and drops only, docs/results/compression.md)
    refine_insert: bool = True
    # rd-oracle multipliers: normalised squared error (per frame coordinate, over peak^2) per bit
    rd_lams: tuple[float, ...] = (3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3)
    # greedy tolerances in bins, down to a quarter bin so its curve reaches the stride-1 grid's PSNR
    tols: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    strides: tuple[int, ...] = (1, 2, 3, 4, 6, 8)
    knot_tols: tuple[float, ...] = (0.01, 0.02, 0.04, 0.08)
    lossless_bits: tuple[int, ...] = (3, 4, 5, 6, 8)
    h264_crfs: tuple[int, ...] = (5, 15, 25, 35, 45)

    def __post_init__(self):
        self.check_training(DATASETS)
        if self.size % 2:
            raise ValueError(f"size must be even (H.264 frames), got {self.size}")
        if len(self.tols) < 2 or len(self.strides) < 2 or min(self.tols) <= 0:
            raise ValueError("tols and strides need at least two values (a curve), tols > 0")
        if len(self.rd_lams) < 2 or not all(math.isfinite(v) and v > 0 for v in self.rd_lams):
            raise ValueError(f"rd_lams needs at least two finite values > 0, got {self.rd_lams}")
        if not isinstance(self.n_distill, int) or self.n_distill < 1:
            raise ValueError(f"n_distill must be a positive integer, got {self.n_distill!r}")
        if self.selector not in ("rd-oracle", "oracle"):
            raise ValueError(f"selector must be 'rd-oracle' or 'oracle', got {self.selector!r}")
        if min(self.strides) < 1 or min(self.knot_tols, default=1) <= 0:
            raise ValueError("strides must be >= 1 and knot_tols > 0")


SIZES = {
    "smoke": dict(
        datasets=("bouncing-balls",), n_train=16, n_test=6, frames=16, size=8, hidden=16,
        ae_steps=20, keep_steps=10, prior_steps=5, tols=(2.0, 8.0), rd_lams=(1e-4, 1e-3),
        n_distill=24,
        strides=(1, 4),
        knot_tols=(0.05, 0.2), lossless_bits=(4,), h264_crfs=(30,),
    ),
    "quick": dict(
        datasets=("bouncing-balls", "smooth-control"), n_train=128, n_test=32, ae_steps=600,
        keep_steps=150, n_distill=128, prior_steps=40, tols=(1.0, 2.0, 4.0, 8.0),
        rd_lams=(1e-5, 3e-5, 1e-4, 3e-4, 1e-3), strides=(1, 2, 3, 4, 6),
        knot_tols=(0.002, 0.02, 0.05, 0.1), lossless_bits=(4, 6), h264_crfs=(20, 35),
    ),
}  # fmt: skip


def build_models(config: CompressRDConfig) -> dict[str, torch.nn.Module]:
    """The shared frame autoencoder (with its learned keep network) per synthetic dataset."""
    torch.manual_seed(config.seed)
    return {
        name: SequenceCodec(frame_dim(name, config), config.latent_dim, config.hidden)
        for name in config.datasets
        if name != "mocap"
    }


def fit_shared(model: SequenceCodec, x, times, config, ctx, gen, name: str):
    """Train the frame autoencoder and prior with every time point stored."""
    model.set_normalization(x)
    train_codec(
        model, x, times, steps=config.ae_steps, lam=config.lam, batch_size=config.batch_size,
        lr=config.lr, all_kept=True, generator=gen, fit=ctx.fit, tag=f"{name}/autoencoder",
    )  # fmt: skip
    return model


def _prior_fit(model, x, times, masks, config, ctx, gen, tag):
    train_codec(
        model, x, times, steps=config.prior_steps, lam=config.lam, batch_size=config.batch_size,
        lr=config.lr, masks=masks, only_prior=True, generator=gen, fit=ctx.fit, tag=tag,
    )  # fmt: skip


def _curve_metrics(metrics, method, ds, points):
    for i, p in enumerate(points):
        metrics[f"{method}/{ds}/bits_p{i}"] = p["bits_per_seq"]
        metrics[f"{method}/{ds}/psnr_p{i}"] = p["psnr"]


def run(config: CompressRDConfig, ctx: RunContext | None = None) -> Results:
    ctx = ctx or RunContext(seed=config.seed)
    results = Results()
    m = results.metrics
    curves: dict[str, dict[str, list[dict]]] = {}
    examples = {}
    for ds in config.datasets:
        if ds == "mocap" and not (mocap_root() / config.mocap_file).is_file():
            results.notes.append(f"mocap skipped: no {config.mocap_file} under {mocap_root()}")
            continue
        gen = ctx.generator("data", ds)
        torch.manual_seed(ctx.seed_of("init", ds))
        x_tr, times, peak = make_dataset(ds, config, "train", ctx)
        x_te, _, _ = make_dataset(ds, config, "test", ctx)
        N, T = x_tr.shape[:2]
        xt = torch.as_tensor(x_tr.reshape(N, T, -1))
        tt = torch.as_tensor(times)
        x_test = x_te.reshape(len(x_te), T, -1).astype(np.float64)
        t0 = time.perf_counter()
        base = fit_shared(
            SequenceCodec(xt.shape[-1], config.latent_dim, config.hidden),
            xt,
            tt,
            config,
            ctx,
            gen,
            ds,
        )
        m[f"autoencoder/{ds}/train_seconds"] = time.perf_counter() - t0
        cur = curves.setdefault(ds, {})
        # -- uniform grids, same autoencoder --
        for stride in config.strides:
            u = with_keep(base, "uniform", stride)
            masks = u.keep_mask(torch.zeros(N, T, 1))
            _prior_fit(u, xt, tt, masks, config, ctx, gen, f"{ds}/uniform{stride}/prior")
            cur.setdefault("uniform", []).append(evaluate_codec(u, x_test, times, peak))
        # -- the two oracles (encoder-side selections on the same latents), and the keep
        # network distilled from one of them on the training set plus extra draws --
        xd = xt
        if ds != "mocap" and config.n_distill > N:
            x_extra = make_dataset(ds, config, "extra", ctx)[0]
            xd = torch.cat([xt, torch.as_tensor(x_extra.reshape(len(x_extra), T, -1))])
        m[f"learned/{ds}/n_distill"] = float(len(xd))
        costs = segment_costs(base, xd, tt, peak)
        teachers = {}
        for lam in config.rd_lams:
            om = with_keep(base, "learned")
            target = rd_latent_masks(om, xd, tt, lam, peak=peak, costs=costs, refit_hazard=2)
            _prior_fit(om, xt, tt, target[:N], config, ctx, gen, f"{ds}/rd-oracle{lam:g}/prior")
            codec = RDOracleCodec(om, lam, peak)
            cur.setdefault("rd-oracle", []).append(evaluate_codec(codec, x_test, times, peak))
            teachers.setdefault("rd-oracle", []).append((f"{lam:g}", target))
        for tol in config.tols:
            om = with_keep(base, "learned")
            target = greedy_latent_masks(om, xd if config.selector == "oracle" else xt, tt, tol)
            om.fit_hazard(target)
            _prior_fit(om, xt, tt, target[:N], config, ctx, gen, f"{ds}/oracle{tol:g}/prior")
            codec = OracleCodec(om, tol)
            cur.setdefault("oracle", []).append(evaluate_codec(codec, x_test, times, peak))
            teachers.setdefault("oracle", []).append((f"{tol:g}", target))
        worst_payload = 0.0
        roundtrip = 1.0
        levels = teachers[config.selector]
        for i, (level, target) in enumerate(levels):
            lm = with_keep(base, "learned")
            masks = distill_keeps(
                lm, xd, tt, None, target=target, steps=config.keep_steps,
                batch_size=config.batch_size, lr=config.lr, generator=gen, fit=ctx.fit,
                tag=f"{ds}/learned-{config.selector}{level}/keep",
            )  # fmt: skip
            _prior_fit(lm, xt, tt, masks[:N], config, ctx, gen, f"{ds}/learned{level}/prior")
            point = evaluate_codec(lm, x_test, times, peak)
            cur.setdefault("learned", []).append(point)
            if config.selector == "rd-oracle":  # the same network, points refined by the encoder
                refined = RefinedKeepCodec(lm, float(level), peak, insert=config.refine_insert)
                cur.setdefault("learned-refined", []).append(
                    evaluate_codec(refined, x_test, times, peak)
                )
            worst_payload = max(worst_payload, abs(point["payload_over_model"] - 1))
            roundtrip = min(roundtrip, point["roundtrip"])
            if i == len(levels) // 2:
                results.models[ds] = lm if ds != "mocap" else None
                examples[ds] = (lm, x_te[:1], times)
        if ds == "mocap":
            results.models.pop(ds, None)
        m[f"learned/{ds}/payload_vs_model_max_rel_dev"] = worst_payload
        m[f"learned/{ds}/roundtrip_exact"] = roundtrip
        # -- non-neural knot coders on the raw frames --
        span = float(x_tr.max() - x_tr.min())
        step = span / 256
        for tol in config.knot_tols:
            k = KnotCodec.fit(x_tr.reshape(N, T, -1), times, step, tol * span)
            cur.setdefault("knots", []).append(evaluate_codec(k, x_test, times, peak))
        for stride in config.strides:
            k = KnotCodec.fit(x_tr.reshape(N, T, -1), times, step, 0.0, uniform=True, stride=stride)
            cur.setdefault("knots-uniform", []).append(evaluate_codec(k, x_test, times, peak))
        # -- lossless coders on quantised frames --
        lo, hi = float(x_tr.min()), float(x_tr.max())
        for method in ("zlib", "lzma"):
            for bits in config.lossless_bits:
                packed, rec = quantized_lossless(x_test, bits, lo, hi, method)
                mse = float(((rec - x_test) ** 2).mean())
                cur.setdefault(method, []).append(
                    {"bits_per_seq": 8 * len(packed) / len(x_test), "psnr": psnr(mse, peak)}
                )
        # -- H.264 --
        if ds in VIDEO:
            if ffmpeg_available():
                video = x_te.astype(np.float64)
                for crf in config.h264_crfs:
                    packed, rec = h264_roundtrip(video, crf)
                    mse = float(((rec - video) ** 2).mean())
                    cur.setdefault("h264", []).append(
                        {"bits_per_seq": 8 * len(packed) / len(video), "psnr": psnr(mse, peak)}
                    )
            else:
                results.notes.append("h264 skipped: ffmpeg is not installed")
        for method, points in cur.items():
            _curve_metrics(m, method, ds, points)
        for method, ref in (
            ("learned", "uniform"),
            ("learned-refined", "uniform"),
            ("rd-oracle", "uniform"),
            ("oracle", "uniform"),
            ("knots", "knots-uniform"),
        ):
            a, b = cur.get(ref), cur.get(method)
            if b is None:
                continue
            pa, pb = [p["psnr"] for p in a], [p["psnr"] for p in b]
            m[f"{method}/{ds}/bd_overlap_vs_{ref}"] = bd_overlap(pa, pb)[1]
            try:
                m[f"{method}/{ds}/bd_rate_vs_{ref}"] = bd_rate(
                    [p["bits_per_seq"] for p in a], pa, [p["bits_per_seq"] for p in b], pb,
                    min_overlap=MIN_OVERLAP,
                )  # fmt: skip
            except ValueError as err:
                results.notes.append(f"{ds}: no BD-rate of {method} vs {ref} ({err})")
        for i, p in enumerate(cur["uniform"]):
            ctx.logger.log(
                {"step": i, "tag": f"{ds}/rd", "bits": p["bits_per_seq"], "psnr": p["psnr"]}
            )
    results.models = {k: v for k, v in results.models.items() if v is not None}
    results.figures["compress_rd"] = rd_figure(curves)
    if "bouncing-balls" in examples:
        results.figures["compress_keeps"] = keep_figure(*examples["bouncing-balls"], config.size)
    results.notes.append(
        "bits_p*/psnr_p*: rate (payload bits per sequence, the test set coded as one stream) and "
        "PSNR of each operating point; bd_rate_vs_*: percent rate change at matched PSNR, only "
        f"where bd_overlap_vs_* (the shared PSNR range over the longer curve's) is at least "
        f"{MIN_OVERLAP:g}."
    )
    return results


register(
    Experiment(
        name="compress-rd",
        config_cls=CompressRDConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="sequence compression: learned vs uniform time points, real bitstreams",
    )
)
