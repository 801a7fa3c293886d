"""Figures of a codec: rate-distortion curves per dataset, where a learned codec stores time
points on one video, in-between frames decoded at a higher rate, and rate against error."""

from __future__ import annotations

import math

import numpy as np

from .bitstream import decode, encode
from .codec import NeuralCodec

__all__ = ["rd_figure", "keep_figure", "inbetween_figure", "rate_error_figure", "STYLE"]

# colour and line style per method, the same in every panel and run


STYLE = {
    "learned": ("C0", "o-"), "uniform": ("C1", "s-"), "oracle": ("C2", "^--"),
    "rd-oracle": ("C8", "P--"), "learned-refined": ("C9", "o--"),
    "knots": ("C3", "v-"), "knots-uniform": ("C4", "d-"), "zlib": ("C5", "x:"),
    "lzma": ("C6", "+:"), "h264": ("C7", "*-"),
}  # fmt: skip


def rd_figure(curves: dict[str, dict[str, list[dict]]]):
    """One panel per dataset of ``curves`` ``{dataset: {method: [point, ...]}}``, each point a
    dict with ``bits_per_seq`` and ``psnr`` (as :func:`ctflow.compress.train.evaluate_codec`
    returns): PSNR against bits on a log axis. Returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    n = max(len(curves), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), dpi=72, squeeze=False)
    for ax, (ds, cur) in zip(axes[0], curves.items()):
        for method, points in cur.items():
            color, style = STYLE.get(method, ("k", "o-"))
            pts = sorted((p["bits_per_seq"], p["psnr"]) for p in points if math.isfinite(p["psnr"]))
            ax.plot(*zip(*pts), style, color=color, label=method, ms=4, lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("bits per sequence")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(ds, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def keep_figure(model, x: np.ndarray, times: np.ndarray, size: int):
    """Where ``model`` (a :class:`SequenceCodec` with a keep rule) stores time points on one video
    ``x`` ``(1, T, size * size)`` of one bright object at ``times`` ``(T,)``: the intensity
    centroid over time, input against decoded at 4x the rate, stored time points marked."""
    import matplotlib.pyplot as plt

    codec = NeuralCodec(model)
    T, s = len(times), size
    stream, info = encode(codec, x.reshape(1, T, -1), times)
    fine = np.linspace(times[0], times[-1], 4 * (T - 1) + 1)
    frames = decode(codec, stream, fine)
    g = (np.arange(s) + 0.5) / s

    def centre(v):
        v = np.clip(v.reshape(-1, s, s), 0, None)
        w = v.sum((1, 2))
        return (v.sum(1) @ g) / w, (v.sum(2) @ g) / w

    mask = info.mask[0]
    fig, ax = plt.subplots(figsize=(6.5, 2.8), dpi=72)
    for k, (a, b) in enumerate(zip(centre(x[0]), centre(frames[0]))):
        ax.plot(times, a, "o", ms=3, color=f"C{k}", label="input " + "xy"[k])
        ax.plot(fine, b, "-", lw=1, color=f"C{k}", label="decoded (4x rate) " + "xy"[k])
    for t in times[mask]:
        ax.axvline(t, color="r", lw=0.6, alpha=0.6)
    ax.set_xlabel("time")
    ax.set_ylabel("ball centre")
    ax.set_title(
        f"learned time points (red): {mask.sum()} of {T}, {info.payload_bits} bits", fontsize=9
    )
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


def inbetween_figure(rows: dict[str, np.ndarray], new: np.ndarray, size: int, title: str = ""):
    """Frames a codec never stored, side by side: one strip per way of making them.

    Args:
        rows: ``{strip title: frames}``, frames ``(Q, size * size)`` in ``[0, 1]`` at ``Q``
            query times (e.g. the truth, the decoded latent path, a blend of decoded frames).
        new: ``(Q,)`` bool, the in-between times; the first 12 are shown.
        size: frames are ``size x size`` images.
        title: prefixed to each strip's title.

    Returns:
        The matplotlib figure, one image axis per strip.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(max(len(rows), 1), 1, figsize=(8, 3.2), dpi=72, squeeze=False)
    idx = np.nonzero(new)[0][:12]
    for ax, (name, v) in zip(axes[:, 0], rows.items()):
        strip = np.concatenate([v[i].reshape(size, size) for i in idx], 1)
        ax.imshow(strip, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{title}: {name}" if title else name, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig


def rate_error_figure(metrics: dict[str, float], codecs: tuple[str, ...], panels: dict[str, str]):
    """Bits per frame against RMS error, one panel per test set: lower-left is better.

    Args:
        metrics: flat metrics with keys ``<codec>/<set>/bits_per_frame`` and
            ``<codec>/<set>/rms``.
        codecs: the codecs to draw (at most 4 markers: o, s, v, ^), in colour order C0, C1, ...
        panels: ``{set: panel title}``.

    Returns:
        The matplotlib figure; the first panel carries the legend.
    """
    import matplotlib.pyplot as plt

    if len(codecs) > 4:
        raise ValueError(f"at most 4 codecs, got {len(codecs)}")
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(3.75 * n, 3), dpi=72, layout="constrained",
                             squeeze=False)  # fmt: skip
    for ax, (name, title) in zip(axes[0], panels.items()):
        top = 1.15 * max(metrics[f"{c}/{name}/bits_per_frame"] for c in codecs)
        for i, codec in enumerate(codecs):
            ax.scatter(metrics[f"{codec}/{name}/rms"], metrics[f"{codec}/{name}/bits_per_frame"],
                       color=f"C{i}", marker="osv^"[i], label=codec)  # fmt: skip
        ax.set(xlabel="RMS position error", ylabel="bits per frame", ylim=(0, top), title=title)
    axes[0][0].legend(fontsize=7)
    return fig
