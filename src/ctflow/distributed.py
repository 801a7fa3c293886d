"""Multi-process training under ``torchrun``: torch.distributed + DistributedDataParallel.

Nothing here is home-made distribution: it only starts the process group that ``torchrun`` sets up
(gloo on CPU, nccl on GPU), says which rank writes, and wraps modules in DDP.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "init_distributed",
    "is_distributed",
    "rank",
    "world_size",
    "is_main_process",
    "wrap_ddp",
    "barrier",
    "shutdown_distributed",
]


def is_distributed() -> bool:
    """Whether a process group is running."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Only rank 0 writes files, logs and progress bars."""
    return rank() == 0


def init_distributed(device: torch.device) -> bool:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1).

    Uses nccl for CUDA devices and gloo otherwise. Returns whether a group is running.
    """
    if is_distributed():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True


def barrier() -> None:
    """Wait for every rank (a no-op in a single process)."""
    if is_distributed():
        dist.barrier()


def shutdown_distributed(wait: bool = True) -> None:
    """Leave the process group.

    With ``wait`` every rank first meets the others, so gloo never tears down a connection that a
    peer still uses (that aborts the peer now and then). Pass ``wait=False`` after an error.
    """
    if is_distributed():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def wrap_ddp(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` in DistributedDataParallel when a process group runs, else unchanged."""
    if not is_distributed():
        return module
    if device.type == "cuda":
        return nn.parallel.DistributedDataParallel(module, device_ids=[device.index or 0])
    return nn.parallel.DistributedDataParallel(module)
