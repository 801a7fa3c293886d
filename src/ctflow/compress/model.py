"""A neural codec for sequences observed on a time grid, with learned latent time points.

Per frame, an encoder maps ``x_t`` to a latent ``y_t`` (in quantisation-bin units). A keep
network looks at the whole latent sequence (1-D convolutions over time) and decides which grid
points to store; the first and last are always stored. Stored latents are quantised to integers
and coded under the Ornstein-Uhlenbeck prior of :mod:`ctflow.compress.prior`, each given the
previous stored latent and the time gap; the keep decisions are coded with a learned hazard
``P(keep | frames since the last kept point)`` (a discrete-time temporal point process). The
decoder interpolates the stored latents linearly in time (:mod:`ctflow.compress.interp`) and maps
the latent at any query time to a frame, so the codec decodes at any frame rate.

Training minimises ``D + lam * R`` with ``D`` the mean squared error (in normalised units) and
``R`` the bits per frame; latents get additive uniform noise and the keep mask a
Gumbel-sigmoid with a straight-through estimator whose surrogate gradient is exact for the
forward value: ``z_t = alt_t + m_t (y_t - alt_t)`` with ``alt_t`` the reconstruction were ``t``
dropped.

With ``keep="uniform"`` the same model stores every ``stride``-th point (and the last): the
baseline at a matched rate.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .interp import interpolate_kept, interpolate_without_self, kept_neighbours
from .prior import bernoulli_bits, bin_bits, ou_params

__all__ = ["SequenceCodec", "uniform_mask", "force_ends"]


def uniform_mask(N: int, T: int, stride: int, device=None) -> torch.Tensor:
    """Every ``stride``-th grid point and the last one, ``(N, T)`` bool."""
    mask = torch.zeros(N, T, dtype=torch.bool, device=device)
    mask[:, ::stride] = True
    mask[:, -1] = True
    return mask


def force_ends(mask: torch.Tensor) -> torch.Tensor:
    mask = mask.clone()
    mask[..., 0] = True
    mask[..., -1] = True
    return mask


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(d_in, hidden),
        nn.SiLU(),
        nn.Linear(hidden, hidden),
        nn.SiLU(),
        nn.Linear(hidden, d_out),
    )


class _KeepNet(nn.Module):
    """Keep logits from the whole sequence: a local convolution, then a bidirectional GRU."""

    def __init__(self, d_in: int, hidden: int):
        super().__init__()
        self.conv = nn.Conv1d(d_in, hidden, 5, padding=2)
        self.gru = nn.GRU(hidden, hidden // 2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * (hidden // 2), 1)
        nn.init.constant_(self.head.bias, -1.0)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        h = torch.nn.functional.silu(self.conv(feats.transpose(1, 2))).transpose(1, 2)
        return self.head(self.gru(h)[0]).squeeze(-1)


class SequenceCodec(nn.Module):
    """Sequence codec with learned (or uniform) latent time points.

    Args:
        frame_dim: flattened size of one frame.
        latent_dim: latent coordinates per stored time point.
        hidden: width of the frame encoder / decoder MLPs and of the keep network.
        keep: ``"learned"`` or ``"uniform"``.
        stride: the uniform grid's spacing in frames (``keep="uniform"``).
        hazard_bins: the hazard has one logit per gap of 1 .. hazard_bins frames (longer gaps
            share the last).
        latent_scale: the encoder output is multiplied by this, so a unit quantisation bin is
            fine at initialisation.

    Examples:
        >>> codec = SequenceCodec(frame_dim=64, latent_dim=3)
        >>> x, times = torch.rand(2, 20, 64), torch.linspace(0, 1, 20)
        >>> out = codec.loss(x, times, lam=1e-3)
    """

    def __init__(
        self,
        frame_dim: int,
        latent_dim: int = 4,
        hidden: int = 64,
        keep: str = "learned",
        stride: int = 4,
        hazard_bins: int = 32,
        latent_scale: float = 16.0,
    ):
        super().__init__()
        if keep not in ("learned", "uniform"):
            raise ValueError(f"keep must be 'learned' or 'uniform', got {keep!r}")
        for name, v in (("frame_dim", frame_dim), ("latent_dim", latent_dim), ("hidden", hidden),
                        ("stride", stride), ("hazard_bins", hazard_bins)):  # fmt: skip
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not latent_scale > 0:
            raise ValueError(f"latent_scale must be > 0, got {latent_scale}")
        self.frame_dim, self.latent_dim, self.keep_mode = frame_dim, latent_dim, keep
        self.stride, self.hazard_bins, self.latent_scale = stride, hazard_bins, float(latent_scale)
        self.encoder = _mlp(frame_dim, hidden, latent_dim)
        self.decoder = _mlp(latent_dim, hidden, frame_dim)
        self.keep_net = _KeepNet(3 * latent_dim, hidden)
        self.log_theta = nn.Parameter(torch.zeros(latent_dim))
        self.log_sigma = nn.Parameter(torch.full((latent_dim,), math.log(latent_scale)))
        self.hazard_logits = nn.Parameter(torch.full((hazard_bins,), -1.0))
        self.register_buffer("frame_mean", torch.zeros(frame_dim))
        self.register_buffer("frame_scale", torch.ones(frame_dim))

    # ---- normalisation -------------------------------------------------------------------
    def set_normalization(self, x: torch.Tensor) -> None:
        """Per-coordinate mean and std of training frames ``(..., frame_dim)`` (std floored)."""
        flat = x.reshape(-1, self.frame_dim).to(self.frame_mean)
        self.frame_mean.copy_(flat.mean(0))
        self.frame_scale.copy_(flat.std(0).clamp_min(1e-3 * float(flat.std()) + 1e-8))

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 3 or x.shape[-1] != self.frame_dim:
            raise ValueError(f"expected frames (N, T, {self.frame_dim}), got {tuple(x.shape)}")

    # ---- the pieces -----------------------------------------------------------------------
    def latents(self, x: torch.Tensor) -> torch.Tensor:
        """Continuous latents ``(N, T, d)`` in bin units."""
        self._check(x)
        return self.encoder((x - self.frame_mean) / self.frame_scale) * self.latent_scale

    def decode_frames(self, z: torch.Tensor) -> torch.Tensor:
        """Frames ``(..., frame_dim)`` from latents ``(..., d)`` (bin units)."""
        return self.decoder(z / self.latent_scale) * self.frame_scale + self.frame_mean

    def keep_logits(self, y: torch.Tensor) -> torch.Tensor:
        """Keep logits ``(N, T)`` from the whole latent sequence (gradient-free in ``y``)."""
        y = y.detach() / self.latent_scale
        d1 = torch.diff(y, dim=1, prepend=y[:, :1])
        d2 = torch.diff(d1, dim=1, append=d1[:, -1:])
        feats = torch.cat([y, 4 * d1, 16 * d2], -1)
        return self.keep_net(feats)

    def keep_mask(self, y: torch.Tensor) -> torch.Tensor:
        """The deterministic keep decisions used for coding, ``(N, T)`` bool."""
        N, T = y.shape[:2]
        if self.keep_mode == "uniform":
            return uniform_mask(N, T, self.stride, y.device)
        return force_ends(self.keep_logits(y) > 0)

    def prior_params(self) -> tuple[np.ndarray, np.ndarray]:
        """``(theta, sigma)`` as float64 numpy arrays: what the entropy coder uses."""
        theta = torch.exp(self.log_theta.detach().double()).cpu().numpy()
        sigma = torch.exp(self.log_sigma.detach().double()).cpu().numpy()
        return theta, sigma

    def hazard_logits_numpy(self) -> np.ndarray:
        return self.hazard_logits.detach().double().cpu().numpy().copy()

    def reconstruct(self, values, mask, times, query=None) -> torch.Tensor:
        """Frames ``(N, Q, frame_dim)`` at ``query`` times (default: the grid)."""
        query = times if query is None else query
        z = interpolate_kept(values.to(self.frame_mean.dtype), mask, times, query)
        return self.decode_frames(z.to(self.frame_mean.dtype))

    def imitation_loss(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the keep logits against target decisions ``(N, T)`` (interior points).

        Used to distil an oracle's decisions (e.g. greedy knots) into the keep network.
        """
        logits = self.keep_logits(y)[:, 1:-1]
        weight = torch.tensor(2.0, dtype=logits.dtype)  # a missed knot costs more than a spare one
        return nn.functional.binary_cross_entropy_with_logits(
            logits, target[:, 1:-1].to(logits), pos_weight=weight
        )

    @torch.no_grad()
    def fit_hazard(self, masks: torch.Tensor) -> None:
        """Set the hazard to the (add-half smoothed) maximum-likelihood discrete hazard of masks.

        ``h(k) = P(keep at gap k | no keep at gaps < k)`` estimated from ``(N, T)`` keep masks.
        """
        masks = masks.bool().cpu()
        prev, _ = kept_neighbours(masks)
        prev_strict = torch.cat([torch.full_like(prev[:, :1], -1), prev[:, :-1]], 1)
        gap = (torch.arange(masks.shape[1]) - prev_strict).clamp(1, self.hazard_bins)[:, 1:-1]
        kept = masks[:, 1:-1]
        for k in range(1, self.hazard_bins + 1):
            at = gap == k
            h = (float(kept[at].sum()) + 0.5) / (float(at.sum()) + 1.0)
            self.hazard_logits[k - 1] = math.log(h) - math.log1p(-h)

    # ---- training -------------------------------------------------------------------------
    def loss(
        self,
        x: torch.Tensor,
        times: torch.Tensor,
        lam: float,
        tau: float = 0.5,
        generator: torch.Generator | None = None,
        mask: torch.Tensor | None = None,
        code_keeps: bool = True,
    ) -> dict[str, torch.Tensor]:
        """``D + lam * R``: normalised MSE plus ``lam`` times bits per frame.

        Args:
            x: frames ``(N, T, frame_dim)``; times: ``(T,)`` grid.
            lam: the rate weight (> = 0).
            tau: Gumbel-sigmoid temperature of the keep decisions.
            generator: draws the quantisation noise and the keep noise.
            mask: fixed keep mask (overrides the model's own decisions), e.g. all True.
            code_keeps: count the keep decisions' bits (``keep="learned"`` only).

        Returns:
            ``{"loss", "distortion", "bits", "value_bits", "keep_bits", "kept"}`` (bits per
            sequence; ``kept`` the mean fraction of stored points).
        """
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam}")
        N, T = x.shape[:2]
        y = self.latents(x)
        u = torch.rand(y.shape, generator=generator, dtype=y.dtype).to(y.device) - 0.5
        y_noisy = y + u
        learned = self.keep_mode == "learned"
        if mask is not None:
            hard, m_st = mask, mask.to(y.dtype)
        elif learned:
            logits = self.keep_logits(y)
            e = torch.rand(logits.shape, generator=generator, dtype=y.dtype).to(y.device)
            noise = torch.log(e.clamp_min(1e-9)) - torch.log1p(-e.clamp_max(1 - 1e-9))
            soft = torch.sigmoid((logits + noise) / tau)
            hard = force_ends(soft > 0.5)
            m_st = hard.to(y.dtype) + soft - soft.detach()
            m_st = torch.where(force_ends(torch.zeros_like(hard)), 1.0, m_st)
        else:
            hard = uniform_mask(N, T, self.stride, y.device)
            m_st = hard.to(y.dtype)
        alt = interpolate_without_self(y_noisy, hard, times).to(y.dtype)
        z = alt + m_st.unsqueeze(-1) * (y_noisy - alt)
        x_hat = self.decoder(z / self.latent_scale)
        target = (x - self.frame_mean) / self.frame_scale
        distortion = (x_hat - target).pow(2).mean()
        # value bits: each point as if stored after the kept point strictly before it
        prev, _ = kept_neighbours(hard)
        prev_strict = torch.cat([torch.full_like(prev[:, :1], -1), prev[:, :-1]], 1)
        has_prev = prev_strict >= 0
        pidx = prev_strict.clamp_min(0)
        z_prev = y_noisy.gather(1, pidx.unsqueeze(-1).expand(-1, -1, self.latent_dim))
        times_d = times.to(y.dtype)
        dt = times_d.unsqueeze(0) - times_d[pidx]
        theta, sigma = torch.exp(self.log_theta), torch.exp(self.log_sigma)
        mean_c, std_c = ou_params(z_prev, dt, theta, sigma)
        mean_s, std_s = ou_params(None, None, theta, sigma)
        mean = torch.where(has_prev.unsqueeze(-1), mean_c, mean_s)
        std = torch.where(has_prev.unsqueeze(-1), std_c, std_s)
        value_bits = (m_st * bin_bits(y_noisy, mean, std).sum(-1)).sum(-1)
        keep_bits = torch.zeros_like(value_bits)
        if learned and code_keeps:
            gap = (torch.arange(T, device=x.device) - prev_strict).clamp(1, self.hazard_bins)
            hl = self.hazard_logits[gap - 1]
            inner = m_st[:, 1:-1]
            keep_bits = bernoulli_bits(inner, hl[:, 1:-1]).sum(-1)
        bits = value_bits + keep_bits
        loss = distortion + lam * bits.mean() / T
        return {
            "loss": loss,
            "distortion": distortion,
            "bits": bits.mean(),
            "value_bits": value_bits.mean(),
            "keep_bits": keep_bits.mean(),
            "kept": hard.to(y.dtype).mean(),
        }
