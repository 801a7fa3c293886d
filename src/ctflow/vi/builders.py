"""VAEs that differ only in their posterior, sized to one parameter budget, and a gallery of
their reconstructions and samples."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from ..nn.counting import parameter_count
from ..nn.width_search import matched_width
from .posterior import make_posterior
from .vae import VAE

__all__ = ["posterior_vae", "matched_posterior_vaes", "vae_gallery_figure"]


def posterior_vae(
    kind: str,
    data_dim: int,
    latent: int,
    context: int,
    width: int,
    *,
    hidden: tuple[int, ...] = (128,),
    flow_layers: int = 2,
    likelihood: str = "bernoulli",
    levels: int = 2,
    context_gating: bool = True,
) -> VAE:
    """A :class:`VAE` with a ``"gaussian"``, ``"iaf"`` or ``"cpflow"`` posterior whose size is
    set by one knob, ``width``.

    Args:
        kind: The posterior family.
        data_dim: Data dimension ``D`` (inputs ``(N, D)``).
        latent: Latent dimension.
        context: Size of the encoder's output that conditions the posterior.
        width: The Gaussian model's encoder width; the IAF's or CP-Flow's hidden width (two
            hidden layers per transform).
        hidden: Decoder hidden widths (shared by every kind).
        flow_layers: Transforms of the IAF, blocks of the CP-Flow.
        likelihood: ``"bernoulli"`` or ``"categorical"``.
        levels: Categories of the categorical likelihood.
        context_gating: CP-Flow's gating of the context (ignored by the other kinds).

    Returns:
        The untrained VAE (drawn from torch's global random generator).

    Examples:
        >>> vae = posterior_vae("iaf", 64, latent=2, context=8, width=8, hidden=(16,))
        >>> vae.elbo(torch.ones(3, 64)).shape
        torch.Size([3])
    """
    encoder_hidden = None
    if kind == "gaussian":
        posterior = make_posterior("gaussian", latent, context)
        encoder_hidden = (width,)
    elif kind == "iaf":
        posterior = make_posterior(
            "iaf", latent, context, transforms=flow_layers, hidden=(width,) * 2
        )
    elif kind == "cpflow":
        posterior = make_posterior(
            "cpflow",
            latent,
            context,
            blocks=flow_layers,
            hidden=(width,) * 2,
            context_gating=context_gating,
        )
    else:
        raise ValueError(f"unknown posterior {kind!r}; choose gaussian, iaf or cpflow")
    return VAE(
        data_dim,
        latent,
        posterior,
        hidden=hidden,
        encoder_hidden=encoder_hidden,
        likelihood=likelihood,
        levels=levels,
    )


def matched_posterior_vaes(
    kinds: tuple[str, ...], data_dim: int, latent: int, context: int, cpflow_width: int, **kwargs
) -> dict[str, VAE]:
    """One :func:`posterior_vae` per kind, each but CP-Flow at the width whose parameter count
    is closest to the CP-Flow model's (:func:`ctflow.nn.width_search.matched_width`).

    Args:
        kinds: Posterior families, e.g. ``("gaussian", "iaf", "cpflow")``.
        data_dim: Data dimension.
        latent: Latent dimension.
        context: Encoder output size.
        cpflow_width: The CP-Flow posterior's hidden width, which sets the budget.
        **kwargs: Passed to :func:`posterior_vae` (``hidden``, ``likelihood``, ...).

    Returns:
        ``kind -> VAE``; the search builds throw-away models from torch's global generator
        first, so seed it once before calling for reproducible weights.
    """

    def build(kind: str, width: int) -> VAE:
        return posterior_vae(kind, data_dim, latent, context, width, **kwargs)

    target = parameter_count(build("cpflow", cpflow_width))
    models = {}
    for kind in kinds:
        width = (
            cpflow_width
            if kind == "cpflow"
            else matched_width(lambda w, kind=kind: parameter_count(build(kind, w)), target)
        )
        models[kind] = build(kind, width)
    return models


@torch.no_grad()
def vae_gallery_figure(
    models: Mapping[str, VAE],
    x: Tensor,
    shape: tuple[int, int],
    scale: float = 1.0,
    n: int = 8,
    x_label: str = "data",
):
    """Images ``x``, each model's reconstructions of them (decoder mean at a posterior sample),
    then ``n`` samples from each model's prior, one row each.

    Args:
        models: ``name -> VAE`` on flattened images.
        x: Images ``(N, H * W)``; the first ``n`` are shown.
        shape: ``(H, W)``.
        scale: Values are divided by it for display (e.g. the top grey level).
        n: Images per row.
        x_label: Label of the row of ``x``.

    Returns:
        The :func:`ctflow.plotting.image_grid_figure`: ``1 + 2 * len(models)`` rows (uses
        torch's global random generator).
    """
    from ..plotting.samples import image_grid_figure  # matplotlib only when drawing

    rows = {x_label: x[:n] / scale}
    for kind, vae in models.items():
        z = vae.posterior(vae.encode(x[:n])).sample()
        rows[f"{kind} recon"] = vae.decode(z) / scale
    for kind, vae in models.items():
        rows[f"{kind} sample"] = vae.sample(n) / scale
    return image_grid_figure(rows, shape)
