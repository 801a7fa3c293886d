"""Earth event data (volcano, earthquake, flood, fire) as points on the sphere S^2.

Each CSV starts with ``#`` comment lines, then one ``latitude,longitude`` header (spelled
differently per file), then rows in degrees. The files are not shipped with ctflow: point the
loader at a folder holding them (``root``), or set ``CTFLOW_DATA`` to a folder with ``earth/``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import Tensor

from .._validate import check_finite, finite_check_applies

__all__ = [
    "EARTH_DATASETS",
    "earth_root",
    "earth_split",
    "latlon_grid",
    "latlon_to_xyz",
    "load_earth",
    "read_latlon_csv",
    "xyz_to_latlon",
]

EARTH_DATASETS = {
    "volcano": "volerup.csv",
    "earthquake": "quakes_all.csv",
    "flood": "flood.csv",
    "fire": "fire.csv",
}
_LAT = ("lat", "latitude")
_LON = ("lon", "long", "longitude")


def earth_root(root: str | os.PathLike | None = None) -> Path:
    """The folder holding the earth CSVs.

    Tries, in order: ``root``; ``$CTFLOW_DATA/earth``; ``../shared/data/earth`` relative to the
    working directory and to the source checkout.

    Raises:
        FileNotFoundError: naming every place looked at, when none holds the files.
    """
    candidates = []
    if root is not None:
        candidates.append(Path(root))
    else:
        if os.environ.get("CTFLOW_DATA"):
            candidates.append(Path(os.environ["CTFLOW_DATA"]) / "earth")
        candidates.append(Path.cwd() / ".." / "shared" / "data" / "earth")
        candidates.append(Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "earth")
    for c in candidates:
        if c.is_dir() and all((c / f).is_file() for f in EARTH_DATASETS.values()):
            return c
    names = ", ".join(EARTH_DATASETS.values())
    looked = "; ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"earth data not found (need {names}); looked in: {looked}. Pass root=<folder> or set "
        "CTFLOW_DATA to a folder containing earth/."
    )


def read_latlon_csv(path: str | os.PathLike) -> Tensor:
    """Read one CSV of ``latitude,longitude`` rows in degrees.

    Args:
        path: the file.

    Returns:
        ``(N, 2)`` float64 tensor of (latitude, longitude) in degrees.

    Raises:
        ValueError: naming the file and line of a missing or unknown header, or of a row that is
            not two numbers with ``|lat| <= 90`` and ``|lon| <= 360``.
    """
    path = Path(path)
    rows: list[tuple[float, float]] = []
    header_seen = False
    with path.open() as f:
        for lineno, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            fields = [p.strip() for p in line.split(",")]
            if not header_seen:
                names = [p.lower() for p in fields]
                if len(names) != 2 or names[0] not in _LAT or names[1] not in _LON:
                    raise ValueError(
                        f"{path}, line {lineno}: expected a 'latitude,longitude' header, "
                        f"got {line!r}"
                    )
                header_seen = True
                continue
            try:
                if len(fields) != 2:
                    raise ValueError
                lat, lon = float(fields[0]), float(fields[1])
            except ValueError:
                raise ValueError(
                    f"{path}, line {lineno}: expected two numbers 'lat,lon', got {line!r}"
                ) from None
            if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 360:
                raise ValueError(
                    f"{path}, line {lineno}: latitude must be in [-90, 90] and longitude in "
                    f"[-360, 360], got {line!r}"
                )
            rows.append((lat, lon))
    if not header_seen:
        raise ValueError(f"{path}: no 'latitude,longitude' header found")
    if not rows:
        raise ValueError(f"{path}: no data rows after the header")
    return torch.tensor(rows, dtype=torch.float64)


def latlon_to_xyz(latlon: Tensor) -> Tensor:
    """Degrees ``(lat, lon)`` -> unit vectors ``(cos lat cos lon, cos lat sin lon, sin lat)``.

    Args:
        latlon: ``(*batch, 2)`` degrees, latitude in ``[-90, 90]``, longitude finite.

    Returns:
        ``(*batch, 3)`` unit vectors.

    Examples:
        >>> latlon_to_xyz(torch.tensor([[0.0, 0.0]]))
        tensor([[1., 0., 0.]])
    """
    _check_points(latlon, 2, "latlon")
    if finite_check_applies(latlon) and bool((latlon[..., 0].abs() > 90).any()):
        worst = float(latlon[..., 0].abs().max())
        raise ValueError(f"latlon: latitudes must lie in [-90, 90] degrees, got |lat| = {worst}")
    lat, lon = torch.deg2rad(latlon[..., 0]), torch.deg2rad(latlon[..., 1])
    return torch.stack(
        [torch.cos(lat) * torch.cos(lon), torch.cos(lat) * torch.sin(lon), torch.sin(lat)], -1
    )


def xyz_to_latlon(x: Tensor) -> Tensor:
    """Non-zero points of ``R^3`` (unit vectors, typically) -> degrees ``(lat, lon)``.

    Longitude is in ``(-180, 180]``. A point off the sphere gives the latitude and longitude of
    its direction.

    Args:
        x: ``(*batch, 3)``, non-zero.

    Returns:
        ``(*batch, 2)`` degrees.

    Examples:
        >>> xyz_to_latlon(torch.tensor([[0.0, 0.0, 2.0]]))
        tensor([[90.,  0.]])
    """
    _check_points(x, 3, "x")
    horizontal = torch.hypot(x[..., 0], x[..., 1])
    if finite_check_applies(x) and bool(((horizontal == 0) & (x[..., 2] == 0)).any()):
        raise ValueError("x: the zero vector has no latitude or longitude")
    lat = torch.atan2(x[..., 2], horizontal)
    lon = torch.atan2(x[..., 1], x[..., 0])
    return torch.rad2deg(torch.stack([lat, lon], -1))


def _check_points(x: object, size: int, name: str) -> None:
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor of shape (..., {size})")
    if x.dim() == 0 or x.shape[-1] != size:
        raise ValueError(f"{name} must have shape (..., {size}), got {tuple(x.shape)}")
    check_finite(x, name)


def load_earth(name: str, root: str | os.PathLike | None = None) -> Tensor:
    """Load one earth dataset as points on S^2.

    Args:
        name: ``"volcano"``, ``"earthquake"``, ``"flood"`` or ``"fire"``.
        root: folder holding the CSVs (see :func:`earth_root` for the default search).

    Returns:
        ``(N, 3)`` float64 unit vectors.

    Examples:
        Two events at (0, 0) and (0, 90) degrees, written into each of the four files:

        >>> import tempfile
        >>> from pathlib import Path
        >>> import torch
        >>> from ctflow.data import EARTH_DATASETS, load_earth
        >>> root = Path(tempfile.mkdtemp())
        >>> for file in EARTH_DATASETS.values():
        ...     _ = (root / file).write_text("# demo\\nlatitude,longitude\\n0,0\\n0,90\\n")
        >>> x = load_earth("volcano", root=root)
        >>> x.shape
        torch.Size([2, 3])
        >>> torch.allclose(x, torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=x.dtype))
        True
    """
    if name not in EARTH_DATASETS:
        raise ValueError(
            f"unknown earth dataset {name!r}; choose one of: {', '.join(EARTH_DATASETS)}"
        )
    return latlon_to_xyz(read_latlon_csv(earth_root(root) / EARTH_DATASETS[name]))


def earth_split(
    points: Tensor, seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> tuple[Tensor, Tensor, Tensor]:
    """A seeded random train/validation/test split (80/10/10 by default).

    Args:
        points: ``(N, ...)`` data.
        seed: the permutation's seed (one split per seed).
        fractions: train, validation and test fractions, summing to 1.

    Returns:
        ``(train, val, test)``; validation and test get ``round(f * N)`` rows, train the rest.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(
            f"fractions must be three nonnegative numbers summing to 1, got {fractions}"
        )
    n = len(points)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val, n_test = round(fractions[1] * n), round(fractions[2] * n)
    n_train = n - n_val - n_test
    idx = perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]
    return tuple(points[i] for i in idx)  # type: ignore[return-value]


def latlon_grid(n_lat: int, n_lon: int, dtype=torch.float32) -> tuple[Tensor, Tensor, Tensor]:
    """Cell centres of an equirectangular lat/lon grid: the lat ``(n_lat,)`` and lon ``(n_lon,)``
    axes in degrees, and the centres as unit vectors ``(n_lat * n_lon, 3)``, latitude-major (so
    values on them reshape to ``(n_lat, n_lon)``)."""
    lat = (torch.arange(n_lat, dtype=dtype) + 0.5) / n_lat * 180 - 90
    lon = (torch.arange(n_lon, dtype=dtype) + 0.5) / n_lon * 360 - 180
    la, lo = torch.meshgrid(torch.deg2rad(lat), torch.deg2rad(lon), indexing="ij")
    x = torch.stack([la.cos() * lo.cos(), la.cos() * lo.sin(), la.sin()], -1).reshape(-1, 3)
    return lat, lon, x
