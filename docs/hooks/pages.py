"""mkdocs hook: generate the API reference (one page per subpackage) and one page per example.

The pages are built from the code at build time, so they cannot drift from it: each API page
renders the subpackage's ``__all__`` with mkdocstrings, and each example page shows the script's
docstring, its source and the figure its default run wrote (``docs/examples/figures``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]

# (subpackage, what it holds), in the order of the layers
PACKAGES = [
    ("ctflow", "The top level: the CNF, the solvers and loading a run."),
    ("ctflow.solvers", "ODE and SDE solvers, fixed points and root finding."),
    ("ctflow.ops", "Divergences, probes and Krylov helpers."),
    ("ctflow.manifolds", "Manifolds for solvers and Riemannian flows."),
    ("ctflow.nn", "Networks: MLPs, time-conditioned fields, convex networks."),
    ("ctflow.paths", "Probability paths and minibatch couplings."),
    ("ctflow.flows", "Densities: CNFs, CP-Flows, Voronoi flows, flow-matching losses."),
    ("ctflow.fields", "Divergence-free fields (neural conservation laws)."),
    ("ctflow.ppd", "Probability path divergence on manifolds."),
    ("ctflow.bayes", "SDE Bayesian neural networks."),
    ("ctflow.quantum", "Differentiable quantum steady states."),
    ("ctflow.rl", "Stochastic marginal actor-critic."),
    ("ctflow.gfn", "GFlowNets and generative models as GFlowNets."),
    ("ctflow.compress", "Sequence compression with learned discretization."),
    ("ctflow.vi", "Amortised variational inference."),
    ("ctflow.metrics", "Metrics: likelihoods, MMD, W2, calibration."),
    ("ctflow.data", "Data: toys, digits, earth, motion capture, your own points."),
    ("ctflow.plotting", "Figures: samples, densities, curves and calibration."),
    ("ctflow.train", "Training: the Trainer, its callbacks, optimisers and sinks."),
    ("ctflow.harness", "The experiment harness: config, results, the run context and its streams."),
]


def _examples() -> list[Path]:
    return sorted((ROOT / "examples").glob("*.py"))


def _title(path: Path) -> str:
    return path.stem.replace("_", " ").capitalize()


def on_config(config):
    nav = config["nav"]
    for i, entry in enumerate(nav):
        if entry == {"Examples": "examples/"}:
            pages = [{_title(p): f"examples/{p.stem}.md"} for p in _examples()]
            nav[i] = {"Examples": ["examples/index.md", *pages]}
        elif entry == {"API reference": "api/"}:
            nav[i] = {"API reference": [{name: f"api/{name}.md"} for name, _ in PACKAGES]}
    return config


def on_files(files, config):
    for name, summary in PACKAGES:
        content = f"# {name}\n\n{summary}\n\n::: {name}\n" + _unseen_members(name)
        files.append(File.generated(config, f"api/{name}.md", content=content))
    index = (ROOT / "examples" / "README.md").read_text() + "\n"
    for path in _examples():
        index += f"- [{_title(path)}]({path.stem}.md)\n"
        files.append(File.generated(config, f"examples/{path.stem}.md", content=_page(path)))
    files.append(File.generated(config, "examples/index.md", content=index))
    return files


def _unseen_members(package: str) -> str:
    """Blocks for public names that static analysis cannot attach to ``package``: functions
    named like the submodule that defines them (``solvers.odeint``), and names the package
    exports lazily through ``__getattr__``. Subpackages have their own pages."""
    module = importlib.import_module(package)
    blocks = []
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.ismodule(obj) or name.startswith("__"):
            continue
        defined_in = getattr(obj, "__module__", "")
        if name not in vars(module) or defined_in == f"{package}.{name}":
            blocks.append(f"::: {defined_in}.{obj.__qualname__}\n")
    return "\n" + "\n".join(blocks) if blocks else ""


def _page(path: Path) -> str:
    source = path.read_text()
    doc = ast.get_docstring(ast.parse(source)) or ""
    lines = [f"# {_title(path)}", "", doc, ""]
    figure = f"figures/{path.stem}.png"
    if (ROOT / "docs" / "examples" / figure).exists():
        lines += [f"![The figure of a default run]({figure})", ""]
    lines += ["```python", source.rstrip(), "```", ""]
    return "\n".join(lines)
