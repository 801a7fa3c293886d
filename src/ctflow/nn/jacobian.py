"""Exact divergence of an MLP vector field in one forward pass, without autograd.

For ``v = MLP([x, features])`` with ``x`` in R^d, the input Jacobian is propagated layer by layer
(forward-mode by hand): ``J <- J W^T`` through a linear layer and ``J <- J * act'(z)`` through an
activation, with ``J`` of shape ``(N, d, H)``. The trace is read off at the last layer. It costs
about ``d`` extra forward passes of plain tensor ops, so for small ``d`` it beats ``d``
backward passes, and training backpropagates through it once instead of twice.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["activation_and_derivative", "mlp_value_and_divergence", "supports_analytic_divergence"]

_SQRT_2PI = math.sqrt(2 * math.pi)


def activation_and_derivative(module: nn.Module, z: Tensor) -> tuple[Tensor, Tensor]:
    """``(act(z), act'(z))`` for the activations ``ctflow.nn.MLP`` uses.

    Raises:
        NotImplementedError: for an activation (or setting) without a closed-form derivative here.
    """
    if isinstance(module, nn.SiLU):
        s = torch.sigmoid(z)
        return z * s, s * (1 + z * (1 - s))
    if isinstance(module, nn.Tanh):
        a = torch.tanh(z)
        return a, 1 - a * a
    if isinstance(module, nn.Softplus) and module.beta == 1:
        return F.softplus(z, threshold=module.threshold), torch.sigmoid(z)
    if isinstance(module, nn.ReLU):
        return torch.relu(z), (z > 0).to(z.dtype)
    if isinstance(module, nn.ELU):
        a = F.elu(z, module.alpha)
        return a, torch.where(z > 0, torch.ones_like(z), a + module.alpha)
    if isinstance(module, nn.GELU) and module.approximate == "none":
        cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2)))
        return z * cdf, cdf + z * torch.exp(-0.5 * z * z) / _SQRT_2PI
    raise NotImplementedError(f"no closed-form derivative for {module}")


def supports_analytic_divergence(mlp: nn.Module) -> bool:
    """Whether ``mlp`` is a Sequential of Linear layers and supported activations."""
    if not isinstance(mlp, nn.Sequential) or not isinstance(mlp[-1], nn.Linear):
        return False
    probe = torch.zeros(1)
    for layer in mlp:
        if isinstance(layer, nn.Linear):
            continue
        try:
            activation_and_derivative(layer, probe)
        except NotImplementedError:
            return False
    return True


def mlp_value_and_divergence(mlp: nn.Sequential, inp: Tensor, d: int) -> tuple[Tensor, Tensor]:
    """Output of ``mlp`` and the divergence w.r.t. the first ``d`` input columns.

    Args:
        mlp: Linear layers and supported activations, ending in a Linear with ``d`` outputs.
        inp: input, shape ``(*batch, n_in)``; its first ``d`` columns are the variables ``x``.
        d: the dimension of ``x`` (and of the output).

    Returns:
        ``(v, div)`` of shapes ``(*batch, d)`` and ``batch``: ``div = sum_i dv_i/dx_i``.
    """
    batch = inp.shape[:-1]
    h = inp.reshape(-1, inp.shape[-1])
    linears = [m for m in mlp if isinstance(m, nn.Linear)]
    last = linears[-1]
    if last.out_features != d:
        raise ValueError(f"the MLP outputs {last.out_features} values, not d={d}")
    # the Jacobian dh/dx in (d, H) layout: batch-independent until the first activation
    shared = torch.eye(d, h.shape[-1], dtype=h.dtype, device=h.device)
    jac: Tensor | None = None  # (N, d, H) after the first activation
    for layer in mlp:
        if isinstance(layer, nn.Linear):
            if layer is last:
                break
            h = layer(h)
            if jac is None:
                shared = shared @ layer.weight.T
            else:
                jac = jac @ layer.weight.T
        else:
            h, slope = activation_and_derivative(layer, h)
            jac = (shared if jac is None else jac) * slope[:, None, :]
    out = last(h)
    w = last.weight  # (d, H)
    if jac is None:  # a purely linear network: a constant Jacobian
        div = torch.einsum("ih,ih->", shared, w).expand(h.shape[0])
    else:
        div = torch.einsum("nih,ih->n", jac, w)
    return out.reshape(*batch, d), div.reshape(batch)
