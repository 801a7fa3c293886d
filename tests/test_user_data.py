"""A user's own points: the reader refuses bad files clearly, and the density experiments train
on any file, and on built-in datasets without a closed-form density, without crashing."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ctflow.cli import main
from ctflow.data import read_points
from ctflow.runs import run_experiment

DENSITY_EXPERIMENTS = ("flow-matching-2d", "cnf-2d", "cpflow-2d")


def _cloud(n: int = 200, dim: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # a curved, correlated cloud, in units far from the toys' [-4, 4]
    z = rng.normal(size=(n, dim))
    z[:, 1] += 0.5 * z[:, 0] ** 2
    return 100.0 + 30.0 * z


def test_reader_takes_npy_csv_with_a_header_and_whitespace_text(tmp_path):
    points = _cloud(20, 2)
    np.save(tmp_path / "a.npy", points)
    np.savetxt(tmp_path / "b.csv", points, delimiter=",", header="x,y", comments="")
    np.savetxt(tmp_path / "c.txt", points)
    np.save(tmp_path / "d.npy", points[:, 0])  # 1-D: one coordinate per point
    for name in ("a.npy", "b.csv", "c.txt"):
        torch.testing.assert_close(read_points(tmp_path / name), torch.from_numpy(points))
    assert read_points(tmp_path / "d.npy").shape == (20, 1)


def _bad_files(folder):
    np.save(folder / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(folder / "cube.npy", np.zeros((4, 3, 2)))
    np.save(folder / "strings.npy", np.array(["1", "2"]))
    np.savez(folder / "archive.npz", a=np.zeros((3, 2)))
    (folder / "archive.npz").rename(folder / "archive.npy")
    (folder / "garbage.npy").write_bytes(b"not an array at all")
    (folder / "words.csv").write_text("x,y\n1,2\n3,abc\n")
    (folder / "ragged.csv").write_text("1,2\n3,4,5\n")
    (folder / "nan.csv").write_text("x,y\n1,2\n\n3,nan\n")
    (folder / "one_row.csv").write_text("1,2\n")
    (folder / "empty.csv").write_text("x,y\n")
    (folder / "binary.csv").write_bytes(bytes(range(256)))
    (folder / "points.json").write_text("[[1, 2]]")
    (folder / "a_folder.csv").mkdir()
    np.save(folder / "inf.npy", np.array([[1.0, 2.0], [np.inf, 0.0]]))
    return {
        "missing.csv": "does not exist",
        "a_folder.csv": "is a folder",
        "points.json": "unsupported file type '.json'",
        "objects.npy": "pickled objects",
        "cube.npy": r"shape \(N, D\), got \(4, 3, 2\)",
        "strings.npy": "numeric",
        "archive.npy": "archive",
        "garbage.npy": "not a readable .npy",
        "words.csv": r"line 3: 'abc' is not a number",
        "ragged.csv": "line 2 has 3 values, the lines before have 2",
        "nan.csv": "NaN or infinite, the first at line 4, column 1",
        "one_row.csv": "at least 2 points",
        "empty.csv": "no rows",
        "binary.csv": "not a text file",
        "inf.npy": "the first at row 1, column 0",
    }


def test_reader_refuses_bad_files_naming_the_file_and_the_problem(tmp_path):
    for name, message in _bad_files(tmp_path).items():
        with pytest.raises(ValueError, match=message) as caught:
            read_points(tmp_path / name)
        assert name in str(caught.value), name


@pytest.mark.parametrize("name", DENSITY_EXPERIMENTS)
def test_density_experiments_train_on_a_user_file_of_any_dimension(name, tmp_path):
    np.save(tmp_path / "cloud.npy", _cloud())
    run_dir, results = run_experiment(
        name,
        size="smoke",
        out=tmp_path / "run",
        overrides={"data": str(tmp_path / "cloud.npy")},
        progress=False,
    )
    payload = json.loads((run_dir / "results.json").read_text())
    nlls = {k: v for k, v in payload["metrics"].items() if k.endswith("/test_nll")}
    assert nlls and all("file-cloud" in k and math.isfinite(v) for k, v in nlls.items())
    # no entropy is known for a user's points, so no gap to it is reported
    assert not any(k.endswith(("/entropy", "/nll_gap")) for k in payload["metrics"])
    assert payload["figures"]


@pytest.mark.parametrize("name", DENSITY_EXPERIMENTS)
def test_density_experiments_take_one_dimensional_points(name, tmp_path):
    # (N,) in a .npy: the figures plot the one coordinate against zero (they used to crash
    # after training, losing the run's results)
    np.save(tmp_path / "line.npy", np.random.default_rng(0).normal(size=200))
    run_dir, results = run_experiment(
        name,
        size="smoke",
        out=tmp_path / "run",
        overrides={"data": str(tmp_path / "line.npy")},
        progress=False,
    )
    assert (run_dir / "results.json").exists() and results.figures
    assert any(k.endswith("file-line/test_nll") for k in results.metrics)


@pytest.mark.parametrize("name", (*DENSITY_EXPERIMENTS, "voronoi-mixture"))
def test_density_experiments_report_datasets_without_a_closed_form(name, tmp_path):
    # moons has no closed-form density: these runs used to crash after training
    _, results = run_experiment(
        name,
        size="smoke",
        out=tmp_path / "run",
        overrides={"datasets": "moons"},
        progress=False,
    )
    keys = results.metrics
    assert any(k.endswith("moons/test_nll") for k in keys)
    assert not any(k.endswith(("/entropy", "/nll_gap")) for k in keys)


def test_nll_is_reported_in_the_file_units(tmp_path):
    # the same points in units 10x larger: training sees identical standardised data, and the
    # NLL must move by exactly D log 10 (a density in 10x units is 10^-D as high)
    # (one file name for both: the run's random streams are named by the dataset, which a file
    # takes from its name)
    points = _cloud(120, 3)
    for unit, scale in (("small", 1), ("large", 10)):
        (tmp_path / unit).mkdir()
        np.save(tmp_path / unit / "points.npy", scale * points)
    nll = {}
    for unit in ("small", "large"):
        _, results = run_experiment(
            "cnf-2d",
            size="smoke",
            out=tmp_path / f"run-{unit}",
            overrides={"data": str(tmp_path / unit / "points.npy"), "steps": "3"},
            progress=False,
        )
        nll[unit] = results.metrics["cnf/file-points/test_nll"]
    assert nll["large"] - nll["small"] == pytest.approx(3 * math.log(10), abs=1e-4)


def test_cli_refuses_a_bad_data_file_before_training(tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("1,2\n3,x\n")
    code = main(
        [
            "run",
            "cnf-2d",
            "--smoke",
            "--out",
            str(tmp_path / "run"),
            "--set",
            "data=" + str(tmp_path / "bad.csv"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("ctflow: error:") and "bad.csv: line 2" in err[0]
    assert not (tmp_path / "run").exists()


def test_reader_reads_the_shared_earth_catalogues_as_they_are():
    # real files nobody here wrote: comment lines, a header with spaces ("lat, lon")
    from ctflow.data import earth_root

    try:
        root = earth_root()
    except (FileNotFoundError, ValueError):
        pytest.skip("the shared earth data are not on this machine")
    for path in sorted(root.glob("*.csv")):
        points = read_points(path)
        assert points.shape[1] == 2 and len(points) > 500, path
        assert float(points[:, 0].abs().max()) <= 90, path  # latitudes
