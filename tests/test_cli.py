import json

import pytest

from ctflow.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_names_every_experiment(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0 and "cnf-2d" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["run", "no-such-thing", "--smoke"],
            "unknown experiment 'no-such-thing'; choose one of: cnf-2d",
        ),
        (
            ["run", "cnf-2d", "--smoke", "--set", "stepz=3"],
            "unknown config key 'stepz'; did you mean 'steps'? valid keys: seed",
        ),
        (["run", "cnf-2d", "--smoke", "--set", "steps=many"], "steps expects int, got 'many'"),
        (["run", "cnf-2d", "--smoke", "--set", "steps"], "--set expects KEY=VALUE"),
        (["run", "cnf-2d", "--smoke", "--device", "cuda:7"], "valid devices here: cpu"),
        (["run", "cnf-2d", "--smoke", "--device", "toaster"], "unknown device 'toaster'"),
        (["run", "cnf-2d", "--smoke", "--seed", "-1"], "--seed must be a non-negative"),
        (
            ["run", "cnf-2d", "--smoke", "--set", "datasets=checkerboard,nope"],
            "unknown toy dataset 'nope'",
        ),
        (["run", "cnf-2d", "--smoke", "--set", "seed=5"], "set seed with --seed"),
        (["run", "cpflow-2d", "--smoke", "--set", "grid_limit=inf"], "grid_limit must be finite"),
        (["run", "cnf-2d", "--smoke", "--set", "lr=inf"], "lr must be finite"),
        (["run", "cnf-2d", "--smoke", "--set", "device=cpu"], "set device with --device"),
        (["run", "--resume", "no/such/run"], "has no run.json"),
    ],
)
def test_bad_input_gets_a_one_line_error(capsys, tmp_path, argv, message):
    code, _, err = run_cli(capsys, *argv, "--out", str(tmp_path / "run"), "--no-progress")
    assert code == 2
    assert message in err
    assert err.count("\n") == 1  # one line, no traceback


def test_refuses_to_overwrite_a_run(capsys, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text("{}")
    code, _, err = run_cli(capsys, "run", "cnf-2d", "--smoke", "--out", str(tmp_path / "run"))
    assert code == 2 and "not empty" in err
    assert json.loads((tmp_path / "run" / "results.json").read_text()) == {}  # nothing lost


def test_no_command_prints_help(capsys):
    code, out, _ = run_cli(capsys)
    assert code == 2 and "usage" in out


def test_sample_and_reproduce_commands(capsys, tmp_path):
    from ctflow.runs import run_experiment

    run_dir, _ = run_experiment(
        "cnf-2d",
        size="smoke",
        out=tmp_path / "r",
        progress=False,
        overrides={"steps": "2", "datasets": "8gaussians"},
    )
    code, out, _ = run_cli(capsys, "sample", str(run_dir), "-n", "20", "--out", str(tmp_path / "s"))
    assert code == 0 and "samples-8gaussians.npy" in out
    code, _, err = run_cli(capsys, "sample", str(tmp_path / "missing"))
    assert code == 2 and "no run directory" in err
    code, out, _ = run_cli(
        capsys,
        "reproduce",
        "--smoke",
        "--seeds",
        "0",
        "--out",
        str(tmp_path / "rep"),
        "--no-progress",
        "steady-state-light",
    )
    assert code == 0 and "report:" in out
    code, _, err = run_cli(capsys, "reproduce", "cnf-2d", "--seeds", "0", "0")
    assert code == 2 and "distinct" in err
    code, _, err = run_cli(capsys, "run", "--resume", str(tmp_path / "missing"))
    assert code == 2 and "run.json" in err


def test_out_that_is_a_file_is_refused_and_kept(capsys, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("my notes")
    code, _, err = run_cli(capsys, "run", "cnf-2d", "--smoke", "--out", str(target))
    assert code == 2 and "is a file" in err and err.count("\n") == 1
    assert target.read_text() == "my notes"


def test_show_prints_every_key_with_its_sizes(capsys):
    code, out, _ = run_cli(capsys, "show", "cnf-2d")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "steps" in lines and "3000" in lines["steps"] and "12" in lines["steps"]
    import dataclasses

    from ctflow.experiments import get_experiment

    assert all(f.name in lines for f in dataclasses.fields(get_experiment("cnf-2d").config_cls))


def test_a_mistyped_set_key_suggests_the_nearest(capsys, tmp_path):
    code, _, err = run_cli(
        capsys, "run", "cnf-2d", "--smoke", "--set", "step=3", "--out", str(tmp_path / "r")
    )
    assert code == 2 and "did you mean 'steps'?" in err
