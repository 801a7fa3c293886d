"""Running a registered experiment into a run directory, and loading what it trained.

A run directory holds ``run.json`` (written first: what to resume), ``results.json``,
``series.jsonl``, ``figures/*.png``, ``checkpoint.pt`` and ``report.md``.
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

from .checkpoint import Checkpointer, load_checkpoint, save_checkpoint
from .device import select_device
from .distributed import barrier, init_distributed, is_main_process, world_size
from .experiments import get_experiment, make_config
from .harness.base import Results, RunContext
from .harness.config import config_to_dict
from .plotting import save_figure
from .seeding import rng_state, seed_everything, set_rng_state
from .train import SeriesLogger

__all__ = ["run_experiment", "resume_experiment", "load", "config_from_dict", "write_results"]

MAX_SAMPLES = 10_000_000  # per model: more would not fit in memory on a laptop


def run_experiment(
    name: str,
    *,
    size: str = "full",
    seed: int = 0,
    device: str = "cpu",
    out: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
    progress: bool = True,
    checkpoint_every: int = 200,
) -> tuple[Path, Results]:
    """Run experiment ``name`` for one seed and write its run directory.

    Under ``torchrun`` every rank trains (DDP) and only rank 0 writes.

    Args:
        name: a registered experiment (``ctflow list``).
        size: ``"smoke"``, ``"quick"`` or ``"full"``.
        seed, device: recorded in the config.
        out: the run directory (default ``runs/<name>-<size>-seed<seed>``). It must be empty or new.
        overrides: config fields to replace; strings are parsed by the field's type.
        progress: show progress bars.
        checkpoint_every: save training progress every this many steps (0: at phase ends only).

    Returns:
        The run directory and the experiment's :class:`Results`.
    """
    _check_interval(checkpoint_every)
    clash = sorted({"seed", "device"} & set(overrides or {}))
    if clash:  # they have their own arguments, which would silently win
        raise ValueError(
            f"set {' and '.join(clash)} with --{' and --'.join(clash)} (in Python: "
            f"{', '.join(f'{k}=' for k in clash)}), not with --set"
        )
    config = make_config(name, size, {**(overrides or {}), "seed": seed, "device": device})
    run_dir = Path(out) if out is not None else Path("runs") / f"{name}-{size}-seed{seed}"
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--out {run_dir} is a file; a run needs a directory")
    init_distributed(select_device(config.device))  # a bad device fails before any file is written
    if run_dir.exists() and any(p.name != ".run.json.tmp" for p in run_dir.iterdir()):
        raise FileExistsError(
            f"run directory {run_dir} is not empty; pass another --out, remove it, "
            f"or continue it with --resume {run_dir}"
        )
    barrier()
    if is_main_process():
        run_dir.mkdir(parents=True, exist_ok=True)
        info = {"experiment": name, "size": size, "seed": seed, "config": config_to_dict(config)}
        # atomically: a run killed while writing it is either not started or resumable
        tmp = run_dir / ".run.json.tmp"
        tmp.write_text(json.dumps(info, indent=2) + "\n")
        os.replace(tmp, run_dir / "run.json")
    return _execute(run_dir, name, size, config, None, progress, checkpoint_every)


def resume_experiment(
    run_dir: str | os.PathLike, *, progress: bool = True, checkpoint_every: int = 200
) -> tuple[Path, Results]:
    """Continue an interrupted run from its checkpoint; the result equals an uninterrupted run."""
    _check_interval(checkpoint_every)
    run_dir = Path(run_dir)
    info_path = run_dir / "run.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"{run_dir} has no run.json: is it a ctflow run directory?")
    try:
        info = json.loads(info_path.read_text())
        name, size, config_dict = info["experiment"], info["size"], info["config"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise ValueError(
            f"{info_path} is damaged ({type(err).__name__}: {err}); it records what to resume"
        ) from None
    experiment = get_experiment(name)
    config = config_from_dict(experiment.config_cls, config_dict)
    init_distributed(select_device(config.device))
    ckpt_path = run_dir / "checkpoint.pt"
    payload = load_checkpoint(ckpt_path) if ckpt_path.is_file() else None
    if payload is not None:
        _check_belongs(ckpt_path, payload, name, config_to_dict(config))
    if is_main_process():
        phases = payload.get("extra", {}).get("phases", {}) if payload is not None else {}
        # no checkpoint: the run starts over, so its log does too
        _truncate_series(run_dir / "series.jsonl", phases)
    barrier()
    return _execute(run_dir, name, size, config, payload, progress, checkpoint_every)


def _check_interval(checkpoint_every: int) -> None:
    """The Checkpointer checks it too, but only after run.json and the log are written."""
    if not isinstance(checkpoint_every, int) or checkpoint_every < 0:
        raise ValueError(f"checkpoint interval must be >= 0 steps, got {checkpoint_every}")


def _check_belongs(path: Path, payload: dict, name: str, config: dict) -> None:
    """Refuse a checkpoint of another experiment or config before anything is overwritten."""
    if payload.get("experiment") != name:
        raise ValueError(
            f"{path} was written by experiment {payload.get('experiment')!r}, not by this run's "
            f"{name!r}; it does not belong to this run directory"
        )
    saved = payload.get("config") or {}
    differ = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
    if differ:
        raise ValueError(
            f"{path} was written with another config of {name} (fields {', '.join(differ)} "
            "differ from run.json); it does not belong to this run directory"
        )


def _execute(
    run_dir: Path,
    name: str,
    size: str,
    config: Any,
    resume: dict | None,
    progress: bool,
    checkpoint_every: int,
) -> tuple[Path, Results]:
    main = is_main_process()
    seed_everything(config.seed)
    checkpointer = Checkpointer(
        run_dir / "checkpoint.pt",
        experiment=name,
        config=config_to_dict(config),
        every=checkpoint_every,
        resume=resume,
        write=main,
    )
    ctx = RunContext(
        logger=SeriesLogger(run_dir / "series.jsonl" if main else None),
        progress=progress and main,
        out_dir=run_dir,
        checkpointer=checkpointer,
        seed=config.seed,
    )
    start = time.perf_counter()
    results = get_experiment(name).run(config, ctx)
    seconds = time.perf_counter() - start
    if main:
        write_results(run_dir, name, size, config, results, seconds, checkpointer)
    barrier()
    return run_dir, results


def _truncate_series(path: Path, phases: dict[str, dict]) -> None:
    """Drop log rows written after the checkpoint, so a resumed log has no repeats."""
    if not path.is_file():
        return
    keep = []
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):  # the last line, torn by a kill mid-write
                break
            raise ValueError(f"{path}, line {number}: not a JSON record ({line[:60]!r})") from None
        phase = phases.get(row.get("tag"))
        if phase is not None and (phase["done"] or row.get("step", 0) < phase["step"]):
            keep.append(line)
    path.write_text("".join(line + "\n" for line in keep))


def write_results(
    run_dir: Path,
    name: str,
    size: str,
    config: Any,
    results: Results,
    seconds: float,
    checkpointer: Checkpointer | None = None,
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
        "world_size": world_size(),  # processes that trained it (torchrun: every node's)
        "figures": [str(p.relative_to(run_dir)) for p in figures.values()],
        "command": " ".join(shlex.quote(a) for a in ["ctflow", *sys.argv[1:]])
        if Path(sys.argv[0]).name == "ctflow"
        else None,
    }
    (run_dir / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    if results.models:  # the final checkpoint keeps the phase records, so resume skips training
        extra = {"phases": checkpointer.phases} if checkpointer is not None else None
        save_checkpoint(
            run_dir / "checkpoint.pt",
            experiment=name,
            config=config_to_dict(config),
            models=results.models,
            extra=extra,
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

    Examples:
        A tiny run trained here; pass the directory of any finished run the same way.

        >>> import tempfile
        >>> import torch
        >>> import ctflow
        >>> from ctflow.runs import run_experiment
        >>> run_dir, _ = run_experiment(
        ...     "cnf-2d", size="smoke", out=tempfile.mkdtemp(), progress=False,
        ...     overrides={"datasets": ("checkerboard",), "steps": 2},
        ... )
        >>> models = ctflow.load(run_dir)
        >>> sorted(models)
        ['checkerboard']
        >>> _ = torch.manual_seed(0)
        >>> models["checkerboard"]().sample((1000,)).shape
        torch.Size([1000, 2])
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"no run directory at {run_dir}")
    ckpt = load_checkpoint(run_dir / "checkpoint.pt", map_location=map_location)
    experiment = get_experiment(ckpt["experiment"])
    config = config_from_dict(experiment.config_cls, ckpt["config"])
    # build_models seeds the global RNGs for its initial weights, which the checkpoint then
    # replaces: the caller's random streams must come out as they went in
    caller = rng_state()
    try:
        models = experiment.build_models(config)
    finally:
        set_rng_state(caller)
    missing = set(ckpt["models"]) ^ set(models)
    if missing:
        raise ValueError(f"checkpoint and experiment disagree on the models: {sorted(missing)}")
    for key, model in models.items():
        model.load_state_dict(ckpt["models"][key])
        model.eval()
    return models


def sample_run(
    run_dir: str | os.PathLike,
    n: int,
    *,
    model: str | None = None,
    out: str | os.PathLike | None = None,
    seed: int = 0,
) -> list[Path]:
    """Draw ``n`` samples from each density model of a run; write ``.npy`` files and figures.

    Args:
        run_dir: a finished run directory.
        n: samples per model.
        model: only this model (a key of ``ctflow.load(run_dir)``).
        out: where to write (default ``<run_dir>/samples``).
        seed: seeds the sampling.

    Returns:
        The paths written: ``samples-<model>.npy`` (shape ``(n, *event)``) and a PNG per model.
    """
    import numpy as np
    import torch

    from .plotting import scatter_figure

    if not isinstance(n, int) or not 1 <= n <= MAX_SAMPLES:
        raise ValueError(f"-n must be an integer from 1 to {MAX_SAMPLES}, got {n!r}")
    out_dir = Path(out) if out is not None else Path(run_dir) / "samples"
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file; samples go into a folder")
    models = load(run_dir)
    if model is not None:
        if model not in models:
            raise ValueError(f"no model {model!r} in {run_dir}; choose one of: {', '.join(models)}")
        models = {model: models[model]}
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for key, module in models.items():
        try:
            dist = module()
        except TypeError:
            dist = None
        if not isinstance(dist, torch.distributions.Distribution):
            raise ValueError(
                f"model {key!r} is not a density model (calling it gives no Distribution)"
            )
        torch.manual_seed(seed)
        with torch.no_grad():
            x = dist.sample((n,)).cpu()
        stem = key.replace("/", "_")
        npy = out_dir / f"samples-{stem}.npy"
        np.save(npy, x.numpy())
        flat = x.reshape(n, -1)
        fig = scatter_figure(
            flat[:, :2],
            title=f"{key}: {n} samples" + (" (first two coordinates)" if flat.shape[1] > 2 else ""),
        )
        written += [npy, save_figure(fig, out_dir / f"samples-{stem}.png")]
    return written
