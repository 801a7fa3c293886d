"""The import floors of docs/architecture.md, checked on the source by parsing every import.

A module may import from its own floor and the floors below it, never from above. A new
top-level module must be given a floor here and in docs/architecture.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ctflow"

FLOORS = {
    # 0: foundations
    "_validate": 0,
    "seeding": 0,
    "device": 0,
    # 1: numerics
    "ops": 1,
    "manifolds": 1,
    "nn": 1,
    "solvers": 1,
    "metrics": 1,
    # 2: data, paths, fields and the training machinery
    "paths": 2,
    "fields": 2,
    "data": 2,
    "checkpoint": 2,
    "distributed": 2,
    "plotting": 2,
    "train": 2,
    # 3: methods
    "flows": 3,
    "bayes": 3,
    "gfn": 3,
    "ppd": 3,
    "quantum": 3,
    "rl": 3,
    "compress": 3,
    "vi": 3,
    # 4: the experiment harness, the experiments and runs
    "harness": 4,
    "experiments": 4,
    "runs": 4,
    "reproduce": 4,
    # 5: interfaces
    "cli": 5,
    "compress_cli": 5,
    "__init__": 5,
}


def _unit(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def _imported_units(path: Path) -> set[str]:
    """Top-level ctflow units that ``path`` imports, relative imports resolved."""
    package = ["ctflow", *path.relative_to(SRC).parts[:-1]]
    return _units_in(path.read_text(encoding="utf-8"), package)


def _units_in(source: str, package: list[str]) -> set[str]:
    """Top-level ctflow units imported by ``source``, a module of ``package`` (dotted parts)."""
    units = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name.split(".") for a in node.names if a.name.startswith("ctflow.")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = base + (node.module.split(".") if node.module else [])
            elif (node.module or "").split(".")[0] == "ctflow":
                module = node.module.split(".")
            else:
                continue
            # "from ctflow import x" and "from . import x" at the top name units themselves
            names = [module + [a.name] for a in node.names] if len(module) == 1 else [module]
        else:
            continue
        units |= {name[1].removesuffix(".py") for name in names if len(name) > 1}
    return units


def test_every_module_has_a_floor():
    units = {_unit(p) for p in SRC.rglob("*.py")}
    assert units - set(FLOORS) == set(), "give these a floor (and list them in architecture.md)"


def test_no_module_imports_from_a_higher_floor():
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        here = _unit(path)
        for target in _imported_units(path) - {here}:
            if FLOORS.get(target, -1) > FLOORS[here]:
                bad.append(
                    f"{path.relative_to(SRC)} (floor {FLOORS[here]}) imports {target} "
                    f"(floor {FLOORS[target]})"
                )
    assert not bad, "imports against the floors of docs/architecture.md:\n" + "\n".join(bad)


def test_the_checker_sees_violations():
    # relative imports one and two levels up, absolute imports, and "from ctflow import x"
    source = (
        "from ..experiments import registry\n"
        "from .likelihood import nll\n"
        "from ctflow.flows import CNF\n"
        "import ctflow.runs\n"
        "from ctflow import train\n"
        "from .. import paths\n"
    )
    units = _units_in(source, ["ctflow", "metrics"])
    assert units == {"experiments", "metrics", "flows", "runs", "train", "paths"}
    assert _units_in("from .ops import divergence\n", ["ctflow"]) == {"ops"}


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_experiments_are_at_most_a_fifth_of_the_source():
    # experiments/ keeps each run's config, sizes and story; reusable code lives in the library
    total = sum(_lines(p) for p in SRC.rglob("*.py"))
    experiments = sum(_lines(p) for p in (SRC / "experiments").rglob("*.py"))
    assert experiments <= 0.20 * total, f"experiments/ is {experiments / total:.1%} of src/ctflow"


def test_no_source_file_is_over_400_lines():
    long = {str(p.relative_to(SRC)): _lines(p) for p in SRC.rglob("*.py") if _lines(p) > 400}
    assert not long, f"split these modules: {long}"
