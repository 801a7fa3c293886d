"""``compress-mocap``: one neural codec of joint paths, used on a skeleton it never saw.

Motion capture is coded joint by joint: each joint's path in the root's frame is a sequence of
3-D frames (``BVH.joint_trajectories``), so one model serves every skeleton and every source
rate (strided to ``mocap_fps``). The codec (frame autoencoder, OU prior, learned keep network,
as in ``compress-framerate``) is trained on windows of the first 70% of ``mocap_file`` and saved
in the run directory under ``joints``: ``ctflow compress take.bvh out.ctfc --model RUN_DIR --key
joints`` codes any BVH file with it.

Scored on the held-out 30% of the take and on ``test_file`` (another skeleton, never seen):
bits per frame of the whole skeleton and the RMS position error, against the adaptive knot
coder and lzma at the same RMS error (knots: the tolerance whose error is nearest; lzma: the
quantisation step whose uniform error ``step / sqrt(12)`` equals it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..compress import NeuralCodec, knots_at_rms, lzma_at_rms, rate_error_figure, stream_score
from ..compress.model import SequenceCodec
from ..compress.train import distill_keeps, train_codec, with_keep
from ..data.bvh import mocap_root, read_bvh
from ..harness.base import Results, RunContext
from ..harness.config import check_fields
from ..harness.registry import Experiment, register
from .compress_rd import CodecTrainingConfig, fit_shared

__all__ = ["CompressMocapConfig", "run", "build_models"]


@dataclass
class CompressMocapConfig(CodecTrainingConfig):
    """Full size by default; see ``SIZES``."""

    datasets: tuple[str, ...] = ("mocap",)
    test_file: str = "freebvh.bvh"
    n_train: int = 4096  # training windows (joints x positions in the take)
    latent_dim: int = 3
    tol: float = 0.5  # the keep network's teacher: greedy knots at this latent tolerance (bins)
    hop: int = 6  # frames between training windows

    def __post_init__(self):
        if tuple(self.datasets) != ("mocap",):
            raise ValueError(f"datasets must be ('mocap',), got {self.datasets}")
        check_fields(
            self,
            at_least_one="n_train latent_dim hidden batch_size hop",
            non_negative="ae_steps keep_steps prior_steps lam",
            positive="lr tol mocap_fps",
        )
        if self.frames < 4:
            raise ValueError(f"frames must be >= 4, got {self.frames}")


SIZES = {
    "smoke": dict(n_train=64, frames=16, hidden=16, ae_steps=20, keep_steps=10, prior_steps=5),
    "quick": dict(n_train=1024, ae_steps=600, keep_steps=150, prior_steps=40),
}


def build_models(config: CompressMocapConfig) -> dict[str, torch.nn.Module]:
    """The joint-path codec: 3-D frames, whatever the skeleton."""
    torch.manual_seed(config.seed)
    return {"joints": SequenceCodec(3, config.latent_dim, config.hidden)}


def _windows(x: np.ndarray, T: int, hop: int) -> np.ndarray:
    """Windows ``(n, T, 3)`` of every joint path in ``x`` ``(joints, frames, 3)``."""
    starts = range(0, x.shape[1] - T + 1, hop)
    return np.stack([x[j, s : s + T] for j in range(len(x)) for s in starts])


def run(config: CompressMocapConfig, ctx: RunContext | None = None) -> Results:
    """Metrics ``<codec>/<set>/{bits_per_frame,rms}`` for ``learned``, ``all-points``, ``knots``
    and ``lzma`` on ``take`` (the held-out part) and ``unseen`` (``test_file``), and
    ``<peer>/<set>/bits_over_learned``."""
    ctx = ctx or RunContext(seed=config.seed)
    models = build_models(config)
    ctx.track(models)
    results = Results()
    m = results.metrics
    take = read_bvh(mocap_root() / config.mocap_file)
    x, times = take.joint_trajectories(config.mocap_fps)
    cut = int(0.7 * x.shape[1])
    gen = ctx.generator("data")  # the windows drawn and every training batch
    windows = _windows(x[:, :cut], config.frames, config.hop)
    pick = torch.randperm(len(windows), generator=gen)[: config.n_train].numpy()
    xt = torch.as_tensor(windows[np.sort(pick)], dtype=torch.float32)
    tt = torch.as_tensor(times[: config.frames] - times[0])
    base = fit_shared(models["joints"], xt, tt, config, ctx, gen, "joints")
    # every point stored, with the prior fitted to every point (before the saved model becomes
    # the learned one, whose prior is refitted to its own time points)
    everything = with_keep(base, "uniform", 1)
    learned = with_keep(base, "learned")
    masks = distill_keeps(
        learned, xt, tt, config.tol, steps=config.keep_steps, batch_size=config.batch_size,
        lr=config.lr, generator=gen, fit=ctx.fit, tag="joints/learned/keep",
    )  # fmt: skip
    train_codec(
        learned, xt, tt, steps=config.prior_steps, lam=config.lam, masks=masks, only_prior=True,
        generator=gen, fit=ctx.fit, tag="joints/learned/prior",
    )  # fmt: skip
    models["joints"].load_state_dict(learned.state_dict())  # the saved model is the learned one
    unseen = read_bvh(mocap_root() / config.test_file)
    sets = {
        "take": (x[:, cut:], times[cut:] - times[cut]),
        "unseen": unseen.joint_trajectories(config.mocap_fps),
    }
    for name, (xs, ts) in sets.items():
        xs = np.ascontiguousarray(xs, dtype=np.float64)
        ours = stream_score(NeuralCodec(learned), xs, ts)
        rows = {
            "learned": ours,
            "all-points": stream_score(NeuralCodec(everything), xs, ts),
            "knots": knots_at_rms(xs, ts, ours["rms"]),
            "lzma": lzma_at_rms(xs, ours["rms"]),
        }
        for codec, row in rows.items():
            m.update({f"{codec}/{name}/{k}": float(v) for k, v in row.items()})
        for peer in ("knots", "lzma"):
            m[f"{peer}/{name}/bits_over_learned"] = (
                rows[peer]["bits_per_frame"] / ours["bits_per_frame"]
            )
        m[f"data/{name}/joints"], m[f"data/{name}/frames"] = float(len(xs)), float(xs.shape[1])
    results.models = models
    results.figures["compress_mocap"] = rate_error_figure(
        m,
        ("learned", "all-points", "knots", "lzma"),
        {"take": "held-out take", "unseen": "unseen skeleton"},
    )
    results.notes += [
        f"Joint paths in the root's frame at {config.mocap_fps:g} fps; take = the last 30% of "
        f"{config.mocap_file}, unseen = {config.test_file} (another skeleton).",
        "bits_per_frame: the whole stream (header included) per frame of the whole skeleton; "
        "rms: position error in the file's units; knots and lzma are set to the learned "
        "codec's RMS error (nearest knot tolerance; lzma step sqrt(12) rms).",
    ]
    return results


register(
    Experiment(
        name="compress-mocap",
        config_cls=CompressMocapConfig,
        run=run,
        build_models=build_models,
        sizes=SIZES,
        description="a joint-path codec trained on one mocap take, used on an unseen skeleton",
    )
)
