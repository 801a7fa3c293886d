"""RunContext's named streams: one per (seed, rank, purpose, keys), the same in every process."""

import ast
import os
import subprocess
import sys
from pathlib import Path

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


# Experiments that still derive seeds by arithmetic (``seed * 1000 + index + 7919 * rank``).
# Moving one to named streams changes its recorded numbers, so it leaves this list together with
# a re-measured results page. The list may only shrink.
STILL_ON_SEED_ARITHMETIC: set[str] = set()


def _arithmetic_lines(source: str) -> list[int]:
    """Lines of ``source`` with an arithmetic expression on a ``seed`` or ``rank`` (a name or
    an attribute)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.BinOp):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
            if names & {"seed", "rank"}:
                found.append(node.lineno)
    return found


def test_no_new_seed_arithmetic_and_the_list_of_modules_to_move_only_shrinks():
    import ctflow.experiments as experiments

    folder = Path(experiments.__file__).parent
    found = {p.stem: _arithmetic_lines(p.read_text()) for p in sorted(folder.glob("*.py"))}
    found = {k: v for k, v in found.items() if v}
    new = {k: v for k, v in found.items() if k not in STILL_ON_SEED_ARITHMETIC}
    assert not new, f"derive seeds with ctx.generator / ctx.seed_of, not arithmetic: {new}"
    moved = STILL_ON_SEED_ARITHMETIC - set(found)
    assert not moved, f"these modules have moved to named streams; drop them from the list: {moved}"


def test_the_seed_arithmetic_scan_tells_arithmetic_from_named_streams():
    old = "g = torch.Generator().manual_seed(\n    config.seed * 1000 + 7919 * ctx.rank)"
    assert _arithmetic_lines(old) == [2, 2, 2]  # the sum and both products
    assert _arithmetic_lines("g = ctx.generator('data', 2 * k)") == []
    assert _arithmetic_lines("torch.manual_seed(config.seed)") == []


def test_every_run_called_without_a_context_draws_its_streams_from_the_configs_seed():
    # run(config) called from user code makes its own RunContext; one made without the config's
    # seed would draw seed 0's streams whatever the config said
    import ctflow.experiments as experiments

    folder = Path(experiments.__file__).parent
    wrong = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            is_call = isinstance(node, ast.Call) and getattr(node.func, "id", "") == "RunContext"
            if is_call and not any(
                k.arg == "seed" and ast.unparse(k.value) == "config.seed" for k in node.keywords
            ):
                wrong.append(f"{path.stem}:{node.lineno}")
    assert not wrong, f"RunContext(...) without seed=config.seed: {wrong}"


def test_smac_control_seeds_each_rank_and_task_apart(monkeypatch):
    # smac-control trains with its own loop, not the Trainer, so the two-rank test in
    # test_ranks.py cannot see its streams: check the seeds it hands that loop directly
    pytest.importorskip("gymnasium")
    from ctflow.experiments import make_config, smac_control

    seen: list[tuple[int, str, int]] = []
    original = smac_control.train_agent
    rank = [0]

    def recording(model, env, train, *, seed, **kw):
        seen.append((rank[0], kw["tag"], seed))
        return original(model, env, train, seed=seed, **kw)

    monkeypatch.setattr(smac_control, "train_agent", recording)
    config = make_config("smac-control", "smoke", {"tasks": ("pendulum", "pendulum-flicker")})
    for r in (0, 1):
        rank[0] = r
        smac_control.run(config, RunContext(seed=config.seed, rank=r))
    by_rank_and_task = {(r, tag.split("/")[1]): seed for r, tag, seed in seen}
    assert len(by_rank_and_task) == 4 and len(seen) > 4  # more than one method per task
    # every method on a task gets that task's seed (common random numbers); ranks and tasks differ
    assert len(set(by_rank_and_task.values())) == 4
    assert all(by_rank_and_task[r, tag.split("/")[1]] == seed for r, tag, seed in seen)
