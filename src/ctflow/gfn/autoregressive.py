"""An autoregressive model as a GFlowNet on a tree: every prefix has one parent, so ``P_B = 1``
and the GFlowNet bound ``log P_F(tau) - log P_B(tau | x)`` is the exact log-likelihood."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Categorical

from ..nn import MLP
from .chain import MarkovChainGFN

__all__ = ["AutoregressiveGFN"]


class _AppendToken:
    """``P_F(prefix + token | prefix)``: a categorical over the next token at ``position``."""

    def __init__(self, logits: Tensor, prefix: Tensor, position: int):
        self.dist, self.prefix, self.position = Categorical(logits=logits), prefix, position

    def log_prob(self, s_next: Tensor) -> Tensor:
        return self.dist.log_prob(s_next[..., self.position] - 1)

    def sample(self, shape=()) -> Tensor:
        out = self.prefix.clone()
        out[..., self.position] = self.dist.sample(shape) + 1
        return out


class _DropLast:
    """``P_B(prefix | prefix + token) = 1``: a point mass on the one parent."""

    def __init__(self, s_next: Tensor, position: int, dtype: torch.dtype):
        self.dtype = dtype
        self.parent = s_next.clone()
        self.parent[..., position] = 0

    def log_prob(self, s: Tensor) -> Tensor:
        same = (s == self.parent).all(-1)
        zero = torch.zeros(same.shape, dtype=self.dtype, device=same.device)
        return zero.masked_fill(~same, float("-inf"))

    def sample(self, shape=()) -> Tensor:
        return self.parent


class AutoregressiveGFN(MarkovChainGFN):
    """``p(x) = prod_i p(x_i | x_<i)`` over sequences of ``length`` tokens in ``1..vocab``.

    States are prefixes padded with 0 (as in :class:`ctflow.gfn.SequenceEnv`): ``s_1`` holds
    one token and ``s_length = x``. The network reads the one-hot prefix.

    Args:
        vocab: number of tokens.
        length: sequence length.
        hidden: hidden widths of the next-token network.
    """

    def __init__(self, vocab: int, length: int, hidden: Sequence[int] = (64, 64)):
        super().__init__()
        if vocab < 1 or length < 1:
            raise ValueError(f"need vocab >= 1 and length >= 1, got {vocab}, {length}")
        self.vocab, self.length = vocab, length
        self.n_transitions = length - 1
        self.net = MLP(length * (vocab + 1), vocab, tuple(hidden), "silu")

    def check_data(self, x: Tensor) -> None:
        """``x`` must be ``(*batch, length)`` integer tokens in ``1..vocab`` (0 pads prefixes)."""
        if not isinstance(x, Tensor) or x.is_floating_point() or x.dtype == torch.bool:
            raise TypeError(f"x must be an integer tensor of tokens, got {getattr(x, 'dtype', x)}")
        if x.dim() == 0 or x.shape[-1] != self.length:
            raise ValueError(f"x must have shape (..., {self.length}), got {tuple(x.shape)}")
        if x.numel() and not (1 <= int(x.min()) and int(x.max()) <= self.vocab):
            raise ValueError(
                f"x holds tokens in [{int(x.min())}, {int(x.max())}]; this model's tokens are "
                f"1..{self.vocab}"
            )

    def logits(self, prefix: Tensor) -> Tensor:
        hot = nn.functional.one_hot(prefix, self.vocab + 1).to(self.net[0].weight.dtype)
        return self.net(hot.flatten(-2))

    def _empty(self, batch=()) -> Tensor:
        return torch.zeros(*batch, self.length, dtype=torch.long, device=self.net[0].weight.device)

    def initial(self):
        return _AppendToken(self.logits(self._empty()), self._empty(), 0)

    def forward_kernel(self, i: int, s: Tensor):
        return _AppendToken(self.logits(s), s, i)

    def backward_kernel(self, i: int, s_next: Tensor):
        return _DropLast(s_next, i, self.net[0].weight.dtype)

    def event_ndim(self, i: int) -> int:
        return 1

    @torch.no_grad()
    def sample(self, n: int) -> list[Tensor]:
        s = self._empty((n,))
        first = _AppendToken(self.logits(s), s, 0).sample()
        path = [first]
        for i in range(1, self.n_transitions + 1):
            path.append(self.forward_kernel(i, path[-1]).sample())
        return path

    def log_prob(self, x: Tensor) -> Tensor:
        """``log p(x)`` by the chain rule (the same as the GFlowNet bound, any ``k``)."""
        path = self.sample_backward(x)
        return self.log_pf(path)
