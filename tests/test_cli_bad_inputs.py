"""One table of bad inputs for every `ctflow` command: exit 2, one `ctflow: error:` line, no
traceback, and nothing on disk written or removed.

Each row runs the command in-process, so any exception the CLI does not turn into a message
fails the test with its traceback. A fresh smoke run (`good`) and a few damaged files are made
once per test module.
"""

import shutil

import pytest

from ctflow.cli import main
from ctflow.runs import run_experiment

# (arguments, a phrase of the message); names in braces are paths made by the fixture
TABLE = [
    (["list", "extra"], "unrecognized arguments"),
    (["run", "nope", "--smoke"], "unknown experiment 'nope'"),
    (["run", "cnf-2d", "--smoke", "--set", "steps=0"], "steps must be >= 1"),
    (["run", "cnf-2d", "--smoke", "--set", "lr=nan"], "lr must be > 0"),
    (["run", "cnf-2d", "--smoke", "--set", "grid_limit=inf"], "grid_limit must be finite"),
    (["run", "cnf-2d", "--smoke", "--checkpoint-every", "-3"], "checkpoint interval"),
    (["run", "cnf-2d", "--smoke", "--out", "{file}"], "is a file"),
    (["run", "cnf-2d", "--smoke", "--out", "{good}"], "is not empty"),
    (["run", "--resume", "{empty}"], "has no run.json"),
    (["run", "--resume", "{file}"], "has no run.json"),
    (["run", "--resume", "{bad_json}"], "run.json is damaged"),
    (["run", "--resume", "{bad_ckpt}"], "not a readable ctflow checkpoint"),
    (["run", "--resume", "{good}", "--checkpoint-every", "-1"], "checkpoint interval"),
    (["--threads", "0", "run", "cnf-2d", "--smoke"], "--threads must be >= 1"),
    (["sample", "{missing}"], "no run directory"),
    (["sample", "{empty}"], "no checkpoint"),
    (["sample", "{good}", "-n", "0"], "-n must be an integer from 1"),
    (["sample", "{good}", "-n", "100000000000"], "-n must be an integer from 1"),
    (["sample", "{good}", "--model", "nope"], "no model 'nope'"),
    (["sample", "{good}", "--out", "{file}"], "is a file"),
    (["sample", "{bad_ckpt}"], "not a readable ctflow checkpoint"),
    (["reproduce", "nope", "--smoke"], "unknown experiment 'nope'"),
    (["reproduce", "cnf-2d", "--smoke", "--seeds", "-1"], "seeds must be distinct"),
    (["reproduce", "cnf-2d", "--smoke", "--out", "{file}", "--seeds", "0"], "is a file"),
    (["compress", "{missing}", "{new}"], "no input file"),
    (["compress", "{file}", "{new}"], "not a readable .npy"),
    (["compress", "{file}", "{empty}"], "is a directory"),
    (["decompress", "{file}", "{new}"], "shorter than any stream"),
    (["decompress", "{missing}", "{new}"], "no input file"),
]


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    good, _ = run_experiment(
        "cnf-2d",
        size="smoke",
        out=root / "good",
        progress=False,
        overrides={"steps": "2", "datasets": "8gaussians"},
    )
    (root / "empty").mkdir()
    (root / "file.txt").write_text("my notes\n")
    for name in ("bad_json", "bad_ckpt"):
        shutil.copytree(good, root / name)
    (root / "bad_json" / "run.json").write_text('{"experiment": "cnf-2')
    (root / "bad_ckpt" / "checkpoint.pt").write_bytes(b"PK\x03\x04 torn")
    return {
        "root": root,
        "good": good,
        "empty": root / "empty",
        "file": root / "file.txt",
        "missing": root / "missing",
        "bad_json": root / "bad_json",
        "bad_ckpt": root / "bad_ckpt",
        "new": root / "new.out",
    }


def _snapshot(root):
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("argv,message", TABLE, ids=[" ".join(a) for a, _ in TABLE])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    argv, message, paths, capsys, monkeypatch
):
    monkeypatch.chdir(paths["root"])  # default outputs (runs/...) land where they are watched
    before = _snapshot(paths["root"])
    args = [a.format(**{k: str(v) for k, v in paths.items()}) for a in argv]
    try:
        code = main([*args, "--no-progress"] if argv[0] in ("run", "reproduce") else args)
    except SystemExit as exit_:  # argparse's own errors: usage line + error line
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert message in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(("ctflow: error: ", "ctflow list: error: ")), err
    if not err.startswith("usage:"):
        assert err.count("\n") == 1, err
    assert _snapshot(paths["root"]) == before  # nothing written, changed or removed
    assert not (paths["root"] / "runs").exists()
