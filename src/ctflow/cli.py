"""The ``ctflow`` command: list, run, resume, sample and reproduce experiments."""

from __future__ import annotations

import argparse
import sys

import torch

from . import compress_cli as _compress_cli

__all__ = ["main", "build_parser"]


def _size_flags(parser: argparse.ArgumentParser) -> None:
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--smoke",
        action="store_const",
        const="smoke",
        dest="size",
        help="a seconds-long run that checks the code path",
    )
    size.add_argument(
        "--quick", action="store_const", const="quick", dest="size", help="about a minute on a CPU"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ctflow", description="continuous-time generative models")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: OMP_NUM_THREADS or torch's choice)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("list", help="list the registered experiments")
    show = sub.add_parser("show", help="an experiment's config keys, defaults and sizes")
    show.add_argument("name", help="experiment name (see `ctflow list`)")

    run = sub.add_parser("run", help="run one experiment for one seed (or resume one)")
    run.add_argument("name", nargs="?", help="experiment name (see `ctflow list`)")
    _size_flags(run)
    run.add_argument("--out", default=None, help="run directory (default runs/NAME-SIZE-seedN)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field (repeatable); tuples as a,b,c",
    )
    run.add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="continue an interrupted run from its checkpoint",
    )
    run.add_argument(
        "--checkpoint-every",
        type=int,
        default=200,
        metavar="STEPS",
        help="save training progress every STEPS steps (0: at phase ends only)",
    )
    run.add_argument("--no-progress", action="store_true", help="hide progress bars")

    sample = sub.add_parser("sample", help="draw samples from a run's density models")
    sample.add_argument("run_dir")
    sample.add_argument("-n", type=int, default=1000, help="samples per model")
    sample.add_argument("--model", default=None, help="only this model")
    sample.add_argument("--out", default=None, help="output folder (default RUN_DIR/samples)")
    sample.add_argument("--seed", type=int, default=0)

    rep = sub.add_parser("reproduce", help="run experiments over seeds; write one report")
    rep.add_argument("names", nargs="*", metavar="NAME", help="experiments (default: all)")
    _size_flags(rep)
    # name experiments before --seeds: the seed list takes every number that follows it
    rep.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    rep.add_argument("--out", default="runs/reproduce", help="root of the seed run directories")
    rep.add_argument("--report", default=None, help="report path (default OUT/report-SIZE.md)")
    rep.add_argument("--device", default="cpu")
    rep.add_argument("--no-progress", action="store_true")
    _compress_cli.add_subcommands(sub)  # ctflow compress / decompress
    return parser


def _parse_overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _print_metrics(metrics: dict[str, float]) -> None:
    width = max((len(k) for k in metrics), default=10)
    print(f"{'metric':{width}s}  value")
    for key, value in metrics.items():
        print(f"{key:{width}s}  {value:.6g}")


def _field_notes(config_cls: type) -> dict[str, str]:
    """The trailing ``# comment`` of each field in the config's source, as its one-line help."""
    import inspect
    import re

    try:
        source = inspect.getsource(config_cls)
    except (OSError, TypeError):  # pragma: no cover - no source (e.g. a frozen install)
        return {}
    notes = {}
    for match in re.finditer(r"^\s+(\w+)\s*:[^#\n]*#\s*(.+)$", source, flags=re.M):
        notes[match.group(1)] = match.group(2).strip()
    return notes


def _cmd_show(args) -> int:
    import dataclasses

    from .experiments import get_experiment, make_config

    exp = get_experiment(args.name)
    print(f"{exp.name}: {exp.description}\n")
    sizes = {size: make_config(exp.name, size) for size in ("full", "quick", "smoke")}
    notes = _field_notes(exp.config_cls)
    rows = [("key", "type", "full (default)", "quick", "smoke", "help")]
    for f in dataclasses.fields(exp.config_cls):
        kind = getattr(f.type, "__name__", None) or str(f.type)
        values = [repr(getattr(sizes[size], f.name)) for size in ("full", "quick", "smoke")]
        values[1:] = [v if v != values[0] else "=" for v in values[1:]]
        rows.append((f.name, kind, *values, notes.get(f.name, "")))
    widths = [min(max(len(r[i]) for r in rows), 28) for i in range(5)]
    for row in rows:
        cells = [row[i][: widths[i]].ljust(widths[i]) for i in range(5)]
        print("  ".join(cells + [row[5]]).rstrip())
    print("\n'=': same as the full size. Override any key with --set KEY=VALUE.")
    return 0


def _cmd_list() -> int:
    from .experiments import experiment_names, get_experiment

    for name in experiment_names():
        print(f"{name:24s} {get_experiment(name).description}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .distributed import is_main_process
    from .runs import resume_experiment, run_experiment

    if args.seed < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {args.seed}")
    if args.resume is not None:
        if args.name or args.overrides or args.size:
            raise ValueError(
                "--resume takes the experiment, size and config from RUN_DIR/run.json; "
                "drop NAME, --smoke/--quick and --set"
            )
        run_dir, results = resume_experiment(
            args.resume, progress=not args.no_progress, checkpoint_every=args.checkpoint_every
        )
    else:
        if not args.name:
            raise ValueError("name an experiment (see `ctflow list`) or pass --resume RUN_DIR")
        run_dir, results = run_experiment(
            args.name,
            size=args.size or "full",
            seed=args.seed,
            device=args.device,
            out=args.out,
            overrides=_parse_overrides(args.overrides),
            progress=not args.no_progress,
            checkpoint_every=args.checkpoint_every,
        )
    if is_main_process():
        _print_metrics(results.metrics)
        print(f"\nrun directory: {run_dir}\nreport: {run_dir / 'report.md'}")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from .runs import sample_run

    for path in sample_run(args.run_dir, args.n, model=args.model, out=args.out, seed=args.seed):
        print(path)
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from .experiments import experiment_names
    from .reproduce import reproduce

    names = args.names or experiment_names()
    path = reproduce(
        names,
        seeds=args.seeds,
        size=args.size or "full",
        device=args.device,
        out=args.out,
        report=args.report,
        progress=not args.no_progress,
    )
    print(f"report: {path}")
    return 0


COMMANDS = {"run": _cmd_run, "sample": _cmd_sample, "reproduce": _cmd_reproduce}
COMMANDS.update(_compress_cli.COMMANDS)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    finished = False
    try:
        if args.threads is not None:
            if args.threads < 1:
                raise ValueError(f"--threads must be >= 1, got {args.threads}")
            torch.set_num_threads(args.threads)
        if args.command == "list":
            return _cmd_list()
        if args.command == "show":
            return _cmd_show(args)
        if args.command in COMMANDS:
            code = COMMANDS[args.command](args)
            finished = True
            return code
        parser.print_help()
        return 2
    except (ValueError, TypeError, OSError, FloatingPointError) as err:
        # OSError: a path that is a file where a folder is needed, permissions, a full disk
        print(f"ctflow: error: {err}", file=sys.stderr)
        return 2
    finally:
        from .distributed import shutdown_distributed

        # Wait for the other ranks only after a clean finish; after an error they may never arrive.
        shutdown_distributed(wait=finished)


if __name__ == "__main__":
    sys.exit(main())
