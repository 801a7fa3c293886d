"""RunContext's named streams: one per (seed, rank, purpose, keys), the same in every process."""

import os
import subprocess
import sys

import pytest
import torch

from ctflow.experiments import RunContext


def _draw(ctx: RunContext, *name) -> torch.Tensor:
    return torch.rand(4, generator=ctx.generator(*name))


def test_streams_differ_by_every_part_of_their_name_and_repeat_exactly():
    base = _draw(RunContext(seed=1, rank=0), "data", 0)
    assert torch.equal(base, _draw(RunContext(seed=1, rank=0), "data", 0))
    for other in [
        _draw(RunContext(seed=2, rank=0), "data", 0),
        _draw(RunContext(seed=1, rank=1), "data", 0),
        _draw(RunContext(seed=1, rank=0), "eval", 0),
        _draw(RunContext(seed=1, rank=0), "data", 1),
        _draw(RunContext(seed=1, rank=0), "data", "0", "x"),
    ]:
        assert not torch.equal(base, other)
    with pytest.raises(ValueError, match="purpose"):
        RunContext().generator("")


def test_a_stream_does_not_depend_on_the_process():
    # Python's own str hash changes per process; the streams must not
    code = (
        "import torch; from ctflow.experiments import RunContext; "
        "print(torch.rand(3, generator=RunContext(seed=5, rank=1).generator('data', 'x')).tolist())"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout  # fmt: skip
        for seed in ("1", "2")
    }
    here = str(_draw(RunContext(seed=5, rank=1), "data", "x")[:3].tolist())
    assert outs == {here + "\n"}
