"""Mixture paths on token sequences: each token is still its source value or already data.

For data ``x1`` (a sequence of ``L`` tokens from ``{0, ..., V-1}``) and a source draw ``x0``,
the mixture path keeps each token independently:

    x_t^i = x1^i  with probability kappa(t),   x0^i  otherwise,

with ``kappa(0) = 0`` and ``kappa(1) = 1``. Two sources are common: ``"mask"``, where every source
token is an extra mask token (index ``V``), and ``"uniform"``, where source tokens are uniform
over the vocabulary. Here ``kappa(t) = t ** power``.

Given ``x1``, the path is a Markov chain in which a token that differs from ``x1^i`` at time ``t``
has switched to it by time ``s > t`` with probability
``(kappa(s) - kappa(t)) / (1 - kappa(t))`` (:meth:`MixtureDiscretePath.jump_probability`). The
sampler and the likelihood bound of :mod:`ctflow.flows.discrete` are built on that step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .._validate import check_real

__all__ = ["MixtureDiscretePath", "DISCRETE_SOURCES"]

DISCRETE_SOURCES = ("mask", "uniform")

TimeLike = Tensor | float


@dataclass(frozen=True)
class MixtureDiscretePath:
    """The mixture path ``x_t = x1`` w.p. ``kappa(t) = t ** power``, else the source token.

    Args:
        vocab_size: ``V``, the number of data tokens.
        source: ``"mask"`` (all source tokens are the mask token ``V``) or ``"uniform"``.
        power: the exponent of ``kappa(t) = t ** power`` (positive).

    Attributes:
        num_tokens: the tokens a model reads: ``V + 1`` with a mask source, ``V`` otherwise.

    Examples:
        >>> path = MixtureDiscretePath(vocab_size=5, source="mask")
        >>> x1 = torch.tensor([[0, 1, 2, 3]])
        >>> path.sample(x1, torch.tensor([0.0])).tolist()     # at t = 0 every token is masked
        [[5, 5, 5, 5]]
        >>> float(path.jump_probability(0.5, 1.0))            # by t = 1 every token is data
        1.0
    """

    vocab_size: int
    source: str = "mask"
    power: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.vocab_size, bool) or not isinstance(self.vocab_size, int):
            raise TypeError(f"vocab_size must be an int, got {type(self.vocab_size).__name__}")
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2, got {self.vocab_size}")
        if self.source not in DISCRETE_SOURCES:
            raise ValueError(f"source must be one of {DISCRETE_SOURCES}, got {self.source!r}")
        if check_real(self.power, "power") <= 0:
            raise ValueError(f"power must be positive, got {self.power}")

    @property
    def mask_token(self) -> int | None:
        """The mask token's index (``V``) for a mask source, else ``None``."""
        return self.vocab_size if self.source == "mask" else None

    @property
    def num_tokens(self) -> int:
        return self.vocab_size + (self.source == "mask")

    def kappa(self, t: TimeLike) -> Tensor:
        """``kappa(t) = t ** power``, the probability that a token is already data."""
        return torch.as_tensor(t, dtype=torch.get_default_dtype()).clamp(0, 1) ** self.power

    def d_kappa(self, t: TimeLike) -> Tensor:
        """``kappa'(t)``."""
        t = torch.as_tensor(t, dtype=torch.get_default_dtype()).clamp(0, 1)
        return self.power * t ** (self.power - 1)

    def jump_probability(self, t: TimeLike, s: TimeLike) -> Tensor:
        """``(kappa(s) - kappa(t)) / (1 - kappa(t))``: the chance that a token not yet equal to its
        data value at time ``t`` has switched to it by ``s >= t`` (1 where ``kappa(t) = 1``)."""
        k_t, k_s = self.kappa(t), self.kappa(s)
        rest = 1 - k_t
        return torch.where(rest > 0, (k_s - k_t) / rest.clamp_min(1e-30), torch.ones_like(rest))

    def source_sample(self, shape: tuple[int, ...], *, generator=None, device=None) -> Tensor:
        """A source draw ``x0`` of the given shape (long)."""
        if self.source == "mask":
            return torch.full(shape, self.vocab_size, dtype=torch.long, device=device)
        return torch.randint(self.vocab_size, shape, generator=generator, device=device)

    def sample(self, x1: Tensor, t: Tensor, *, generator=None) -> Tensor:
        """``x_t`` for data ``x1 (batch, L)`` at times ``t (batch,)``; ``(batch, L)`` long."""
        self.check_tokens(x1, "x1")
        if not isinstance(t, Tensor) or t.shape != x1.shape[:1]:
            raise ValueError(f"t must have shape ({x1.shape[0]},), got {_shape(t)}")
        x0 = self.source_sample(tuple(x1.shape), generator=generator, device=x1.device)
        u = torch.rand(x1.shape, generator=generator, device=x1.device)
        keep = u < self.kappa(t).to(x1.device).unsqueeze(-1)
        return torch.where(keep, x1, x0)

    def check_tokens(self, x: object, name: str, *, allow_mask: bool = False) -> None:
        """Raise a clear error unless ``x`` is a ``(batch, L)`` long tensor of valid tokens."""
        if not isinstance(x, Tensor) or x.dim() != 2:
            raise ValueError(f"{name} must be a (batch, length) tensor of tokens, got {_shape(x)}")
        if x.dtype not in (torch.long, torch.int32, torch.int64):
            raise TypeError(f"{name} must hold integer tokens, got dtype {x.dtype}")
        top = self.num_tokens if allow_mask else self.vocab_size
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= top):
            raise ValueError(
                f"{name} holds tokens outside [0, {top}): min {int(x.min())}, max {int(x.max())}"
            )


def _shape(value: object) -> str:
    return str(tuple(value.shape)) if isinstance(value, Tensor) else type(value).__name__
