"""Sequence-compression costs: encode / decode throughput of every codec, and model cost
(bits and encode time) against sequence length for adaptive vs uniform time points.

    python benchmarks/compression.py [--quick] [--out runs/benchmarks/compression.json]

Pinned setup, one CPU thread, medians of interleaved repeats:

- throughput: 32 bouncing-ball videos of 48 frames of 16 x 16, coded as one stream; frames/s of
  encode and of decode for the neural codec with learned time points (a small model trained here
  for a few hundred steps: speed, not quality, is measured), the same model on a uniform grid
  (stride 4), the non-neural adaptive knot coder on raw frames, zlib / lzma on 6-bit frames and
  H.264 (libx264 via ffmpeg, crf 25, one process per call: its start-up is part of its cost).
  ratio = the codec's encode time / H.264's (zlib's when ffmpeg is absent).
- cost vs length: the same 8 videos (the same motion over the unit time interval) sampled at
  T = 24 ... 192 frames; bits per sequence and encode time for adaptive (greedy) time points on the
  learned latents vs a uniform grid of stride 2 on the same latents. The paper's claim: the
  adaptive cost follows the motion's complexity, not T.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.append(sys.path.pop(0))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_timing import interleaved_medians, write_report  # noqa: E402

from ctflow.compress import KnotCodec, NeuralCodec, OracleCodec, SequenceCodec, decode, encode  # noqa: E402
from ctflow.compress.baselines import ffmpeg_available, h264_roundtrip, quantized_lossless  # noqa: E402
from ctflow.compress.train import distill_keeps, train_codec, with_keep  # noqa: E402
from ctflow.data.sequences import bouncing_balls  # noqa: E402


def trained_model(ae_steps: int, keep_steps: int) -> SequenceCodec:
    torch.manual_seed(0)
    data = bouncing_balls(128, 48, 16, seed=1)
    x = torch.as_tensor(data.frames.reshape(128, 48, -1))
    t = torch.as_tensor(data.times)
    model = SequenceCodec(256, 3, 64)
    model.set_normalization(x)
    train_codec(model, x, t, steps=ae_steps, lam=1e-3, all_kept=True)
    learned = with_keep(model, "learned")
    distill_keeps(learned, x, t, 2.0, steps=keep_steps, lr=3e-3)
    return learned


def bench_throughput(model, repeats):
    data = bouncing_balls(32, 48, 16, seed=2)
    video = data.frames.astype(np.float64)
    flat = video.reshape(32, 48, -1)
    times = data.times
    codecs = {
        "neural-learned": NeuralCodec(model),
        "neural-uniform4": NeuralCodec(with_keep(model, "uniform", 4)),
        "knots-adaptive": KnotCodec.fit(flat, times, 1 / 256, 0.04),
    }
    streams = {name: encode(c, flat, times)[0] for name, c in codecs.items()}
    enc = {f"{n}": (lambda c=c: encode(c, flat, times)) for n, c in codecs.items()}
    dec = {f"{n}": (lambda c=c, n=n: decode(c, streams[n])) for n, c in codecs.items()}
    sizes = {n: 8 * len(s) / 32 for n, s in streams.items()}
    for method in ("zlib", "lzma"):
        enc[method] = lambda m=method: quantized_lossless(flat, 6, 0.0, 1.0, m)
        dec[method] = enc[method]  # the round trip includes decoding; reported as both
        sizes[method] = 8 * len(quantized_lossless(flat, 6, 0.0, 1.0, method)[0]) / 32
    if ffmpeg_available():
        enc["h264"] = lambda: h264_roundtrip(video, 25)
        dec["h264"] = enc["h264"]
        sizes["h264"] = 8 * len(h264_roundtrip(video, 25)[0]) / 32
    t_enc = interleaved_medians(enc, repeats)
    t_dec = interleaved_medians(dec, repeats)
    peer = "h264" if "h264" in t_enc else "zlib"
    frames = 32 * 48
    rows = []
    for name in enc:
        rows.append(
            {
                "codec": name,
                "bits_per_seq": sizes[name],
                "encode_fps": frames / t_enc[name],
                "decode_fps": frames / t_dec[name],
                "ratio_encode_time_vs_peer": t_enc[name] / t_enc[peer],
                "roundtrip_only": name in ("zlib", "lzma", "h264"),
            }
        )
    print(f"\nThroughput (32 x 48 frames of 16 x 16; peer: {peer})\n")
    print("| codec | bits/seq | encode frames/s | decode frames/s | encode time / peer |")
    print("|---|---|---|---|---|")
    for r in rows:
        star = " (round trip)" if r["roundtrip_only"] else ""
        print(
            f"| {r['codec']} | {r['bits_per_seq']:.0f} | {r['encode_fps']:.0f}{star} | "
            f"{r['decode_fps']:.0f}{star} | {r['ratio_encode_time_vs_peer']:.2f} |"
        )
    return {"peer": peer, "rows": rows}


def bench_length(model, lengths, repeats):
    rows = []
    for T in lengths:
        data = bouncing_balls(8, T, 16, seed=3)  # same motion, more samples as T grows
        flat = data.frames.reshape(8, T, -1).astype(np.float64)
        adaptive = OracleCodec(model, 2.0)
        uniform = NeuralCodec(with_keep(model, "uniform", 2))
        s_a, info_a = encode(adaptive, flat, data.times)
        s_u, info_u = encode(uniform, flat, data.times)
        t = interleaved_medians(
            {
                "a": lambda: encode(adaptive, flat, data.times),
                "u": lambda: encode(uniform, flat, data.times),
            },
            repeats,
        )
        rows.append(
            {
                "T": T,
                "adaptive_bits": info_a.payload_bits / 8,
                "adaptive_kept": float(info_a.mask.sum(1).mean()),
                "uniform_bits": info_u.payload_bits / 8,
                "uniform_kept": float(info_u.mask.sum(1).mean()),
                "adaptive_encode_ms": 1e3 * t["a"],
                "uniform_encode_ms": 1e3 * t["u"],
                "ratio_bits_uniform_over_adaptive": info_u.payload_bits / info_a.payload_bits,
            }
        )
    print("\nCost vs length (8 sequences, the same motion sampled at T frames)\n")
    print(
        "| T | adaptive bits/seq | kept | uniform(2) bits/seq | kept | uniform / adaptive "
        "| encode ms (adaptive / uniform) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['T']} | {r['adaptive_bits']:.0f} | {r['adaptive_kept']:.1f} | "
            f"{r['uniform_bits']:.0f} | "
            f"{r['uniform_kept']:.1f} | {r['ratio_bits_uniform_over_adaptive']:.2f} | "
            f"{r['adaptive_encode_ms']:.0f} / {r['uniform_encode_ms']:.0f} |"
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="less training, fewer repeats")
    parser.add_argument("--out", default="runs/benchmarks/compression.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = trained_model(*((100, 30) if args.quick else (600, 150)))
    repeats = 2 if args.quick else 5
    report = {
        "threads": torch.get_num_threads(),
        "throughput": bench_throughput(model, repeats),
        "length": bench_length(model, (24, 48, 96) if args.quick else (24, 48, 96, 192), repeats),
    }
    write_report(args.out, report)


if __name__ == "__main__":
    main()
