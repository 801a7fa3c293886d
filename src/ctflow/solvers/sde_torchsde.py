"""The torchsde backend of :func:`ctflow.solvers.sdeint`: states flattened to the ``(B, d)``
torchsde requires, SRK and adaptive steps, the stochastic adjoint."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .sde_steps import check_brownian, diffusion_shape, noise_shape_of

__all__ = ["sdeint_torchsde", "default_adjoint_params"]

VectorField = Callable[[Tensor, Tensor], Tensor]


def _as_time(t: object, like: Tensor) -> Tensor:
    if isinstance(t, Tensor):
        return t.to(dtype=like.dtype)
    return torch.as_tensor(t, dtype=like.dtype, device=like.device)


class _TorchsdeSDE(nn.Module):
    """Adapter: ``(B, d)`` torchsde states to the user's ``(*batch, d)`` drift and diffusion."""

    sde_type = "ito"

    def __init__(
        self, drift: VectorField, diffusion: VectorField, x_shape: torch.Size, noise: str, m: int
    ) -> None:
        super().__init__()
        self.drift, self.diffusion = drift, diffusion
        self.noise_type = noise
        self.x_shape = x_shape
        self.g_shape = diffusion_shape(x_shape, (m,), noise)

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        out = self.drift(_as_time(t, y), y.reshape(self.x_shape))
        if not isinstance(out, Tensor) or out.shape != self.x_shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"f(t, x) returned {got}, expected shape {tuple(self.x_shape)}")
        return out.reshape(y.shape)

    def g(self, t: Tensor, y: Tensor) -> Tensor:
        out = self.diffusion(_as_time(t, y), y.reshape(self.x_shape))
        if not isinstance(out, Tensor) or out.shape != self.g_shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"g(t, x) returned {got}, expected shape {tuple(self.g_shape)}")
        # The batch dims flatten to one; g keeps its trailing (d,) or (d, m).
        return out.reshape(y.shape[0], *self.g_shape[len(self.x_shape) - 1 :])


def default_adjoint_params(f: object, g: object) -> tuple[Tensor, ...]:
    if not isinstance(f, nn.Module):
        raise ValueError(
            "adjoint=True with a plain-callable f needs adjoint_params (the tensors to "
            "differentiate); pass adjoint_params=() if there are none"
        )
    params = list(f.parameters())
    if isinstance(g, nn.Module):
        seen = {id(p) for p in params}
        params += [p for p in g.parameters() if id(p) not in seen]
    return tuple(params)


def sdeint_torchsde(
    f: VectorField,
    g: VectorField,
    x0: Tensor,
    t: Tensor,
    *,
    noise: str,
    bm: object | None,
    generator: torch.Generator | None,
    adjoint: bool,
    adjoint_params: Sequence[Tensor] | None,
    method: str,
    dt: float | None,
    **solver_kw: Any,
) -> Tensor:
    """torchsde solve; ``f`` is wrapped, so the adjoint parameters arrive resolved."""
    import torchsde  # deferred: the native backend does not need it

    if isinstance(bm, Tensor):
        raise ValueError(
            "a tensor of increments as bm needs backend='native'; for torchsde pass a torchsde "
            "Brownian object such as torchsde.BrownianInterval"
        )
    if adjoint:
        adjoint_params = tuple(adjoint_params)
        if not all(isinstance(p, Tensor) for p in adjoint_params):
            raise TypeError("adjoint_params must be a sequence of tensors")
    noise_shape = noise_shape_of(g, x0, t, noise)
    batch, m = math.prod(x0.shape[:-1]), noise_shape[-1]
    ts = t.detach()
    step = dt if dt is not None else float((ts[1:] - ts[:-1]).min())
    if bm is None:
        # torchsde seeds its Brownian motion by an integer entropy; derive it from generator.
        entropy = None
        if generator is not None:
            draw = torch.randint(0, 2**31 - 1, (), generator=generator, device=generator.device)
            entropy = int(draw)
        bm = torchsde.BrownianInterval(
            t0=float(ts[0]),
            t1=float(ts[-1]),
            size=(batch, m),
            dtype=x0.dtype,
            device=x0.device,
            entropy=entropy,
            levy_area_approximation="space-time" if method == "srk" else "none",
        )
    elif not isinstance(bm, torchsde.BaseBrownian):
        raise TypeError(
            f"bm must be a torchsde Brownian object for backend='torchsde', got {type(bm).__name__}"
        )
    else:
        check_brownian(bm, noise_shape)
    sde = _TorchsdeSDE(f, g, x0.shape, noise, m)
    y0 = x0.reshape(batch, x0.shape[-1])
    common = dict(bm=bm, method=method, dt=step, **solver_kw)
    if adjoint:
        ys = torchsde.sdeint_adjoint(sde, y0, ts, adjoint_params=adjoint_params, **common)
    else:
        ys = torchsde.sdeint(sde, y0, ts, **common)
    return ys.reshape(ts.numel(), *x0.shape)
