"""Variational inference: amortised flow posteriors and a VAE trained on the ELBO.

Example:
    >>> import torch
    >>> from ctflow.vi import VAE, make_posterior
    >>> vae = VAE(64, latent=4, posterior=make_posterior("iaf", 4, 32), hidden=(32,))
    >>> x = torch.randint(0, 2, (5, 64)).double().float()
    >>> vae.elbo(x).shape
    torch.Size([5])
"""

from .posterior import (
    POSTERIORS,
    FlowPosterior,
    cpflow_posterior,
    gaussian_posterior,
    iaf_posterior,
    make_posterior,
)
from .vae import LIKELIHOODS, VAE

__all__ = [
    "FlowPosterior",
    "POSTERIORS",
    "cpflow_posterior",
    "gaussian_posterior",
    "iaf_posterior",
    "make_posterior",
    "VAE",
    "LIKELIHOODS",
]

from .builders import matched_posterior_vaes, posterior_vae, vae_gallery_figure  # noqa: E402

__all__ += ["matched_posterior_vaes", "posterior_vae", "vae_gallery_figure"]
