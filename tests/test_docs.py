"""The documentation site builds in strict mode, documents every public name, shows every example,
and every docstring's parameter names exist in its signature."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "docs" / "hooks"))
from pages import PACKAGES  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    # strict (mkdocs.yml): a broken reference, link or docstring fails the build
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _public_objects():
    for package, _ in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if not inspect.ismodule(obj) and not name.startswith("__"):
                yield package, name, obj


def test_every_public_name_has_an_api_entry(site):
    html = "".join(p.read_text() for p in (site / "api").rglob("index.html"))
    missing = []
    for package, name, obj in _public_objects():
        ids = {f'id="{package}.{name}"'}
        if hasattr(obj, "__qualname__"):
            ids.add(f'id="{obj.__module__}.{obj.__qualname__}"')
        if not any(i in html for i in ids):
            missing.append(f"{package}.{name}")
    assert not missing, missing


def test_every_example_has_a_page_with_its_figure(site):
    for script in sorted((ROOT / "examples").glob("*.py")):
        page = (site / "examples" / script.stem / "index.html").read_text()
        assert ">main<" in page, script.name  # the highlighted source: def main(...)
        assert (ROOT / "docs" / "examples" / "figures" / f"{script.stem}.png").exists(), script
        assert f"figures/{script.stem}.png" in page, script.name


def _documented_parameters(doc: str) -> list[str]:
    lines = doc.splitlines()
    header = next((i for i, l in enumerate(lines) if l.strip() in ("Args:", "Arguments:")), None)
    if header is None:
        return []
    base = len(lines[header]) - len(lines[header].lstrip())
    section = []
    for line in lines[header + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) <= base:
            break  # the next section or paragraph
        section.append(line)
    indent = min((len(x) - len(x.lstrip()) for x in section if x.strip()), default=0)
    names = []
    for line in section:
        if line.strip() and len(line) - len(line.lstrip()) == indent and ":" in line:
            # "t0, t1: ..." documents several parameters at once (this codebase's convention)
            names += [n.strip().lstrip("*") for n in line.split(":", 1)[0].split(",")]
    return names


def test_documented_parameters_exist_in_the_signatures():
    wrong = []
    for package, name, obj in _public_objects():
        targets = [obj]
        if inspect.isclass(obj):
            targets = [obj, obj.__init__]
        for target in targets:
            doc = inspect.getdoc(target) if callable(target) else None
            if not doc:
                continue
            try:
                params = set(inspect.signature(obj).parameters)
            except (TypeError, ValueError):
                continue
            if any(p.kind is p.VAR_KEYWORD for p in inspect.signature(obj).parameters.values()):
                continue  # **options forwards names the signature does not show
            for documented in _documented_parameters(doc):
                if documented not in params and documented not in ("self",):
                    wrong.append(f"{package}.{name}: {documented!r}")
    assert not wrong, wrong


def test_getting_started_runs_and_prints_what_it_says(capsys):
    text = (ROOT / "docs" / "getting-started.md").read_text()
    code = re.search(r"## From Python.*?```python\n(.*?)```", text, re.S).group(1)
    stated = float(re.search(r"# ([0-9.]+) \(the data's entropy", code).group(1))
    exec(compile(code, "getting-started.md", "exec"), {})
    out = capsys.readouterr().out.split("\n")
    assert abs(float(re.search(r"test NLL ([0-9.]+)", out[0]).group(1)) - stated) <= 0.02
    assert out[1] == "True"  # the reloaded model gives bit-identical log-densities
