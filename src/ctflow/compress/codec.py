"""Codecs the bitstream layer drives: a trained :class:`SequenceCodec`, wrapped.

A codec exposes ``frame_dim``, ``latent_dim``, ``keep_coded``, ``model_id()``,
``quantize(x, times) -> (q, mask)``, ``prior_params()``, ``hazard_logits_numpy()``,
``fixed_mask(N, T)`` and ``reconstruct(q, mask, times, query) -> frames``.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from .model import SequenceCodec, uniform_mask

__all__ = ["NeuralCodec", "OracleCodec", "RDOracleCodec", "state_hash"]


def state_hash(module: torch.nn.Module, *extra) -> str:
    """A 32-hex-digit id of a module's exact weights and buffers (and any settings)."""
    h = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        h.update(key.encode())
        h.update(str(value.dtype).encode() + str(tuple(value.shape)).encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    for item in extra:
        h.update(repr(item).encode())
    return h.hexdigest()[:32]


class NeuralCodec:
    """Makes a trained :class:`SequenceCodec` usable by :func:`ctflow.compress.encode`.

    Args:
        model: the trained model (put in eval mode; its weights must not change afterwards,
            the id is computed once).
    """

    def __init__(self, model: SequenceCodec):
        if not isinstance(model, SequenceCodec):
            raise TypeError(f"expected a SequenceCodec, got {type(model).__name__}")
        self.model = model.eval()
        self.frame_dim = model.frame_dim
        self.latent_dim = model.latent_dim
        self.keep_coded = model.keep_mode == "learned"
        self._id = state_hash(model, model.keep_mode, model.stride, model.latent_scale)

    def model_id(self) -> str:
        return self._id

    def prior_params(self):
        return self.model.prior_params()

    def hazard_logits_numpy(self):
        return self.model.hazard_logits_numpy()

    def fixed_mask(self, N: int, T: int) -> np.ndarray:
        return uniform_mask(N, T, self.model.stride).numpy()

    @torch.no_grad()
    def quantize(self, x: np.ndarray, times: np.ndarray):
        xt = torch.as_tensor(np.asarray(x), dtype=self.model.frame_mean.dtype)
        y = self.model.latents(xt)
        mask = self.model.keep_mask(y)
        return torch.round(y).to(torch.int64).numpy(), mask.numpy()

    @torch.no_grad()
    def reconstruct(self, q, mask, times, query) -> np.ndarray:
        values = torch.as_tensor(q, dtype=torch.float64)
        out = self.model.reconstruct(
            values,
            torch.as_tensor(mask),
            torch.as_tensor(times, dtype=torch.float64),
            torch.as_tensor(query, dtype=torch.float64),
        )
        return out.numpy().astype(np.float32)


class OracleCodec(NeuralCodec):
    """A trained model's frame autoencoder with greedy (non-neural) knots on its latents.

    The time points are chosen by :func:`~ctflow.compress.knots.greedy_knots` at tolerance
    ``tol`` (bins) from the whole latent sequence: the selection the keep network is distilled
    from, an upper reference for it. Keep decisions are coded with the model's hazard.
    """

    def __init__(self, model: SequenceCodec, tol: float):
        super().__init__(model)
        self.keep_coded = True
        self.tol = float(tol)
        self._id = state_hash(model, "oracle", self.tol, model.latent_scale)

    @torch.no_grad()
    def quantize(self, x: np.ndarray, times: np.ndarray):
        from .knots import greedy_knots

        xt = torch.as_tensor(np.asarray(x), dtype=self.model.frame_mean.dtype)
        y = self.model.latents(xt).double().numpy()
        q = np.round(y)
        t = np.asarray(times, dtype=np.float64)
        mask = np.stack([greedy_knots(q[n], y[n], t, self.tol) for n in range(len(y))])
        return q.astype(np.int64), mask


class RDOracleCodec(NeuralCodec):
    """A trained model's frame autoencoder with rate-distortion optimal time points.

    The time points minimise ``distortion + lam * bits`` per sequence exactly (dynamic
    programming over the decoded frames, :func:`~ctflow.compress.rdknots.rd_latent_masks`),
    under the model's prior and hazard: an encoder-side search with no network deciding, the
    selection the keep network can be distilled from. Keep decisions are coded with the model's
    hazard.

    Args:
        lam: normalised squared error per bit (see :func:`~ctflow.compress.rdknots.segment_costs`).
        peak: the data range the distortion is normalised by.
    """

    def __init__(self, model: SequenceCodec, lam: float, peak: float = 1.0):
        super().__init__(model)
        self.keep_coded = True
        self.lam, self.peak = float(lam), float(peak)
        self._id = state_hash(model, "rd-oracle", self.lam, self.peak, model.latent_scale)

    @torch.no_grad()
    def quantize(self, x: np.ndarray, times: np.ndarray):
        from .rdknots import rd_latent_masks

        xt = torch.as_tensor(np.asarray(x), dtype=self.model.frame_mean.dtype)
        q = torch.round(self.model.latents(xt)).to(torch.int64).numpy()
        mask = rd_latent_masks(self.model, xt, times, self.lam, peak=self.peak).numpy()
        return q, mask
