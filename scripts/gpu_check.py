"""A short, prepared GPU check: train and sample on CUDA, plain, under DDP, and per method family.

    python scripts/gpu_check.py                 # on a machine with CUDA
    python scripts/gpu_check.py --device cpu    # a dry run of the same code path (gloo)

Prints training throughput (steps/s, points/s) and sampling throughput (points/s) for a plain
run and a single-process DistributedDataParallel run (nccl on CUDA), then runs the registered
`cnf-2d` experiment at smoke size on the device. Then it times one training step and one
sampling call (or solve) for each method family (``scripts/gpu_families.py``) and prints a table.
Exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time

import torch
import torch.distributed as dist

from ctflow.data import sample_toy
from ctflow.device import select_device
from ctflow.flows import CNF
from ctflow.nn import TimeMLP
from ctflow.runs import run_experiment
from ctflow.train import fit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_families import time_families  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_and_sample(device: torch.device, steps: int, batch: int, label: str) -> dict:
    torch.manual_seed(0)
    flow = CNF(TimeMLP(2, hidden=(256,) * 3), 2, method="rk4", step_size=0.125).to(device)
    gen = torch.Generator().manual_seed(0)

    def loss_fn(step):
        x = sample_toy("checkerboard", batch, generator=gen).to(device)
        return -flow().log_prob(x).mean()

    fit(loss_fn, flow, steps=3, progress=False, device=device)  # warm-up (kernels, allocator)
    _sync(device)
    start = time.perf_counter()
    result = fit(loss_fn, flow, steps=steps, lr=1e-3, progress=False, device=device)
    _sync(device)
    train_s = time.perf_counter() - start
    n = 100_000
    start = time.perf_counter()
    with torch.no_grad():
        x = flow().sample((n,))
    _sync(device)
    sample_s = time.perf_counter() - start
    if not torch.isfinite(x).all():
        raise RuntimeError(f"{label}: non-finite samples")
    row = {
        "label": label,
        "steps_per_s": steps / train_s,
        "train_points_per_s": steps * batch / train_s,
        "sample_points_per_s": n / sample_s,
        "final_loss": result.final_loss,
    }
    print(
        f"{label:>12s}: {row['steps_per_s']:8.2f} steps/s  {row['train_points_per_s']:12.0f} "
        f"train points/s  {row['sample_points_per_s']:12.0f} sampled points/s  "
        f"loss {row['final_loss']:.3f}",
        flush=True,
    )
    return row


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per family")
    args = parser.parse_args(argv)
    try:
        device = select_device(args.device)
    except ValueError as err:
        print(f"gpu_check: {err}", file=sys.stderr)
        return 2
    if device.type == "cuda":
        print(f"device: {torch.cuda.get_device_name(device)}; torch {torch.__version__}")
    else:
        torch.set_num_threads(1)
        print(f"device: cpu (dry run); torch {torch.__version__}")
    train_and_sample(device, args.steps, args.batch, "plain")

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(_free_port()),
        RANK="0",
        WORLD_SIZE="1",
        LOCAL_RANK="0",
    )
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=0, world_size=1)
    try:
        train_and_sample(device, args.steps, args.batch, "ddp (1 proc)")
    finally:
        dist.destroy_process_group()

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        _, results = run_experiment(
            "cnf-2d", size="smoke", device=str(device), out=os.path.join(tmp, "run"), progress=False
        )
        print(
            f"cnf-2d --smoke on {device}: {time.perf_counter() - start:.1f} s, "
            f"checkerboard test NLL {results.metrics['cnf/checkerboard/test_nll']:.3f}"
        )
    failed = [row["family"] for row in time_families(device, args.repeats) if row["error"]]
    if failed:
        print(f"gpu_check: {len(failed)} famil{'y' if len(failed) == 1 else 'ies'} failed")
        return 1
    print("gpu_check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
