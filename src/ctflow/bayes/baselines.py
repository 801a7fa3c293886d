"""Baselines on the SDE-BNN's trunk: a deterministic ODE net and a mean-field variational BNN."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..solvers import odeint
from .trunk_net import TrunkNet

__all__ = ["ODENet", "MeanFieldBNN"]


def _solve_trunk(field, h0: Tensor, w: Tensor, steps: int) -> Tensor:
    """``h(1)`` of ``dh/dt = field(t, h, w)`` by fixed-step Euler (the SDE-BNN's drift scheme)."""
    t = torch.tensor([0.0, 1.0], dtype=h0.dtype, device=h0.device)
    return odeint(lambda s, h: field(s, h, w), h0, t, method="euler", step_size=1.0 / steps)[-1]


class ODENet(TrunkNet):
    """The trunk with fixed, learned weights: a neural ODE classifier or regressor (no KL).

    Takes :class:`~ctflow.bayes.trunk_net.TrunkNet`'s arguments.

    Examples:
        >>> ODENet(4, 3, steps=4).predict(torch.randn(5, 4), samples=1).probs.shape
        torch.Size([5, 3])
    """

    def __init__(self, in_features: int, out_features: int, **kwargs) -> None:
        super().__init__(in_features, out_features, **kwargs)
        self.w = nn.Parameter(self.field.initial_weights())

    def sample(
        self,
        x: Tensor,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        predictive: bool = False,
    ) -> tuple[Tensor, Tensor]:
        steps = self.steps if steps is None else self._check_steps(steps)
        self._check_input(x)
        h1 = _solve_trunk(self.field, self.encoder(x), self.w, steps)
        return self.head(h1), h1.new_zeros(())


class MeanFieldBNN(TrunkNet):
    """The trunk with weights ``w ~ N(mu, diag(s^2))`` held constant in depth, one draw per
    example; prior ``N(0, prior_std^2 I)``; the Gaussian KL is exact.

    Args:
        in_features, out_features: as :class:`~ctflow.bayes.trunk_net.TrunkNet`.
        prior_std: the prior's standard deviation.
        init_std: the posterior's initial standard deviation.
        **kwargs: the other :class:`~ctflow.bayes.trunk_net.TrunkNet` arguments.

    Examples:
        >>> model = MeanFieldBNN(4, 3, steps=4)
        >>> outputs, kl = model.sample(torch.randn(5, 4))
        >>> outputs.shape, bool(kl > 0)
        (torch.Size([5, 3]), True)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        prior_std: float = 1.0,
        init_std: float = 1e-2,
        **kwargs,
    ) -> None:
        super().__init__(in_features, out_features, **kwargs)
        if not prior_std > 0 or not init_std > 0:
            raise ValueError("prior_std and init_std must be > 0")
        self.prior_std = float(prior_std)
        self.mu = nn.Parameter(self.field.initial_weights())
        rho = math.log(math.expm1(init_std))  # softplus(rho) = init_std
        self.rho = nn.Parameter(torch.full((self.field.n_weights,), rho))

    def std(self) -> Tensor:
        """The posterior standard deviations, shape ``(P,)``."""
        return F.softplus(self.rho)

    def kl(self) -> Tensor:
        """``KL(N(mu, s^2) || N(0, prior_std^2))`` summed over the weights (0-d)."""
        var_ratio = (self.std() / self.prior_std) ** 2
        mean_term = (self.mu / self.prior_std) ** 2
        return 0.5 * (var_ratio + mean_term - 1 - var_ratio.log()).sum()

    def sample(
        self,
        x: Tensor,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        predictive: bool = False,
    ) -> tuple[Tensor, Tensor]:
        steps = self.steps if steps is None else self._check_steps(steps)
        self._check_input(x)
        h0 = self.encoder(x)
        eps = torch.randn(
            (*h0.shape[:-1], self.field.n_weights),
            generator=generator,
            dtype=h0.dtype,
            device=h0.device,
        )
        w = self.mu + self.std() * eps
        h1 = _solve_trunk(self.field, h0, w, steps)
        return self.head(h1), self.kl()
