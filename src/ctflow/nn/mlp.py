"""Multilayer perceptrons."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["MLP", "ACTIVATIONS", "activation"]

ACTIVATIONS = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "gelu": nn.GELU,
}


def activation(name: str) -> nn.Module:
    """A new activation module by name (one of ``ACTIVATIONS``)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class MLP(nn.Sequential):
    """A fully connected network ``in_features -> hidden... -> out_features``.

    Args:
        in_features: input size.
        out_features: output size.
        hidden: widths of the hidden layers.
        act: activation between layers (a name from ``ACTIVATIONS``).

    Examples:
        >>> import torch
        >>> from ctflow.nn import MLP
        >>> MLP(2, 2, hidden=(64, 64))(torch.randn(10, 2)).shape
        torch.Size([10, 2])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int] = (64, 64),
        act: str = "silu",
    ):
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if any(not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden widths must be positive integers, got {tuple(hidden)}")
        widths = (in_features, *hidden, out_features)
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            if i > 0:
                layers.append(activation(act))
            layers.append(nn.Linear(a, b))
        super().__init__(*layers)
        self.in_features, self.out_features = in_features, out_features

    def forward(self, x: Tensor) -> Tensor:  # (*batch, in_features) -> (*batch, out_features)
        return super().forward(x)
