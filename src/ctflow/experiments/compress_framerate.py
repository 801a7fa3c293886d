"""``compress-framerate``: decode at a higher frame rate than the codec was trained and coded at.

The codec stores latents at chosen time points and decodes the latent path at any time, so a
stream coded at the training frame rate decodes at ``factor`` times that rate. Against the
analytic ground truth (bouncing balls, smooth control) and against the held-back frames of real
120 fps motion capture coded at 30 fps, the in-between frames are scored (PSNR) for:

- ``learned`` / ``all-points``: the codec with learned time points / every point stored, decoded
  at the new times (latent-space interpolation through the frame decoder);
- ``frame-blend``: the codec's decoded grid frames, linearly blended in data space;
- ``truth-blend``: the exact grid frames linearly blended (what any frame-space interpolation of
  perfect frames gives).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..compress import NeuralCodec, blend_frames, decode, encode, inbetween_figure, psnr
from ..compress.model import SequenceCodec
from ..compress.train import distill_keeps, train_codec, with_keep
from ..data.bvh import mocap_root, read_bvh
from ..data.motion_windows import strided_windows
from ..data.sequences import bouncing_balls, smooth_control
from ..harness.base import Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from .compress_rd import CodecTrainingConfig, fit_shared

__all__ = ["CompressFramerateConfig", "run", "build_models"]

DATASETS = ("bouncing-balls", "smooth-control", "mocap")


@dataclass
class CompressFramerateConfig(CodecTrainingConfig):
    datasets: tuple[str, ...] = DATASETS
    n_test: int = 32
    tol: float = 2.0
    factor: int = 2
    mocap_latent_dim: int = 8

    def __post_init__(self):
        self.check_training(DATASETS)
        check_fields(self, at_least_one="mocap_latent_dim", positive="tol")
        if self.factor < 2:
            raise ValueError(f"factor must be >= 2 (a higher frame rate), got {self.factor}")


SIZES = {
    "smoke": dict(datasets=("bouncing-balls",), n_train=16, n_test=4, frames=16, size=8,
                  hidden=16, ae_steps=20, keep_steps=10, prior_steps=5),
    "quick": dict(datasets=("bouncing-balls", "mocap"), n_train=128, n_test=16, ae_steps=600,
                  keep_steps=150, prior_steps=40),
}  # fmt: skip


def _mocap(config):
    bvh = read_bvh(mocap_root() / config.mocap_file)
    pos = bvh.positions(root_frame=True).reshape(len(bvh.motion), -1).astype(np.float32)
    step = bvh.stride_for(config.mocap_fps)  # walk_meredith.bvh: 120 fps -> 30 fps
    cut = int(0.7 * len(pos))
    T = config.frames
    train = strided_windows(pos[:cut], step, T, hop=12)
    span = (T - 1) * step + 1  # a test window at the file's own rate
    test = [pos[cut:][s : s + span] for s in range(0, len(pos) - cut - span + 1, span // 2)]
    if not train or not test:
        raise ValueError(f"{config.mocap_file}: too few frames for windows of {T}")
    times = np.arange(T) * bvh.frame_time * step
    fine = np.arange(span) * bvh.frame_time
    return np.stack(train), times, np.stack(test), fine, step


def build_models(config: CompressFramerateConfig) -> dict[str, torch.nn.Module]:
    torch.manual_seed(config.seed)
    return {
        name: SequenceCodec(config.size**2, config.latent_dim, config.hidden)
        for name in config.datasets
        if name != "mocap"
    }


def run(config: CompressFramerateConfig, ctx: RunContext | None = None) -> Results:
    ctx = ctx or RunContext(seed=config.seed)
    results = Results()
    m = results.metrics
    shown = {}
    for d_index, ds in enumerate(config.datasets):
        gen = ctx.generator("data", ds)  # batches and quantisation noise
        torch.manual_seed(ctx.seed_of("init", ds))  # the codec's initial weights
        latent_dim = config.latent_dim
        if ds == "mocap":
            if not (mocap_root() / config.mocap_file).is_file():
                results.notes.append(f"mocap skipped: no {config.mocap_file} under {mocap_root()}")
                continue
            x_tr, times, fine_truth, query, step = _mocap(config)
            x_te = fine_truth[:, ::step]
            peak = float(x_tr.max() - x_tr.min())
            new = np.ones(len(query), dtype=bool)
            new[::step] = False
            latent_dim = config.mocap_latent_dim
        else:
            make = bouncing_balls if ds == "bouncing-balls" else smooth_control
            tr = make(config.n_train, config.frames, config.size, seed=ctx.seed_of("train", ds))
            te = make(config.n_test, config.frames, config.size, seed=ctx.seed_of("test", ds))
            x_tr, times = tr.frames.reshape(config.n_train, config.frames, -1), tr.times
            x_te = te.frames.reshape(config.n_test, config.frames, -1)
            query = np.linspace(times[0], times[-1], config.factor * (len(times) - 1) + 1)
            fine_truth = te.truth(query).reshape(config.n_test, len(query), -1)
            new = np.ones(len(query), dtype=bool)
            new[:: config.factor] = False
            peak = 1.0
        N, T = x_tr.shape[:2]
        xt, tt = torch.as_tensor(x_tr), torch.as_tensor(times)
        base = fit_shared(
            SequenceCodec(xt.shape[-1], latent_dim, config.hidden), xt, tt, config, ctx, gen, ds
        )
        learned = with_keep(base, "learned")
        masks = distill_keeps(
            learned, xt, tt, config.tol, steps=config.keep_steps, batch_size=config.batch_size,
            lr=config.lr, generator=gen, fit=ctx.fit, tag=f"{ds}/learned/keep",
        )  # fmt: skip
        train_codec(
            learned, xt, tt, steps=config.prior_steps, lam=config.lam, masks=masks,
            only_prior=True, generator=gen, fit=ctx.fit, tag=f"{ds}/learned/prior",
        )  # fmt: skip
        everything = with_keep(base, "uniform", 1)
        for name, model in (("learned", learned), ("all-points", everything)):
            codec = NeuralCodec(model)
            stream, info = encode(codec, x_te.astype(np.float64), times)
            fine = decode(codec, stream, query).reshape(fine_truth.shape).astype(np.float64)
            grid = decode(codec, stream).reshape(x_te.shape).astype(np.float64)
            err = (fine - fine_truth) ** 2
            m[f"{name}/{ds}/psnr_new_frames"] = psnr(float(err[:, new].mean()), peak)
            m[f"{name}/{ds}/psnr_grid_frames"] = psnr(float(err[:, ~new].mean()), peak)
            m[f"{name}/{ds}/bits_per_seq"] = info.payload_bits / len(x_te)
            blend = blend_frames(grid, times, query)
            m[f"frame-blend-{name}/{ds}/psnr_new_frames"] = psnr(
                float(((blend - fine_truth)[:, new] ** 2).mean()), peak
            )
            if name == "learned":
                results.models[ds] = model
                shown[ds] = (fine[0], blend[0], fine_truth[0], new)
        truth_blend = blend_frames(x_te.astype(np.float64), times, query)
        m[f"truth-blend/{ds}/psnr_new_frames"] = psnr(
            float(((truth_blend - fine_truth)[:, new] ** 2).mean()), peak
        )
        ctx.logger.log(
            {"step": d_index, "tag": ds, **{k: v for k, v in m.items() if f"/{ds}/" in k}}
        )
    results.models = {k: v for k, v in results.models.items() if k != "mocap"}
    video = [k for k in shown if k != "mocap"]  # the figure shows the first video's frames
    rows, title = {}, ""
    if video:
        fine, blend, truth, new = shown[video[0]]
        rows = {"truth (in-between frames)": truth, "codec, latent path": fine,
                "blend of decoded frames": blend}  # fmt: skip
        title = video[0]
    else:
        new = np.zeros(0, dtype=bool)
    results.figures["compress_framerate"] = inbetween_figure(rows, new, config.size, title)
    results.notes.append(
        "psnr_new_frames: PSNR on the frames between the coded grid's times (the truth there "
        "is analytic, or the held-back mocap frames at the file's own rate); psnr_grid_frames: "
        "on the grid."
    )
    return results


register(
    Experiment(
        name="compress-framerate",
        config_cls=CompressFramerateConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="sequence compression: decode at 2x the coded frame rate vs ground truth",
    )
)
