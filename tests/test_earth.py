"""The earth loader: the shared CSVs (skipped when absent), header/row errors, splits."""

import math
import os

import pytest
import torch

from ctflow.data import (
    EARTH_DATASETS,
    earth_root,
    earth_split,
    latlon_to_xyz,
    load_earth,
    read_latlon_csv,
    xyz_to_latlon,
)

EARTH = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "earth")
needs_data = pytest.mark.skipif(
    not all(os.path.isfile(os.path.join(EARTH, f)) for f in EARTH_DATASETS.values()),
    reason="../shared/data/earth is not present",
)
ROWS = {"volcano": 827, "earthquake": 6120, "flood": 4875, "fire": 12809}


@needs_data
@pytest.mark.parametrize("name", list(EARTH_DATASETS))
def test_shared_files_load_as_unit_vectors(name):
    x = load_earth(name, EARTH)
    assert x.shape == (ROWS[name], 3) and x.dtype == torch.float64
    torch.testing.assert_close(x.norm(dim=-1), torch.ones(len(x), dtype=torch.float64))


@needs_data
def test_first_rows_and_volcano_duplicates():
    # the first data row of each file, converted by hand
    first = {"volerup.csv": (-30.2, -178.47), "fire.csv": (-25.088, 152.358)}
    for fname, (lat, lon) in first.items():
        ll = read_latlon_csv(os.path.join(EARTH, fname))
        assert tuple(ll[0].tolist()) == (lat, lon)
    volcano = load_earth("volcano", EARTH)
    assert len(torch.unique(volcano, dim=0)) == 267  # as the data README says


def test_latlon_roundtrip_and_known_points():
    ll = torch.tensor([[0.0, 0.0], [90.0, 0.0], [0.0, 90.0], [-45.0, -120.0]], dtype=torch.float64)
    x = latlon_to_xyz(ll)
    s = math.sqrt(0.5)
    expected = torch.tensor(
        [[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0], [s * -0.5, s * -math.sqrt(0.75), -s]],
        dtype=torch.float64,
    )
    torch.testing.assert_close(x, expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(xyz_to_latlon(x)[[0, 2, 3]], ll[[0, 2, 3]])


def test_headers_comments_and_errors(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("# source\n# more\nlat, lon\n1.5,2\n\n-3,4.25\n")
    torch.testing.assert_close(
        read_latlon_csv(good), torch.tensor([[1.5, 2.0], [-3.0, 4.25]], dtype=torch.float64)
    )
    bad_row = tmp_path / "bad_row.csv"
    bad_row.write_text("# c\nLATITUDE,LONGITUDE\n1,2\n3,abc\n")
    with pytest.raises(ValueError, match=r"bad_row\.csv, line 4: expected two numbers"):
        read_latlon_csv(bad_row)
    three = tmp_path / "three.csv"
    three.write_text("Latitude,Longitude\n1,2,3\n")
    with pytest.raises(ValueError, match=r"three\.csv, line 2"):
        read_latlon_csv(three)
    out_of_range = tmp_path / "range.csv"
    out_of_range.write_text("lat,long\n91,0\n")
    with pytest.raises(ValueError, match=r"range\.csv, line 2: latitude must be in"):
        read_latlon_csv(out_of_range)
    header = tmp_path / "header.csv"
    header.write_text("# c\nx,y\n1,2\n")
    with pytest.raises(ValueError, match=r"header\.csv, line 2: expected a 'latitude,longitude'"):
        read_latlon_csv(header)
    empty = tmp_path / "empty.csv"
    empty.write_text("lat,lon\n")
    with pytest.raises(ValueError, match="no data rows"):
        read_latlon_csv(empty)


def test_missing_folder_and_unknown_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="earth data not found"):
        earth_root(tmp_path)
    with pytest.raises(ValueError, match="unknown earth dataset 'mars'"):
        load_earth("mars", tmp_path)


def test_env_variable_points_the_loader(tmp_path, monkeypatch):
    folder = tmp_path / "earth"
    folder.mkdir()
    for f in EARTH_DATASETS.values():
        (folder / f).write_text("lat,lon\n10,20\n")
    monkeypatch.setenv("CTFLOW_DATA", str(tmp_path))
    assert earth_root() == folder
    torch.testing.assert_close(
        load_earth("fire"), latlon_to_xyz(torch.tensor([[10.0, 20.0]]).double())
    )


def test_split_is_seeded_disjoint_and_80_10_10():
    x = torch.arange(1001).unsqueeze(-1)
    train, val, test = earth_split(x, seed=3)
    assert (len(train), len(val), len(test)) == (801, 100, 100)
    joined = torch.cat([train, val, test]).squeeze(-1)
    assert sorted(joined.tolist()) == list(range(1001))
    again = earth_split(x, seed=3)
    assert all(torch.equal(a, b) for a, b in zip((train, val, test), again))
    assert not torch.equal(earth_split(x, seed=4)[2], test)
    with pytest.raises(ValueError, match="summing to 1"):
        earth_split(x, seed=0, fractions=(0.5, 0.1, 0.1))
