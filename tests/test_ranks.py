"""Several processes: each rank's own data stream, kill-and-resume with two ranks, a stalled
rank, and a two-node launch. Ranks are spawned with gloo on the CPU (two cores)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ctflow.checkpoint import Checkpointer, load_checkpoint
from ctflow.train import fit


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _join(rank: int, world: int, port: int, timeout: str = "60") -> None:
    """Join a gloo group the way torchrun sets it up, through ctflow's own entry."""
    from ctflow.distributed import init_distributed

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank), CTFLOW_DIST_TIMEOUT=timeout,
                      OMP_NUM_THREADS="1")  # fmt: skip
    torch.set_num_threads(1)
    assert init_distributed(torch.device("cpu"))


def _leave() -> None:
    """Both ranks meet, leave gloo, and end the process without interpreter finalisation.

    Gloo's worker threads can still be alive when Python tears down; destroying them then
    aborts the process now and then ("terminate called without an active exception", seen once
    in CI under load). What the test checks is written to disk before this point."""
    dist.barrier()
    dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# ---- two ranks, killed and resumed ----------------------------------------------------------
def _train(rank, path, steps, crash_at=None, resume=False, same_seed=False):
    torch.manual_seed(0)  # the same initial weights (DDP broadcasts rank 0's anyway)
    model = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    gen = torch.Generator().manual_seed(100 + (0 if same_seed else rank))
    torch.manual_seed(1000 + rank)  # the global stream differs per rank too

    def loss_fn(step):
        if step == crash_at:
            raise KeyboardInterrupt  # both ranks die here
        x = torch.randn(16, 3, generator=gen)
        noise = 0.1 * torch.randn(16)  # from the global RNG
        return (model(x).squeeze(-1) - x.sum(-1).sin() - noise).square().mean()

    ckpt = None
    if path is not None:
        saved = load_checkpoint(path) if resume else None
        ckpt = Checkpointer(path, experiment="t", config={}, every=20, resume=saved,
                            write=rank == 0)  # fmt: skip
        ckpt.track({"model": model})
    result = fit(loss_fn, model, steps=steps, lr=0.02, progress=False, generators=[gen],
                 checkpointer=ckpt)  # fmt: skip
    return model, gen, result


def _resume_worker(rank, world, port, folder):
    _join(rank, world, port)
    folder = Path(folder)
    model, gen, ref = _train(rank, None, 100)
    try:
        _train(rank, folder / "ckpt.pt", 100, crash_at=70)
    except KeyboardInterrupt:
        pass
    dist.barrier()
    model2, gen2, resumed = _train(rank, folder / "ckpt.pt", 100, resume=True)
    torch.save({"ref": [p.detach() for p in model.parameters()], "ref_losses": ref.losses,
                "ref_gen": gen.get_state(), "ref_rng": torch.get_rng_state(),
                "new": [p.detach() for p in model2.parameters()], "new_losses": resumed.losses,
                "new_gen": gen2.get_state(), "resumed_at": resumed.resumed_at},
               folder / f"rank{rank}.pt")  # fmt: skip
    _leave()


