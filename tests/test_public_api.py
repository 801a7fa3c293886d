"""Every public name is importable, and README's quickstart runs."""

import importlib
import re
from pathlib import Path

import pytest

PACKAGES = [
    "ctflow",
    "ctflow.solvers",
    "ctflow.ops",
    "ctflow.manifolds",
    "ctflow.nn",
    "ctflow.flows",
    "ctflow.paths",
    "ctflow.quantum",
    "ctflow.data",
    "ctflow.metrics",
    "ctflow.fields",
    "ctflow.experiments",
    "ctflow.bayes",
    "ctflow.gfn",
    "ctflow.vi",
    "ctflow.ppd",
    "ctflow.rl",
    "ctflow.compress",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_all_names_exist(package):
    module = importlib.import_module(package)
    assert module.__all__, package
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"


def test_lower_layers_do_not_import_upper_ones():
    root = Path(__file__).parents[1] / "src" / "ctflow"
    upper = (
        "flows",
        "fields",
        "experiments",
        "bayes",
        "vi",
        "quantum",
        "rl",
        "gfn",
        "compress",
        "train",
        "runs",
        "cli",
    )
    for lower in ("solvers", "ops", "manifolds", "nn"):
        for path in (root / lower).glob("*.py"):
            text = path.read_text()
            for name in upper:
                assert not re.search(
                    rf"from \.\.{name}\b|import ctflow\.{name}\b|from ctflow\.{name}\b", text
                ), (path, name)


def test_method_packages_do_not_import_the_run_machinery():
    # runs, the CLI and the experiments sit on top of every method; a method package that
    # imported them would pull the whole registry (and matplotlib) into a user's import
    root = Path(__file__).parents[1] / "src" / "ctflow"
    methods = ("flows", "fields", "bayes", "vi", "quantum", "rl", "gfn", "compress", "ppd")
    upper = ("runs", "cli", "experiments", "compress_cli")
    for package in methods + ("paths", "metrics", "data"):
        for path in (root / package).glob("*.py"):
            text = path.read_text()
            for name in upper:
                assert not re.search(
                    rf"from \.\.{name}\b|import ctflow\.{name}\b|from ctflow\.{name}\b", text
                ), (path, name)


def test_readme_quickstart_runs_and_prints_what_it_says(capsys):
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    code = re.search(r"## Quickstart\s+```python\n(.*?)```", readme, re.S).group(1)
    stated = float(re.search(r"# ([0-9.]+); the data's entropy", code).group(1))
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # as written: about 7 s
    assert namespace["x"].shape == (1000, 2)
    printed = float(re.search(r"test NLL ([0-9.]+) nats", capsys.readouterr().out).group(1))
    assert abs(printed - stated) <= 0.02, (printed, stated)


def test_import_ctflow_exposes_every_subpackage_lazily():
    import subprocess
    import sys

    code = (
        "import sys, ctflow\n"
        "assert 'ctflow.rl' not in sys.modules and 'ctflow.quantum' not in sys.modules\n"
        "assert ctflow.quantum.steady_state and ctflow.gfn.HyperGrid and ctflow.compress.encode\n"
        "assert set(ctflow.SUBPACKAGES) <= set(dir(ctflow))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    import ctflow

    assert (Path(ctflow.__file__).parent / "py.typed").exists()


def test_deprecated_names_warn_and_forward():
    import warnings

    import torch

    from ctflow.flows import dequantization_posterior
    from ctflow.flows import make_posterior as old_posterior
    from ctflow.vi import VAE, gaussian_posterior

    with pytest.warns(DeprecationWarning, match="dequantization_posterior"):
        old = old_posterior(4, 6)
    assert type(old) is type(dequantization_posterior(4, 6))
    torch.manual_seed(0)
    vae = VAE(6, 2, gaussian_posterior(2, 256))
    x = torch.bernoulli(torch.full((3, 6), 0.5))
    with pytest.warns(DeprecationWarning, match="iwae"):
        torch.manual_seed(1)
        a = vae.iwae_bound(x, samples=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name does not warn
        torch.manual_seed(1)
        b = vae.iwae(x, 8)
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="unconditional"):
        vae.iwae(x, 8, c=torch.zeros(3, 1))
