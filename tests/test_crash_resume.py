"""A run killed with SIGKILL at random points, mid-checkpoint included, resumes to the same run.

Each trial starts `ctflow run` in a subprocess, kills it at a random moment (seeded delays: the
import, training, a checkpoint being written, the final report), resumes with `--resume`, kills
that too, and finally lets it finish. The weights, the metrics and every row of `series.jsonl`
must equal an uninterrupted run's, and no temporary checkpoint file may be left behind.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import ctflow

ARGS = ["cnf-2d", "--smoke", "--set", "steps=200", "--set", "datasets=8gaussians"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _ctflow(*args: str, every: int = 7) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ctflow.cli",
            *args,
            "--no-progress",
            "--checkpoint-every",
            str(every),
        ],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()


def _rows(run) -> int:
    try:
        return (run / "series.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _killed(proc: subprocess.Popen, run, rows: int, delay: float) -> bool:
    """SIGKILL ``proc`` ``delay`` seconds after its log has ``rows`` rows (during training);
    False if it finished first."""
    while _rows(run) < rows and proc.poll() is None:
        time.sleep(0.005)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.002)
    if proc.poll() is not None:
        assert proc.returncode == 0, proc.stderr.read().decode()
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def _series(run) -> list[dict]:
    return [json.loads(line) for line in (run / "series.jsonl").read_text().splitlines()]


def _metrics(run) -> dict:
    metrics = json.loads((run / "results.json").read_text())["metrics"]
    return {k: v for k, v in metrics.items() if "seconds" not in k}


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_at_random_points_then_resume_equals_an_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    _finish(_ctflow("run", *ARGS, "--out", str(reference)))
    total_rows = _rows(reference)
    rng = np.random.default_rng(0)
    kills = 0
    # checkpoints every 7 steps (many writes to land in) and every 40 (log rows written after
    # the last checkpoint, which the resumed run must not repeat; rows come every 25 steps)
    for trial, every in enumerate((7, 40)):
        run = tmp_path / f"trial{trial}"
        proc = _ctflow("run", *ARGS, "--out", str(run), every=every)
        for _ in range(3):
            # during training (after a random log row, plus up to 0.3 s), or in the first
            # moments of a process (before any row: the import, run.json being written)
            rows = int(rng.integers(0, total_rows))
            if not _killed(proc, run, rows, rng.uniform(0.0, 0.3)):
                break
            kills += 1
            if not (run / "run.json").exists():  # killed before the run existed: start again
                proc = _ctflow("run", *ARGS, "--out", str(run), every=every)
            else:
                proc = _ctflow("run", "--resume", str(run), every=every)
        _finish(proc)
        assert _metrics(run) == _metrics(reference)
        assert _series(run) == _series(reference)
        a, b = ctflow.load(reference), ctflow.load(run)
        for key in a:
            for x, y in zip(a[key].state_dict().values(), b[key].state_dict().values()):
                assert torch.equal(x, y)
        assert not list(run.glob(".*.tmp"))
    assert kills >= 3  # the kills landed (a run that always finished first tests nothing)
