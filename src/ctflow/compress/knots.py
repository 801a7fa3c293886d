"""A non-neural adaptive knot coder: frames quantised on a grid, knots placed greedily.

Each frame coordinate is quantised with step ``step``; knots (stored time points) are placed
greedily from the start, each as far ahead as linear interpolation between the knots keeps
every skipped frame within ``tol`` (root-mean-square over its coordinates). Knot values are
coded under the same OU prior and hazard as the neural codec, with parameters fitted to data;
``uniform=True`` places knots every ``stride`` frames instead (the non-adaptive baseline).
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np

from .header import MAX_ELEMENTS, Reader, varint_bytes

__all__ = ["KnotCodec", "greedy_knots"]


def greedy_knots(
    values: np.ndarray, target: np.ndarray, times: np.ndarray, tol: float
) -> np.ndarray:
    """Greedy knot mask ``(T,)`` for one sequence.

    Args:
        values: ``(T, D)`` the values stored at knots (e.g. quantised frames).
        target: ``(T, D)`` what the interpolation must stay near.
        times: ``(T,)``.
        tol: allowed RMS error of each skipped frame.
    """
    T = len(times)
    mask = np.zeros(T, dtype=bool)
    mask[0] = mask[-1] = True
    a = 0
    while a < T - 1:
        b = a + 1
        while b + 1 < T:
            c = b + 1  # try to skip every frame strictly between a and c
            w = ((times[a + 1 : c] - times[a]) / (times[c] - times[a]))[:, None]
            interp = values[a] + w * (values[c] - values[a])
            err = np.sqrt(((interp - target[a + 1 : c]) ** 2).mean(-1))
            if err.max() > tol:
                break
            b = c
        mask[b] = True
        a = b
    return mask


class KnotCodec:
    """Frames quantised with step ``step``, greedy (or uniform) knots, OU-prior entropy coding.

    Args:
        frame_dim: flattened frame size.
        step: quantisation step in data units.
        tol: greedy knot tolerance (RMS per frame, data units); ignored when ``uniform``.
        theta, sigma: OU prior per coordinate in bin units (scalars broadcast).
        hazard: keep probability per gap of 1 .. len(hazard) frames.
        uniform: place knots every ``stride`` frames instead.
        stride: the uniform spacing.
        adaptive: learn the prior's ``sigma`` and the hazard from the symbols already coded
            (:mod:`ctflow.compress.entropy`); ``sigma`` and ``hazard[0]`` are then only the
            starting values, and the stream header stays a few dozen bytes however many
            coordinates a frame has.
    """

    def __init__(
        self,
        frame_dim: int,
        step: float,
        tol: float = 0.0,
        theta=1e-3,
        sigma=1.0,
        hazard=(0.5,),
        uniform: bool = False,
        stride: int = 1,
        adaptive: bool = False,
    ):
        if not (isinstance(frame_dim, int) and frame_dim >= 1):
            raise ValueError(f"frame_dim must be a positive integer, got {frame_dim!r}")
        if not (math.isfinite(step) and step > 0):
            raise ValueError(f"step must be a positive number, got {step}")
        if not (math.isfinite(tol) and tol >= 0):
            raise ValueError(f"tol must be >= 0, got {tol}")
        if not (isinstance(stride, int) and stride >= 1):
            raise ValueError(f"stride must be a positive integer, got {stride!r}")
        self.frame_dim = self.latent_dim = frame_dim
        self.step, self.tol, self.uniform, self.stride = float(step), float(tol), uniform, stride
        self.adaptive = bool(adaptive)
        try:
            self.theta = np.broadcast_to(np.asarray(theta, np.float64), (frame_dim,)).copy()
            self.sigma = np.broadcast_to(np.asarray(sigma, np.float64), (frame_dim,)).copy()
            hazard = np.asarray(hazard, np.float64).reshape(-1)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"theta and sigma must be numbers or {frame_dim} numbers, and hazard a list of "
                f"probabilities ({err})"
            ) from None
        if not (np.all(np.isfinite(self.theta)) and np.all(self.theta > 0)):
            raise ValueError(f"theta must be finite and positive, got {self.theta}")
        if not (np.all(np.isfinite(self.sigma)) and np.all(self.sigma > 0)):
            raise ValueError(f"sigma must be finite and positive, got {self.sigma}")
        if hazard.size == 0 or not np.all((hazard >= 0) & (hazard <= 1)):
            raise ValueError(f"hazard must be a non-empty list of probabilities, got {hazard}")
        self.hazard = np.clip(hazard, 1e-4, 1 - 1e-4)
        self.keep_coded = not uniform

    # ---- the spec travels in the stream header so a decoder can rebuild the codec -------------
    def spec(self) -> dict:
        return {
            "kind": "knots",
            "frame_dim": self.frame_dim,
            "step": self.step,
            "tol": self.tol,
            "theta": [float(v) for v in self.theta],
            "sigma": [float(v) for v in self.sigma],
            "hazard": [float(v) for v in self.hazard],
            "uniform": bool(self.uniform),
            "stride": self.stride,
            # only adaptive codecs name it, so the ids of older (static) codecs are unchanged
            **({"adaptive": True} if self.adaptive else {}),
        }

    @classmethod
    def from_spec(cls, spec: dict) -> KnotCodec:
        try:
            if spec.get("kind") != "knots":
                raise ValueError(f"not a knot codec spec: {spec.get('kind')!r}")
            return cls(
                int(spec["frame_dim"]),
                float(spec["step"]),
                float(spec["tol"]),
                spec["theta"],
                spec["sigma"],
                spec["hazard"],
                bool(spec["uniform"]),
                int(spec["stride"]),
                bool(spec.get("adaptive", False)),
            )
        except (KeyError, TypeError, AttributeError, OverflowError) as err:
            raise ValueError(f"invalid knot codec spec in the stream header ({err!r})") from None
        except ValueError as err:
            raise ValueError(f"invalid knot codec spec in the stream header: {err}") from None

    def spec_bytes(self) -> bytes:
        """The spec in binary, for the stream header (a few dozen bytes when ``adaptive``)."""
        flags = (1 if self.uniform else 0) | (2 if self.adaptive else 0)
        out = b"K" + bytes([flags]) + varint_bytes(self.frame_dim) + varint_bytes(self.stride)
        out += struct.pack("<2d", self.step, self.tol)
        return out + b"".join(_array_bytes(a) for a in (self.theta, self.sigma, self.hazard))

    @classmethod
    def from_bytes(cls, data: bytes) -> KnotCodec:
        """The codec of :meth:`spec_bytes`; ``ValueError`` for anything else."""
        r = Reader(bytes(data))
        if r.take(1, "the codec kind") != b"K":
            raise ValueError("corrupted bitstream: the header's codec spec is not a knot codec")
        (flags,) = r.take(1, "the codec flags")
        frame_dim = r.varint("frame_dim", 1)
        stride = r.varint("stride", 1)
        step, tol = struct.unpack("<2d", r.take(16, "step and tol"))
        theta, sigma = _read_array(r, frame_dim, "theta"), _read_array(r, frame_dim, "sigma")
        hazard = _read_array(r, None, "hazard")
        if flags & ~3 or r.pos != r.end:
            raise ValueError("corrupted bitstream: unreadable knot codec spec")
        try:
            return cls(
                frame_dim, step, tol, theta, sigma, hazard, bool(flags & 1), stride, bool(flags & 2)
            )
        except ValueError as err:
            raise ValueError(f"corrupted bitstream: invalid knot codec spec ({err})") from None

    def model_id(self) -> str:
        import hashlib

        return hashlib.sha256(json.dumps(self.spec(), sort_keys=True).encode()).hexdigest()[:32]

    def prior_params(self):
        return self.theta, self.sigma

    def hazard_logits_numpy(self):
        return np.log(self.hazard) - np.log1p(-self.hazard)

    def fixed_mask(self, N: int, T: int) -> np.ndarray:
        mask = np.zeros((N, T), dtype=bool)
        mask[:, :: self.stride] = True
        mask[:, -1] = True
        return mask

    def quantize(self, x: np.ndarray, times: np.ndarray):
        x = np.asarray(x, dtype=np.float64)
        bins = np.round(x / self.step)
        if bins.size and np.abs(bins).max() > 2.0**52:  # beyond exact integers in float64
            raise ValueError(
                f"values up to {np.abs(x).max():.3g} are {np.abs(bins).max():.3g} steps of "
                f"{self.step:g}: too many to code; use a larger step"
            )
        q = bins.astype(np.int64)
        if self.uniform:
            return q, self.fixed_mask(*x.shape[:2])
        values = q * self.step
        mask = np.stack([greedy_knots(values[n], x[n], times, self.tol) for n in range(len(x))])
        return q, mask

    def reconstruct(self, q, mask, times, query) -> np.ndarray:
        import torch

        from .interp import interpolate_kept

        z = interpolate_kept(
            torch.as_tensor(q * self.step, dtype=torch.float64),
            torch.as_tensor(mask),
            torch.as_tensor(times, dtype=torch.float64),
            torch.as_tensor(np.asarray(query, np.float64)),
        )
        return z.numpy()  # float64: large values keep their quantisation step

    @classmethod
    def fit(
        cls, x: np.ndarray, times: np.ndarray, step: float, tol: float = 0.0, **kw
    ) -> KnotCodec:
        """A codec whose prior and hazard are fitted to frames ``(N, T, D)`` at these settings
        (with ``adaptive=True``, only their starting values: the median ``sigma`` and the keep
        rate)."""
        x = np.asarray(x, dtype=np.float64).reshape(x.shape[0], x.shape[1], -1)
        probe = cls(x.shape[-1], step, tol, **kw)
        q, mask = probe.quantize(x, times)
        theta = 1e-3
        incs, gaps_t = [], []
        gaps = []
        for n in range(len(x)):
            idx = np.nonzero(mask[n])[0]
            if len(idx) > 1:
                incs.append(np.diff(q[n, idx], axis=0))
                gaps_t.append(np.diff(times[idx]))
                gaps.extend(np.diff(idx).tolist())
        if incs:
            inc = np.concatenate(incs).astype(np.float64)
            gt = np.concatenate(gaps_t)[:, None]
            sigma = np.sqrt(np.maximum((inc**2 / gt).mean(0), 1e-6))
        else:
            sigma = np.ones(x.shape[-1])
        hazard = (0.5,)
        if gaps and not probe.uniform:
            K = int(min(max(gaps), 64))
            g = np.minimum(np.asarray(gaps), K)
            # discrete hazard h(k) = P(gap = k | gap >= k), add-one smoothed
            hazard = tuple((np.sum(g == k) + 0.5) / (np.sum(g >= k) + 1.0) for k in range(1, K + 1))
        if kw.get("adaptive"):
            # starting values only (the coder learns the rest): one float32 each in the header
            sigma = float(np.float32(np.median(sigma)))
            inner = mask[:, 1:-1]
            hazard = (float(np.float32((inner.sum() + 0.5) / (inner.size + 1.0))),)
        return cls(x.shape[-1], step, tol, theta, sigma, hazard, **kw)


# ---- compact float arrays for the binary spec: one value when all agree, float32 when exact ----
_ONE64, _ONE32, _MANY64, _MANY32 = 0, 1, 2, 3


def _array_bytes(a: np.ndarray) -> bytes:
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    exact32 = bool(np.array_equal(a.astype(np.float32).astype(np.float64), a))
    if np.all(a == a[0]):
        mode, values = (_ONE32, a[:1].astype("<f4")) if exact32 else (_ONE64, a[:1].astype("<f8"))
        return bytes([mode]) + varint_bytes(len(a)) + values.tobytes()
    mode, values = (_MANY32, a.astype("<f4")) if exact32 else (_MANY64, a.astype("<f8"))
    return bytes([mode]) + varint_bytes(len(a)) + values.tobytes()


def _read_array(r: Reader, length: int | None, what: str) -> np.ndarray:
    (mode,) = r.take(1, what)
    n = r.varint(what, 1, MAX_ELEMENTS if length is None else length)
    if length is not None and n != length:
        raise ValueError(f"corrupted bitstream: {n} values of {what} for {length} coordinates")
    if mode not in (_ONE64, _ONE32, _MANY64, _MANY32):
        raise ValueError(f"corrupted bitstream: unknown array mode {mode} for {what}")
    count = 1 if mode in (_ONE64, _ONE32) else n
    size = 4 if mode in (_ONE32, _MANY32) else 8
    raw = np.frombuffer(r.take(size * count, what), dtype="<f4" if size == 4 else "<f8")
    return np.broadcast_to(raw.astype(np.float64), (n,)).copy()
