"""Every script in examples/ runs at a small size, uses only the public API, and returns finite
numbers and writes its figure."""

from __future__ import annotations

import ast
import importlib.util
import math
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.py"))


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_small_and_writes_its_figure(path, tmp_path):
    module = _load(path)
    metrics = module.main([*module.SMOKE_ARGS, "--out", str(tmp_path)])
    assert metrics and all(math.isfinite(v) for v in metrics.values()), metrics
    figures = list(tmp_path.glob("*.png"))
    assert [f.name for f in figures] == [f"{path.stem}.png"]
    assert figures[0].stat().st_size > 1000


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_uses_only_the_public_api(path):
    internal = ("ctflow.experiments", "ctflow.runs", "ctflow.cli")
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ctflow"):
            assert not node.module.startswith(internal), (path.name, node.module)
            assert not any(part.startswith("_") for part in node.module.split(".")), node.module
            assert not any(a.name.startswith("_") for a in node.names), (path.name, node.module)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in ("ctflow",):
                assert not node.attr.startswith("_"), (path.name, node.attr)
