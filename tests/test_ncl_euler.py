"""ncl-euler's step budgets: the PINN can be given more steps than NCL (equal compute)."""

import json

import pytest

from ctflow.experiments.ncl_euler import NCLEulerConfig
from ctflow.runs import run_experiment


def test_pinn_steps_trains_the_pinn_for_its_own_budget(tmp_path):
    overrides = {"problems": ("taylor-green",), "steps": 3, "pinn_steps": 7}
    _, results = run_experiment(
        "ncl-euler", size="smoke", out=tmp_path, overrides=overrides, progress=False
    )
    m = results.metrics
    assert m["ncl/taylor-green/train_steps"] == 3
    assert m["pinn/taylor-green/train_steps"] == 7
    rows = [json.loads(line) for line in (tmp_path / "series.jsonl").read_text().splitlines()]
    last = {row["tag"]: row["step"] for row in rows if not row["tag"].startswith("eval/")}
    assert last == {"ncl/taylor-green": 2, "pinn/taylor-green": 6}


def test_pinn_steps_defaults_to_steps_and_rejects_zero():
    assert NCLEulerConfig().pinn_steps is None
    with pytest.raises(ValueError, match="pinn_steps must be >= 1, got 0"):
        NCLEulerConfig(pinn_steps=0)


def test_one_method_alone_trains_exactly_as_beside_the_other(tmp_path):
    base = {"problems": ("taylor-green",), "steps": 4}
    _, both = run_experiment(
        "ncl-euler", size="smoke", out=tmp_path / "both", overrides=base, progress=False
    )
    _, alone = run_experiment(
        "ncl-euler",
        size="smoke",
        out=tmp_path / "alone",
        overrides={**base, "methods": ("pinn",)},
        progress=False,
    )
    assert not any(k.startswith("ncl/") for k in alone.metrics)
    for key in ("final_train_loss", "rel_error_mean", "div_rms"):
        assert alone.metrics[f"pinn/taylor-green/{key}"] == both.metrics[f"pinn/taylor-green/{key}"]
