"""Training and evaluating codecs: ``D + lam * R`` minibatch training, real-bitstream scores."""

from __future__ import annotations

import copy

import numpy as np
import torch

from .bitstream import decode, decode_latents, encode
from .codec import NeuralCodec
from .model import SequenceCodec
from .rd import psnr

__all__ = ["train_codec", "evaluate_codec", "with_keep", "distill_keeps", "greedy_latent_masks"]


def with_keep(model: SequenceCodec, keep: str, stride: int | None = None) -> SequenceCodec:
    """A copy of ``model`` with another keep mode (and uniform stride)."""
    out = copy.deepcopy(model)
    out.keep_mode = keep
    if stride is not None:
        out.stride = stride
    return out


def train_codec(
    model: SequenceCodec,
    x: torch.Tensor,
    times: torch.Tensor,
    *,
    steps: int,
    lam: float,
    batch_size: int = 32,
    lr: float = 3e-3,
    all_kept: bool = False,
    generator: torch.Generator | None = None,
    fit=None,
    tag: str = "codec",
    freeze_frames: bool = False,
    masks: torch.Tensor | None = None,
    only_prior: bool = False,
):
    """Train ``model`` on frames ``x`` ``(N, T, D)`` for ``steps`` minibatch steps.

    Args:
        all_kept: store every grid point (the autoencoder / prior warm-up stage).
        freeze_frames: train only the keep network, hazard and prior (the frame encoder and
            decoder stay as they are), so codecs that differ only in their time points share
            one frame autoencoder.
        masks: fixed keep masks ``(N, T)`` of the training set (e.g. the model's own decisions).
        only_prior: train only the OU prior (with ``masks``; the keep bits are not counted).
        fit: a ``fit(loss_fn, model, tag=..., steps=..., lr=..., generators=...)`` callable
            (e.g. ``RunContext.fit``); defaults to :func:`ctflow.train.fit` without progress.
    """
    if fit is None:
        from ..train import fit as _fit

        def fit(loss_fn, model, **kw):
            return _fit(loss_fn, model, progress=False, **kw)

    gen = generator or torch.Generator().manual_seed(0)
    for p in (*model.encoder.parameters(), *model.decoder.parameters()):
        p.requires_grad_(not freeze_frames)
    N, T = x.shape[:2]
    full = torch.ones(min(batch_size, N), T, dtype=torch.bool) if all_kept else None
    if only_prior:
        for p in model.parameters():
            p.requires_grad_(False)
        model.log_theta.requires_grad_(True)
        model.log_sigma.requires_grad_(True)

    def loss_fn(step):
        idx = torch.randint(N, (min(batch_size, N),), generator=gen)
        fixed = full if masks is None else masks[idx]
        out = model.loss(
            x[idx], times, lam, generator=gen, mask=fixed, code_keeps=not (only_prior or all_kept)
        )
        extras = {k: float(out[k].detach()) for k in ("distortion", "bits", "kept")}
        return out["loss"], extras

    try:
        return fit(loss_fn, model, tag=tag, steps=steps, lr=lr, generators=[gen], grad_clip=10.0)
    finally:
        for p in model.parameters():
            p.requires_grad_(True)


def evaluate_codec(codec, x: np.ndarray, times: np.ndarray, peak: float = 1.0) -> dict[str, float]:
    """Code the whole set ``x`` ``(N, T, ...)`` as one stream and score it.

    Returns:
        ``bits_per_seq`` (payload, headers excluded), ``total_bytes``, ``model_bits_per_seq`` (the
        ideal code length), ``payload_over_model`` (ratio), ``mse`` (data units), ``psnr``,
        ``kept`` (fraction of grid points stored) and ``roundtrip`` (1.0 if decoding reproduces
        the quantised latents exactly).
    """
    if isinstance(codec, SequenceCodec):
        codec = NeuralCodec(codec)
    stream, info = encode(codec, x, times)
    q, mask, _, _ = decode_latents(codec, stream)
    frames = decode(codec, stream)
    N = len(x)
    mse = float(((frames.astype(np.float64) - x) ** 2).mean())
    return {
        "bits_per_seq": info.payload_bits / N,
        "total_bytes": float(info.total_bytes),
        "model_bits_per_seq": info.model_bits / N,
        "payload_over_model": info.payload_bits / max(info.model_bits, 1e-9),
        "mse": mse,
        "psnr": psnr(mse, peak),
        "kept": float(info.mask.mean()),
        "roundtrip": float(np.array_equal(q, info.q) and np.array_equal(mask, info.mask)),
    }


@torch.no_grad()
def greedy_latent_masks(model: SequenceCodec, x: torch.Tensor, times, tol: float) -> torch.Tensor:
    """Greedy knots on a model's latents: the oracle keep decisions at tolerance ``tol`` (bins).

    Knots are stored quantised; every skipped point's interpolated latent stays within ``tol``
    (RMS over coordinates) of its unquantised latent.
    """
    from .knots import greedy_knots

    y = model.latents(x).double().numpy()
    q = np.round(y)
    t = np.asarray(times, dtype=np.float64)
    return torch.as_tensor(np.stack([greedy_knots(q[n], y[n], t, tol) for n in range(len(y))]))


def distill_keeps(
    model: SequenceCodec,
    x: torch.Tensor,
    times: torch.Tensor,
    tol: float | None,
    *,
    target: torch.Tensor | None = None,
    steps: int,
    batch_size: int = 32,
    lr: float = 3e-3,
    generator: torch.Generator | None = None,
    fit=None,
    tag: str = "distill",
) -> torch.Tensor:
    """Train the keep network to predict an oracle's decisions, then fit the hazard.

    The targets are greedy knots at latent tolerance ``tol`` (bins), or the given ``target``
    masks ``(N, T)`` (e.g. :func:`~ctflow.compress.rdknots.rd_latent_masks`); give one of them.

    Returns:
        the model's own (deterministic) keep masks on ``x`` afterwards, ``(N, T)``.
    """
    if fit is None:
        from ..train import fit as _fit

        def fit(loss_fn, model, **kw):
            return _fit(loss_fn, model, progress=False, **kw)

    gen = generator or torch.Generator().manual_seed(0)
    if (tol is None) == (target is None):
        raise ValueError("give exactly one of tol (greedy targets) and target (masks)")
    if target is None:
        target = greedy_latent_masks(model, x, times, tol)
    elif tuple(target.shape) != tuple(x.shape[:2]):
        raise ValueError(f"target masks must be {tuple(x.shape[:2])}, got {tuple(target.shape)}")
    with torch.no_grad():
        y = model.latents(x)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in model.keep_net.parameters():
        p.requires_grad_(True)
    N = len(x)

    def loss_fn(step):
        idx = torch.randint(N, (min(batch_size, N),), generator=gen)
        return model.imitation_loss(y[idx], target[idx])

    try:
        fit(loss_fn, model, tag=tag, steps=steps, lr=lr, generators=[gen])
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    with torch.no_grad():
        masks = model.keep_mask(y)
    model.fit_hazard(masks)
    return masks
