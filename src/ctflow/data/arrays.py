"""Read a user's point cloud from a ``.npy`` or ``.csv`` file, refusing what cannot be used.

Every refusal is a ``ValueError`` that names the file and, where it helps, the line, row or
column, so that ``ctflow run ... --set data=PATH`` can print it as one line.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["POINT_FILE_SUFFIXES", "read_points"]

POINT_FILE_SUFFIXES = (".npy", ".csv", ".txt")


def read_points(path: str | os.PathLike, *, min_rows: int = 2) -> Tensor:
    """Points from a file, as a float64 tensor of shape ``(N, D)``.

    ``.npy`` files hold a numeric array of shape ``(N, D)``, or ``(N,)`` read as ``D = 1``;
    pickled objects are refused. ``.csv`` and ``.txt`` files hold one point per line, values
    separated by commas (or whitespace); a first line that is not numeric is taken as a header.

    Args:
        path: the file.
        min_rows: the fewest points accepted.

    Returns:
        ``(N, D)`` float64 points, ``N >= min_rows``, every value finite.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "points.csv").write_text("x,y\\n0,1\\n2,3\\n")
        >>> read_points(folder / "points.csv")
        tensor([[0., 1.],
                [2., 3.]], dtype=torch.float64)
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ValueError(f"{path}: {what}")
    suffix = path.suffix.lower()
    if suffix not in POINT_FILE_SUFFIXES:
        raise ValueError(
            f"{path}: unsupported file type {suffix or '(none)'!r}; use one of "
            f"{', '.join(POINT_FILE_SUFFIXES)}"
        )
    array = _read_npy(path) if suffix == ".npy" else _read_text(path)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{path}: expected an array of shape (N, D), got {array.shape}")
    if array.shape[1] == 0 or len(array) < min_rows:
        raise ValueError(
            f"{path}: need at least {min_rows} points of at least one value, got shape "
            f"{array.shape}"
        )
    bad = ~np.isfinite(array)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        where = f"line {_text_line(path, row)}" if suffix != ".npy" else f"row {row}"
        raise ValueError(
            f"{path}: {int(bad.sum())} value(s) are NaN or infinite, the first at {where}, "
            f"column {col}; remove or impute them"
        )
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))


def _read_npy(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"PK"):  # np.savez writes a zip archive
        raise ValueError(f"{path}: holds an archive of arrays, not one array")
    if magic != b"\x93NUMPY":
        raise ValueError(f"{path}: not a readable .npy array (no NumPy header)")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as err:  # numpy's message advises allow_pickle, which would run code
        if "pickle" in str(err):
            raise ValueError(f"{path}: holds pickled objects; save a numeric array") from None
        raise ValueError(f"{path}: not a readable .npy array ({err})") from None
    except (OSError, EOFError) as err:
        raise ValueError(f"{path}: not a readable .npy array ({err})") from None
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{path}: holds {array.dtype} values; save a numeric (int or float) array")
    return array.astype(np.float64, copy=False)


def _read_text(path: Path) -> np.ndarray:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (is it a binary array? name it .npy)") from None
    rows: list[list[float]] = []
    width = None
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        cells = [c.strip() for c in (line.split(",") if "," in line else line.split())]
        try:
            values = [float(c) for c in cells]
        except ValueError:
            if not rows and width is None:  # a header line
                width = len(cells)
                continue
            bad = next(c for c in cells if not _is_number(c))
            raise ValueError(f"{path}: line {number}: {bad!r} is not a number") from None
        if width is not None and len(values) != width:
            raise ValueError(
                f"{path}: line {number} has {len(values)} values, the lines before have {width}"
            )
        width = len(values)
        rows.append(values)
    if not rows:
        raise ValueError(f"{path}: holds no rows of numbers")
    return np.asarray(rows, dtype=np.float64)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _text_line(path: Path, row: int) -> int:
    """The 1-based line of data row ``row`` (headers, comments and blank lines skipped)."""
    seen = -1
    header_skipped = False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        cells = line.split(",") if "," in line else line.split()
        if not header_skipped and seen < 0 and not all(_is_number(c.strip()) for c in cells):
            header_skipped = True
            continue
        seen += 1
        if seen == row:
            return number
    return row + 1
