"""Entropy models of the stream's symbols, shared by the coder and the decoder.

Two kinds of each model:

- **static**: parameters fixed by the codec (a trained model, or a knot codec whose fitted
  prior travels in the header);
- **adaptive**: parameters learned from the symbols already coded, so nothing but a starting
  value travels in the header. Coder and decoder make the same updates in the same order
  (time-major), so they hold the same parameters at every step.

Parameters are computed per distinct gap with scalar float64 ``math`` calls and then IEEE
arithmetic on arrays of the same shapes at both ends, so coder and decoder (and any machine)
agree bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["MIN_STD", "make_prior", "make_hazard"]

MIN_STD = 0.05  # the narrowest quantised Gaussian coded (in symbols)
PRIOR_COUNT = 2.0  # weight of the starting value in the adaptive estimates, in observations
MAX_GAP = 64  # adaptive hazards keep counts for gaps 1 .. MAX_GAP (longer ones share the last)


def _gap_table(gaps: np.ndarray, theta: np.ndarray, sigma: np.ndarray) -> dict:
    """Per distinct gap ``dt``: the OU decay and std per coordinate, by scalar ``math`` calls."""
    table = {}
    for dt in np.unique(gaps):
        dt_f = float(dt)
        decay = np.array([math.exp(-float(th) * dt_f) for th in theta])
        std = np.array(
            [
                max(
                    math.sqrt(
                        max(
                            float(s) ** 2 * -math.expm1(-2 * float(th) * dt_f) / (2 * float(th)),
                            0.0,
                        )
                    ),
                    MIN_STD,
                )
                for th, s in zip(theta, sigma)
            ]
        )
        table[dt_f] = (decay, std)
    return table


def _stationary_std(theta: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    return np.array(
        [max(float(s) / math.sqrt(2 * float(th)), MIN_STD) for th, s in zip(theta, sigma)]
    )


class StaticPrior:
    """An OU prior with fixed ``theta``, ``sigma`` ``(d,)``: each kept latent is Gaussian around
    its previous kept latent decayed over the gap (stationary where it has none)."""

    def __init__(self, theta: np.ndarray, sigma: np.ndarray):
        self.theta, self.sigma = np.asarray(theta), np.asarray(sigma)

    def params(self, q_prev: np.ndarray, has_prev: np.ndarray, dt: np.ndarray):
        """Means and stds ``(K, d)`` for K latents given their previous kept latents."""
        K, d = q_prev.shape
        table = _gap_table(dt[has_prev], self.theta, self.sigma)
        means = np.zeros((K, d))
        stds = np.empty((K, d))
        stat = _stationary_std(self.theta, self.sigma)
        for k in range(K):
            if has_prev[k]:
                decay, std = table[float(dt[k])]
                means[k] = q_prev[k].astype(np.float64) * decay
                stds[k] = std
            else:
                stds[k] = stat
        return means, stds

    def update(self, values, means, has_prev, dt) -> None:
        """Nothing to learn."""


class AdaptivePrior:
    """An OU prior whose per-coordinate ``sigma^2`` is the running mean of the squared,
    gap-normalised innovations coded so far, started at ``sigma0^2`` with weight
    ``PRIOR_COUNT`` observations."""

    def __init__(self, theta: np.ndarray, sigma0: np.ndarray):
        self.theta = np.asarray(theta, dtype=np.float64)
        self.sum = PRIOR_COUNT * np.asarray(sigma0, dtype=np.float64) ** 2
        self.count = np.full(len(self.theta), PRIOR_COUNT)
        self._tables: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    def _table(self, dt: float):
        """``(decay, unit)`` per coordinate: ``exp(-theta dt)`` and the OU variance per unit
        ``sigma^2`` over the gap."""
        if dt not in self._tables:
            decay = np.array([math.exp(-float(th) * dt) for th in self.theta])
            unit = np.array(
                [-math.expm1(-2 * float(th) * dt) / (2 * float(th)) for th in self.theta]
            )
            self._tables[dt] = (decay, unit)
        return self._tables[dt]

    def params(self, q_prev: np.ndarray, has_prev: np.ndarray, dt: np.ndarray):
        K, d = q_prev.shape
        var = self.sum / self.count
        means = np.zeros((K, d))
        stds = np.empty((K, d))
        stat = np.maximum(np.sqrt(var / (2 * self.theta)), MIN_STD)
        for k in range(K):
            if has_prev[k]:
                decay, unit = self._table(float(dt[k]))
                means[k] = q_prev[k].astype(np.float64) * decay
                stds[k] = np.maximum(np.sqrt(var * unit), MIN_STD)
            else:
                stds[k] = stat
        return means, stds

    def update(self, values: np.ndarray, means: np.ndarray, has_prev: np.ndarray, dt) -> None:
        """Add the innovations of the latents just coded (those with a previous one)."""
        for k in np.nonzero(has_prev)[0]:
            _, unit = self._table(float(dt[k]))
            self.sum = self.sum + (values[k] - means[k]) ** 2 / unit
            self.count = self.count + 1.0


class StaticHazard:
    """Keep probabilities fixed per gap (in frames since the last kept point)."""

    def __init__(self, probs: np.ndarray):
        self.probs = np.asarray(probs, dtype=np.float64)

    def __call__(self, gaps: np.ndarray) -> np.ndarray:
        return self.probs[np.clip(gaps, 1, len(self.probs)) - 1]

    def update(self, gaps: np.ndarray, kept: np.ndarray) -> None:
        """Nothing to learn."""


class AdaptiveHazard:
    """Keep probabilities per gap learned from the decisions coded so far: ``(kept + c h0) /
    (at risk + c)`` per gap, started at ``h0`` with weight ``PRIOR_COUNT``."""

    def __init__(self, h0: float):
        self.kept = np.full(MAX_GAP, PRIOR_COUNT * float(h0))
        self.risk = np.full(MAX_GAP, PRIOR_COUNT)

    def __call__(self, gaps: np.ndarray) -> np.ndarray:
        g = np.clip(gaps, 1, MAX_GAP) - 1
        return np.clip(self.kept[g] / self.risk[g], 1e-4, 1 - 1e-4)

    def update(self, gaps: np.ndarray, kept: np.ndarray) -> None:
        g = np.clip(gaps, 1, MAX_GAP) - 1
        np.add.at(self.risk, g, 1.0)
        np.add.at(self.kept, g, kept.astype(np.float64))


def make_prior(codec):
    """The codec's value model: adaptive when ``codec.adaptive`` is true."""
    theta, sigma = codec.prior_params()
    return (
        AdaptivePrior(theta, sigma)
        if getattr(codec, "adaptive", False)
        else StaticPrior(theta, sigma)
    )


def make_hazard(codec):
    """The codec's keep-decision model (only used when ``codec.keep_coded``)."""
    logits = np.asarray(codec.hazard_logits_numpy(), dtype=np.float64)
    probs = np.array([1.0 / (1.0 + math.exp(-float(h))) for h in logits])
    if getattr(codec, "adaptive", False):
        return AdaptiveHazard(float(probs[0]))
    return StaticHazard(probs)
