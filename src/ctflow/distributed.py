"""Multi-process training under ``torchrun``: torch.distributed + DistributedDataParallel.

Nothing here is home-made distribution: it only starts the process group that ``torchrun`` sets up
(gloo on CPU, nccl on GPU), says which rank writes, and wraps modules in DDP.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from typing import Any

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
    "gather_objects",
    "same_across_ranks",
    "TIMEOUT_ENV",
]

# seconds a rank waits for the others at any collective before the run fails (default 300)
TIMEOUT_ENV = "CTFLOW_DIST_TIMEOUT"


def _timeout() -> datetime.timedelta:
    raw = os.environ.get(TIMEOUT_ENV, "300")
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(f"{TIMEOUT_ENV} must be a positive number of seconds, got {raw!r}")
    return datetime.timedelta(seconds=seconds)


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

    Uses nccl for CUDA devices and gloo otherwise. Every collective waits at most
    ``$CTFLOW_DIST_TIMEOUT`` seconds (default 300) for the other ranks, so a stalled or dead rank
    ends the run with an error instead of blocking it (torch's own default is 30 minutes).
    Returns whether a group is running.
    """
    if is_distributed():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend, timeout=_timeout())
    return True


def barrier() -> None:
    """Wait for every rank (a no-op in a single process)."""
    if is_distributed():
        dist.barrier()


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` in a single process). Every rank must
    call it at the same point."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def same_across_ranks(tensors: list[torch.Tensor]) -> tuple[int, int] | None:
    """The first pair of ranks whose ``tensors`` are equal byte for byte, else ``None``
    (always ``None`` in a single process)."""
    digest = hashlib.sha256(b"".join(t.cpu().numpy().tobytes() for t in tensors)).hexdigest()
    seen: dict[str, int] = {}
    for r, d in enumerate(gather_objects(digest)):
        if d in seen:
            return seen[d], r
        seen[d] = r
    return None


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
    # some phases train part of a model (a codec's prior, its keep network) while the rest
    # still requires grad: DDP must not wait for gradients those parameters never get
    ddp = nn.parallel.DistributedDataParallel
    if device.type == "cuda":
        return ddp(module, device_ids=[device.index or 0], find_unused_parameters=True)
    return ddp(module, find_unused_parameters=True)
