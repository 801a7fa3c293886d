"""Every registered experiment runs at smoke size (its quick-size claims: tests/test_claims.py)."""

import json
import math

import pytest
import torch

import ctflow
from ctflow.cli import main
from ctflow.experiments import experiment_names, get_experiment, make_config
from ctflow.runs import run_experiment


@pytest.mark.parametrize("name", experiment_names())
def test_smoke_run_writes_a_complete_run_directory(name, tmp_path):
    run_dir, results = run_experiment(name, size="smoke", out=tmp_path / "run", progress=False)
    payload = json.loads((run_dir / "results.json").read_text())
    assert payload["experiment"] == name and payload["seed"] == 0
    assert payload["config"] == json.loads(json.dumps(make_config(name, "smoke").__dict__))
    assert payload["metrics"] and all(isinstance(v, float) for v in payload["metrics"].values())
    assert all(len(k.split("/")) == 3 for k in payload["metrics"])  # method/dataset/metric
    series = [json.loads(line) for line in (run_dir / "series.jsonl").read_text().splitlines()]
    assert series and all("step" in row for row in series)
    assert payload["figures"] and all(
        (run_dir / f).stat().st_size > 1000 for f in payload["figures"]
    )
    assert (run_dir / "report.md").read_text().startswith(f"# {name}")
    if results.models:
        models = ctflow.load(run_dir)
        assert set(models) == set(results.models)
        for key, model in models.items():
            original = results.models[key].state_dict()
            for pname, value in model.state_dict().items():
                torch.testing.assert_close(value, original[pname])


def test_cnf_2d_smoke_metrics_are_sane(tmp_path):
    _, results = run_experiment("cnf-2d", size="smoke", out=tmp_path / "run", progress=False)
    m = results.metrics
    assert math.isclose(m["cnf/checkerboard/entropy"], math.log(8 / 0.45**2), rel_tol=1e-12)
    # no model beats the entropy by more than sampling noise
    for ds in ("checkerboard", "8gaussians"):
        assert m[f"cnf/{ds}/test_nll"] > m[f"cnf/{ds}/entropy"] - 4 * m[f"cnf/{ds}/test_nll_stderr"]


def test_same_seed_same_numbers(tmp_path):
    cfg = dict(steps="4", datasets="8gaussians")
    _, a = run_experiment("cnf-2d", size="smoke", out=tmp_path / "a", overrides=cfg, progress=False)
    _, b = run_experiment("cnf-2d", size="smoke", out=tmp_path / "b", overrides=cfg, progress=False)
    timing = ("seconds",)
    for key, value in a.metrics.items():
        if not key.endswith(timing):
            assert value == b.metrics[key], key


def test_cli_run_prints_table_and_report_path(tmp_path, capsys):
    code = main(
        [
            "run",
            "cnf-2d",
            "--smoke",
            "--out",
            str(tmp_path / "run"),
            "--no-progress",
            "--set",
            "steps=2",
            "--set",
            "datasets=8gaussians",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "cnf/8gaussians/test_nll" in out and str(tmp_path / "run" / "report.md") in out


def test_registry_rejects_bad_sizes():
    exp = get_experiment("cnf-2d")
    with pytest.raises(ValueError, match="unknown size 'huge'"):
        make_config(exp.name, "huge")


def test_flow_matching_with_minibatch_ot_coupling(tmp_path):
    _, results = run_experiment(
        "flow-matching-2d",
        size="smoke",
        out=tmp_path / "r",
        progress=False,
        overrides={"methods": "fm-ot-minibatch,fm-ot", "steps": "5"},
    )
    assert "fm-ot-minibatch/checkerboard/test_nll" in results.metrics
    with pytest.raises(ValueError, match="choose from: fm-ot, fm-vp, score-vp, fm-ot-minibatch"):
        make_config("flow-matching-2d", "smoke", {"methods": "fm-sb"})


def test_load_leaves_the_callers_random_streams_as_it_found_them(tmp_path):
    import random

    import numpy as np

    run_dir, _ = run_experiment(
        "cpflow-2d", size="smoke", out=tmp_path / "run", progress=False
    )  # its build_models seeds torch's global RNG
    torch.manual_seed(123)
    np.random.seed(7)
    random.seed(5)
    expected = (torch.rand(3), np.random.rand(), random.random())
    torch.manual_seed(123)
    np.random.seed(7)
    random.seed(5)
    ctflow.load(run_dir)
    after = (torch.rand(3), np.random.rand(), random.random())
    assert torch.equal(after[0], expected[0]) and after[1:] == expected[1:]


def test_ncl_ot_runs_without_pot(monkeypatch):
    # POT is a dev-only extra; a user's install must run every experiment without it
    import sys

    from ctflow.experiments import ncl_ot  # noqa: F401  (imports without POT)
    from ctflow.fields import endpoint_pair, reference_w2_squared

    monkeypatch.setitem(sys.modules, "ot", None)  # `import ot` now raises ImportError
    p0, p1 = endpoint_pair("two-blobs")
    w2, how = reference_w2_squared(p0, p1, 64, torch.Generator().manual_seed(0))
    assert math.isfinite(w2) and w2 > 0 and "assignment" in how
