"""Figures of a codec: rate-distortion curves per dataset, and where a learned codec stores time
points on one video."""

from __future__ import annotations

import math

import numpy as np

from .bitstream import decode, encode
from .codec import NeuralCodec

__all__ = ["rd_figure", "keep_figure", "STYLE"]

# colour and line style per method, the same in every panel and run


STYLE = {
    "learned": ("C0", "o-"), "uniform": ("C1", "s-"), "oracle": ("C2", "^--"),
    "rd-oracle": ("C8", "P--"),
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
