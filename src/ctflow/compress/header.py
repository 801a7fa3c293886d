"""The framing of a compressed stream: magic, version, header, payload length, checksum.

Version 2 (written today; integers are LEB128 varints unless sized)::

    b"CTFC" | 2 u8 | header_len | header | payload_words | payload (u32 words) | crc32 u32

and its header, in order: ``model_id`` (16 bytes), a flags byte (keep decisions coded, offsets,
codec spec, extra), ``n``, ``latent_dim``, ``qmax``, the frame shape (rank, then sizes), the time
grid (a kind byte, then ``t0``/``dt`` or ``t0``/``fps`` as float64 and ``T``, or every time),
the symbol offsets (zigzag varints), the codec spec (length and bytes) and ``extra`` (length and
UTF-8 JSON). A stream of 69 motion-capture frames needs about 90 header bytes, where version 1
spent 3 KB on JSON.

Version 1 (``b"CTFC" | 1 | header_len u32 | JSON | payload_words u32 | payload | crc32``) is
still read. The CRC32 covers every byte before it, so any damage to the header or the payload
is caught before a field is trusted.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from typing import Any

import numpy as np

__all__ = ["MAGIC", "VERSION", "READS", "pack", "read_header", "times_record", "times_from_record"]

MAGIC = b"CTFC"
VERSION = 2
READS = (1, 2)  # versions this ctflow decodes
MAX_ELEMENTS = 50_000_000  # refuse headers that ask for absurd allocations

_KEEP, _OFFSET, _SPEC, _EXTRA = 1, 2, 4, 8  # header flag bits
_GRID_DT, _GRID_FPS, _GRID_TIMES, _GRID_T0_ZERO = 0, 1, 2, 16  # time-grid kind byte


def _corrupt(what: str) -> ValueError:
    return ValueError(f"corrupted bitstream: {what}")


# ---- varints -----------------------------------------------------------------------------------
def varint_bytes(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"a varint is non-negative, got {value}")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _zigzag(value: int) -> bytes:
    return varint_bytes(2 * value if value >= 0 else -2 * value - 1)


class Reader:
    """Reads sized fields from a byte string, naming what ran out or was out of range."""

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None):
        self.data, self.pos = data, pos
        self.end = len(data) if end is None else end

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise _corrupt(f"the header ends inside {what}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def varint(self, what: str, low: int = 0, high: int = MAX_ELEMENTS) -> int:
        value, shift = 0, 0
        while True:
            (byte,) = self.take(1, what)
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
            if shift > 63:
                raise _corrupt(f"{what} is an overlong integer")
        if not low <= value <= high:
            raise _corrupt(f"header field {what} is {value}")
        return value

    def zigzag(self, what: str, bound: int) -> int:
        raw = self.varint(what, 0, 2 * bound + 1)
        return raw // 2 if raw % 2 == 0 else -(raw + 1) // 2

    def f64(self, what: str) -> float:
        (value,) = struct.unpack("<d", self.take(8, what))
        return value


# ---- the time grid -----------------------------------------------------------------------------
def times_record(times: np.ndarray) -> dict[str, Any]:
    """The time grid as three numbers when it is uniform, else every time.

    Two uniform forms are recognised bit for bit: ``t0 + dt * arange(T)`` and
    ``t0 + arange(T) / fps`` (how a frame rate usually makes its grid: ``arange(T) / 100`` is not
    ``0.01 * arange(T)`` in floating point, and a grid of 6000 frames written out time by time
    was 35 KB of header).
    """
    T = len(times)
    if T >= 2:
        t0, dt = float(times[0]), float(times[1] - times[0])
        if np.array_equal(t0 + dt * np.arange(T, dtype=np.float64), times):
            return {"t0": t0, "dt": dt, "T": T}
        if dt > 0:
            fps = float(f"{1.0 / dt:.12g}")  # the rate, cleaned of the step's rounding
            if np.array_equal(t0 + np.arange(T, dtype=np.float64) / fps, times):
                return {"t0": t0, "fps": fps, "T": T}
    return {"times": [float(t) for t in times]}


def times_from_record(rec: dict[str, Any]) -> np.ndarray:
    """The ``(T,)`` float64 grid of a record from :func:`times_record`, checked."""
    if "times" in rec:
        times = np.asarray(rec["times"], dtype=np.float64)
    else:
        T = int(rec["T"])
        if not 1 <= T <= MAX_ELEMENTS:
            raise _corrupt(f"invalid number of frames {T}")
        grid = np.arange(T, dtype=np.float64)
        if "fps" in rec:
            fps = float(rec["fps"])
            if not (math.isfinite(fps) and fps > 0):
                raise _corrupt(f"invalid frame rate {fps}")
            times = float(rec["t0"]) + grid / fps
        else:
            times = float(rec["t0"]) + float(rec["dt"]) * grid
    if times.ndim != 1 or len(times) < 1 or not np.all(np.isfinite(times)):
        raise _corrupt("invalid time grid in the header")
    if len(times) > 1 and not np.all(np.diff(times) > 0):
        raise _corrupt("the time grid is not increasing")
    return times


def _grid_bytes(rec: dict[str, Any]) -> bytes:
    if "times" in rec:
        times = rec["times"]
        packed = struct.pack(f"<{len(times)}d", *times)
        return bytes([_GRID_TIMES]) + varint_bytes(len(times)) + packed
    kind = _GRID_FPS if "fps" in rec else _GRID_DT
    t0 = float(rec["t0"])
    zero = t0 == 0.0 and math.copysign(1.0, t0) > 0
    out = bytes([kind | (_GRID_T0_ZERO if zero else 0)])
    if not zero:
        out += struct.pack("<d", t0)
    return (
        out
        + struct.pack("<d", float(rec["fps" if kind == _GRID_FPS else "dt"]))
        + varint_bytes(int(rec["T"]))
    )


def _read_grid(r: Reader) -> dict[str, Any]:
    (kind,) = r.take(1, "the grid kind")
    base = kind & ~_GRID_T0_ZERO
    if base == _GRID_TIMES and not kind & _GRID_T0_ZERO:
        T = r.varint("T", 1)
        return {"times": list(struct.unpack(f"<{T}d", r.take(8 * T, "the time grid")))}
    if base not in (_GRID_DT, _GRID_FPS):
        raise _corrupt(f"unknown time-grid kind {kind}")
    t0 = 0.0 if kind & _GRID_T0_ZERO else r.f64("t0")
    step = r.f64("the grid step")
    T = r.varint("T", 1)
    return {"t0": t0, ("fps" if base == _GRID_FPS else "dt"): step, "T": T}


# ---- writing and reading -----------------------------------------------------------------------
def pack(header: dict[str, Any], words: np.ndarray) -> bytes:
    """A version-2 stream of ``header`` (the fields :func:`read_header` returns) and ``words``."""
    model_id = bytes.fromhex(header["model_id"])
    if len(model_id) != 16:
        raise ValueError(f"a model_id is 32 hex digits, got {header['model_id']!r}")
    spec, extra, offset = header.get("codec_spec"), header.get("extra"), header.get("offset")
    flags = (
        (_KEEP if header["keep_coded"] else 0)
        | (_OFFSET if offset is not None else 0)
        | (_SPEC if spec is not None else 0)
        | (_EXTRA if extra is not None else 0)
    )
    shape = header["frame_shape"]
    head = bytearray(model_id + bytes([flags]))
    for value in (header["n"], header["latent_dim"], header["qmax"], len(shape), *shape):
        head += varint_bytes(int(value))
    head += _grid_bytes(header["grid"])
    if offset is not None:
        for value in offset:
            head += _zigzag(int(value))
    if spec is not None:
        head += varint_bytes(len(spec)) + bytes(spec)
    if extra is not None:
        text = json.dumps(extra, separators=(",", ":"), sort_keys=True).encode("utf-8")
        head += varint_bytes(len(text)) + text
    body = (
        MAGIC
        + bytes([VERSION])
        + varint_bytes(len(head))
        + bytes(head)
        + varint_bytes(len(words))
        + np.asarray(words).astype("<u4").tobytes()
    )
    return body + struct.pack("<I", zlib.crc32(body))


def read_header(data: bytes) -> dict[str, Any]:
    """Check a stream's framing and checksum and return its header.

    Returns:
        ``model_id`` (32 hex digits), ``frame_shape``, ``n``, ``latent_dim``, ``qmax``,
        ``keep_coded``, ``grid`` (a :func:`times_record`), and where present ``offset``,
        ``codec_spec`` (bytes) and ``extra``; plus ``version``, ``payload_words`` and
        ``_payload_offset``.

    Raises:
        ValueError: if the stream is truncated, corrupted, of an unknown version, or not a
            ctflow stream.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"a bitstream is bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < 4 + 1 + 1 + 1 + 4:
        raise ValueError(f"truncated bitstream: {len(data)} bytes is shorter than any stream")
    if data[:4] != MAGIC:
        raise ValueError(f"not a ctflow compressed stream (magic {data[:4]!r}, expected {MAGIC!r})")
    version = data[4]
    if version not in READS:
        raise ValueError(
            f"unsupported bitstream version {version} (this ctflow reads versions "
            f"{', '.join(map(str, READS))}; a newer ctflow may have written it)"
        )
    # the checksum first: nothing in a damaged stream is trusted
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    if zlib.crc32(data[:-4]) != crc:
        raise ValueError(
            f"corrupted or truncated bitstream: checksum mismatch over {len(data)} bytes"
        )
    frame = Reader(data, 5, len(data) - 4)
    try:
        if version == 1:
            (header_len,) = struct.unpack("<I", frame.take(4, "the header length"))
        else:
            header_len = frame.varint("the header length", 0, len(data))
        start = frame.pos
        frame.take(header_len, "the header")
        if version == 1:
            (payload_words,) = struct.unpack("<I", frame.take(4, "the payload length"))
        else:
            payload_words = frame.varint("the payload length", 0, len(data))
    except ValueError:
        raise ValueError("corrupted bitstream: its lengths do not fit its size") from None
    payload_offset = frame.pos
    if payload_offset + 4 * payload_words != frame.end:
        raise ValueError(
            f"corrupted bitstream: expected {payload_offset + 4 * payload_words + 4} bytes from "
            f"its lengths, got {len(data)}"
        )
    if version == 1:
        header = _read_json_header(data[start : start + header_len])
    else:
        header = _read_binary_header(Reader(data, start, start + header_len))
    header.update(version=version, payload_words=payload_words, _payload_offset=payload_offset)
    return header


