"""Fixed-step Ito schemes and the Brownian increments that drive them (the native ``sdeint``).

Everything here is plain tensor arithmetic, so a whole solve is differentiable by ordinary
backpropagation. Shapes: the state ``x`` is ``(*batch, d)``; the noise ``dW`` is ``x``'s shape for
diagonal noise and ``(*batch, m)`` for general noise, where ``g`` returns ``(*batch, d, m)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = [
    "BrownianIncrements",
    "diffusion_shape",
    "euler_maruyama_step",
    "integrate_fixed",
    "milstein_step",
    "noise_shape_of",
    "check_brownian",
]

VectorField = Callable[[Tensor, Tensor], Tensor]
Step = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]


def _check_output(value: object, expected: torch.Size, what: str) -> Tensor:
    # Checked on every call: a tuple comparison is far cheaper than the call itself.
    if not isinstance(value, Tensor):
        raise TypeError(f"{what} must return a tensor, got {type(value).__name__}")
    if value.shape != expected:
        raise ValueError(f"{what} returned shape {tuple(value.shape)}, expected {tuple(expected)}")
    return value


def diffusion_shape(x_shape: Sequence[int], noise_shape: Sequence[int], noise: str) -> torch.Size:
    """Shape ``g(t, x)`` must have.

    Args:
        x_shape: state shape ``(*batch, d)``.
        noise_shape: Brownian increment shape, ``(*batch, d)`` or ``(*batch, m)``.
        noise: ``"diagonal"`` or ``"general"``.

    Returns:
        ``(*batch, d)`` for diagonal noise, ``(*batch, d, m)`` for general noise.

    Examples:
        >>> diffusion_shape((4, 2), (4, 3), "general")
        torch.Size([4, 2, 3])
    """
    if noise == "diagonal":
        return torch.Size(x_shape)
    return torch.Size((*x_shape, noise_shape[-1]))


def _apply_diffusion(gx: Tensor, dw: Tensor, noise: str) -> Tensor:
    if noise == "diagonal":
        return gx * dw
    return (gx @ dw.unsqueeze(-1)).squeeze(-1)


def euler_maruyama_step(
    f: VectorField, g: VectorField, t: Tensor, x: Tensor, h: Tensor, dw: Tensor, noise: str
) -> Tensor:
    """One Euler-Maruyama step ``x + f(t, x) h + g(t, x) dW`` (strong order 0.5).

    Args:
        f: drift, ``f(t, x)`` of shape ``(*batch, d)``.
        g: diffusion, shape ``(*batch, d)`` (diagonal) or ``(*batch, d, m)`` (general).
        t: current time, 0-d tensor.
        x: state, shape ``(*batch, d)``.
        h: step size, 0-d tensor.
        dw: Brownian increment over the step, shape ``(*batch, d)`` or ``(*batch, m)``.
        noise: ``"diagonal"`` or ``"general"``.

    Returns:
        The next state, shape ``(*batch, d)``.

    Examples:
        >>> x = torch.ones(3, 2)
        >>> zero = torch.tensor(0.0)
        >>> euler_maruyama_step(lambda t, x: -x, lambda t, x: 0 * x, zero, x, zero + 0.1,
        ...                     torch.zeros(3, 2), "diagonal")[0]
        tensor([0.9000, 0.9000])
    """
    drift = _check_output(f(t, x), x.shape, "f(t, x)")
    gx = _check_output(g(t, x), diffusion_shape(x.shape, dw.shape, noise), "g(t, x)")
    return x + drift * h + _apply_diffusion(gx, dw, noise)


def _diffusion_and_derivative(g: VectorField, t: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """``g(t, x)`` and its elementwise derivative ``dg_i/dx_i`` for diagonal noise."""
    keep_graph = torch.is_grad_enabled()
    # The derivative needs autograd even when the caller solves under torch.no_grad().
    with torch.enable_grad():
        xg = x if x.requires_grad else x.detach().requires_grad_(True)
        gx = _check_output(g(t, xg), x.shape, "g(t, x)")
        dg = None
        if gx.requires_grad:
            # Valid because g_i depends on x_i only: the gradient of sum(g) is then dg_i/dx_i.
            (dg,) = torch.autograd.grad(gx.sum(), xg, create_graph=keep_graph, allow_unused=True)
    if dg is None:  # g does not depend on x (additive noise)
        dg = torch.zeros_like(gx)
    if not keep_graph:
        gx, dg = gx.detach(), dg.detach()
    return gx, dg


def milstein_step(
    f: VectorField, g: VectorField, t: Tensor, x: Tensor, h: Tensor, dw: Tensor
) -> Tensor:
    """One Ito Milstein step for diagonal noise (strong order 1.0).

    ``x + f h + g dW + 0.5 g g' (dW^2 - h)`` with ``g'_i = dg_i/dx_i`` from autograd. This assumes
    diagonal noise in the strict sense: ``g_i`` depends on ``x_i`` only (and each batch element on
    its own state only); cross-dependence would be summed into ``g'`` and give a wrong correction.
    With grad mode on, the result requires grad even when nothing else does (``g'`` is built with
    autograd); step under ``torch.no_grad()`` for inference.

    Args:
        f: drift, ``f(t, x)`` of shape ``(*batch, d)``.
        g: diagonal diffusion, ``g(t, x)`` of shape ``(*batch, d)``.
        t: current time, 0-d tensor.
        x: state, shape ``(*batch, d)``.
        h: step size, 0-d tensor.
        dw: Brownian increment, shape ``(*batch, d)``.

    Returns:
        The next state, shape ``(*batch, d)``.

    Examples:
        >>> x = torch.ones(2)
        >>> zero = torch.tensor(0.0)
        >>> with torch.no_grad():
        ...     milstein_step(lambda t, x: 0 * x, lambda t, x: x, zero, x, zero + 0.5, x)
        tensor([2.2500, 2.2500])
    """
    drift = _check_output(f(t, x), x.shape, "f(t, x)")
    gx, dg = _diffusion_and_derivative(g, t, x)
    return x + drift * h + gx * dw + 0.5 * gx * dg * (dw * dw - h)


class BrownianIncrements:
    """Source of the increment ``dW_k`` for step ``k``, optionally recording what it handed out.

    Exactly one of three origins: a given tensor of increments, a torchsde Brownian object queried
    on ``[t_k, t_{k+1}]``, or fresh ``N(0, h)`` draws from ``generator``.

    Args:
        shape: increment shape ``(*batch, d)`` or ``(*batch, m)``.
        like: tensor whose dtype/device the draws adopt.
        increments: optional tensor of shape ``(n_steps, *shape)``.
        brownian: optional callable ``brownian(t0, t1)`` returning ``prod(shape)`` values.
        generator: optional ``torch.Generator`` for the draws.
        record: keep the handed-out increments for :meth:`stacked`.

    Examples:
        >>> src = BrownianIncrements((2,), torch.zeros(2), record=True)
        >>> _ = src(0, torch.tensor(0.0), torch.tensor(0.1), torch.tensor(0.1))
        >>> src.stacked().shape
        torch.Size([1, 2])
    """

    def __init__(
        self,
        shape: Sequence[int],
        like: Tensor,
        *,
        increments: Tensor | None = None,
        brownian: Callable[[float, float], Tensor] | None = None,
        generator: torch.Generator | None = None,
        record: bool = False,
    ) -> None:
        self.shape = torch.Size(shape)
        self.dtype, self.device = like.dtype, like.device
        self.increments, self.brownian, self.generator = increments, brownian, generator
        self.recorded: list[Tensor] | None = [] if record else None

    def __call__(self, k: int, t0: Tensor, t1: Tensor, h: Tensor) -> Tensor:
        """Increment for step ``k`` over ``[t0, t1]`` of length ``h``; shape ``self.shape``."""
        if self.increments is not None:
            dw = self.increments[k]
        elif self.brownian is not None:
            dw = self.brownian(float(t0), float(t1)).reshape(self.shape)
        else:
            z = torch.randn(
                self.shape, generator=self.generator, dtype=self.dtype, device=self.device
            )
            dw = z * h.sqrt()
        if self.recorded is not None:
            self.recorded.append(dw)
        return dw

    def stacked(self) -> Tensor:
        """The recorded increments, shape ``(n_steps, *shape)``."""
        if not self.recorded:
            return torch.empty((0, *self.shape), dtype=self.dtype, device=self.device)
        return torch.stack(self.recorded)


def integrate_fixed(
    step: Step, x0: Tensor, t: Tensor, counts: Sequence[int], increments: BrownianIncrements
) -> Tensor:
    """Run ``step`` with ``counts[i]`` equal steps inside each output interval ``[t_i, t_{i+1}]``.

    Args:
        step: ``step(t_k, x_k, h, dW_k) -> x_{k+1}``.
        x0: initial state, shape ``(*batch, d)``.
        t: increasing output times, shape ``(T,)``.
        counts: steps per interval, length ``T - 1``.
        increments: source of ``dW_k``, called once per step in order.

    Returns:
        States at the output times, shape ``(T, *x0.shape)``.

    Examples:
        >>> src = BrownianIncrements((1,), torch.zeros(1))
        >>> step = lambda t, x, h, dw: x + h
        >>> integrate_fixed(step, torch.zeros(1), torch.tensor([0.0, 1.0]), [4], src)[:, 0]
        tensor([0., 1.])
    """
    xs, x, k = [x0], x0, 0
    for i, n in enumerate(counts):
        h = (t[i + 1] - t[i]) / n
        for j in range(n):
            tk = t[i] + j * h
            # Ending on the grid point exactly keeps Brownian-object queries aligned with t.
            tk1 = t[i + 1] if j == n - 1 else tk + h
            x = step(tk, x, h, increments(k, tk, tk1, h))
            k += 1
        xs.append(x)
    return torch.stack(xs)


def noise_shape_of(g: VectorField, x0: Tensor, t: Tensor, noise: str) -> torch.Size:
    """``dW``'s shape; general noise learns ``m`` from one probe call of ``g``."""
    if noise == "diagonal":
        return x0.shape
    with torch.no_grad():
        probe = g(t[0], x0)
    if not isinstance(probe, Tensor):
        raise TypeError(f"g(t, x) must return a tensor, got {type(probe).__name__}")
    if probe.dim() != x0.dim() + 1 or probe.shape[:-1] != x0.shape:
        raise ValueError(
            f"g(t, x) returned shape {tuple(probe.shape)}, expected {(*x0.shape, 'm')} for "
            "noise='general' (m = number of Brownian motions)"
        )
    return torch.Size((*x0.shape[:-1], probe.shape[-1]))


def check_brownian(bm: object, noise_shape: torch.Size) -> None:
    flat = (math.prod(noise_shape[:-1]), noise_shape[-1])
    if tuple(bm.shape) != flat:
        raise ValueError(
            f"the Brownian object bm must have size (B, m) = {flat} (batch flattened), got "
            f"{tuple(bm.shape)}"
        )
