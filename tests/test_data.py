"""Tests for ctflow.data: 2-D toy densities and the 8x8 digits."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from ctflow.data import (
    DIGITS_LEVELS,
    TOY_DATASETS,
    dequantize,
    from_centered,
    has_log_prob,
    load_digits_split,
    sample_toy,
    to_centered,
    toy_entropy,
    toy_entropy_mc,
    toy_log_prob,
)

CHECKER_SCALE = 0.45
CHECKER_ENTROPY = math.log(8.0 / CHECKER_SCALE**2)
GAUSS_RADIUS = 4.0 / math.sqrt(2.0)
GAUSS_STD = 0.5 / math.sqrt(2.0)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _grid(lim: float, m: int) -> tuple[torch.Tensor, float]:
    """Midpoints of an ``m x m`` grid on ``[-lim, lim]^2``, shape ``(m, m, 2)``, and cell size."""
    h = 2.0 * lim / m
    centres = torch.linspace(-lim + h / 2, lim - h / 2, m, dtype=torch.float64)
    gx, gy = torch.meshgrid(centres, centres, indexing="ij")
    return torch.stack([gx, gy], dim=-1), h


# --- every toy dataset -------------------------------------------------------------------------


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_toy_shape_dtype_and_seeding(name: str) -> None:
    x = sample_toy(name, 257, generator=_gen(0))
    assert x.shape == (257, 2) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    assert sample_toy(name, 3, generator=_gen(0), dtype=torch.float64).dtype == torch.float64
    assert torch.equal(x, sample_toy(name, 257, generator=_gen(0)))
    assert not torch.allclose(x, sample_toy(name, 257, generator=_gen(1)))
    assert sample_toy(name, 0, generator=_gen(0)).shape == (0, 2)


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_toy_uses_only_the_given_generator(name: str) -> None:
    torch.manual_seed(123)
    a = sample_toy(name, 50, generator=_gen(5))
    torch.manual_seed(456)
    b = sample_toy(name, 50, generator=_gen(5))
    assert torch.equal(a, b)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown toy dataset 'swissroll'") as info:
        sample_toy("swissroll", 10)
    for name in TOY_DATASETS:
        assert name in str(info.value)
    for fn in (has_log_prob, toy_entropy):
        with pytest.raises(ValueError, match="checkerboard"):
            fn("swissroll")


def test_bad_n_and_dtype() -> None:
    with pytest.raises(ValueError, match="n must be non-negative"):
        sample_toy("moons", -1)
    with pytest.raises(TypeError, match="n must be an int"):
        sample_toy("moons", 2.5)
    with pytest.raises(TypeError, match="dtype"):
        sample_toy("moons", 4, dtype=torch.int64)


def test_log_prob_availability() -> None:
    assert [n for n in TOY_DATASETS if has_log_prob(n)] == ["checkerboard", "8gaussians"]
    for name in ("moons", "spirals", "pinwheel"):
        with pytest.raises(ValueError, match="checkerboard, 8gaussians"):
            toy_log_prob(name, torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        toy_log_prob("8gaussians", torch.zeros(3, 3))
    with pytest.raises(ValueError, match="toy_entropy_mc"):
        toy_entropy("8gaussians")
    with pytest.raises(ValueError, match="no closed-form entropy"):
        toy_entropy("moons")


# --- checkerboard ------------------------------------------------------------------------------


def test_checkerboard_samples_in_support_and_equally_spread() -> None:
    n = 8000
    x = sample_toy("checkerboard", n, generator=_gen(0), dtype=torch.float64)
    assert torch.isfinite(toy_log_prob("checkerboard", x)).all()
    cells = torch.floor(x * CHECKER_SCALE).long()
    counts = Counter(map(tuple, cells.tolist()))
    # the 8 allowed unit squares: column c in -2..1, row r in -2..1 with r + c even
    allowed = {(c, r) for c in range(-2, 2) for r in range(-2, 2) if (r + c) % 2 == 0}
    assert set(counts) == allowed
    sd = math.sqrt(n * (1 / 8) * (7 / 8))
    for count in counts.values():
        assert abs(count - n / 8) < 5 * sd


def test_checkerboard_density_integrates_to_one() -> None:
    points, h = _grid(5.0, 2000)
    mass = toy_log_prob("checkerboard", points).exp().sum() * h * h
    assert abs(float(mass) - 1.0) < 1e-2


def test_checkerboard_entropy_closed_form_and_mc() -> None:
    assert toy_entropy("checkerboard") == pytest.approx(CHECKER_ENTROPY, abs=1e-12)
    assert toy_entropy("checkerboard") == pytest.approx(3.676, abs=1e-3)
    mean, stderr = toy_entropy_mc("checkerboard", 2000, _gen(0))
    assert abs(mean - CHECKER_ENTROPY) <= 4 * stderr + 1e-9


def test_checkerboard_outside_points() -> None:
    s = 1.0 / CHECKER_SCALE
    # unscaled (0.5, 1.5): column 0 allows rows 0 and -2 only; (2.5, 0.5) is off the board
    points = torch.tensor([[0.5 * s, 1.5 * s], [2.5 * s, 0.5 * s], [0.5 * s, 0.5 * s]])
    log_p = toy_log_prob("checkerboard", points)
    assert log_p[0] == -math.inf and log_p[1] == -math.inf
    assert float(log_p[2]) == pytest.approx(-CHECKER_ENTROPY, rel=1e-6)
    assert toy_log_prob("checkerboard", torch.zeros(4, 3, 2)).shape == (4, 3)


# --- 8gaussians --------------------------------------------------------------------------------


def test_8gaussians_density_integrates_to_one() -> None:
    points, h = _grid(5.0, 400)
    mass = toy_log_prob("8gaussians", points).exp().sum() * h * h
    assert abs(float(mass) - 1.0) < 1e-4


def test_8gaussians_density_at_a_centre() -> None:
    centre = torch.tensor([GAUSS_RADIUS, 0.0], dtype=torch.float64)
    # the nearest other centres are ~6 std away and add only ~1e-8 to the density here
    expected = -math.log(8.0) - math.log(2.0 * math.pi * GAUSS_STD**2)
    assert float(toy_log_prob("8gaussians", centre)) == pytest.approx(expected, rel=1e-6)


def test_8gaussians_moments() -> None:
    n = 20000
    x = sample_toy("8gaussians", n, generator=_gen(0), dtype=torch.float64)
    var = GAUSS_RADIUS**2 / 2 + GAUSS_STD**2
    assert x.mean(0).abs().max() < 5 * math.sqrt(var / n)
    cov = torch.cov(x.T)
    torch.testing.assert_close(cov, var * torch.eye(2, dtype=torch.float64), atol=0.15, rtol=0)


def test_8gaussians_mc_entropy() -> None:
    # the components barely overlap, so H = ln 8 + the entropy of one 2-D Gaussian
    exact = math.log(8.0) + 1.0 + math.log(2.0 * math.pi * GAUSS_STD**2)
    mean, stderr = toy_entropy_mc("8gaussians", 20000, _gen(0))
    assert 0 < stderr < 0.02
    assert abs(mean - exact) < 5 * stderr


# --- the datasets without a density ------------------------------------------------------------


def test_moons_centred_and_unit_scale() -> None:
    x = sample_toy("moons", 20000, generator=_gen(0), dtype=torch.float64)
    assert x.mean(0).abs().max() < 0.03
    assert float(torch.cov(x.T).trace()) == pytest.approx(2.0, abs=0.05)


def test_spirals_and_pinwheel_scale() -> None:
    for name, low, high in (("spirals", 3.0, 4.5), ("pinwheel", 3.0, 6.0)):
        radius = sample_toy(name, 5000, generator=_gen(0)).norm(dim=1)
        assert low < float(radius.max()) < high


def test_pinwheel_has_five_arms() -> None:
    x = sample_toy("pinwheel", 5000, generator=_gen(0), dtype=torch.float64)
    # near radius 2 (radial feature ~ 1) every arm is rotated by 2 pi j / 5 + 0.25 e
    start = x[(x.norm(dim=1) - 2.0).abs() < 0.1]
    angle = torch.atan2(start[:, 1], start[:, 0]) - 0.25 * math.e
    # 5-fold circular concentration: near 1 for 5 narrow arms, near 0 for no arm structure
    concentration = torch.complex(torch.cos(5 * angle), torch.sin(5 * angle)).mean().abs()
    assert float(concentration) > 0.7
    arm = torch.remainder(torch.round(angle / (2 * math.pi / 5)), 5).long()
    share = torch.bincount(arm, minlength=5).double() / arm.numel()
    assert float((share - 0.2).abs().max()) < 0.05


# --- digits ------------------------------------------------------------------------------------


def _rows(x: torch.Tensor, y: torch.Tensor) -> Counter:
    return Counter(tuple(row) + (lab,) for row, lab in zip(x.tolist(), y.tolist()))


def test_digits_all() -> None:
    x, y = load_digits_split("all")
    assert x.shape == (1797, 64) and y.shape == (1797,)
    assert x.dtype == torch.long and y.dtype == torch.long
    assert int(x.min()) == 0 and int(x.max()) == DIGITS_LEVELS - 1 == 16
    assert set(y.tolist()) == set(range(10))


def test_digits_split_partition() -> None:
    x_all, y_all = load_digits_split("all")
    x_tr, y_tr = load_digits_split("train", seed=3)
    x_te, y_te = load_digits_split("test", seed=3)
    assert x_te.shape == (359, 64) and x_tr.shape == (1438, 64)
    assert y_te.shape == (359,) and y_tr.shape == (1438,)
    # as multisets, train and test together are exactly the full data set (so disjoint)
    assert _rows(x_tr, y_tr) + _rows(x_te, y_te) == _rows(x_all, y_all)
    assert torch.equal(x_te, load_digits_split("test", seed=3)[0])
    assert not torch.equal(x_te, load_digits_split("test", seed=4)[0])
    assert load_digits_split("test", test_fraction=0.5)[0].shape == (898, 64)


def test_digits_bad_arguments() -> None:
    with pytest.raises(ValueError, match="train, test, all"):
        load_digits_split("valid")
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits_split("train", test_fraction=1.0)
    with pytest.raises(TypeError, match="seed"):
        load_digits_split("train", seed=0.5)


def test_dequantize_bins() -> None:
    x, _ = load_digits_split("all")
    for dtype in (torch.float32, torch.float64):
        y = dequantize(x, DIGITS_LEVELS, generator=_gen(0), dtype=dtype)
        assert y.shape == x.shape and y.dtype == dtype
        assert float(y.min()) >= 0.0 and float(y.max()) < 1.0
        assert torch.equal(torch.floor(y * DIGITS_LEVELS).long(), x)
        assert torch.equal(torch.floor(y.double() * DIGITS_LEVELS).long(), x)
    # the offset within each bin is U[0, 1): mean 1/2, variance 1/12
    offset = y * DIGITS_LEVELS - x
    assert float(offset.mean()) == pytest.approx(0.5, abs=0.005)
    assert float(offset.var()) == pytest.approx(1 / 12, abs=0.002)
    assert torch.equal(y, dequantize(x, DIGITS_LEVELS, generator=_gen(0), dtype=torch.float64))


def test_dequantize_top_edge_stays_below_one() -> None:
    # many draws in the top bin: rounding to float32 must never produce 1.0
    x = torch.full((200000,), 16)
    y = dequantize(x, 17, generator=_gen(0))
    assert float(y.max()) < 1.0 and torch.equal(torch.floor(y * 17).long(), x)


def test_dequantize_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"\[0, 17\).*max 17"):
        dequantize(torch.tensor([0, 17]), 17)
    with pytest.raises(ValueError, match="min -1"):
        dequantize(torch.tensor([-1, 3]), 17)
    with pytest.raises(ValueError, match="levels must be at least 1"):
        dequantize(torch.tensor([0]), 0)
    with pytest.raises(TypeError, match="integer dtype"):
        dequantize(torch.tensor([0.0, 1.0]), 17)


def test_centering_round_trip() -> None:
    y = torch.tensor([0.0, 0.25, 1.0])
    torch.testing.assert_close(to_centered(y), torch.tensor([-1.0, -0.5, 1.0]))
    torch.testing.assert_close(from_centered(to_centered(y)), y)
    # log|det| of y -> z is D ln 2 for D-dimensional data
    jac = torch.autograd.functional.jacobian(to_centered, torch.rand(5))
    assert float(torch.linalg.slogdet(jac).logabsdet) == pytest.approx(5 * math.log(2.0))


def test_load_table_splits_by_seed_and_standardises_by_the_train_split():
    from sklearn.datasets import load_breast_cancer

    from ctflow.data import load_table

    train, test = load_table("breast_cancer", seed=3, test_fraction=0.25, log1p=True)
    assert train.dtype == torch.float64 and len(train) + len(test) == 569 and len(test) == 142
    torch.testing.assert_close(
        train.mean(0), torch.zeros(30, dtype=torch.float64), atol=1e-12, rtol=0
    )
    torch.testing.assert_close(train.std(0), torch.ones(30, dtype=torch.float64))
    # the same seed gives the same split; the test rows are the raw rows under the train scaling
    again, _ = load_table("breast_cancer", seed=3, test_fraction=0.25, log1p=True)
    assert torch.equal(train, again)
    raw = torch.log1p(torch.as_tensor(load_breast_cancer().data).clamp_min(0))
    perm = torch.randperm(569, generator=torch.Generator().manual_seed(3))
    tr, te = raw[perm[142:]], raw[perm[:142]]
    torch.testing.assert_close(test, (te - tr.mean(0)) / tr.std(0))
    with pytest.raises(ValueError, match="unknown tabular dataset"):
        load_table("iris")
    with pytest.raises(ValueError, match="test_fraction"):
        load_table("wine", test_fraction=1.0)


def test_load_text_indexes_one_vocabulary_for_both_splits(tmp_path):
    from ctflow.data import load_text

    path = tmp_path / "t.txt"
    path.write_text("abcabcabcX", encoding="utf-8")
    train, test, vocab = load_text(path, train_fraction=0.5)
    assert vocab == ["X", "a", "b", "c"]
    assert "".join(vocab[i] for i in torch.cat([train, test]).tolist()) == "abcabcabcX"
    assert len(train) == 5
    with pytest.raises(FileNotFoundError, match="no text file"):
        load_text(tmp_path / "missing.txt")