def test_two_ranks_killed_and_resumed_end_bit_identical(tmp_path):
    mp.spawn(_resume_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    out = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for o in out:
        assert o["resumed_at"] == 60  # the last save before the crash at 70
        assert o["new_losses"] == o["ref_losses"]  # each rank's own batches and noise
        assert torch.equal(o["new_gen"], o["ref_gen"])
        for a, b in zip(o["new"], o["ref"]):
            assert torch.equal(a, b)
    assert out[0]["ref_losses"] != out[1]["ref_losses"]  # the ranks did draw different data
    # the checkpoint holds both ranks' streams (rank 0 wrote it)
    phase = load_checkpoint(tmp_path / "ckpt.pt")["extra"]["phases"]["train"]
    assert len(phase["ranks"]) == 2


# ---- the same stream on two ranks ----------------------------------------------------------
def _same_seed_worker(rank, world, port, folder):
    _join(rank, world, port)
    try:
        _train(rank, None, 5, same_seed=True)
        message = "trained"
    except ValueError as err:
        message = str(err)
    Path(folder, f"rank{rank}.txt").write_text(message)
    _leave()


def test_ranks_that_would_draw_the_same_batches_are_refused(tmp_path):
    mp.spawn(_same_seed_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    for r in range(2):
        text = (tmp_path / f"rank{r}.txt").read_text()
        assert "ranks 0 and 1 start with the same data generator state" in text


# ---- a stalled rank --------------------------------------------------------------------------
def _stall_worker(rank, world, port, folder):
    _join(rank, world, port, timeout="4")
    if rank == 1:
        time.sleep(25)  # stalled (a hung data loader, a dead node)
        return
    start = time.perf_counter()
    try:
        dist.barrier()
        outcome = "no error"
    except Exception as err:  # noqa: BLE001 - gloo raises a RuntimeError subclass
        outcome = f"{type(err).__name__}: {err}"
    Path(folder, "rank0.txt").write_text(f"{time.perf_counter() - start:.1f}\n{outcome}")
    os._exit(0)  # the group is broken: leave without tearing it down


def test_a_stalled_rank_ends_the_run_within_the_timeout(tmp_path):
    ctx = mp.start_processes(_stall_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2,
                             join=False, start_method="spawn")  # fmt: skip
    deadline = time.time() + 60
    while not (tmp_path / "rank0.txt").exists() and time.time() < deadline:
        time.sleep(0.5)
    for p in ctx.processes:
        p.kill()
    seconds, outcome = (tmp_path / "rank0.txt").read_text().split("\n", 1)
    assert outcome != "no error"
    assert float(seconds) < 15  # torch's default would wait 30 minutes
    assert "4000ms" in outcome or "timed out" in outcome.lower() or "timeout" in outcome.lower()


def test_a_bad_timeout_is_refused_by_name(monkeypatch):
    from ctflow.distributed import _timeout

    monkeypatch.setenv("CTFLOW_DIST_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="CTFLOW_DIST_TIMEOUT must be a positive number"):
        _timeout()


# ---- two nodes -------------------------------------------------------------------------------
def test_a_two_node_launch_trains_one_run(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launchers = [
        subprocess.Popen(
            [
                str(torchrun),
                "--nnodes",
                "2",
                "--nproc_per_node",
                "1",
                "--node_rank",
                str(node),
                "--rdzv_backend",
                "c10d",
                "--rdzv_endpoint",
                f"127.0.0.1:{port}",
                "--rdzv_id",
                "ctflow-test",
                "-m",
                "ctflow.cli",
                "run",
                "cnf-2d",
                "--smoke",
                "--out",
                str(tmp_path / "run"),
                "--no-progress",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for node in range(2)
    ]
    logs = [p.communicate(timeout=240)[0] for p in launchers]
    assert [p.returncode for p in launchers] == [0, 0], logs
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["world_size"] == 2 and results["metrics"]


# ---- every experiment, two ranks -------------------------------------------------------------
def _every_experiment_worker(rank, world, port, folder):
    _join(rank, world, port, timeout="120")
    from ctflow.experiments import experiment_names
    from ctflow.runs import run_experiment
    from ctflow.train import Trainer

    unguarded = []  # training phases that hand the trainer no data generator to compare
    original = Trainer.run

    def run(self):
        if not self.generators:
            unguarded.append(self.tag)
        return original(self)

    Trainer.run = run
    outcomes = {}
    for name in experiment_names():
        unguarded.clear()
        try:
            run_experiment(name, size="smoke", out=Path(folder) / name, progress=False)
            outcomes[name] = "ok" if not unguarded else f"no generator in {unguarded}"
        except Exception as err:  # noqa: BLE001 - recorded and asserted on below
            outcomes[name] = f"{type(err).__name__}: {err}"
    Path(folder, f"rank{rank}.json").write_text(json.dumps(outcomes))
    _leave()


def test_every_experiment_gives_each_rank_its_own_data_stream(tmp_path):
    # the trainer refuses ranks whose data generators start equal (the test above), so a smoke
    # run of every experiment on two ranks shows that each seeds its streams with the rank
    mp.spawn(_every_experiment_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2,
             join=True)  # fmt: skip
    for r in range(2):
        outcomes = json.loads((tmp_path / f"rank{r}.json").read_text())
        failed = {k: v for k, v in outcomes.items() if v != "ok"}
        assert not failed, failed


# ---- early stopping decided once for every rank ----------------------------------------------
def _stop_worker(rank, world, port, folder):
    _join(rank, world, port, timeout="20")
    from ctflow.train import EarlyStopping, Evaluate

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    gen = torch.Generator().manual_seed(100 + rank)
    scores = iter(range(100, 0, -1))  # rank 1 keeps improving; rank 0 never does

    def score(m):
        return 1.0 if rank == 0 else float(next(scores))

    def loss_fn(step):
        x = torch.randn(8, 3, generator=gen)
        return model(x).square().mean()

    callbacks = [Evaluate(score, every=5, at_end=False), EarlyStopping(patience=2)]
    result = fit(loss_fn, model, steps=60, progress=False, generators=[gen], callbacks=callbacks)
    Path(folder, f"rank{rank}.txt").write_text(str(len(result.losses)))
    _leave()


def test_early_stopping_stops_every_rank_at_the_same_step(tmp_path):
    # rank 0's scores stall, rank 1's do not: rank 0 decides, so neither trains on alone (a
    # rank left in the loop would wait for the other's gradients until the timeout)
    mp.spawn(_stop_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    steps = [int((tmp_path / f"rank{r}.txt").read_text()) for r in range(2)]
    assert steps == [10, 10]  # reports at 0, 5, 10: no gain at 5 and 10, stop before step 10
