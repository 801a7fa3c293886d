"""Tests for ctflow.metrics against closed forms, POT, and naive reference implementations."""

from __future__ import annotations

import math

import pytest
import torch

from ctflow.metrics import (
    bits_per_dim,
    dequantized_log_likelihood,
    expected_calibration_error,
    log_mean_exp,
    mmd,
    mmd2,
    nll,
    reliability_diagram_data,
    wasserstein2,
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- likelihood --------------------------------------------------------------------------------


def test_nll_mean_and_nan() -> None:
    log_prob = torch.tensor([-1.0, -2.0, -4.5])
    assert float(nll(log_prob)) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="1 NaN"):
        nll(torch.tensor([-1.0, math.nan]))
    with pytest.raises(ValueError, match="empty"):
        nll(torch.zeros(0))


def test_map_chunks_equals_one_call_for_any_chunk_size() -> None:
    from ctflow.ops import map_chunks

    x = torch.randn(37, 3, dtype=torch.float64)
    dist = torch.distributions.MultivariateNormal(torch.zeros(3), torch.eye(3))
    whole = dist.log_prob(x)
    for size in (1, 5, 36, 37, 100):
        assert torch.equal(map_chunks(dist.log_prob, x, size), whole)
    with pytest.raises(ValueError, match="size must be a positive integer"):
        map_chunks(dist.log_prob, x, 0)


def test_log_mean_exp() -> None:
    x = torch.randn(4, 6, generator=_gen(0), dtype=torch.float64)
    torch.testing.assert_close(log_mean_exp(x, dim=1), x.exp().mean(1).log())
    assert log_mean_exp(x, dim=0, keepdim=True).shape == (1, 6)
    # stable where exp overflows
    big = torch.tensor([1000.0, 1000.0], dtype=torch.float64)
    assert float(log_mean_exp(big, dim=0)) == pytest.approx(1000.0)


@pytest.mark.parametrize("levels", [2, 17, 256])
def test_bits_per_dim_uniform_density_is_log2_levels(levels: int) -> None:
    d = 64
    # uniform density on [0, 1)^D: log p = 0, one bin has width 1 / levels
    bpd = bits_per_dim(torch.zeros(3), d, bin_width=1.0 / levels)
    torch.testing.assert_close(bpd, torch.full((3,), math.log2(levels)))
    # the same data mapped to [-1, 1]^D: log p = -D ln 2, bins of width 2 / levels
    log_p = torch.full((3,), -d * math.log(2.0), dtype=torch.float64)
    bpd = bits_per_dim(log_p, d, bin_width=2.0 / levels)
    torch.testing.assert_close(bpd, torch.full((3,), math.log2(levels), dtype=torch.float64))


def test_bits_per_dim_hand_computed() -> None:
    # -log p = 10 nats over 5 dims, bin width 1: 10 / (5 ln 2) bits per dim
    assert float(bits_per_dim(torch.tensor([-10.0]), 5)) == pytest.approx(2.0 / math.log(2.0))
    with pytest.raises(ValueError, match="bin_width"):
        bits_per_dim(torch.zeros(2), 5, bin_width=0.0)
    with pytest.raises(ValueError, match="dim must be at least 1"):
        bits_per_dim(torch.zeros(2), 0)


def _binned_log_prob_fn(log_p_cells: torch.Tensor, levels: int):
    """Density on [0, 1)^2 that is constant on each bin, with bin masses exp(log_p_cells)."""

    def log_prob_fn(y: torch.Tensor) -> torch.Tensor:
        cell = torch.floor(y * levels).long().clamp(0, levels - 1)
        # density = mass / bin volume, and the bin volume is levels ** -2
        return log_p_cells[cell[:, 0], cell[:, 1]] + 2 * math.log(levels)

    return log_prob_fn


