"""Property-based fuzzing of the stream decoder: any bytes end in the data or a ValueError.

Damage behind a recomputed checksum reaches the header parser and the range decoder: bit flips,
truncations and extensions anywhere in a version-2 stream (binary header, adaptive knot codec,
what `ctflow compress` writes), arbitrary bytes as its codec spec, and edits of every field of
a version-1 stream's JSON header to arbitrary JSON values. The decoding path is the one
`ctflow decompress` takes for a knot stream: read the header, rebuild the codec from the spec
it carries, decode.
"""

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("constriction")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ctflow.compress import KnotCodec, decode, encode, read_header  # noqa: E402

FUZZ = settings(
    max_examples=600,
    deadline=None,
    derandomize=True,  # the same cases every run: CI stays deterministic
    suppress_health_check=[HealthCheck.too_slow],
)


def _stream() -> bytes:
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(size=(2, 20, 3)), axis=1)
    times = np.arange(20.0)
    codec = KnotCodec.fit(x, times, step=0.05, tol=0.2, adaptive=True)
    return encode(codec, x, times)[0]


STREAM = _stream()  # version 2
# version 1 (JSON header), written by ctflow 0.x before the binary header
V1 = (Path(__file__).parent / "data" / "compress_v1.ctfc").read_bytes()
HEADER_LEN = struct.unpack_from("<I", V1, 5)[0]
HEADER = json.loads(V1[9 : 9 + HEADER_LEN])


def _seal(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def _with_header(header: dict) -> bytes:
    head = json.dumps(header).encode()
    rest = V1[9 + HEADER_LEN : -4]
    return _seal(V1[:5] + struct.pack("<I", len(head)) + head + rest)


def _decompress(data: bytes) -> np.ndarray:
    """What `ctflow decompress` does with a knot stream."""
    header = read_header(data)
    if "codec_spec" in header:
        return decode(KnotCodec.from_bytes(header["codec_spec"]), data)
    spec = (
        (header.get("extra") or {}).get("codec") if isinstance(header.get("extra"), dict) else None
    )
    if not isinstance(spec, dict):
        raise ValueError("no codec spec")
    return decode(KnotCodec.from_spec(spec), data)


def _outcome(data: bytes) -> str:
    try:
        frames = _decompress(data)
    except ValueError:
        return "refused"
    assert frames.ndim == 3 and np.isfinite(frames).all()
    return "decoded"


def test_the_unharmed_streams_decode():
    assert _outcome(STREAM) == "decoded" and _outcome(V1) == "decoded"


SPEC = KnotCodec.fit(np.zeros((1, 3, 3)), np.arange(3.0), step=0.05, adaptive=True).spec_bytes()


@FUZZ
@given(
    st.binary(max_size=80)
    | st.builds(
        lambda cut, tail: SPEC[:cut] + tail, st.integers(0, len(SPEC)), st.binary(max_size=8)
    )
)
def test_arbitrary_codec_specs(spec):
    try:
        codec = KnotCodec.from_bytes(spec)
    except ValueError:
        return
    assert codec.spec_bytes() == spec  # what reads back is what was written


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, len(STREAM) - 5), st.integers(0, 7)), min_size=1, max_size=6)
)
def test_bit_flips_behind_a_valid_checksum(flips):
    body = bytearray(STREAM[:-4])
    for pos, bit in flips:
        body[pos % len(body)] ^= 1 << bit
    _outcome(_seal(bytes(body)))


@FUZZ
@given(st.integers(0, len(STREAM) - 5), st.binary(max_size=64))
def test_truncations_and_extensions_behind_a_valid_checksum(cut, tail):
    _outcome(_seal(STREAM[:cut] + tail))


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=12,
)
FIELDS = (
    sorted(HEADER)
    + ["extra.codec." + k for k in sorted(HEADER["extra"]["codec"])]
    + [
        "grid.T",
        "grid.dt",
        "grid.t0",
        "offset",
    ]
)


@settings(FUZZ, max_examples=1500)
@given(st.sampled_from(FIELDS), JSON)
def test_header_edits_behind_a_valid_checksum(field, value):
    header = json.loads(json.dumps(HEADER))
    *path, last = field.split(".")
    node = header
    for key in path:
        node = node[key]
    node[last] = value
    if field.startswith("extra.codec."):
        # a crafted stream: the model id matches the edited spec, so the decoder gets past it
        try:
            header["model_id"] = KnotCodec.from_spec(header["extra"]["codec"]).model_id()
        except ValueError:
            pass
    _outcome(_with_header(header))


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data):
    _outcome(data)
    _outcome(_seal(STREAM[:6] + data))
    _outcome(_seal(V1[:9] + data))


def test_a_deeply_nested_header_is_refused_not_a_recursion_error():
    head = b"[" * 100_000 + b"]" * 100_000
    data = _seal(V1[:5] + struct.pack("<I", len(head)) + head + V1[9 + HEADER_LEN : -4])
    with pytest.raises(ValueError, match="unreadable header"):
        read_header(data)


def test_a_stream_that_asks_for_huge_output_is_refused():
    header = json.loads(json.dumps(HEADER))
    header["n"] = 10**7
    with pytest.raises(ValueError, match="implausible size"):
        _decompress(_with_header(header))
    codec = KnotCodec.from_bytes(read_header(STREAM)["codec_spec"])
    with pytest.raises(ValueError, match="exceeds"):
        decode(codec, STREAM, np.linspace(0, 19, 9_000_000))
