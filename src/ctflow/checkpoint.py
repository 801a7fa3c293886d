"""Checkpoints: written atomically, loaded with ``weights_only=True``.

Format (``format_version`` 1)::

    {format_version, experiment, config, models: {name: state_dict},
     optimizers: {name: state_dict}, step, rng}
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .seeding import rng_state

__all__ = ["FORMAT_VERSION", "save_checkpoint", "load_checkpoint", "Checkpointer"]

FORMAT_VERSION = 1


def save_checkpoint(
    path: str | os.PathLike,
    *,
    experiment: str,
    config: dict[str, Any],
    models: dict[str, nn.Module],
    optimizers: dict[str, Any] | None = None,
    step: int = 0,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint to ``path`` atomically (a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format_version": FORMAT_VERSION,
        "experiment": experiment,
        "config": config,
        "models": {name: m.state_dict() for name, m in models.items()},
        "optimizers": {name: o.state_dict() for name, o in (optimizers or {}).items()},
        "step": int(step),
        "rng": rng_state(),
    }
    if extra:
        payload["extra"] = extra
    # temporary files of a process killed mid-write are left behind: remove them first
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())  # the bytes are on disk before the rename makes them current
        os.replace(tmp, path)
        _fsync_dir(path.parent)  # and the rename itself survives a power cut
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms that cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors and plain types only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a damaged file
        # torch's own message advises weights_only=False, i.e. running pickled code: not shown
        reason = "the file is empty" if path.stat().st_size == 0 else type(err).__name__
        raise ValueError(
            f"{path} is not a readable ctflow checkpoint ({reason}); it may be truncated or "
            "damaged: restore a copy, or move it away to start the run over"
        ) from None
    version = payload.get("format_version") if isinstance(payload, dict) else None
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{path} has checkpoint format {version!r}; this ctflow reads {FORMAT_VERSION}"
        )
    return payload


class Checkpointer:
    """Saves training progress, phase by phase, so an interrupted run resumes exactly.

    A phase is one :func:`ctflow.train.fit` call, named by its tag. The checkpoint holds every
    tracked model, the running phase's optimiser, and per phase its step, scheduler, data
    generators, EMA weights, losses and RNG states (under ``extra["phases"]``).

    Args:
        path: the checkpoint file.
        experiment: the experiment's registered name.
        config: the run's config as a dict.
        every: save every this many steps (0: only at the end of each phase).
        resume: a payload from :func:`load_checkpoint` to continue from.
        write: whether this process writes (rank 0 only, under DDP).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        experiment: str,
        config: dict[str, Any],
        every: int = 200,
        resume: dict | None = None,
        write: bool = True,
    ):
        if every < 0:
            raise ValueError(f"checkpoint interval must be >= 0 steps, got {every}")
        self.path = Path(path)
        self.experiment, self.config, self.every, self.write = experiment, config, every, write
        self.models: dict[str, nn.Module] = {}
        self._resume = resume
        self.phases: dict[str, dict] = (
            dict(resume.get("extra", {}).get("phases", {})) if resume else {}
        )

    def track(self, models: dict[str, nn.Module]) -> None:
        """Register the run's models; when resuming, load their saved weights into them."""
        self.models.update(models)
        if self._resume is None:
            return
        saved = self._resume["models"]
        for name, module in models.items():
            if name in saved:
                module.load_state_dict(saved[name])

    def phase(self, tag: str) -> dict | None:
        """The saved progress of phase ``tag``, or None."""
        return self.phases.get(tag)

    def optimizer_state(self, tag: str) -> dict | None:
        if self._resume is None:
            return None
        return self._resume.get("optimizers", {}).get(tag)

    def save(
        self,
        tag: str,
        *,
        step: int,
        done: bool,
        optimizer: Any = None,
        record: dict[str, Any] | None = None,
    ) -> None:
        """Record phase ``tag`` at ``step`` and write the checkpoint (when this process writes)."""
        self.phases[tag] = {
            "step": int(step),
            "done": bool(done),
            "rng": rng_state(),
            **(record or {}),
        }
        if not self.write:
            return
        optimizers = {tag: optimizer} if (optimizer is not None and not done) else {}
        save_checkpoint(
            self.path,
            experiment=self.experiment,
            config=self.config,
            models=self.models,
            optimizers=optimizers,
            step=step,
            extra={"phases": self.phases},
        )
