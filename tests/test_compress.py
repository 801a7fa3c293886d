"""ctflow.compress: exact bitstream round trips, header and checksum, errors, fuzzing, model."""

import math
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("constriction")

from ctflow.compress import (  # noqa: E402
    KnotCodec,
    NeuralCodec,
    SequenceCodec,
    bd_rate,
    bin_bits,
    decode,
    decode_latents,
    encode,
    interpolate_kept,
    ou_params,
    ou_params_numpy,
    read_header,
)
from ctflow.compress_cli import main as compress_main  # noqa: E402
from ctflow.data.sequences import bouncing_balls, skeleton_motion, smooth_control  # noqa: E402


def _walks(n=4, T=30, D=3, seed=0):
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(size=(n, T, D)), 1), np.linspace(0.0, 2.0, T)


@pytest.fixture(scope="module")
def neural():
    torch.manual_seed(0)
    model = SequenceCodec(6, latent_dim=3, hidden=16)
    with torch.no_grad():  # make the keep net fire somewhere
        model.keep_net.head.bias.fill_(0.0)
    return NeuralCodec(model)


def test_ou_transition_matches_closed_form_and_numpy_twin():
    theta, sigma = (
        torch.tensor([0.7, 2.0], dtype=torch.float64),
        torch.tensor([1.5, 0.3], dtype=torch.float64),
    )
    z, dt = (
        torch.tensor([[2.0, -1.0]], dtype=torch.float64),
        torch.tensor([0.4], dtype=torch.float64),
    )
    mean, std = ou_params(z, dt, theta, sigma)
    # closed form of the OU transition
    exp_mean = z * torch.exp(-theta * 0.4)
    exp_var = sigma**2 / (2 * theta) * (1 - torch.exp(-2 * theta * 0.4))
    torch.testing.assert_close(mean, exp_mean)
    torch.testing.assert_close(std, exp_var.sqrt().expand_as(std))
    m2, s2 = ou_params_numpy(z.numpy(), dt.numpy(), theta.numpy(), sigma.numpy())
    np.testing.assert_allclose(m2, mean.numpy(), rtol=1e-15)
    np.testing.assert_allclose(s2, std.numpy(), rtol=1e-15)


def test_bin_bits_is_the_gaussian_bin_mass():
    from scipy.stats import norm

    y = torch.tensor([-40.0, -3.0, 0.0, 0.2, 5.0, 40.0], dtype=torch.float64)
    mean, std = torch.tensor(0.3, dtype=torch.float64), torch.tensor(2.5, dtype=torch.float64)
    got = bin_bits(y, mean, std).numpy()
    mass = norm.cdf((y + 0.5 - 0.3) / 2.5) - norm.cdf((y - 0.5 - 0.3) / 2.5)
    ref = -np.log2(np.maximum(np.asarray(mass), 2.0**-24))
    np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_interpolation_is_linear_between_kept_points_at_any_time():
    values = torch.tensor([[[0.0], [9.0], [2.0], [9.0], [8.0]]], dtype=torch.float64)
    mask = torch.tensor([[True, False, True, False, True]])
    times = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    query = torch.tensor([0.0, 0.5, 1.0, 2.0, 3.5, 4.0, 5.0], dtype=torch.float64)
    got = interpolate_kept(values, mask, times, query)[0, :, 0]
    torch.testing.assert_close(
        got, torch.tensor([0.0, 0.5, 1.0, 2.0, 6.5, 8.0, 8.0], dtype=torch.float64)
    )


@pytest.mark.parametrize("kind", ["knots", "uniform-knots", "neural"])
def test_roundtrip_is_exact_and_payload_matches_model_rate(kind, neural):
    x, times = _walks(n=6, T=40, D=6)
    if kind == "neural":
        codec = neural
        x = x.astype(np.float32)
    else:
        codec = KnotCodec.fit(
            x, times, step=0.05, tol=0.4, uniform=kind == "uniform-knots", stride=3
        )
    stream, info = encode(codec, x, times)
    q, mask, grid, header = decode_latents(codec, stream)
    assert np.array_equal(q, info.q) and np.array_equal(mask, info.mask)
    assert np.array_equal(grid, times) and header["n"] == 6
    assert mask[:, 0].all() and mask[:, -1].all()
    # the payload is the ideal code length plus at most a 32-bit word and a 1% overhead
    assert info.payload_bits <= info.model_bits * 1.01 + 64
    assert info.payload_bits >= info.model_bits * 0.97 - 64
    frames = decode(codec, stream)
    assert frames.shape == x.shape and np.isfinite(frames).all()


