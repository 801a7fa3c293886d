"""Choosing a torch device by name, with an error that lists what this machine has.

Its own module so that experiments, the CLI and scripts can pick a device without importing the
trainer.
"""

from __future__ import annotations

import torch

__all__ = ["select_device", "available_devices"]


def select_device(device: str | torch.device) -> torch.device:
    """A torch device from a string, with a clear error when it is not available here."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"unknown device {device!r}; valid devices here: {', '.join(available_devices())}"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} requested but CUDA is not available; valid devices here: "
            f"{', '.join(available_devices())}"
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"device {device!r} requested but MPS is not available; valid devices here: "
            f"{', '.join(available_devices())}"
        )
    return dev


def available_devices() -> list[str]:
    """The device names usable here: ``cpu``, and ``cuda``, ``cuda:0``, ... where CUDA is."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return devices
