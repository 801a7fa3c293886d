"""Continuous-time sequence compression with learned latent time points (arXiv 2212.13659).

- :class:`SequenceCodec`: encoder, learned keep decisions (a discrete-time point process),
  OU prior over the kept latents, a decoder at any query time; trained on ``D + lam * R``.
- :func:`encode` / :func:`decode`: real range-coded bitstreams (``constriction``) with a
  versioned header and a CRC32 checksum; :class:`NeuralCodec` wraps a trained model for them.
- :class:`RDOracleCodec`, :func:`rd_latent_masks`: rate-distortion optimal time points on a
  model's latents (dynamic programming), the keep network's teacher.
- :class:`RefinedKeepCodec`, :func:`refine_keep_masks`: the keep network's points moved,
  dropped or joined by segment midpoints at the encoder where that lowers their
  rate-distortion cost (a local search).
- :class:`KnotCodec`: the non-neural adaptive (greedy) and uniform knot coders.
- :func:`stream_score`, :func:`knots_at_rms`, :func:`lzma_at_rms`: a codec's bits and error,
  and baselines set to a given RMS error; :func:`blend_frames`: linear blends of frames.
- :mod:`ctflow.compress.baselines`: zlib / lzma on quantised frames, H.264 through ffmpeg.
- :func:`bd_rate`: Bjontegaard-style rate difference between rate-distortion curves, over
  their shared PSNR range (:func:`bd_overlap`; pairs sharing less than :data:`MIN_OVERLAP` of
  the longer range are "no overlap").
"""

from .bitstream import QMAX, VERSION, StreamInfo, decode, decode_latents, encode, read_header
from .codec import NeuralCodec, OracleCodec, RDOracleCodec, state_hash
from .figures import inbetween_figure, keep_figure, rate_error_figure, rd_figure
from .interp import interpolate_kept, interpolate_without_self, kept_neighbours
from .knots import KnotCodec, greedy_knots
from .matched import blend_frames, knots_at_rms, lzma_at_rms, stream_score
from .model import SequenceCodec, force_ends, uniform_mask
from .prior import bernoulli_bits, bin_bits, ou_params, ou_params_numpy
from .rd import MIN_OVERLAP, bd_overlap, bd_rate, psnr
from .rdknots import keep_bits_table, optimal_knots, rd_latent_masks, segment_costs
from .refine import RefinedKeepCodec, refine_keep_masks

__all__ = [
    "QMAX",
    "VERSION",
    "KnotCodec",
    "NeuralCodec",
    "OracleCodec",
    "RDOracleCodec",
    "RefinedKeepCodec",
    "SequenceCodec",
    "StreamInfo",
    "bd_rate",
    "bd_overlap",
    "MIN_OVERLAP",
    "bernoulli_bits",
    "bin_bits",
    "blend_frames",
    "decode",
    "decode_latents",
    "encode",
    "force_ends",
    "greedy_knots",
    "inbetween_figure",
    "interpolate_kept",
    "interpolate_without_self",
    "keep_bits_table",
    "keep_figure",
    "kept_neighbours",
    "knots_at_rms",
    "lzma_at_rms",
    "ou_params",
    "optimal_knots",
    "ou_params_numpy",
    "psnr",
    "refine_keep_masks",
    "rate_error_figure",
    "rd_figure",
    "rd_latent_masks",
    "read_header",
    "segment_costs",
    "state_hash",
    "stream_score",
    "uniform_mask",
]
