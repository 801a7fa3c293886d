"""Bits per frame on the shared motion capture: ctflow's stream against lzma, zlib and H.264.

    python benchmarks/mocap_bits.py [--out runs/benchmarks/mocap_bits.json]

Every BVH file in ``../shared/data/mocap`` (or ``$CTFLOW_MOCAP``), as `ctflow compress` reads it:
all channels of every frame, at the file's own frame rate. One quantisation step for all, the
CLI's default (1/1000 of the data's span), and knot tolerances of 1, 4 and 16 steps. Rows:

- ``ctflow`` (what ``ctflow compress`` writes): greedy knots, adaptive entropy model, binary
  header; the whole stream is counted, header and checksum included.
- ``knots, fitted prior``: the same knots with the prior fitted per channel and sent in the
  header (how the codec worked before the adaptive model).
- ``every frame``: knots at every frame (no time points dropped), adaptive model.
- ``lzma`` / ``zlib``: the frames quantised at the same step, delta-coded in time, compressed
  losslessly (error at most half a step).
- ``H.264``: channels laid out as a grey image per frame, 8 bits, libx264 at crf 0 / 10 / 20,
  where ffmpeg is installed.

Quality is the RMS error per frame over its channels (mean and worst frame), in the file's units.
ratio = the row's bits / ctflow's at the same quality (above 1: ctflow is smaller): against
``ctflow`` at the same tolerance for the knot rows, against ``every frame`` (also within half a
step) for lzma, zlib and H.264.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.append(sys.path.pop(0))

import numpy as np  # noqa: E402
from bench_timing import write_report  # noqa: E402

from ctflow.compress import KnotCodec, decode, encode, read_header  # noqa: E402
from ctflow.compress.baselines import ffmpeg_available, h264_roundtrip, quantized_lossless  # noqa: E402
from ctflow.data.bvh import read_bvh  # noqa: E402

TOLERANCES = (1, 4, 16)  # in quantisation steps


def _errors(back: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    per_frame = np.sqrt(((back - x) ** 2).mean(-1))
    return float(per_frame.mean()), float(per_frame.max())


def _row(name, tol, nbytes, T, back, x, header=None):
    mean_err, max_err = _errors(back, x)
    row = {"codec": name, "tol_steps": tol, "bytes": nbytes, "bits_per_frame": 8 * nbytes / T}
    row.update(rms_mean=mean_err, rms_max=max_err)
    if header is not None:
        row["header_bytes"] = header
    return row


def _knots(x, times, step, tol, T, **kw):
    codec = KnotCodec.fit(x, times, step, tol * step, **kw)
    stream, _ = encode(codec, x, times)
    header = read_header(stream)["_payload_offset"] + 4  # all but the payload
    back = decode(KnotCodec.from_bytes(read_header(stream)["codec_spec"]), stream)
    return len(stream), header, back


def bench_file(path: Path) -> list[dict]:
    bvh = read_bvh(path)
    x = bvh.motion[None].astype(np.float64)  # (1, T, channels)
    T, D = x.shape[1:]
    times = np.arange(T, dtype=np.float64) * bvh.frame_time
    lo, hi = float(x.min()), float(x.max())
    step = (hi - lo) / 1000
    rows = []
    for tol in TOLERANCES:
        n, h, back = _knots(x, times, step, tol, T, adaptive=True)
        rows.append(_row("ctflow", tol, n, T, back, x, h))
        n, h, back = _knots(x, times, step, tol, T)
        rows.append(_row("knots, fitted prior", tol, n, T, back, x, h))
    n, h, back = _knots(x, times, step, 0, T, adaptive=True, uniform=True, stride=1)
    rows.append(_row("every frame", 0, n, T, back, x, h))
    bits = math.ceil(math.log2(1000 + 1))  # the same step: 1001 levels over the span
    for method in ("lzma", "zlib"):
        packed, back = quantized_lossless(x, bits, lo, lo + (2**bits - 1) * step, method)
        rows.append(_row(method, 0, len(packed), T, back, x))
    if ffmpeg_available():
        W = 2 * math.ceil(D / 4)  # a 2 x W grey image per frame holds the channels
        image = np.zeros((1, T, 2 * W))
        image[..., :D] = (x - lo) / (hi - lo)
        for crf in (0, 10, 20):
            packed, dec = h264_roundtrip(image.reshape(1, T, 2, W), crf, fps=1 / bvh.frame_time)
            back = lo + dec.reshape(1, T, -1)[..., :D] * (hi - lo)
            rows.append(_row(f"H.264 crf {crf}", 0, len(packed), T, back, x))
    for row in rows:
        row.update(file=path.name, frames=T, channels=D, fps=1 / bvh.frame_time, step=step)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/benchmarks/mocap_bits.json")
    args = parser.parse_args()
    root = Path(
        os.environ.get("CTFLOW_MOCAP", Path(__file__).resolve().parents[2] / "shared/data/mocap")
    )
    files = sorted(root.glob("*.bvh"))
    if not files:
        sys.exit(f"no .bvh files in {root}; set CTFLOW_MOCAP to a folder of BVH files")
    rows = [row for f in files for row in bench_file(f)]
    print(
        "| file | codec | tol (steps) | bits/frame | header bytes | RMS mean | RMS worst | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        # knots against ctflow at the same tolerance; the near-lossless rows against ctflow
        # coding every frame (the same error: at most half a step)
        mine = "ctflow" if row["tol_steps"] else "every frame"
        ours = next(
            r
            for r in rows
            if r["file"] == row["file"]
            and r["codec"] == mine
            and r["tol_steps"] == row["tol_steps"]
        )
        row["ratio"] = row["bytes"] / ours["bytes"]
        head = row.get("header_bytes", "")
        print(
            f"| {row['file']} | {row['codec']} | {row['tol_steps']} | "
            f"{row['bits_per_frame']:.0f} | {head} | {row['rms_mean']:.3f} | "
            f"{row['rms_max']:.3f} | {row['ratio']:.2f} |"
        )
    if not ffmpeg_available():
        print("\nH.264: ffmpeg is not installed here; its rows are left out")
    write_report(args.out, {"rows": rows, "ffmpeg": ffmpeg_available()})


if __name__ == "__main__":
    main()
