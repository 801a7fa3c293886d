"""The three agents compared in the SMAC paper as :class:`AgentConfig` variants of one
architecture: SAC (no latent), latent SAC (a latent, scored by ``log pi(a | s, z)``) and SMAC
(a latent, scored by the K-particle marginal bound)."""

from __future__ import annotations

from typing import Any

from .agent import AgentConfig

__all__ = ["AGENT_VARIANTS", "agent_variant"]

AGENT_VARIANTS = ("sac", "latent-sac", "smac")


def agent_variant(method: str, latent_dim: int, particles: int, **options: Any) -> AgentConfig:
    """The :class:`AgentConfig` of one variant, otherwise identical across variants.

    Args:
        method: one of ``AGENT_VARIANTS``.
        latent_dim: size of ``z`` for the latent variants (SAC gets 0).
        particles: ``K`` for SMAC (the others get 0).
        **options: any other :class:`AgentConfig` field, shared by all variants.

    Returns:
        The configuration.

    Examples:
        >>> [(c.latent_dim, c.particles) for c in
        ...  (agent_variant(m, 4, 8) for m in AGENT_VARIANTS)]
        [(0, 0), (4, 0), (4, 8)]
    """
    if method not in AGENT_VARIANTS:
        raise ValueError(f"unknown agent {method!r}; choose from: {', '.join(AGENT_VARIANTS)}")
    return AgentConfig(
        latent_dim=0 if method == "sac" else latent_dim,
        particles=particles if method == "smac" else 0,
        **options,
    )
