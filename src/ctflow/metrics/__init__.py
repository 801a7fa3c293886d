"""Evaluation metrics: likelihoods, sample distances (W2, MMD, 1-NN two-sample), calibration."""

from __future__ import annotations

from ctflow.metrics.calibration import (
    ReliabilityData,
    auroc,
    expected_calibration_error,
    predictive_entropy,
    reliability_diagram_data,
)
from ctflow.metrics.likelihood import (
    bits_per_dim,
    dequantized_log_likelihood,
    log_mean_exp,
    nll,
)
from ctflow.metrics.mmd import DEFAULT_BANDWIDTHS, mmd, mmd2
from ctflow.metrics.text import NGramModel, unigram_entropy_bits, word_validity
from ctflow.metrics.two_sample import nn1_accuracy
from ctflow.metrics.wasserstein import gaussian_brenier_map, gaussian_w2_squared, wasserstein2

__all__ = [
    "NGramModel",
    "unigram_entropy_bits",
    "word_validity",
    "DEFAULT_BANDWIDTHS",
    "ReliabilityData",
    "auroc",
    "bits_per_dim",
    "dequantized_log_likelihood",
    "expected_calibration_error",
    "gaussian_brenier_map",
    "gaussian_w2_squared",
    "log_mean_exp",
    "mmd",
    "mmd2",
    "nll",
    "nn1_accuracy",
    "predictive_entropy",
    "reliability_diagram_data",
    "wasserstein2",
]
