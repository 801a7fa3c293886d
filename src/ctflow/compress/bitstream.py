"""Real bitstreams: entropy coding of quantised latents with ``constriction``'s range coder.

The framing (magic, version, a compact binary header, CRC32) is in :mod:`.header`. The header
names the codec (``model_id``, a hash of its weights and settings), the frame shape, the number
of sequences, the time grid (``t0, dt, T`` when it is uniform, else every time), the latent size
and the symbol range. The payload codes, in order: the keep decisions of grid points
``1 .. T-2`` (time-major; Bernoulli with the codec's hazard given the gap since the last kept
point; skipped for codecs whose time points are fixed) and then the kept latents (time-major,
sequence, coordinate; quantised Gaussians under the OU prior given the previous kept latent and
the gap). The entropy models (:mod:`.entropy`) are fixed by the codec or learned from the
symbols already coded; coder and decoder step through time the same way, so they agree bit for
bit.

Any damage (bad magic, unknown version, wrong lengths, checksum mismatch, another codec's
stream, an undecodable payload) raises ``ValueError`` naming what is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .entropy import make_hazard, make_prior
from .header import MAGIC, MAX_ELEMENTS, VERSION, pack, read_header, times_from_record, times_record

__all__ = [
    "MAGIC",
    "VERSION",
    "QMAX",
    "StreamInfo",
    "encode",
    "decode",
    "decode_latents",
    "read_header",
    "ideal_bits",
]

QMAX = 32767  # coded symbols lie in [-QMAX, QMAX]; a per-coordinate offset shifts them there


def _constriction():
    try:
        import constriction
    except ImportError as err:  # pragma: no cover - the extra is installed in development
        raise ImportError(
            "ctflow.compress needs the `constriction` package: pip install 'ctflow[compress]'"
        ) from err
    return constriction


@dataclass
class StreamInfo:
    """What :func:`encode` also returns, for inspection and tests.

    Attributes:
        q: ``(N, T, d)`` int64 quantised latents (zeros where not kept).
        mask: ``(N, T)`` bool keep decisions.
        header_bytes, payload_bits, total_bytes: sizes of the stream's parts.
        model_bits: the ideal code length of the payload's symbols under the entropy model.
        keep_probs: the Bernoulli parameters coded, in coding order.
        means, stds: the quantised-Gaussian parameters coded, in coding order.
    """

    q: np.ndarray
    mask: np.ndarray
    header_bytes: int
    payload_bits: int
    total_bytes: int
    model_bits: float
    keep_probs: np.ndarray
    means: np.ndarray
    stds: np.ndarray


# ---- coding ------------------------------------------------------------------------------------
def _prev_kept(mask: np.ndarray) -> np.ndarray:
    """Index of the kept point strictly before each grid point (-1 if none), ``(N, T)``."""
    N, T = mask.shape
    idx = np.where(mask, np.arange(T), -1)
    prev_incl = np.maximum.accumulate(idx, axis=1)
    return np.concatenate([np.full((N, 1), -1), prev_incl[:, :-1]], 1)


def ideal_bits(info: StreamInfo, symbols_values: np.ndarray, keep_symbols: np.ndarray) -> float:
    """``-log2`` probability of the coded symbols under the (unclipped) entropy model."""
    from scipy.special import ndtr

    bits = 0.0
    if len(keep_symbols):
        p = np.where(keep_symbols == 1, info.keep_probs, 1 - info.keep_probs)
        bits += float(-np.log2(np.maximum(p, 1e-300)).sum())
    if len(symbols_values):
        upper = ndtr((symbols_values + 0.5 - info.means) / info.stds)
        lower = ndtr((symbols_values - 0.5 - info.means) / info.stds)
        # far in the right tail use the complementary form for accuracy
        mass = np.where(
            symbols_values - 0.5 > info.means,
            ndtr(-(symbols_values - 0.5 - info.means) / info.stds)
            - ndtr(-(symbols_values + 0.5 - info.means) / info.stds),
            upper - lower,
        )
        bits += float(-np.log2(np.maximum(mass, 2.0**-24)).sum())  # the coder's floor
    return bits


def _symbol_offset(q: np.ndarray, mask: np.ndarray, step: float | None) -> np.ndarray:
    """Per-coordinate integer offsets ``(d,)`` that bring the kept symbols into ``[-QMAX, QMAX]``.

    Zero where they already fit (every stream whose values stay within 32767 steps of 0). Data
    that span more than ``2 QMAX`` steps in some coordinate cannot be coded at this step: refuse
    rather than clip, naming the coarsest step that would fit.
    """
    kept = q[mask]  # (K, d)
    d = q.shape[-1]
    if kept.size == 0 or np.abs(kept).max() <= QMAX:
        return np.zeros(d, dtype=np.int64)
    lo, hi = kept.min(0), kept.max(0)
    span = hi - lo
    if span.max() > 2 * QMAX:
        j = int(span.argmax())
        unit = f"{step:g} per step" if step else "latent bins"
        need = f"; a step of at least {step * span[j] / (2 * QMAX):.3g} would fit" if step else ""
        raise ValueError(
            f"values in coordinate {j} span {int(span[j])} quantisation steps ({unit}), more "
            f"than the {2 * QMAX} a stream can code{need}"
        )
    fits = (lo >= -QMAX) & (hi <= QMAX)
    return np.where(fits, 0, (lo + hi) // 2).astype(np.int64)


def _header_int(value, name: str, low: int, high: int = MAX_ELEMENTS) -> int:
    """An integer header field in ``[low, high]`` (ints only: bools and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"corrupted bitstream: header field {name} is {value!r}")
    return value


