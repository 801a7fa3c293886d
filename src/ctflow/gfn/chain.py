"""Generative models as GFlowNets over Markov chains ``s_1 -> s_2 -> ... -> s_m = x``.

A model is a pair ``(P_F, P_B)``: an initial distribution ``P_F(s_1)`` and forward kernels
``P_F(s_{i+1} | s_i)``, and backward kernels ``P_B(s_i | s_{i+1})``. Learning from data instead of
a reward (arXiv 2209.02606, sec. 3): with ``tau ~ P_B(. | x)``,

    log p_F(x) >= E[log P_F(tau) - log P_B(tau | x)]                      (the ELBO)
    log p_F(x) >= E[log (1/K) sum_k P_F(tau_k) / P_B(tau_k | x)]          (K backward paths)

and the backward policy can be trained without a reward by the consistency loss
``(log P_F(tau) - log P_B(tau|x) - log P_F(tau') + log P_B(tau'|x))^2`` (MLE-GFN). A diffusion
model (fixed noising ``P_B``), a hierarchical VAE (``P_B`` the encoder) and an autoregressive
model (``P_B = 1``) are subclasses.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._validate import check_finite
from ..ops.reductions import log_mean_exp

__all__ = ["MarkovChainGFN", "mle_gfn_loss"]


class MarkovChainGFN(nn.Module):
    """Base class: subclasses define ``n_transitions`` and the three kernel methods.

    ``initial()`` returns a distribution over ``s_1`` (batch shape ``()``), ``forward_kernel(i,
    s_i)`` one over ``s_{i+1}`` and ``backward_kernel(i, s_{i+1})`` one over ``s_i``, for
    ``i = 1 .. n_transitions``; each needs ``log_prob`` and ``sample``. A trajectory is the list
    ``[s_1, ..., s_m]`` with ``m = n_transitions + 1``; the leading dimensions of ``x`` are batch.
    """

    n_transitions: int

    def initial(self):
        raise NotImplementedError

    def forward_kernel(self, i: int, s: Tensor):
        raise NotImplementedError

    def backward_kernel(self, i: int, s_next: Tensor):
        raise NotImplementedError

    def event_ndim(self, i: int) -> int:
        """Event dimensions of state ``s_i`` (1 for vectors)."""
        return 1

    @torch.no_grad()
    def check_data(self, x: Tensor) -> None:
        """Raise ``ValueError``/``TypeError`` if ``x`` is not a batch of this chain's data.

        The default refuses non-tensors and NaN or infinite values; chains over a discrete space
        override it to check the symbols.
        """
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a tensor, got {type(x).__name__}")
        check_finite(x, "x")

    def sample_backward(self, x: Tensor, k: int | None = None) -> list[Tensor]:
        """``tau ~ P_B(. | x)``; with ``k``, ``k`` paths per ``x`` (a leading ``k`` dimension)."""
        self.check_data(x)
        s = x if k is None else x.expand(k, *x.shape)
        path = [s]
        for i in range(self.n_transitions, 0, -1):
            s = self.backward_kernel(i, s).sample()
            path.append(s)
        return path[::-1]

    @torch.no_grad()
    def sample(self, n: int) -> list[Tensor]:
        """``tau ~ P_F``; the last state is ``x``."""
        s = self.initial().sample((n,))
        path = [s]
        for i in range(1, self.n_transitions + 1):
            s = self.forward_kernel(i, s).sample()
            path.append(s)
        return path

    def log_pf(self, path: list[Tensor]) -> Tensor:
        """``log P_F(tau)`` over the batch dimensions."""
        out = self.initial().log_prob(path[0])
        for i in range(1, self.n_transitions + 1):
            out = out + self.forward_kernel(i, path[i - 1]).log_prob(path[i])
        return out

    def log_pb(self, path: list[Tensor]) -> Tensor:
        """``log P_B(tau | x)`` over the batch dimensions."""
        out = 0.0
        for i in range(1, self.n_transitions + 1):
            out = out + self.backward_kernel(i, path[i]).log_prob(path[i - 1])
        return out

    def log_ratio(self, x: Tensor, k: int = 1) -> Tensor:
        """``log P_F(tau) - log P_B(tau | x)``, ``k`` backward paths per ``x``: ``(k, *batch)``."""
        path = self.sample_backward(x, k)
        return self.log_pf(path) - self.log_pb(path)

    def elbo(self, x: Tensor, c=None) -> Tensor:
        """One-path estimate of ``E_{P_B(tau|x)}[log P_F(tau) - log P_B(tau|x)] <= log p(x)``."""
        if c is not None:
            raise ValueError("this model has no context; call elbo(x)")
        return self.log_ratio(x, 1)[0]

    def iwae(self, x: Tensor, k: int, c=None) -> Tensor:
        """``log (1/k) sum_k P_F(tau_k) / P_B(tau_k | x)``: tighter with ``k``, exact as
        ``k -> inf``."""
        if c is not None:
            raise ValueError("this model has no context; call iwae(x, k)")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        return log_mean_exp(self.log_ratio(x, k), 0)


def mle_gfn_loss(
    model: MarkovChainGFN, x: Tensor, k: int = 2, train_backward: bool = True
) -> tuple[Tensor, dict[str, float]]:
    """MLE-GFN (arXiv 2209.02606, Alg. 1): ``P_F`` ascends the ELBO on paths ``tau ~ P_B(.|x)``;
    ``P_B`` descends the reward-free consistency between pairs of such paths.

    Args:
        model: the chain.
        x: a data batch.
        k: backward paths per ``x`` (>= 2 when ``P_B`` is trained).
        train_backward: add the consistency loss (a fixed ``P_B``, e.g. diffusion, needs none).

    Returns:
        ``(loss, {"elbo": ..., "consistency": ...})``.
    """
    if train_backward and k < 2:
        raise ValueError("the consistency loss needs k >= 2 backward paths")
    path = model.sample_backward(x, k)
    log_pf = model.log_pf(path)
    log_pb = model.log_pb(path)
    elbo = (log_pf - log_pb).detach().mean()
    loss = -log_pf.mean()
    stats = {"elbo": float(elbo)}
    if train_backward:
        ratio = log_pf.detach() - log_pb  # (k, *batch): gradient flows into P_B only
        half = k // 2
        consistency = (ratio[:half] - ratio[half : 2 * half]).pow(2).mean()
        loss = loss + consistency
        stats["consistency"] = float(consistency.detach())
    return loss, stats
