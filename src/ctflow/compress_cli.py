"""``ctflow compress IN OUT`` and ``ctflow decompress IN OUT [--fps F]`` on .npy / .npz files.

Input layout: a 2-D array is one sequence ``(T, D)``; a higher-dimensional one is
``(N, T, *frame_shape)``. A .npz may hold ``frames`` (or a single array) and ``times``.
Without ``--model`` the non-neural adaptive knot codec is used (its fitted prior travels in the
stream header); ``--model RUN_DIR --key NAME`` uses a trained neural codec from a ``compress-rd``
run (pass the same model to ``decompress``).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

__all__ = ["add_subcommands", "main", "COMMANDS", "MAX_OUTPUT_FRAMES"]

MAX_OUTPUT_FRAMES = 10_000_000  # per sequence: refuse a frame rate that would fill the disk


def add_subcommands(sub) -> None:
    """Add ``compress`` and ``decompress`` to an argparse subparsers object."""
    c = sub.add_parser("compress", help="compress sequences (.npy/.npz) into a ctflow bitstream")
    c.add_argument("input")
    c.add_argument("output")
    c.add_argument(
        "--step", type=float, default=None, help="quantisation step (default: range/1000)"
    )
    c.add_argument(
        "--tol", type=float, default=None, help="knot tolerance, RMS per frame (default: step)"
    )
    c.add_argument(
        "--fps",
        type=float,
        default=None,
        help="input frame rate, times = arange(T) / fps; needed for .npy and for .npz without "
        "'times' (a .bvh gives its Frame Time; --fps overrides it)",
    )
    c.add_argument(
        "--uniform", type=int, default=0, metavar="STRIDE", help="knots every STRIDE frames instead"
    )
    c.add_argument("--model", default=None, help="a compress-rd run directory (neural codec)")
    c.add_argument("--key", default=None, help="which of the run's models")
    d = sub.add_parser("decompress", help="decode a ctflow bitstream to .npy frames")
    d.add_argument("input")
    d.add_argument("output")
    d.add_argument(
        "--fps", type=float, default=None, help="output frame rate (default: the stream's grid)"
    )
    d.add_argument("--model", default=None)
    d.add_argument("--key", default=None)


def _load_frames(path: Path):
    """``(frames (N, T, ...), times or None, single, seconds per frame of the file or None)``."""
    if not path.is_file():
        raise FileNotFoundError(f"no input file {path}")
    if path.suffix.lower() == ".bvh":
        from .data.bvh import read_bvh

        bvh = read_bvh(path)
        x, single = bvh.motion, True
        return _checked(path, x)[0], None, single, bvh.frame_time
    times = None
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                keys = [k for k in z.files if k != "times"]
                key = "frames" if "frames" in z.files else (keys[0] if len(keys) == 1 else None)
                if key is None:
                    raise ValueError(f"{path}: name the array 'frames' (found {z.files})")
                x = z[key]
                times = z["times"] if "times" in z.files else None
        else:
            x = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        if str(err).startswith(str(path)):
            raise
        raise ValueError(f"{path} is not a readable .npy or .npz array file ({err})") from None
    x, single = _checked(path, x)
    return x, times, single, None


def _checked(path: Path, x) -> tuple[np.ndarray, bool]:
    """``(frames as (N, T, ...) float64, whether the input was one sequence)``, or a clear error."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise ValueError(f"{path}: frames must be numeric, got dtype {x.dtype}")
    single = x.ndim == 2
    if x.ndim < 2:
        raise ValueError(f"{path}: expected (T, D) or (N, T, *frame_shape), got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{path}: the array is empty (shape {x.shape})")
    bad = ~np.isfinite(x)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{path}: {int(bad.sum())} NaN or infinite values (the first at {first})")
    return (x[None] if single else x).astype(np.float64), single


def _check_output(path: str) -> None:
    """Refuse an output that is a directory before any work (nothing is written)."""
    if Path(path).is_dir():
        raise ValueError(f"the output {path} is a directory; give a file name")


def _neural(args):
    if args.key is None:
        raise ValueError("--model needs --key NAME (one of the run's models)")
    from .compress.codec import NeuralCodec
    from .runs import load

    models = load(args.model)
    if args.key not in models:
        raise ValueError(f"no model {args.key!r} in {args.model}; choose one of {sorted(models)}")
    return NeuralCodec(models[args.key])


