"""Bayesian neural networks in continuous depth: SDE-BNN (arXiv 2102.06559) and its baselines.

``girsanov_sdeint`` solves a weight SDE with its Girsanov log-ratio (path, full or
sticking-the-landing estimator); ``SDEBNN``, ``ODENet`` and ``MeanFieldBNN`` share one trunk
(``WeightedMLPField``); ``ou`` holds the OU prior and closed forms used as ground truth.
"""

from .baselines import MeanFieldBNN, ODENet
from .girsanov import ESTIMATORS, GirsanovSolution, girsanov_sdeint
from .ou import OUObservation, OUObservationDrift, ou_drift, ou_path_kl
from .ou_gradients import ou_negative_elbo, ou_per_path_gradients
from .sdebnn import SDEBNN
from .trunk_net import LIKELIHOODS, TrunkNet
from .weight_field import WeightedMLPField
from .weight_posterior import WeightPosteriorDrift

__all__ = [
    "SDEBNN",
    "ODENet",
    "MeanFieldBNN",
    "TrunkNet",
    "LIKELIHOODS",
    "WeightedMLPField",
    "WeightPosteriorDrift",
    "girsanov_sdeint",
    "GirsanovSolution",
    "ESTIMATORS",
    "ou_drift",
    "ou_path_kl",
    "OUObservation",
    "OUObservationDrift",
    "ou_negative_elbo",
    "ou_per_path_gradients",
]
from .estimator_study import estimator_gradients, paired_mean_z  # noqa: E402
from .scores import (  # noqa: E402
    classification_scores,
    predict_probs,
    predictive_samples,
    regression_scores,
)

__all__ += [
    "estimator_gradients",
    "paired_mean_z",
    "predictive_samples",
    "predict_probs",
    "classification_scores",
    "regression_scores",
]
