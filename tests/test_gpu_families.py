"""scripts/gpu_families.py on the CPU: every family builds, trains a step and samples."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))


@pytest.mark.slow
def test_every_family_runs_on_the_cpu():
    from gpu_families import FAMILIES, time_families

    rows = time_families(torch.device("cpu"), repeats=1)
    assert [row["family"] for row in rows] == list(FAMILIES)
    assert [row["error"] for row in rows] == [None] * len(FAMILIES)
    assert all(row["train_ms"] > 0 and row["sample_ms"] > 0 for row in rows)