def _bvh_for(codec, path: Path, x, times, extra):
    """A BVH file in the form a neural codec takes: its channels when the codec's frames have
    that many values, else each joint's path in the root's frame (3-D frames, any skeleton;
    decompressing gives positions ``(frames, joints, 3)``)."""
    if codec.frame_dim == x.shape[-1]:
        return x, times, extra
    if codec.frame_dim != 3:
        raise ValueError(
            f"this model codes frames of {codec.frame_dim} values; {path} has {x.shape[-1]} "
            "channels, and joint paths have 3 values per frame"
        )
    from .data.bvh import read_bvh

    paths, _ = read_bvh(path).joint_trajectories()
    extra = {k: v for k, v in extra.items() if k != "single"}
    return paths, times, {**extra, "joint_paths": True}


def _compress(args) -> int:
    from .compress.bitstream import encode
    from .compress.knots import KnotCodec

    _check_output(args.output)
    if args.uniform < 0:
        raise ValueError(
            f"--uniform takes a stride >= 1 (or 0 for adaptive knots), got {args.uniform}"
        )
    if args.fps is not None and not (math.isfinite(args.fps) and args.fps > 0):
        raise ValueError(f"--fps must be a positive number, got {args.fps}")
    x, times, single, frame_time = _load_frames(Path(args.input))
    N, T = x.shape[:2]
    if times is None:
        if args.fps is not None:
            times = np.arange(T, dtype=np.float64) / args.fps
        elif frame_time is not None:
            # the BVH Frame Time itself, so the header codes the grid as (t0, dt, T) bit for bit
            times = np.arange(T, dtype=np.float64) * frame_time
        else:
            raise ValueError(
                f"{args.input} holds no time stamps: pass --fps (frames per second), or save an "
                ".npz with a 'times' array beside 'frames'"
            )
    extra: dict = {"single": True} if single else {}
    if args.model:
        codec = _neural(args)
        extra["codec"] = {"kind": "neural", "key": args.key}
        if Path(args.input).suffix.lower() == ".bvh":
            x, times, extra = _bvh_for(codec, Path(args.input), x, times, extra)
            N, T = x.shape[:2]
    else:
        span = float(x.max() - x.min()) or 1.0
        step = args.step if args.step is not None else span / 1000
        tol = args.tol if args.tol is not None else step
        uniform = args.uniform > 0
        codec = KnotCodec.fit(
            x, times, step, tol, uniform=uniform, stride=max(args.uniform, 1), adaptive=True
        )  # its binary spec travels in the header
    stream, info = encode(codec, x, times, extra=extra or None)
    Path(args.output).write_bytes(stream)
    print(
        f"{args.input}: {N} x {T} frames -> {len(stream)} bytes "
        f"({info.payload_bits / 8:.0f} payload, {info.header_bytes} header); "
        f"{100 * info.mask.mean():.1f}% of time points kept"
    )
    return 0


def _decompress(args) -> int:
    from .compress.bitstream import decode, read_header
    from .compress.knots import KnotCodec

    _check_output(args.output)
    path = Path(args.input)
    if not path.is_file():
        raise FileNotFoundError(f"no input file {path}")
    data = path.read_bytes()
    header = read_header(data)
    extra = header.get("extra") or {}
    spec = extra.get("codec") if isinstance(extra, dict) else None  # version-1 streams
    if args.model:
        codec = _neural(args)
    elif "codec_spec" in header:
        codec = KnotCodec.from_bytes(header["codec_spec"])
    elif isinstance(spec, dict) and spec.get("kind") == "knots":
        codec = KnotCodec.from_spec(spec)
    else:
        raise ValueError("this stream needs its neural model: pass --model RUN_DIR --key NAME")
    query = None
    if args.fps is not None:
        if not (math.isfinite(args.fps) and args.fps > 0):
            raise ValueError(f"--fps must be a positive number, got {args.fps}")
        from .compress.header import times_from_record

        grid = times_from_record(header["grid"])
        frames_wanted = (grid[-1] - grid[0]) * args.fps + 1
        if frames_wanted > MAX_OUTPUT_FRAMES:
            raise ValueError(
                f"--fps {args.fps:g} asks for {frames_wanted:.3g} frames per sequence over "
                f"{grid[-1] - grid[0]:g} time units; at most {MAX_OUTPUT_FRAMES} are written"
            )
        count = int(np.floor((grid[-1] - grid[0]) * args.fps + 1e-9)) + 1
        query = grid[0] + np.arange(count) / args.fps
    frames = decode(codec, data, query)
    if extra.get("single"):
        frames = frames[0]
    elif extra.get("joint_paths"):  # (joints, frames, 3) paths back to per-frame positions
        frames = frames.transpose(1, 0, 2)
    np.save(args.output, frames)
    print(f"{args.input} -> {args.output}: frames {frames.shape}")
    return 0


COMMANDS = {"compress": _compress, "decompress": _decompress}


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m ctflow.compress_cli``); ``ctflow`` calls the same code."""
    parser = argparse.ArgumentParser(prog="ctflow")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"ctflow: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
