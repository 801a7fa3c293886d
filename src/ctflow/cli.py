"""The ``ctflow`` command: list and run experiments."""

from __future__ import annotations

import argparse
import sys

import torch

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ctflow", description="continuous-time generative models")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("list", help="list the registered experiments")
    run = sub.add_parser("run", help="run one experiment for one seed")
    run.add_argument("name", help="experiment name (see `ctflow list`)")
    size = run.add_mutually_exclusive_group()
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
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: OMP_NUM_THREADS or torch's choice)",
    )
    run.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def _parse_overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _cmd_list() -> int:
    from .experiments import experiment_names, get_experiment

    for name in experiment_names():
        exp = get_experiment(name)
        print(f"{name:24s} {exp.description}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .runs import run_experiment

    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    if args.seed < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {args.seed}")
    size = args.size or "full"
    run_dir, results = run_experiment(
        args.name,
        size=size,
        seed=args.seed,
        device=args.device,
        out=args.out,
        overrides=_parse_overrides(args.overrides),
        progress=not args.no_progress,
    )
    width = max((len(k) for k in results.metrics), default=10)
    print(f"{'metric':{width}s}  value")
    for key, value in results.metrics.items():
        print(f"{key:{width}s}  {value:.6g}")
    print(f"\nrun directory: {run_dir}\nreport: {run_dir / 'report.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return _cmd_list()
        if args.command == "run":
            return _cmd_run(args)
        parser.print_help()
        return 2
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as err:
        print(f"ctflow: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
