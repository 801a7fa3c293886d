"""``ctflow reproduce``: run experiments over seeds and aggregate mean +- std into one report."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .experiments import get_experiment, make_config
from .harness.config import config_to_dict
from .runs import resume_experiment, run_experiment

__all__ = ["reproduce", "aggregate", "write_report"]


def aggregate(metric_sets: Sequence[dict[str, float]]) -> dict[str, dict[str, Any]]:
    """Mean and sample standard deviation of each metric over runs (seeds).

    Args:
        metric_sets: one ``{"method/dataset/metric": value}`` dict per seed.

    Returns:
        ``{metric: {"mean", "std", "n", "values"}}``; ``std`` is 0 for a single run. Metrics missing
        from some runs are aggregated over the runs that have them.
    """
    keys: list[str] = []
    for metrics in metric_sets:
        keys += [k for k in metrics if k not in keys]
    out = {}
    for key in keys:
        values = [float(m[key]) for m in metric_sets if key in m]
        n = len(values)
        mean = sum(values) / n
        var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
        out[key] = {"mean": mean, "std": math.sqrt(var), "n": n, "values": values}
    return out


def _seed_run(name: str, size: str, seed: int, device: str, root: Path, progress: bool) -> dict:
    run_dir = root / f"{name}-{size}" / f"seed{seed}"
    expected = config_to_dict(make_config(name, size, {"seed": seed, "device": device}))
    results_path = run_dir / "results.json"
    if results_path.is_file():
        payload = json.loads(results_path.read_text())
        if payload.get("config") == json.loads(json.dumps(expected)):
            print(f"[reproduce] {name} seed {seed}: reusing {run_dir}")
            return payload
        raise FileExistsError(f"{run_dir} holds a run with another config; remove it or pass --out")
    if (run_dir / "run.json").is_file():
        print(f"[reproduce] {name} seed {seed}: resuming {run_dir}")
        resume_experiment(run_dir, progress=progress)
    else:
        print(f"[reproduce] {name} seed {seed}: running into {run_dir}")
        run_experiment(name, size=size, seed=seed, device=device, out=run_dir, progress=progress)
    return json.loads(results_path.read_text())


def reproduce(
    names: Sequence[str],
    *,
    seeds: Sequence[int] = (0, 1, 2),
    size: str = "full",
    device: str = "cpu",
    out: str | os.PathLike = "runs/reproduce",
    report: str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """Run each experiment once per seed (reusing finished seeds, resuming interrupted ones) and
    write one markdown report with every number (mean +- std over seeds) and every figure.

    Returns:
        The report's path (default ``<out>/report-<size>.md``; a ``.json`` summary sits beside it).
    """
    if not names:
        raise ValueError("name at least one experiment (see `ctflow list`)")
    if not seeds or len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise ValueError(f"seeds must be distinct non-negative integers, got {list(seeds)}")
    for name in names:
        get_experiment(name)  # unknown names fail before any work
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise ValueError(f"--out {root} is a file; reproduce writes a folder of run directories")
    summary = {}
    for name in names:
        payloads = [_seed_run(name, size, seed, device, root, progress) for seed in seeds]
        summary[name] = {
            "size": size,
            "seeds": list(seeds),
            "metrics": aggregate([p["metrics"] for p in payloads]),
            "figures": {
                p["seed"]: [f"{name}-{size}/seed{p['seed']}/{f}" for f in p["figures"]]
                for p in payloads
            },
            "seconds": [p.get("seconds") for p in payloads],
        }
    report_path = Path(report) if report is not None else root / f"report-{size}.md"
    write_report(report_path, summary, root)
    report_path.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    return report_path


def write_report(path: Path, summary: dict[str, dict], root: Path) -> None:
    """Markdown: per experiment, the command, a mean +- std table and the figures of every seed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(root, path.parent)
    lines = ["# ctflow reproduce report", ""]
    for name, entry in summary.items():
        seeds = " ".join(map(str, entry["seeds"]))
        flag = {"smoke": " --smoke", "quick": " --quick"}.get(entry["size"], "")
        lines += [
            f"## {name} ({entry['size']}, seeds {seeds})",
            "",
            "```",
            f"ctflow reproduce {name}{flag} --seeds {seeds}",
            "```",
            "",
            "| metric | mean +- std | per seed |",
            "|---|---|---|",
        ]
        for key, agg in entry["metrics"].items():
            per_seed = ", ".join(f"{v:.4g}" for v in agg["values"])
            lines.append(f"| {key} | {agg['mean']:.4g} +- {agg['std']:.2g} | {per_seed} |")
        lines.append("")
        for seed, figures in entry["figures"].items():
            lines += [f"![{name} seed {seed}: {Path(f).stem}]({rel}/{f})" for f in figures]
        lines.append("")
    path.write_text("\n".join(lines))