def _previous(symbols, prev, times, ns, i):
    """For the sequences ``ns`` kept at grid point ``i``: their previous kept latents ``(K, d)``,
    whether they have one ``(K,)``, and the time since it ``(K,)`` (0 where none)."""
    pk = prev[ns, i]
    has_prev = pk >= 0
    dt = np.where(has_prev, times[i] - times[np.maximum(pk, 0)], 0.0)
    return symbols[ns, np.maximum(pk, 0)], has_prev, dt


def _keep_probs(hazard, mask: np.ndarray) -> np.ndarray:
    """The keep probability of every coded decision (grid points ``1 .. T-2``, time-major)."""
    N, T = mask.shape
    last = np.zeros(N, dtype=np.int64)
    out = []
    for i in range(1, T - 1):
        gaps = i - last  # frames since the last kept point
        out.append(hazard(gaps))
        hazard.update(gaps, mask[:, i])
        last = np.where(mask[:, i], i, last)
    return np.concatenate(out) if out else np.zeros(0)


def _decode_keep(dec, hazard, N: int, T: int, constriction) -> np.ndarray:
    mask = np.zeros((N, T), dtype=bool)
    mask[:, 0] = mask[:, -1] = True
    last = np.zeros(N, dtype=np.int64)
    bern = constriction.stream.model.Bernoulli(perfect=False)
    for i in range(1, T - 1):
        gaps = i - last
        bits = np.asarray(dec.decode(bern, hazard(gaps))).astype(bool)
        hazard.update(gaps, bits)
        mask[:, i] = bits
        last = np.where(bits, i, last)
    return mask


