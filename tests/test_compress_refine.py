"""Encoder-side refinement of keep masks: checked against the exact segment-cost table."""

import numpy as np
import pytest
import torch

pytest.importorskip("constriction")

from ctflow.compress import (  # noqa: E402
    SequenceCodec,
    decode_latents,
    encode,
    keep_bits_table,
    rd_latent_masks,
    segment_costs,
)
from ctflow.compress.refine import RefinedKeepCodec, refine_keep_masks  # noqa: E402

LAM = 1e-3


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = SequenceCodec(5, latent_dim=2, hidden=16, hazard_bins=3, latent_scale=4.0)
    with torch.no_grad():
        model.hazard_logits.copy_(torch.tensor([-2.0, -0.5, 1.0]))
    rng = np.random.default_rng(1)
    x = torch.as_tensor(np.cumsum(rng.normal(scale=0.5, size=(4, 14, 5)), 1), dtype=torch.float32)
    times = np.sort(rng.uniform(0, 3, 14))  # uneven gaps
    peak = 3.0
    dist, bits = segment_costs(model.eval(), x, times, peak)
    table = dist + LAM * (bits + keep_bits_table(model.hazard_logits_numpy(), len(times)))
    return model, x, times, peak, table


def _cost(table, mask):
    kept = np.flatnonzero(mask)
    return sum(table[i, j] for i, j in zip(kept[:-1], kept[1:]))


def _neighbours(mask, insert=False):
    """Every mask one move away: a stored interior point shifted a frame (to a free one)
    between its neighbours, or dropped; with ``insert``, also a segment's midpoint stored."""
    kept = np.flatnonzero(mask)
    if insert:
        for a, b in zip(kept[:-1], kept[1:]):
            if b - a >= 2:
                m = mask.copy()
                m[(a + b) // 2] = True
                yield m
    for k in range(1, len(kept) - 1):
        a, here, b = kept[k - 1], kept[k], kept[k + 1]
        for c in (here - 1, here + 1, None):
            if c is not None and not a < c < b:
                continue
            m = mask.copy()
            m[here] = False
            if c is not None:
                m[c] = True
            yield m


def _random_masks(rng, N, T, p):
    masks = rng.uniform(size=(N, T)) < p
    masks[:, [0, -1]] = True
    return torch.as_tensor(masks)


@pytest.mark.parametrize("insert", [False, True])
def test_refined_masks_cost_no_more_and_no_single_move_improves_them(setup, insert):
    model, x, times, peak, table = setup
    rng = np.random.default_rng(3)
    for p in (0.05, 0.5, 0.9):
        start = _random_masks(rng, len(x), x.shape[1], p)
        refined = refine_keep_masks(
            model, x, times, start, LAM, peak=peak, sweeps=50, insert=insert
        ).numpy()
        assert refined[:, 0].all() and refined[:, -1].all()
        for n in range(len(x)):
            ours = _cost(table[n], refined[n])
            assert ours <= _cost(table[n], start[n].numpy()) + 1e-12
            # converged: a local optimum of the exact cost under the moves it searches
            near = _neighbours(refined[n], insert)
            assert all(_cost(table[n], m) >= ours - 1e-9 for m in near)


def test_inserting_midpoints_mends_masks_with_too_few_points(setup):
    model, x, times, peak, table = setup
    ends = torch.zeros(x.shape[:2], dtype=torch.bool)
    ends[:, [0, -1]] = True
    plain = refine_keep_masks(model, x, times, ends, LAM, peak=peak, insert=False)
    assert torch.equal(plain, ends)  # moves and drops cannot add a point
    grown = refine_keep_masks(model, x, times, ends, LAM, peak=peak, insert=True)
    before = [_cost(table[n], ends[n].numpy()) for n in range(len(x))]
    after = [_cost(table[n], grown[n].numpy()) for n in range(len(x))]
    assert all(a <= b for a, b in zip(after, before))
    # a midpoint is a guess: it helps where the segment's best extra point is near it (here
    # in one of the two sequences whose optimum stores a third point), not everywhere
    assert any(a < b for a, b in zip(after, before))


def test_the_optimal_masks_are_left_as_they_are_and_a_shifted_one_is_mended(setup):
    model, x, times, peak, table = setup
    best = rd_latent_masks(model, x, times, LAM, peak=peak)
    assert torch.equal(refine_keep_masks(model, x, times, best, LAM, peak=peak), best)
    n = int(torch.argmax(best.sum(1)))
    kept = torch.nonzero(best[n]).flatten().tolist()
    moved = next(
        (k, k + s) for k in kept[1:-1] for s in (-1, 1) if not best[n, k + s] and 0 < k + s
    )
    off = best.clone()
    off[n, moved[0]], off[n, moved[1]] = False, True
    mended = refine_keep_masks(model, x, times, off, LAM, peak=peak)
    assert _cost(table[n], mended[n].numpy()) < _cost(table[n], off[n].numpy())


def test_refined_codec_round_trips_with_the_refined_masks(setup):
    model, x, times, peak, _ = setup
    codec = RefinedKeepCodec(model, LAM, peak)
    stream, info = encode(codec, x.numpy(), times)
    q, mask, _, _ = decode_latents(codec, stream)
    assert np.array_equal(q, info.q) and np.array_equal(mask, info.mask)
    with torch.no_grad():
        start = model.keep_mask(model.latents(x))
    expect = refine_keep_masks(model, x, times, start, LAM, peak=peak)
    assert np.array_equal(mask, expect.numpy())
    assert RefinedKeepCodec(model, 1e-2, peak).model_id() != codec.model_id()
    assert RefinedKeepCodec(model, LAM, peak, insert=False).model_id() != codec.model_id()


def test_bad_input_is_refused_by_name(setup):
    model, x, times, peak, _ = setup
    ok = torch.ones(x.shape[:2], dtype=torch.bool)
    with pytest.raises(ValueError, match="lam"):
        refine_keep_masks(model, x, times, ok, float("nan"))
    with pytest.raises(ValueError, match="masks"):
        refine_keep_masks(model, x, times, ok[:, :-1], LAM)
    with pytest.raises(ValueError, match="times"):
        refine_keep_masks(model, x, times[:-1], ok, LAM)
    with pytest.raises(ValueError, match="times"):
        refine_keep_masks(model, x, times[::-1].copy(), ok, LAM)
    bad = x.clone()
    bad[0, 3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        refine_keep_masks(model, bad, times, ok, LAM)
    no_end = ok.clone()
    no_end[1, -1] = False
    with pytest.raises(ValueError, match="first and last"):
        refine_keep_masks(model, x, times, no_end, LAM)
    uniform = SequenceCodec(5, latent_dim=2, hidden=16, keep="uniform", stride=2)
    with pytest.raises(ValueError, match="learned"):
        RefinedKeepCodec(uniform, LAM)
