"""Classical baselines: lossless zlib / lzma on quantised frames, H.264 through ffmpeg."""

from __future__ import annotations

import lzma
import shutil
import subprocess
import tempfile
import zlib
from pathlib import Path

import numpy as np

__all__ = ["quantized_lossless", "ffmpeg_available", "h264_roundtrip"]


def quantized_lossless(x: np.ndarray, bits: int, lo: float, hi: float, method: str = "zlib"):
    """Quantise frames to ``bits`` bits over ``[lo, hi]`` and compress the bytes losslessly.

    Frames are delta-coded along time (``x_t - x_{t-1}`` of the integer codes, modulo 2^16) so
    the lossless coder sees the temporal redundancy; the stream is the whole array.

    Returns:
        ``(compressed_bytes, reconstruction)``.
    """
    if not 1 <= bits <= 16:
        raise ValueError(f"bits must be in 1..16, got {bits}")
    if method not in ("zlib", "lzma"):
        raise ValueError(f"method must be 'zlib' or 'lzma', got {method!r}")
    levels = 2**bits - 1
    codes = np.clip(np.round((x - lo) / (hi - lo) * levels), 0, levels).astype(np.int64)
    delta = np.diff(codes, axis=1, prepend=0).astype(np.uint16)  # wraps modulo 2^16
    raw = delta.tobytes()
    packed = zlib.compress(raw, 9) if method == "zlib" else lzma.compress(raw, preset=9)
    # decode to check losslessness of the code stream
    back = np.frombuffer(
        zlib.decompress(packed) if method == "zlib" else lzma.decompress(packed), dtype=np.uint16
    ).reshape(codes.shape)
    restored = np.cumsum(back.astype(np.int64), axis=1) % 2**16
    if not np.array_equal(restored, codes):
        raise RuntimeError("lossless round trip failed")
    return packed, lo + restored / levels * (hi - lo)


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


def h264_roundtrip(video: np.ndarray, crf: int, fps: float = 30.0):
    """Encode grey videos ``(N, T, H, W)`` in [0, 1] with libx264 at ``crf``; decode them back.

    All sequences go into one raw H.264 elementary stream (no container); each starts with an
    I-frame (GOP = T). H and W must be even.

    Returns:
        ``(compressed_bytes, reconstruction)``; raises ``RuntimeError`` without ffmpeg.
    """
    if not ffmpeg_available():
        raise RuntimeError("ffmpeg is not installed")
    N, T, H, W = video.shape
    if H % 2 or W % 2:
        raise ValueError(f"H.264 needs even frame sizes, got {H}x{W}")
    y = np.clip(np.round(video * 255), 0, 255).astype(np.uint8).reshape(N * T, H, W)
    chroma = np.full((N * T, H // 2, W // 2), 128, dtype=np.uint8)
    raw = b"".join(f.tobytes() + chroma[0].tobytes() * 2 for f in y)
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.yuv", Path(tmp) / "out.h264"
        src.write_bytes(raw)
        cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p",
               "-s", f"{W}x{H}", "-r", str(fps), "-i", str(src), "-c:v", "libx264",
               "-preset", "medium", "-crf", str(crf), "-g", str(T), "-keyint_min", str(T),
               "-sc_threshold", "0", "-bf", "0", "-f", "h264", str(out)]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
        packed = out.read_bytes()
        dec = subprocess.run(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-r",  # the encoding rate: a raw stream has no time stamps, and at ffmpeg's
                str(fps),  # default 25 fps it would drop or repeat frames of other rates
                "-i",
                str(out),
                "-f",
                "rawvideo",
                "-pix_fmt",  # the decoded planes as they are: a conversion to grey would
                "yuv420p",  # map the luma's video range (16-235) and clip the frames' 0-255
                "-",
            ],  # fmt: skip
            check=True,
            capture_output=True,
            timeout=300,
        ).stdout
    planes = np.frombuffer(dec, dtype=np.uint8).reshape(-1, H * W * 3 // 2)
    frames = planes[:, : H * W].reshape(-1, H, W)  # the luma plane of each frame
    if len(frames) != N * T:
        raise RuntimeError(f"ffmpeg decoded {len(frames)} frames, expected {N * T}")
    return packed, frames.reshape(N, T, H, W).astype(np.float64) / 255