@pytest.mark.parametrize("k", [1, 7])
def test_dequantized_likelihood_exact_for_binned_density(k: int) -> None:
    levels = 4
    log_p_cells = torch.log_softmax(
        torch.randn(levels * levels, generator=_gen(0), dtype=torch.float64), dim=0
    ).reshape(levels, levels)
    x = torch.randint(levels, (50, 2), generator=_gen(1))
    bound = dequantized_log_likelihood(
        _binned_log_prob_fn(log_p_cells, levels),
        x,
        levels,
        k=k,
        generator=_gen(2),
        dtype=torch.float64,
    )
    assert bound.shape == (50,)
    torch.testing.assert_close(bound, log_p_cells[x[:, 0], x[:, 1]], atol=1e-12, rtol=0)


def test_dequantized_likelihood_bound_for_smooth_density() -> None:
    levels = 4
    x = torch.arange(levels).unsqueeze(-1)

    def log_prob_fn(y: torch.Tensor) -> torch.Tensor:
        # density 2y on [0, 1): P(x) = ((x + 1)^2 - x^2) / levels^2
        return torch.log(2.0 * y[:, 0])

    exact = torch.log((2.0 * x[:, 0].double() + 1.0) / levels**2)
    tight = dequantized_log_likelihood(
        log_prob_fn, x, levels, k=4000, generator=_gen(0), dtype=torch.float64
    )
    torch.testing.assert_close(tight, exact, atol=2e-2, rtol=0)
    # with k = 1 the estimate is a lower bound in expectation (Jensen); average many draws
    loose = dequantized_log_likelihood(
        log_prob_fn, x.repeat(2000, 1), levels, k=1, generator=_gen(1), dtype=torch.float64
    )
    assert bool((loose.reshape(2000, levels).mean(0) < exact).all())


def test_dequantized_likelihood_errors() -> None:
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        dequantized_log_likelihood(lambda y: y, torch.zeros(3, 2, dtype=torch.long), 4, k=2)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        dequantized_log_likelihood(lambda y: y.sum(-1), torch.full((3, 2), 4), 4)
    with pytest.raises(ValueError, match="k must be at least 1"):
        dequantized_log_likelihood(lambda y: y.sum(-1), torch.zeros(3, 2, dtype=torch.long), 4, k=0)


# --- Wasserstein-2 -----------------------------------------------------------------------------


def test_w2_matches_pot() -> None:
    ot = pytest.importorskip("ot")
    x = torch.randn(60, 3, generator=_gen(0), dtype=torch.float64)
    y = 0.7 * torch.randn(60, 3, generator=_gen(1), dtype=torch.float64) + 0.3
    weights = torch.full((60,), 1.0 / 60, dtype=torch.float64).numpy()
    cost = ot.dist(x.numpy(), y.numpy(), metric="sqeuclidean")
    expected = math.sqrt(ot.emd2(weights, weights, cost))
    w2 = wasserstein2(x, y)
    assert w2.shape == () and w2.dtype == torch.float64
    assert float(w2) == pytest.approx(expected, abs=1e-6)


def test_w2_one_dimensional_sorted_matching() -> None:
    x = torch.randn(40, 1, generator=_gen(0), dtype=torch.float64)
    y = torch.rand(40, 1, generator=_gen(1), dtype=torch.float64) * 3
    # in 1-D the optimal coupling pairs the sorted samples
    expected = (x.sort(0).values - y.sort(0).values).square().mean().sqrt()
    assert float(wasserstein2(x, y)) == pytest.approx(float(expected), abs=1e-12)


def test_w2_translation_and_gradient() -> None:
    x = torch.randn(30, 2, generator=_gen(0), dtype=torch.float64)
    shift = torch.tensor([0.3, -0.4], dtype=torch.float64)
    # for a pure translation every permutation has the same cross term, so W2 = |shift|
    assert float(wasserstein2(x, x + shift)) == pytest.approx(0.5, abs=1e-12)
    y = torch.randn(30, 2, generator=_gen(1), requires_grad=True)
    wasserstein2(torch.randn(30, 2, generator=_gen(2)), y).backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()


