"""The binary stream header (version 2), reading of version-1 streams, and the adaptive knot
codec that keeps the header small: sizes on the shared motion capture, exact round trips of
every header field, and the adaptive prior's learned scale against the truth."""

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("constriction")

from ctflow.compress import KnotCodec, decode, encode, read_header  # noqa: E402
from ctflow.compress.entropy import AdaptivePrior  # noqa: E402
from ctflow.compress.header import pack, times_from_record, times_record  # noqa: E402
from ctflow.compress_cli import main as compress_main  # noqa: E402

DATA = Path(__file__).parent / "data"
MOCAP = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap"


def _seal(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_a_version_1_stream_decodes_to_the_frames_it_was_written_with(tmp_path):
    stream = (DATA / "compress_v1.ctfc").read_bytes()
    want = np.load(DATA / "compress_v1_frames.npz")["frames"]
    header = read_header(stream)
    assert header["version"] == 1 and "codec_spec" not in header
    codec = KnotCodec.from_spec(header["extra"]["codec"])
    assert np.array_equal(decode(codec, stream), want)
    (tmp_path / "old.ctfc").write_bytes(stream)  # and through the command line
    assert compress_main(["decompress", str(tmp_path / "old.ctfc"), str(tmp_path / "o.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "o.npy"), want)


def test_a_newer_version_is_refused_by_name():
    x = np.cumsum(np.random.default_rng(0).normal(size=(1, 12, 2)), 1)
    codec = KnotCodec.fit(x, np.arange(12.0), step=0.1, adaptive=True)
    stream = encode(codec, x, np.arange(12.0))[0]
    newer = _seal(stream[:4] + bytes([3]) + stream[5:-4])
    with pytest.raises(ValueError, match="unsupported bitstream version 3"):
        read_header(newer)


@pytest.mark.parametrize(
    "times",
    [
        np.arange(50) / 120.0,  # a frame rate: (t0, fps, T)
        0.25 + 0.5 * np.arange(50),  # a step: (t0, dt, T)
        np.cumsum(np.random.default_rng(1).uniform(0.1, 1.0, 50)),  # irregular: every time
    ],
)
def test_every_header_field_round_trips(times):
    header = {
        "model_id": "0123456789abcdef" * 2,
        "frame_shape": [4, 3],
        "n": 7,
        "latent_dim": 12,
        "qmax": 32767,
        "keep_coded": True,
        "grid": times_record(times),
        "offset": [0, -5, 2**40, -(2**40)] + [1] * 8,
        "codec_spec": b"\x00\x01spec",
        "extra": {"single": True},
    }
    words = np.arange(9, dtype=np.uint32)
    back = read_header(pack(header, words))
    assert back.pop("version") == 2 and back.pop("payload_words") == 9
    back.pop("_payload_offset")
    assert back == header
    assert np.array_equal(times_from_record(back["grid"]), times)  # bit for bit


@pytest.mark.parametrize("adaptive", [False, True])
def test_the_binary_codec_spec_rebuilds_the_same_codec(adaptive):
    rng = np.random.default_rng(2)
    x = np.cumsum(rng.normal(size=(2, 40, 5)) * [0.1, 1, 2, 5, 0.01], 1)
    codec = KnotCodec.fit(x, np.arange(40.0), step=0.05, tol=0.1, adaptive=adaptive)
    again = KnotCodec.from_bytes(codec.spec_bytes())
    assert again.model_id() == codec.model_id() and again.spec() == codec.spec()
    stream = encode(codec, x, np.arange(40.0))[0]
    assert np.array_equal(decode(again, stream), decode(codec, stream))
    if adaptive:  # only starting values travel: the spec does not grow with the frame size
        wide = KnotCodec.fit(np.tile(x, 40), np.arange(40.0), 0.05, 0.1, adaptive=True)
        assert len(codec.spec_bytes()) <= 42  # 3 numbers of 8 bytes, 2 of 4, and counts
        assert len(wide.spec_bytes()) - len(codec.spec_bytes()) <= 3  # only the counts grow


def test_the_adaptive_prior_learns_each_coordinates_scale():
    # a random walk with a different innovation scale per coordinate, on an uneven grid
    rng = np.random.default_rng(3)
    scale = np.array([0.5, 2.0, 8.0, 30.0])
    gaps = rng.uniform(0.5, 2.0, 3000)
    prior = AdaptivePrior(theta=np.full(4, 1e-3), sigma0=np.ones(4))
    q = np.zeros(4, dtype=np.int64)
    for dt in gaps:
        means, stds = prior.params(q[None], np.array([True]), np.array([dt]))
        new = np.round(q + rng.normal(size=4) * scale * np.sqrt(dt)).astype(np.int64)
        prior.update(new[None], means, np.array([True]), np.array([dt]))
        q = new
    learned = np.sqrt(prior.sum / prior.count)
    # rounding adds 1/12 of a bin's variance per step on top of the innovations
    truth = np.sqrt(scale**2 + 1 / 12 / gaps.mean())
    np.testing.assert_allclose(learned, truth, rtol=0.06)


@pytest.mark.parametrize("name", ["freebvh.bvh", "walk_meredith.bvh"])
def test_the_header_is_at_most_5_percent_of_a_shared_bvh_stream(name, tmp_path, capsys):
    path = MOCAP / name
    if not path.exists():
        pytest.skip("../shared/data/mocap is not present")
    from ctflow.data.bvh import read_bvh

    out = tmp_path / "s.ctfc"
    assert compress_main(["compress", str(path), str(out)]) == 0  # the default tolerance
    stream = out.read_bytes()
    header_bytes = read_header(stream)["_payload_offset"]  # everything before the payload
    assert (header_bytes + 4) / len(stream) <= 0.05, capsys.readouterr().out
    assert compress_main(["decompress", str(out), str(tmp_path / "o.npy")]) == 0
    motion = read_bvh(path).motion
    back = np.load(tmp_path / "o.npy")
    step = (motion.max() - motion.min()) / 1000  # the default step, and tolerance
    assert back.shape == motion.shape
    assert np.sqrt(((back - motion) ** 2).mean(-1)).max() <= 1.5 * step
