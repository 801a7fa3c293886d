"""Rate-distortion optimal time points: the dynamic programme against brute force on the codec."""

import copy
import itertools

import numpy as np
import pytest
import torch

pytest.importorskip("constriction")

from ctflow.compress import (  # noqa: E402
    NeuralCodec,
    RDOracleCodec,
    SequenceCodec,
    decode_latents,
    encode,
    keep_bits_table,
    optimal_knots,
    rd_latent_masks,
    segment_costs,
)
from ctflow.compress.train import distill_keeps  # noqa: E402


def _chain_cost(cost, mask):
    kept = np.flatnonzero(mask)
    return sum(cost[i, j] for i, j in zip(kept[:-1], kept[1:]))


def _all_masks(T):
    for inner in itertools.product([False, True], repeat=T - 2):
        yield np.array([True, *inner, True])


def test_optimal_knots_is_the_brute_force_minimum():
    rng = np.random.default_rng(0)
    T = 7
    cost = rng.exponential(size=(5, T, T))
    cost[1, 0, 6] = np.inf  # a forbidden segment is avoided
    masks = optimal_knots(cost)
    assert masks.shape == (5, T) and masks[:, 0].all() and masks[:, -1].all()
    for b in range(5):
        best = min(_all_masks(T), key=lambda m: _chain_cost(cost[b], m))
        assert np.array_equal(masks[b], best)


def test_optimal_knots_rejects_bad_input():
    with pytest.raises(ValueError, match="T, T"):
        optimal_knots(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="no finite path"):
        optimal_knots(np.full((4, 4), np.inf))
    with pytest.raises(ValueError, match="lam"):
        rd_latent_masks(None, None, None, -1.0, costs=(np.zeros((1, 3, 3)),) * 2)


class _FixedMask(NeuralCodec):
    """The model's latents, coded with given keep masks."""

    def __init__(self, model, mask):
        super().__init__(model)
        self.mask = mask

    def quantize(self, x, times):
        q, _ = super().quantize(x, times)
        return q, self.mask


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = SequenceCodec(5, latent_dim=2, hidden=16, hazard_bins=3, latent_scale=4.0)
    with torch.no_grad():  # a hazard that depends on the gap, beyond the table's end too
        model.hazard_logits.copy_(torch.tensor([-2.0, -0.5, 1.0]))
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.normal(scale=0.5, size=(2, 8, 5)), 1).astype(np.float32)
    times = np.sort(rng.uniform(0, 2, 8))  # uneven gaps
    peak = 3.0
    return model.eval(), x, times, peak


def _objective(model, x, times, peak, mask):
    """Distortion (normalised, summed over frames) and total code length of one sequence."""
    codec = _FixedMask(model, mask[None])
    stream, info = encode(codec, x[None], times)
    q, m, _, _ = decode_latents(codec, stream)
    frames = codec.reconstruct(q, m, times, times)[0].astype(np.float64)
    dist = ((frames - x) ** 2).sum() / (model.frame_dim * peak**2)
    return dist, info.model_bits


def test_segment_costs_add_up_to_the_codecs_distortion_and_code_length(setup):
    model, x, times, peak = setup
    dist, bits = segment_costs(model, torch.as_tensor(x), times, peak)
    keep = keep_bits_table(model.hazard_logits_numpy(), len(times))
    every = np.ones(8, bool)
    # frame 0 is always stored: its error and its stationary-law bits are in no segment
    d_all, b_all = _objective(model, x[0], times, peak, every)
    frame0 = d_all - _chain_cost(dist[0], every)
    stationary = b_all - _chain_cost(bits[0] + keep, every)
    assert 0 <= frame0 < d_all and stationary > 0
    rng = np.random.default_rng(2)
    for _ in range(6):
        mask = np.r_[True, rng.uniform(size=6) < 0.4, True]
        d, b = _objective(model, x[0], times, peak, mask)
        assert d == pytest.approx(frame0 + _chain_cost(dist[0], mask), rel=1e-5)
        assert b == pytest.approx(stationary + _chain_cost(bits[0] + keep, mask), rel=1e-9)


def test_rd_masks_are_optimal_for_the_real_codec_objective(setup):
    model, x, times, peak = setup
    costs = segment_costs(model, torch.as_tensor(x), times, peak)
    for n in range(len(x)):
        table = [(m, *_objective(model, x[n], times, peak, m)) for m in _all_masks(8)]
        for lam in (1e-4, 1e-3, 1e-2):
            mask = rd_latent_masks(model, None, times, lam, costs=costs)[n].numpy()
            best = min(d + lam * b for _, d, b in table)
            ours = next(d + lam * b for m, d, b in table if np.array_equal(m, mask))
            assert ours == pytest.approx(best, rel=1e-6)
    # a high price per bit stores fewer points
    few = rd_latent_masks(model, None, times, 1.0, costs=costs)
    many = rd_latent_masks(model, None, times, 1e-6, costs=costs)
    assert few.sum() < many.sum()


def test_rd_oracle_codec_round_trips_and_uses_the_optimal_masks(setup):
    model, x, times, peak = setup
    codec = RDOracleCodec(model, 1e-3, peak)
    stream, info = encode(codec, x, times)
    q, mask, _, _ = decode_latents(codec, stream)
    assert np.array_equal(q, info.q) and np.array_equal(mask, info.mask)
    expect = rd_latent_masks(model, torch.as_tensor(x), times, 1e-3, peak=peak)
    assert np.array_equal(mask, expect.numpy())
    assert RDOracleCodec(model, 1e-2, peak).model_id() != codec.model_id()


def test_refitting_the_hazard_changes_the_model_and_keeps_masks_valid(setup):
    model, x, times, peak = setup
    clone = copy.deepcopy(model)
    before = clone.hazard_logits_numpy()
    masks = rd_latent_masks(clone, torch.as_tensor(x), times, 1e-3, peak=peak, refit_hazard=1)
    assert masks[:, 0].all() and masks[:, -1].all()
    assert not np.array_equal(before, clone.hazard_logits_numpy())


def test_distill_keeps_takes_exactly_one_teacher(setup):
    model, x, times, _ = setup
    xt = torch.as_tensor(x)
    with pytest.raises(ValueError, match="exactly one"):
        distill_keeps(model, xt, torch.as_tensor(times), None, steps=1)
    with pytest.raises(ValueError, match="exactly one"):
        distill_keeps(model, xt, torch.as_tensor(times), 1.0, target=torch.ones(2, 8), steps=1)
    with pytest.raises(ValueError, match="target masks"):
        distill_keeps(model, xt, torch.as_tensor(times), None, target=torch.ones(2, 7), steps=1)
