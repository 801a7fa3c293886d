"""Running a registered experiment into a run directory, and loading what it trained.

A run directory holds ``results.json``, ``series.jsonl``, ``figures/*.png``, ``checkpoint.pt``
and ``report.md``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import sys
import time
import typing
from pathlib import Path
from typing import Any

from torch import nn

from .checkpoint import load_checkpoint, save_checkpoint
from .experiments import get_experiment, make_config
from .experiments.base import Results, RunContext
from .experiments.config import config_to_dict
from .plotting import save_figure
from .seeding import seed_everything
from .train import SeriesLogger

__all__ = ["run_experiment", "load", "config_from_dict", "write_results"]


def run_experiment(
    name: str,
    *,
    size: str = "full",
    seed: int = 0,
    device: str = "cpu",
    out: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
    progress: bool = True,
) -> tuple[Path, Results]:
    """Run experiment ``name`` for one seed and write its run directory.

    Args:
        name: a registered experiment (``ctflow list``).
        size: ``"smoke"``, ``"quick"`` or ``"full"``.
        seed, device: recorded in the config.
        out: the run directory (default ``runs/<name>-<size>-seed<seed>``). It must be empty or new.
        overrides: config fields to replace; strings are parsed by the field's type.
        progress: show progress bars.

    Returns:
        The run directory and the experiment's :class:`Results`.
    """
    experiment = get_experiment(name)
    config = make_config(name, size, {**(overrides or {}), "seed": seed, "device": device})
    run_dir = Path(out) if out is not None else Path("runs") / f"{name}-{size}-seed{seed}"
    if run_dir.exists() and any(run_dir.iterdir()):
        raise FileExistsError(
            f"run directory {run_dir} is not empty; pass another --out or remove it"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(seed)
    ctx = RunContext(
        logger=SeriesLogger(run_dir / "series.jsonl"), progress=progress, out_dir=run_dir
    )
    start = time.perf_counter()
    results = experiment.run(config, ctx)
    seconds = time.perf_counter() - start
    write_results(run_dir, name, size, config, results, seconds)
    return run_dir, results


def write_results(
    run_dir: Path, name: str, size: str, config: Any, results: Results, seconds: float
) -> None:
    """Write ``results.json``, figures, the checkpoint and ``report.md`` into ``run_dir``."""
    (run_dir / "series.jsonl").touch()
    figures = {
        stem: save_figure(fig, run_dir / "figures" / f"{stem}.png")
        for stem, fig in results.figures.items()
    }
    payload = {
        "experiment": name,
        "seed": config.seed,
        "size": size,
        "config": config_to_dict(config),
        "metrics": results.metrics,
        "seconds": seconds,
        "figures": [str(p.relative_to(run_dir)) for p in figures.values()],
        "command": " ".join(shlex.quote(a) for a in ["ctflow", *sys.argv[1:]])
        if Path(sys.argv[0]).name == "ctflow"
        else None,
    }
    (run_dir / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    if results.models:
        save_checkpoint(
            run_dir / "checkpoint.pt",
            experiment=name,
            config=config_to_dict(config),
            models=results.models,
        )
    lines = [f"# {name} ({size}, seed {config.seed})", ""]
    if payload["command"]:
        lines += ["```", payload["command"], "```", ""]
    lines += ["| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.6g} |" for k, v in results.metrics.items()]
    lines += ["", f"Wall time: {seconds:.1f} s.", ""]
    lines += [f"- {note}" for note in results.notes]
    lines += [""] + [f"![{stem}]({p.relative_to(run_dir)})" for stem, p in figures.items()]
    (run_dir / "report.md").write_text("\n".join(lines) + "\n")


def config_from_dict(config_cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a config dataclass from its JSON form (lists back to tuples)."""
    hints = typing.get_type_hints(config_cls)
    names = {f.name for f in dataclasses.fields(config_cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise ValueError(
                f"{config_cls.__name__} has no field {key!r} (saved by another version?)"
            )
        if isinstance(value, list) and typing.get_origin(hints[key]) is tuple:
            value = tuple(value)
        kwargs[key] = value
    return config_cls(**kwargs)


def load(run_dir: str | os.PathLike, map_location: str = "cpu") -> dict[str, nn.Module]:
    """The trained models of a run directory, rebuilt by the experiment's ``build_models``.

    Example:
        >>> models = ctflow.load("runs/cnf-2d-quick")
        >>> x = models["checkerboard"]().sample((1000,))
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"no run directory at {run_dir}")
    ckpt = load_checkpoint(run_dir / "checkpoint.pt", map_location=map_location)
    experiment = get_experiment(ckpt["experiment"])
    config = config_from_dict(experiment.config_cls, ckpt["config"])
    models = experiment.build_models(config)
    missing = set(ckpt["models"]) ^ set(models)
    if missing:
        raise ValueError(f"checkpoint and experiment disagree on the models: {sorted(missing)}")
    for key, model in models.items():
        model.load_state_dict(ckpt["models"][key])
        model.eval()
    return models
