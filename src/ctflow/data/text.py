"""Character-level text: a file read as indices into its sorted character set."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["load_text", "text_path"]

SHARED_TEXT = Path("shared") / "data" / "text" / "tinyshakespeare.txt"


def text_path() -> Path:
    """The shared ``tinyshakespeare.txt``: ``$CTFLOW_DATA/text/``, or ``../shared/data/text/``
    relative to the source checkout or to the working directory.

    Raises:
        FileNotFoundError: naming every place looked at.
    """
    candidates = []
    if os.environ.get("CTFLOW_DATA"):
        candidates.append(Path(os.environ["CTFLOW_DATA"]) / "text" / SHARED_TEXT.name)
    candidates.append(Path(__file__).resolve().parents[4] / SHARED_TEXT)
    candidates.append(Path.cwd().parent / SHARED_TEXT)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = "; ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"{SHARED_TEXT.name} not found; looked in: {looked}")


def load_text(
    path: str | os.PathLike | None = None, train_fraction: float = 0.9
) -> tuple[Tensor, Tensor, list[str]]:
    """``(train, test, vocabulary)`` of a UTF-8 text file (default: :func:`text_path`).

    ``train`` and ``test`` are long tensors of character indices, the first ``train_fraction`` of
    the file and the rest; the vocabulary is every character of the whole file, sorted, so an
    index means the same character in both splits.
    """
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction}")
    return _load_text(str(path or text_path()), train_fraction)


@functools.lru_cache(maxsize=2)
def _load_text(path: str, train_fraction: float) -> tuple[Tensor, Tensor, list[str]]:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no text file at {file}")
    text = file.read_text(encoding="utf-8")
    if len(text) < 2:
        raise ValueError(f"{file}: needs at least two characters to split, has {len(text)}")
    vocab = sorted(set(text))
    points = torch.tensor([ord(ch) for ch in vocab])
    lut = torch.zeros(int(points.max()) + 1, dtype=torch.long)
    lut[points] = torch.arange(len(vocab))
    raw = torch.frombuffer(bytearray(text.encode("utf-32-le")), dtype=torch.int32).long()
    codes = lut[raw]
    cut = int(train_fraction * len(codes))
    return codes[:cut], codes[cut:], vocab