def encode(
    codec, x: np.ndarray, times: np.ndarray | None = None, extra: dict | None = None
) -> tuple[bytes, StreamInfo]:
    """Compress sequences into one bitstream.

    Args:
        codec: a codec (:class:`~ctflow.compress.codec.NeuralCodec` or
            :class:`~ctflow.compress.knots.KnotCodec`).
        x: frames ``(N, T, *frame_shape)``.
        times: ``(T,)`` increasing grid times (default ``0, 1, ..., T-1``).
        extra: JSON-ready fields stored in the header under ``"extra"`` (the CLI notes there
            whether the input was one sequence). A codec with ``spec_bytes`` (the knot coder)
            stores its spec in the header by itself.

    Returns:
        ``(stream, info)``.
    """
    constriction = _constriction()
    x = np.asarray(x)
    if x.ndim < 3:
        raise ValueError(f"expected frames (N, T, *frame_shape), got shape {x.shape}")
    N, T = x.shape[:2]
    frame_shape = tuple(int(s) for s in x.shape[2:])
    if int(np.prod(frame_shape)) != codec.frame_dim:
        raise ValueError(f"frames of shape {frame_shape} do not fit a codec of {codec.frame_dim}")
    if not np.all(np.isfinite(x)):
        raise ValueError("frames contain NaN or infinite values")
    times = np.arange(T, dtype=np.float64) if times is None else np.asarray(times, np.float64)
    if times.shape != (T,) or (T > 1 and not np.all(np.diff(times) > 0)):
        raise ValueError(f"times must be an increasing array of {T} values")
    q, mask = codec.quantize(x.reshape(N, T, -1), times)
    q = np.where(mask[..., None], np.asarray(q, dtype=np.int64), 0)
    offset = _symbol_offset(q, mask, getattr(codec, "step", None))
    symbols = (q - offset).astype(np.int32)  # the coded symbols lie in [-QMAX, QMAX]
    d = q.shape[-1]
    enc = constriction.stream.queue.RangeEncoder()
    keep_probs = np.zeros(0)
    keep_syms = np.zeros(0, np.int32)
    if codec.keep_coded and T > 2:
        keep_probs = _keep_probs(make_hazard(codec), mask)
        keep_syms = mask[:, 1:-1].T.reshape(-1).astype(np.int32)
        enc.encode(keep_syms, constriction.stream.model.Bernoulli(perfect=False), keep_probs)
    prior = make_prior(codec)
    prev = _prev_kept(mask)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for i in range(T):  # time-major, as the decoder must go
        ns = np.nonzero(mask[:, i])[0]
        if len(ns) == 0:
            continue
        q_prev, has_prev, dt = _previous(symbols, prev, times, ns, i)
        means, stds = prior.params(q_prev, has_prev, dt)
        vals = symbols[ns, i]
        prior.update(vals, means, has_prev, dt)
        parts.append((vals.reshape(-1), means.reshape(-1), stds.reshape(-1)))
    values, means, stds = (np.concatenate(p) for p in zip(*parts)) if parts else (np.zeros(0),) * 3
    values = values.astype(np.int32)
    if len(values):
        family = constriction.stream.model.QuantizedGaussian(-QMAX, QMAX)
        enc.encode(values, family, means, stds)
    words = np.asarray(enc.get_compressed(), dtype=np.uint32)
    header = {
        "model_id": codec.model_id(),
        "frame_shape": list(frame_shape),
        "n": N,
        "latent_dim": d,
        "qmax": QMAX,
        "keep_coded": bool(codec.keep_coded),
        "grid": times_record(times),
    }
    if np.any(offset):  # only streams that need it carry it, so older streams read unchanged
        header["offset"] = [int(v) for v in offset]
    spec_bytes = getattr(codec, "spec_bytes", None)
    if spec_bytes is not None:  # a codec the decoder can rebuild from the stream alone
        header["codec_spec"] = spec_bytes()
    if extra is not None:
        header["extra"] = extra
    stream = pack(header, words)
    info = StreamInfo(
        q=q,
        mask=mask,
        header_bytes=len(stream) - 4 * len(words),
        payload_bits=32 * len(words),
        total_bytes=len(stream),
        model_bits=0.0,
        keep_probs=keep_probs,
        means=means,
        stds=stds,
    )
    info.model_bits = ideal_bits(info, values.astype(np.float64), keep_syms)
    return stream, info