def _read_json_header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise _corrupt(f"unreadable header ({err})") from None
    if not isinstance(header, dict):
        raise _corrupt("the header is not a JSON object")
    return header


def _read_binary_header(r: Reader) -> dict[str, Any]:
    model_id = r.take(16, "the model id").hex()
    (flags,) = r.take(1, "the flags")
    if flags & ~(_KEEP | _OFFSET | _SPEC | _EXTRA):
        raise _corrupt(f"unknown header flags {flags:#x}")
    n = r.varint("n", 1)
    latent_dim = r.varint("latent_dim")
    qmax = r.varint("qmax")
    rank = r.varint("the frame rank", 0, 8)
    shape = [r.varint("frame_shape", 1) for _ in range(rank)]
    header: dict[str, Any] = {
        "model_id": model_id,
        "keep_coded": bool(flags & _KEEP),
        "n": n,
        "latent_dim": latent_dim,
        "qmax": qmax,
        "frame_shape": shape,
        "grid": _read_grid(r),
    }
    if flags & _OFFSET:
        header["offset"] = [r.zigzag("offset", 2**52) for _ in range(latent_dim)]
    if flags & _SPEC:
        header["codec_spec"] = r.take(r.varint("the codec spec length"), "the codec spec")
    if flags & _EXTRA:
        raw = r.take(r.varint("the extra length"), "the extra fields")
        header["extra"] = _read_json_header(raw)
    if r.pos != r.end:
        raise _corrupt(f"{r.end - r.pos} unread bytes at the end of the header")
    return header