def test_w2_shape_errors() -> None:
    with pytest.raises(ValueError, match=r"x \(5, 2\) and y \(6, 2\)"):
        wasserstein2(torch.zeros(5, 2), torch.zeros(6, 2))
    with pytest.raises(ValueError, match=r"x \(5, 2\) and y \(5, 3\)"):
        wasserstein2(torch.zeros(5, 2), torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"shape \(n, d\).*\(5,\)"):
        wasserstein2(torch.zeros(5), torch.zeros(5))
    with pytest.raises(TypeError, match="floating-point"):
        wasserstein2(torch.zeros(5, 2, dtype=torch.long), torch.zeros(5, 2))


# --- MMD ---------------------------------------------------------------------------------------


def _naive_mmd2(x: torch.Tensor, y: torch.Tensor, bandwidths: tuple[float, ...]) -> float:
    def k(a: list[float], b: list[float]) -> float:
        sq = sum((ai - bi) ** 2 for ai, bi in zip(a, b))
        return sum(math.exp(-sq / (2 * h * h)) for h in bandwidths)

    xs, ys = x.tolist(), y.tolist()
    n, m = len(xs), len(ys)
    xx = sum(k(xs[i], xs[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(ys[i], ys[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(a, b) for a in xs for b in ys) / (n * m)
    return xx + yy - 2 * xy


@pytest.mark.parametrize("bandwidths", [(0.1, 0.2, 0.5, 1.0, 2.0, 5.0), (0.7,)])
def test_mmd2_matches_naive_double_loop(bandwidths: tuple[float, ...]) -> None:
    x = torch.randn(6, 3, generator=_gen(0), dtype=torch.float64)
    y = torch.randn(4, 3, generator=_gen(1), dtype=torch.float64) + 0.5
    expected = _naive_mmd2(x, y, bandwidths)
    assert float(mmd2(x, y, bandwidths)) == pytest.approx(expected, abs=1e-12)


def test_mmd_same_vs_shifted_distribution() -> None:
    x = torch.randn(400, 2, generator=_gen(0), dtype=torch.float64)
    y = torch.randn(400, 2, generator=_gen(1), dtype=torch.float64)
    # under the null the estimate has std ~0.004 at this size
    same = float(mmd2(x, y))
    shifted = float(mmd2(x, y + 1.0))
    assert abs(same) < 0.02
    assert shifted > 0.2
    assert float(mmd(x, y + 1.0)) == pytest.approx(math.sqrt(shifted))
    assert float(mmd(x, x[torch.randperm(400, generator=_gen(2))])) >= 0.0


def test_mmd_errors() -> None:
    with pytest.raises(ValueError, match="n >= 2"):
        mmd2(torch.zeros(1, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="same number of features"):
        mmd2(torch.zeros(3, 2), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="positive"):
        mmd2(torch.zeros(3, 2), torch.zeros(3, 2), bandwidths=(1.0, -1.0))


# --- calibration -------------------------------------------------------------------------------


def _naive_ece(probs: torch.Tensor, labels: torch.Tensor, n_bins: int) -> float:
    conf = probs.max(1).values.tolist()
    pred = probs.argmax(1).tolist()
    hits = [float(p == t) for p, t in zip(pred, labels.tolist())]
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        members = [i for i, c in enumerate(conf) if lo < c <= hi or (b == 0 and c == 0.0)]
        if members:
            acc = sum(hits[i] for i in members) / len(members)
            mean_conf = sum(conf[i] for i in members) / len(members)
            total += len(members) / len(conf) * abs(acc - mean_conf)
    return total


def test_ece_matches_naive_reference() -> None:
    probs = torch.softmax(2 * torch.randn(500, 4, generator=_gen(0), dtype=torch.float64), dim=1)
    labels = torch.randint(4, (500,), generator=_gen(1))
    for n_bins in (1, 10, 15):
        expected = _naive_ece(probs, labels, n_bins)
        ece = expected_calibration_error(probs, labels, n_bins)
        assert float(ece) == pytest.approx(expected, abs=1e-12)


def test_ece_perfectly_calibrated_is_near_zero() -> None:
    n = 20000
    conf = 0.5 + 0.5 * torch.rand(n, generator=_gen(0), dtype=torch.float64)
    probs = torch.stack([conf, 1 - conf], dim=1)
    # class 0 is predicted, and it is right with probability equal to the confidence
    labels = (torch.rand(n, generator=_gen(1), dtype=torch.float64) >= conf).long()
    assert float(expected_calibration_error(probs, labels)) < 0.02


def test_ece_overconfident_half_right_is_half() -> None:
    probs = torch.tensor([[1.0, 0.0]]).repeat(100, 1)
    labels = torch.tensor([0, 1]).repeat(50)
    assert float(expected_calibration_error(probs, labels)) == pytest.approx(0.5)


def test_reliability_diagram_data() -> None:
    probs = torch.tensor([[0.95, 0.05], [0.9, 0.1], [0.3, 0.7], [0.55, 0.45]])
    labels = torch.tensor([0, 1, 1, 0])
    data = reliability_diagram_data(probs, labels, n_bins=5)
    assert torch.equal(data.count, torch.tensor([0, 0, 1, 1, 2]))
    torch.testing.assert_close(data.bin_edges, torch.linspace(0, 1, 6))
    torch.testing.assert_close(data.confidence[2:], torch.tensor([0.55, 0.7, 0.925]))
    torch.testing.assert_close(data.accuracy[2:], torch.tensor([1.0, 1.0, 0.5]))
    assert torch.isnan(data.confidence[:2]).all() and torch.isnan(data.accuracy[:2]).all()
    # ECE is the count-weighted gap of the diagram
    gap = (data.count[2:] / 4 * (data.accuracy[2:] - data.confidence[2:]).abs()).sum()
    torch.testing.assert_close(expected_calibration_error(probs, labels, n_bins=5), gap)


def test_calibration_errors() -> None:
    labels = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="row 1 sums to"):
        expected_calibration_error(torch.tensor([[0.5, 0.5], [0.9, 0.9]]), labels)
    with pytest.raises(ValueError, match=r"\[0, 2\).*max 2"):
        expected_calibration_error(torch.tensor([[0.5, 0.5], [0.5, 0.5]]), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\) = \(2,\)"):
        expected_calibration_error(torch.tensor([[0.5, 0.5], [0.5, 0.5]]), torch.tensor([0]))
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(torch.tensor([[0.5, 0.5], [0.5, 0.5]]), labels, n_bins=0)


def test_mmd_refuses_non_finite_samples():
    from ctflow.metrics import mmd

    x = torch.randn(8, 2)
    x[3, 1] = float("nan")
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        mmd(x, torch.randn(8, 2))


def test_nn1_accuracy_against_a_loop_and_at_its_two_ends():
    from ctflow.metrics import nn1_accuracy

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 3, generator=g), torch.randn(30, 3, generator=g) + 0.7
    # an independent loop over the pooled points (no ties with continuous draws)
    pooled, labels = torch.cat([x, y]), [0] * 30 + [1] * 30
    hits = 0
    for i in range(60):
        best = min((float((pooled[i] - pooled[j]).norm()), j) for j in range(60) if j != i)[1]
        hits += labels[best] == labels[i]
    assert nn1_accuracy(x, y) == pytest.approx(hits / 60)
    assert nn1_accuracy(x + 100.0, y) == 1.0
    # a collapse onto the data mean is separable although it sits inside the data
    assert nn1_accuracy(y.mean(0).expand(30, 3) + 1e-3 * x, y) > 0.9
    with pytest.raises(ValueError, match="same n"):
        nn1_accuracy(x[:10], y)
