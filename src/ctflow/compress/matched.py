"""Scoring coders on a batch of sequences, and baselines matched to a given RMS error.

A fair rate comparison sets each baseline to the error of the codec under test: the adaptive
knot coder at the tolerance whose RMS error is nearest, lzma on positions quantised with the
step whose uniform rounding error ``step / sqrt(12)`` is that error. Also the data-space linear
blend of frames, the in-between frames that any frame interpolator can reach.
"""

from __future__ import annotations

import math

import numpy as np

from .baselines import quantized_lossless
from .bitstream import decode, encode
from .knots import KnotCodec

__all__ = ["blend_frames", "stream_score", "knots_at_rms", "lzma_at_rms"]


def blend_frames(frames: np.ndarray, times: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Linear interpolation of frames in data space at query times.

    Args:
        frames: ``(N, T, D)`` frames at ``times``.
        times: ``(T,)`` increasing times, ``T >= 2``.
        query: ``(Q,)`` times; those outside ``[times[0], times[-1]]`` extrapolate linearly.

    Returns:
        ``(N, Q, D)`` blended frames.

    Examples:
        >>> blend_frames(np.array([[[0.0], [2.0]]]), np.array([0.0, 1.0]), np.array([0.25]))
        array([[[0.5]]])
    """
    if frames.ndim != 3 or frames.shape[1] != len(times) or len(times) < 2:
        raise ValueError(
            f"frames must be (N, T, D) with T = len(times) >= 2, got {frames.shape} and "
            f"{len(times)} times"
        )
    j = np.clip(np.searchsorted(times, query, side="right") - 1, 0, len(times) - 2)
    w = ((query - times[j]) / (times[j + 1] - times[j]))[None, :, None]
    return frames[:, j] + w * (frames[:, j + 1] - frames[:, j])


def stream_score(codec, x: np.ndarray, times: np.ndarray) -> dict[str, float]:
    """Code ``N`` sequences as one stream and score it.

    Args:
        codec: any codec :func:`ctflow.compress.encode` accepts (neural, knots, ...).
        x: ``(N, T, D)`` sequences, e.g. the joints of one skeleton, at ``times`` ``(T,)``.
        times: ``(T,)`` frame times.

    Returns:
        ``{"bits_per_frame": stream bits (header included) / T, "rms": RMS error of the
        decoded ``x``, "kept": the fraction of time points stored}``.
    """
    stream, info = encode(codec, x, times)
    back = decode(codec, stream).reshape(x.shape)
    rms = float(np.sqrt(((back - x) ** 2).mean()))
    return {"bits_per_frame": 8 * len(stream) / x.shape[1], "rms": rms, "kept": info.mask.mean()}


def knots_at_rms(
    x: np.ndarray, times: np.ndarray, rms: float, n_tries: int = 13
) -> dict[str, float]:
    """The adaptive knot coder at the tolerance whose RMS error is nearest ``rms``.

    Tolerances ``rms * geomspace(1/4, 4, n_tries)`` are tried, each with quantisation step
    half the tolerance.

    Args:
        x: ``(N, T, D)`` sequences at ``times`` ``(T,)``.
        times: ``(T,)`` frame times.
        rms: the RMS error to match.
        n_tries: how many tolerances to try.

    Returns:
        The :func:`stream_score` of the best try.
    """
    best = None
    for tol in rms * np.geomspace(0.25, 4.0, n_tries):
        codec = KnotCodec.fit(x, times, step=tol / 2, tol=tol, adaptive=True)
        out = stream_score(codec, x, times)
        if best is None or abs(out["rms"] - rms) < abs(best["rms"] - rms):
            best = out
    return best


def lzma_at_rms(x: np.ndarray, rms: float) -> dict[str, float]:
    """lzma on ``x`` quantised with step ``sqrt(12) rms`` (uniform rounding error ``rms``).

    The ``N`` sequences are coded as one stream of ``T`` frames of ``N * D`` values, delta-coded
    along time, with at most 16 bits per value (a coarser step if the range needs more).

    Args:
        x: ``(N, T, D)`` sequences.
        rms: the target RMS error, > 0.

    Returns:
        ``{"bits_per_frame": compressed bits / T, "rms": the RMS error reached}``.

    Examples:
        >>> x = np.linspace(0, 1, 60).reshape(2, 10, 3)
        >>> lzma_at_rms(x, 0.01)["rms"] < 0.02
        True
    """
    if not rms > 0:
        raise ValueError(f"rms must be > 0, got {rms}")
    n, T, d = x.shape
    step = math.sqrt(12) * rms
    lo, hi = float(x.min()), float(x.max())
    bits = min(16, max(1, math.ceil(math.log2((hi - lo) / step + 1))))
    frames = x.transpose(1, 0, 2)[None].reshape(1, T, -1)  # time first, all sequences per frame
    packed, back = quantized_lossless(frames, bits, lo, lo + (2**bits - 1) * step, "lzma")
    err = back.reshape(T, n, d).transpose(1, 0, 2) - x
    return {"bits_per_frame": 8 * len(packed) / T, "rms": float(np.sqrt((err**2).mean()))}