def test_knot_codec_meets_its_tolerance_and_decodes_at_any_rate():
    x, times = _walks(n=3, T=50, D=4, seed=3)
    codec = KnotCodec.fit(x, times, step=0.01, tol=0.3)
    stream, info = encode(codec, x, times)
    frames = decode(codec, stream)
    rms = np.sqrt(((frames - x) ** 2).mean(-1))
    assert rms.max() <= 0.3 + 0.01 and info.mask.mean() < 1.0
    fine = np.linspace(0, 2, 99)
    up = decode(codec, stream, fine)
    assert up.shape == (3, 99, 4)
    np.testing.assert_allclose(up[:, ::2], frames, atol=1e-5)  # the grid is a subset


def test_entropy_parameters_are_bit_identical_across_batch_sizes(neural):
    x, times = _walks(n=5, T=25, D=6, seed=1)
    x = x.astype(np.float32)
    _, whole = encode(neural, x, times)
    offsets_m = offsets_k = 0
    for n in range(5):  # each sequence coded alone gets exactly its share of the parameters
        _, one = encode(neural, x[n : n + 1], times)
        kept = int(one.mask.sum()) * neural.latent_dim
        sel = np.argwhere(whole.mask.T)  # (i, n) coding order of the batch
        rows = np.nonzero(sel[:, 1] == n)[0]
        idx = (rows[:, None] * neural.latent_dim + np.arange(neural.latent_dim)).reshape(-1)
        assert kept == len(idx)
        assert np.array_equal(one.means, whole.means[idx]) and np.array_equal(
            one.stds, whole.stds[idx]
        )
        # keep bits are time-major over the batch: sequence n is every 5th
        assert np.array_equal(one.keep_probs, whole.keep_probs[n::5])
        offsets_m += kept
        offsets_k += len(one.keep_probs)
    assert offsets_m == len(whole.means) and offsets_k == len(whole.keep_probs)


@pytest.mark.parametrize("kind", ["neural", "adaptive knots"])
def test_decoder_recomputes_the_encoders_parameters(monkeypatch, neural, kind):
    from ctflow.compress import entropy

    x, times = _walks(n=3, T=20, D=6, seed=2)
    if kind == "neural":
        codec, x = neural, x.astype(np.float32)
    else:  # parameters learned while coding: the decoder must learn the same ones
        codec = KnotCodec.fit(x, times, step=0.05, tol=0.3, adaptive=True)
    stream, info = encode(codec, x, times)
    if kind != "neural":
        assert len(set(info.stds.round(9))) > 12  # the learned stds did move
    seen = []
    prior = entropy.AdaptivePrior if kind != "neural" else entropy.StaticPrior
    original = prior.params

    def spy(self, *args):
        out = original(self, *args)
        seen.append(out)
        return out

    monkeypatch.setattr(prior, "params", spy)
    decode_latents(codec, stream)
    means = np.concatenate([m.reshape(-1) for m, _ in seen])
    stds = np.concatenate([s.reshape(-1) for _, s in seen])
    assert np.array_equal(means, info.means) and np.array_equal(stds, info.stds)


def _stream():
    x, times = _walks(n=3, T=30, D=3, seed=4)
    codec = KnotCodec.fit(x, times, step=0.05, tol=0.2)
    stream, _ = encode(codec, x, times)
    return codec, stream


def test_header_is_versioned_and_checksummed():
    codec, stream = _stream()
    assert stream[:4] == b"CTFC" and stream[4] == 2
    header = read_header(stream)
    assert header["model_id"] == codec.model_id() and header["frame_shape"] == [3]
    assert header["grid"]["T"] == 30
    (crc,) = struct.unpack("<I", stream[-4:])
    assert crc == zlib.crc32(stream[:-4])


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda s: s[:-1], "truncated"),
        (lambda s: s[:10], "truncated"),
        (lambda s: b"XXXX" + s[4:], "not a ctflow"),
        (lambda s: s[:4] + bytes([9]) + s[5:], "version"),
        (lambda s: s[:40] + bytes([s[40] ^ 1]) + s[41:], "checksum|corrupted"),
        (lambda s: s + b"\0", "corrupted"),
        (lambda s: b"", "truncated"),
    ],
)
def test_damaged_streams_raise_clear_errors(mutate, message):
    codec, stream = _stream()
    with pytest.raises(ValueError, match=message):
        decode(codec, mutate(stream))