def decode_latents(codec, data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Decode the quantised latents: ``(q, mask, times, header)``; see :func:`encode`."""
    constriction = _constriction()
    header = read_header(data)
    try:
        model_id = header["model_id"]
        frame_shape = tuple(_header_int(s, "frame_shape", 1) for s in header["frame_shape"])
        N = _header_int(header["n"], "n", 1)
        d = _header_int(header["latent_dim"], "latent_dim", 0)
        keep_coded = header["keep_coded"]
        qmax = _header_int(header["qmax"], "qmax", 0)
        times = times_from_record(header["grid"])
        offset = [_header_int(v, "offset", -(2**52), 2**52) for v in header.get("offset", [0] * d)]
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as err:
        if isinstance(err, ValueError) and str(err).startswith("corrupted"):
            raise
        raise ValueError(f"corrupted bitstream: incomplete header ({err!r})") from None
    if not isinstance(model_id, str) or not isinstance(keep_coded, bool):
        raise ValueError("corrupted bitstream: the header's model_id or keep_coded has a bad type")
    if len(offset) != d:
        raise ValueError(f"corrupted bitstream: {len(offset)} offsets for {d} coordinates")
    if model_id != codec.model_id():
        raise ValueError(
            f"this stream was written by codec {model_id}, not by this one ({codec.model_id()}); "
            "decode it with the model that encoded it"
        )
    T = len(times)
    if math.prod(frame_shape) != codec.frame_dim or d != codec.latent_dim or qmax != QMAX:
        raise ValueError("corrupted bitstream: the header's shapes do not match the codec")
    if N < 1 or N * T * max(d, 1) > MAX_ELEMENTS:
        raise ValueError(f"corrupted bitstream: implausible size N={N}, T={T}, d={d}")
    if keep_coded != bool(codec.keep_coded):
        raise ValueError("corrupted bitstream: keep-decision coding does not match the codec")
    start = header["_payload_offset"]
    words = np.frombuffer(data, dtype="<u4", count=header["payload_words"], offset=start)
    dec = constriction.stream.queue.RangeDecoder(words.astype(np.uint32))
    try:
        if keep_coded:
            mask = _decode_keep(dec, make_hazard(codec), N, T, constriction)
        else:
            mask = codec.fixed_mask(N, T)
        q = np.zeros((N, T, d), dtype=np.int32)
        family = constriction.stream.model.QuantizedGaussian(-QMAX, QMAX)
        prior = make_prior(codec)
        prev = _prev_kept(mask)
        for i in range(T):
            ns = np.nonzero(mask[:, i])[0]
            if len(ns) == 0:
                continue
            q_prev, has_prev, dt = _previous(q, prev, times, ns, i)
            means, stds = prior.params(q_prev, has_prev, dt)
            vals = np.asarray(dec.decode(family, means.reshape(-1), stds.reshape(-1)))
            vals = vals.reshape(len(ns), d).astype(np.int32)
            prior.update(vals, means, has_prev, dt)
            q[ns, i] = vals
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # noqa: BLE001 - constriction panics are BaseExceptions
        raise ValueError(f"corrupted bitstream: the payload does not decode ({err!r})") from None
    q = q.astype(np.int64)
    q[mask] += np.asarray(offset, dtype=np.int64)
    return q, mask, times, header


def decode(codec, data: bytes, times: np.ndarray | None = None) -> np.ndarray:
    """Decompress a stream to frames ``(N, Q, *frame_shape)`` at query ``times``.

    Args:
        codec: the codec that wrote the stream (checked against the header's ``model_id``).
        data: the stream.
        times: query times (default: the stream's own grid); any times work, e.g. a grid at
            twice the frame rate.
    """
    q, mask, grid, header = decode_latents(codec, data)
    query = grid if times is None else np.asarray(times, dtype=np.float64)
    if query.ndim != 1 or not np.all(np.isfinite(query)):
        raise ValueError("query times must be a finite 1-D array")
    if q.shape[0] * len(query) * codec.frame_dim > MAX_ELEMENTS:
        raise ValueError(
            f"decoding {q.shape[0]} sequences at {len(query)} times of {codec.frame_dim} values "
            f"exceeds {MAX_ELEMENTS} values; ask for fewer times"
        )
    frames = codec.reconstruct(q, mask, grid, query)
    return frames.reshape(q.shape[0], len(query), *header["frame_shape"])