def test_stream_of_another_model_is_refused():
    codec, stream = _stream()
    other = KnotCodec.from_spec({**codec.spec(), "step": 0.1})
    with pytest.raises(ValueError, match="written by codec"):
        decode(other, stream)


def _resealed(stream, payload_mutator, rng):
    """A stream whose payload is damaged but whose checksum is recomputed (it passes framing)."""
    from ctflow.compress.header import Reader, varint_bytes

    r = Reader(stream, 5)
    length_at = r.varint("header length") + r.pos  # where the payload length starts
    start = read_header(stream)["_payload_offset"]
    payload = payload_mutator(bytearray(stream[start:-4]), rng)
    body = stream[:length_at] + varint_bytes(len(payload) // 4) + bytes(payload)
    return body + struct.pack("<I", zlib.crc32(body))


def test_fuzz_mutated_and_truncated_streams_never_crash_or_hang():
    codec, stream = _stream()
    rng = np.random.default_rng(0)
    outcomes = {"error": 0, "decoded": 0}

    def flip(p, rng):
        for _ in range(rng.integers(1, 4)):
            k = rng.integers(len(p))
            p[k] = rng.integers(256)
        return p

    def cut(p, rng):
        return p[: 4 * rng.integers(0, len(p) // 4)]

    def extend(p, rng):
        return p + bytearray(rng.integers(0, 256, 4 * rng.integers(1, 4), dtype=np.uint8).tobytes())

    cases = []
    for _ in range(150):  # raw damage anywhere: framing / checksum catches it
        s = bytearray(stream)
        how = rng.integers(3)
        if how == 0:
            s[rng.integers(len(s))] ^= 1 << rng.integers(8)
        elif how == 1:
            s = s[: rng.integers(len(s))]
        else:
            s[rng.integers(len(s))] = rng.integers(256)
        cases.append(("raw", bytes(s)))
    for _ in range(150):  # damage behind a valid checksum: the range decoder itself is fuzzed
        mut = (flip, cut, extend)[rng.integers(3)]
        cases.append(("sealed", _resealed(stream, mut, rng)))
    for kind, s in cases:
        try:
            frames = decode(codec, s)
        except ValueError:
            outcomes["error"] += 1
        else:
            if s == stream:
                continue
            assert kind == "sealed", "raw damage must never decode"
            assert frames.shape == (3, 30, 3) and np.isfinite(frames).all()
            outcomes["decoded"] += 1
    assert outcomes["error"] + outcomes["decoded"] >= 299


def test_training_step_gives_every_parameter_a_gradient_and_lowers_the_loss():
    torch.manual_seed(0)
    data = bouncing_balls(8, T=16, size=6, seed=0)
    x = torch.tensor(data.frames.reshape(8, 16, -1))
    times = torch.tensor(data.times)
    model = SequenceCodec(36, latent_dim=2, hidden=16)
    model.set_normalization(x)
    out = model.loss(x, times, lam=1e-2, generator=torch.Generator().manual_seed(0))
    out["loss"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert float(out["keep_bits"].detach()) > 0 and 0 < float(out["kept"]) <= 1
    from ctflow.compress.train import train_codec

    before = float(
        model.loss(x, times, 1e-2, generator=torch.Generator().manual_seed(1))["loss"].detach()
    )
    train_codec(model, x, times, steps=60, lam=1e-2, batch_size=8)
    after = float(
        model.loss(x, times, 1e-2, generator=torch.Generator().manual_seed(1))["loss"].detach()
    )
    assert after < before


def test_bd_rate_of_a_scaled_curve_is_the_scale():
    r = np.array([100.0, 200.0, 400.0, 800.0])
    p = np.array([20.0, 24.0, 27.0, 29.0])
    assert math.isclose(bd_rate(r, p, 0.6 * r, p), -40.0, rel_tol=1e-9)
    assert math.isclose(bd_rate(r, p, r, p), 0.0, abs_tol=1e-12)
    with pytest.raises(ValueError, match="overlap"):
        bd_rate(r, p, r, p + 100)


def test_bd_rate_over_a_sliver_of_overlap_is_refused_not_reported():
    from ctflow.compress import MIN_OVERLAP, bd_overlap

    r = np.array([100.0, 200.0, 400.0])
    p = np.array([30.0, 35.0, 40.0])
    # the second curve shares 2 of its 10 dB (and of the first's 10): 20% of the longer range
    assert bd_overlap(p, p + 8) == (2.0, 0.2)
    assert bd_overlap(p, [0.0, 100.0]) == (10.0, 0.1)  # a long curve dwarfs the shared range
    assert bd_overlap(p, p + 20)[1] == 0.0
    with pytest.raises(ValueError, match="no overlap: the curves share 2.00 dB, 20%"):
        bd_rate(r, p, r, p + 8, min_overlap=MIN_OVERLAP)
    assert math.isfinite(bd_rate(r, p, r, p + 8))  # without the rule, a number from 2 dB
    assert math.isclose(bd_rate(r, p, 0.5 * r, p, min_overlap=MIN_OVERLAP), -50.0, rel_tol=1e-9)


def test_datasets_have_exact_ground_truth_at_any_time():
    for make in (bouncing_balls, smooth_control):
        data = make(3, T=20, size=8, seed=5)
        assert data.frames.shape == (3, 20, 8, 8)
        np.testing.assert_array_equal(data.truth(data.times), data.frames)
        pos = data.positions(np.linspace(0, 1, 41))
        assert ((pos >= 0.1 - 1e-12) & (pos <= 0.9 + 1e-12)).all() or make is smooth_control
    skel = skeleton_motion(2, T=30, joints=3, seed=0)
    assert skel.frames.shape == (2, 30, 4, 2)
    bones = np.linalg.norm(np.diff(skel.frames, axis=2), axis=-1)  # link lengths are constant
    np.testing.assert_allclose(bones, np.broadcast_to(bones[:, :1], bones.shape), atol=1e-5)
    with pytest.raises(ValueError, match="T must be"):
        bouncing_balls(2, T=1)


def test_cli_compress_decompress_roundtrip(tmp_path, capsys):
    x, _ = _walks(n=2, T=30, D=4, seed=6)
    np.save(tmp_path / "in.npy", x.astype(np.float32))
    assert (
        compress_main(
            [
                "compress",
                str(tmp_path / "in.npy"),
                str(tmp_path / "s.ctfc"),
                "--step",
                "0.01",
                "--tol",
                "0.2",
                "--fps",
                "1",
            ]
        )
        == 0
    )
    assert compress_main(["decompress", str(tmp_path / "s.ctfc"), str(tmp_path / "out.npy")]) == 0
    out = np.load(tmp_path / "out.npy")
    assert out.shape == x.shape and np.sqrt(((out - x) ** 2).mean(-1)).max() <= 0.2 + 0.01
    assert (
        compress_main(
            ["decompress", str(tmp_path / "s.ctfc"), str(tmp_path / "up.npy"), "--fps", "2"]
        )
        == 0
    )
    assert np.load(tmp_path / "up.npy").shape == (2, 59, 4)
    bad = tmp_path / "bad.ctfc"
    bad.write_bytes((tmp_path / "s.ctfc").read_bytes()[:-3])
    assert compress_main(["decompress", str(bad), str(tmp_path / "x.npy")]) == 2
    assert "truncated" in capsys.readouterr().err


@pytest.mark.parametrize("fps", [100.0, 120.0, 29.97, 7.0])
def test_a_frame_rate_grid_is_stored_as_three_numbers(fps, tmp_path):
    # the CLI makes its grid as arange(T) / fps, which is not t0 + dt * arange(T) bit for bit;
    # such grids were written out time by time (35 KB of header for 6000 frames)
    t = np.arange(6000) / fps
    x = np.stack([np.sin(t), np.cos(0.5 * t)], -1)[None].astype(np.float32)
    np.save(tmp_path / "in.npy", x)
    args = ["compress", str(tmp_path / "in.npy"), str(tmp_path / "s.ctfc"), "--fps", str(fps)]
    assert compress_main([*args, "--tol", "0.01"]) == 0
    header = read_header((tmp_path / "s.ctfc").read_bytes())
    assert header["grid"] == {"t0": 0.0, "fps": fps, "T": 6000}
    codec = KnotCodec.from_bytes(header["codec_spec"])
    _, _, times, _ = decode_latents(codec, (tmp_path / "s.ctfc").read_bytes())
    assert np.array_equal(times, t)  # the grid comes back bit for bit


def test_values_far_from_zero_are_coded_exactly_not_clipped(tmp_path):
    # data near 1013 that vary by 1: 1e6 steps from zero at the CLI's default step (range/1000)
    rng = np.random.default_rng(1)
    x = 1013 + rng.random((30, 2))
    np.save(tmp_path / "in.npy", x)
    assert (
        compress_main(
            ["compress", str(tmp_path / "in.npy"), str(tmp_path / "s.ctfc"), "--fps", "1"]
        )
        == 0
    )
    assert compress_main(["decompress", str(tmp_path / "s.ctfc"), str(tmp_path / "o.npy")]) == 0
    out = np.load(tmp_path / "o.npy")
    step = (x.max() - x.min()) / 1000  # the default step; the default tolerance is one step
    assert np.sqrt(((out - x) ** 2).mean(-1)).max() <= step + step / 2
    # through the Python API: the offset is in the header, the latents decode exactly
    codec = KnotCodec.fit(x[None], np.arange(30.0), step=1e-3, uniform=True)
    stream, info = encode(codec, x[None])
    assert read_header(stream)["offset"] != [0, 0]
    q, mask, _, _ = decode_latents(codec, stream)
    np.testing.assert_array_equal(q, info.q)
    assert np.abs(decode(codec, stream)[0] - x).max() <= 0.5e-3 + 1e-9


def test_a_step_too_fine_for_the_data_is_refused_naming_a_step_that_fits(tmp_path, capsys):
    x = np.random.default_rng(2).random((20, 3))
    codec = KnotCodec(3, step=1e-6, uniform=True)
    with pytest.raises(ValueError, match=r"coordinate \d span \d+ quantisation steps.*at least"):
        encode(codec, x[None])
    np.save(tmp_path / "in.npy", x)
    out = tmp_path / "s.ctfc"
    assert (
        compress_main(
            ["compress", str(tmp_path / "in.npy"), str(out), "--step", "1e-6", "--fps", "1"]
        )
        == 2
    )
    assert "would fit" in capsys.readouterr().err and not out.exists()


BAD_CLI = [
    # (arguments, a word of the one-line message)
    (["compress", "{missing}", "{out}"], "no input file"),
    (["compress", "{text}", "{out}"], "not a readable .npy"),
    (["compress", "{nan}", "{out}"], "NaN or infinite"),
    (["compress", "{empty}", "{out}"], "empty"),
    (["compress", "{good}", "{dir}"], "is a directory"),
    (["compress", "{good}", "{out}", "--fps", "1", "--step", "-1"], "step"),
    (["compress", "{good}", "{out}", "--fps", "1", "--step", "nan"], "step"),
    (["compress", "{good}", "{out}", "--fps", "1", "--tol", "-1"], "tol"),
    (["compress", "{good}", "{out}", "--uniform", "-3"], "--uniform"),
    (["compress", "{good}", "{out}", "--fps", "0"], "--fps"),
    (["compress", "{good}", "{out}"], "no time stamps: pass --fps"),
    (["decompress", "{missing}", "{out}"], "no input file"),
    (["decompress", "{text}", "{out}"], "not a ctflow compressed stream"),
    (["decompress", "{stream}", "{dir}"], "is a directory"),
    (["decompress", "{stream}", "{out}", "--fps", "inf"], "--fps"),
    (["decompress", "{stream}", "{out}", "--fps", "-2"], "--fps"),
    (["decompress", "{stream}", "{out}", "--fps", "1e12"], "at most"),
]


@pytest.mark.parametrize("argv,message", BAD_CLI, ids=[" ".join(a) for a, _ in BAD_CLI])
def test_cli_bad_inputs_exit_2_with_one_line_and_write_nothing(argv, message, tmp_path, capsys):
    good = np.random.default_rng(0).random((10, 2))
    np.save(tmp_path / "good.npy", good)
    np.save(tmp_path / "nan.npy", np.where(good > 0.9, np.nan, good))
    np.save(tmp_path / "empty.npy", np.zeros((0, 2)))
    (tmp_path / "text.npy").write_text("latitude,longitude\n1,2\n")
    (tmp_path / "dir").mkdir()
    good_args = ["compress", str(tmp_path / "good.npy"), str(tmp_path / "s.ctfc"), "--fps", "1"]
    assert compress_main(good_args) == 0
    capsys.readouterr()
    paths = {
        "missing": tmp_path / "nope.npy",
        "text": tmp_path / "text.npy",
        "nan": tmp_path / "nan.npy",
        "empty": tmp_path / "empty.npy",
        "good": tmp_path / "good.npy",
        "stream": tmp_path / "s.ctfc",
        "dir": tmp_path / "dir",
        "out": tmp_path / "out.bin",
    }
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code = compress_main([a.format(**{k: str(v) for k, v in paths.items()}) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ctflow: error: ") and err.count("\n") == 1 and message in err, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written or removed


def test_a_bvh_file_gives_its_frame_rate_and_npy_needs_one(tmp_path):
    # the frame rate comes from the BVH Frame Time (never a silent 1); --fps overrides it
    from ctflow.data.bvh import read_bvh

    bvh_path = (
        Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap" / "walk_meredith.bvh"
    )
    if not bvh_path.exists():
        pytest.skip("the shared mocap data is not here")
    clip = tmp_path / "clip.bvh"
    text = bvh_path.read_text()
    head, _, motion = text.partition("MOTION")
    lines = motion.strip().splitlines()
    frame_time = float(lines[1].split(":")[1])
    clip.write_text(head + "MOTION\nFrames: 40\n" + lines[1] + "\n" + "\n".join(lines[2:42]) + "\n")
    out = tmp_path / "s.ctfc"
    assert compress_main(["compress", str(clip), str(out), "--tol", "0.5"]) == 0
    header = read_header(out.read_bytes())
    # the Frame Time itself: three numbers in the header, not a time per frame
    assert header["grid"] == {"t0": 0.0, "dt": frame_time, "T": len(read_bvh(clip).motion)}
    assert header["grid"]["T"] == 40
    assert compress_main(["compress", str(clip), str(tmp_path / "t.ctfc"), "--fps", "10"]) == 0
    assert read_header((tmp_path / "t.ctfc").read_bytes())["grid"]["fps"] == 10.0


def test_a_saved_joint_path_codec_compresses_any_bvh_file(tmp_path):
    # compress-mocap trains on one skeleton (23 joints); freebvh.bvh has 55
    mocap = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap"
    if not (mocap / "freebvh.bvh").exists():
        pytest.skip("../shared/data/mocap is not present")
    from ctflow.data.bvh import read_bvh
    from ctflow.runs import run_experiment

    run_dir, _ = run_experiment("compress-mocap", size="smoke", out=tmp_path / "run",
                                progress=False)  # fmt: skip
    model = ["--model", str(run_dir), "--key", "joints"]
    out, back = tmp_path / "fb.ctfc", tmp_path / "fb.npy"
    assert compress_main(["compress", str(mocap / "freebvh.bvh"), str(out), *model]) == 0
    assert compress_main(["decompress", str(out), str(back), *model]) == 0
    truth = read_bvh(mocap / "freebvh.bvh").positions(root_frame=True)  # (69, 55, 3)
    frames = np.load(back)
    assert frames.shape == truth.shape and np.isfinite(frames).all()
    # a model of another frame size is refused by name, and nothing is written
    other = tmp_path / "other.ctfc"
    rd, _ = run_experiment("compress-rd", size="smoke", out=tmp_path / "rd", progress=False)
    args = ["compress", str(mocap / "freebvh.bvh"), str(other), "--model", str(rd), "--key"]
    assert compress_main([*args, "bouncing-balls"]) == 2
    assert not other.exists()


def test_h264_at_crf_0_returns_the_8_bit_frames_across_the_whole_range():
    from ctflow.compress.baselines import ffmpeg_available, h264_roundtrip

    if not ffmpeg_available():
        pytest.skip("ffmpeg is not installed")
    # a ramp over the full 0..1 range: a decode through the luma's video range (16-235) would
    # clip both ends by about 6%
    ramp = np.linspace(0.0, 1.0, 16 * 16).reshape(16, 16)
    video = np.stack([np.roll(ramp, k, axis=1) for k in range(6)])[None]
    packed, back = h264_roundtrip(video, crf=0, fps=120.0)
    assert back.shape == video.shape and len(packed) > 0
    np.testing.assert_allclose(back, np.round(video * 255) / 255, atol=1.5 / 255)
