"""Markdown tables for docs/results/compression.md from compress-rd run folders.

Usage: python scripts/compress_tables.py RUN_ROOT   (RUN_ROOT holds seed*/results.json)

Prints the BD-rate table against the uniform grid (mean +- std over seeds, and per seed), the
bitstream checks, the BD-rates of the neural codecs against the classical ones (per seed, over
the PSNR range each pair shares) and every operating point.
"""

from __future__ import annotations

import glob
import json
import sys

import numpy as np

from ctflow.compress import MIN_OVERLAP, bd_overlap, bd_rate

DATASETS = ("bouncing-balls", "smooth-control", "skeleton", "mocap")
CODECS = (
    "learned", "learned-refined", "rd-oracle", "uniform", "oracle", "knots", "knots-uniform",
    "zlib", "lzma", "h264",
)  # fmt: skip


def load(root: str) -> list[dict]:
    return [json.load(open(f))["metrics"] for f in sorted(glob.glob(f"{root}/seed*/results.json"))]


def mean_std(runs, key, fmt="{:.1f}") -> str:
    v = np.array([m[key] for m in runs if key in m], dtype=float)
    if not len(v):
        return "-"
    s = v.std(ddof=1) if len(v) > 1 else 0.0
    return f"{fmt.format(v.mean())} +- {fmt.format(s)}"


def curve(m, method, ds):
    bits, psnr = [], []
    while f"{method}/{ds}/bits_p{len(bits)}" in m:
        bits.append(m[f"{method}/{ds}/bits_p{len(bits)}"])
        psnr.append(m[f"{method}/{ds}/psnr_p{len(psnr)}"])
    return bits, psnr


def bd_cell(runs, method, ref, ds) -> str:
    """Mean +- std of a recorded BD-rate with the mean shared PSNR range in brackets; "no overlap"
    where a seed's curves shared less than MIN_OVERLAP (the run then records no BD-rate)."""
    rate, share = f"{method}/{ds}/bd_rate_vs_{ref}", f"{method}/{ds}/bd_overlap_vs_{ref}"
    shares = [m[share] for m in runs if share in m]
    if not shares:
        return "-"
    pct = f"{100 * np.mean(shares):.0f}%"
    found = [m for m in runs if rate in m]
    if len(found) == len(runs):
        return f"{mean_std(runs, rate)} % ({pct})"
    if not found:
        return f"no overlap ({pct})"
    return f"no overlap in {len(runs) - len(found)} of {len(runs)} seeds ({pct})"


def bd_table(runs, datasets) -> str:
    rows = [
        "| dataset | learned vs uniform | rd-oracle vs uniform | greedy oracle vs uniform "
        "| knots (raw frames) vs knots-uniform | per-seed learned / rd-oracle vs uniform |",
        "|---|---|---|---|---|---|",
    ]
    for ds in datasets:
        keys = {k: f"{k}/{ds}/bd_rate_vs_uniform" for k in ("learned", "rd-oracle")}
        per = [[round(m[keys[k]], 1) for m in runs if keys[k] in m] for k in keys]
        cells = [bd_cell(runs, k, "uniform", ds) for k in ("learned", "rd-oracle", "oracle")]
        cells.append(bd_cell(runs, "knots", "knots-uniform", ds))
        shown = f"{per[0]} / {per[1]}" if per[0] or per[1] else "-"
        rows.append(f"| {ds} | " + " | ".join(cells) + f" | {shown} |")
    return "\n".join(rows)


def refined_table(runs, datasets) -> str:
    """The keep network, its points refined at the encoder, and their teacher, against uniform
    (runs from before the refinement existed have no refined curve and print nothing)."""
    if not any(k.startswith("learned-refined/") for k in runs[0]):
        return ""
    methods = ("learned", "learned-refined", "rd-oracle")
    rows = [
        "| dataset | " + " | ".join(f"{k} vs uniform" for k in methods) + " | per seed |",
        "|---|---|---|---|---|",
    ]
    for ds in datasets:
        cells = [bd_cell(runs, k, "uniform", ds) for k in methods]
        per = [
            [round(m[f"{k}/{ds}/bd_rate_vs_uniform"], 1) for m in runs
             if f"{k}/{ds}/bd_rate_vs_uniform" in m]
            for k in methods
        ]  # fmt: skip
        rows.append(f"| {ds} | " + " | ".join(cells) + " | " + " / ".join(map(str, per)) + " |")
    return "\n".join(rows)


def checks_table(runs, datasets) -> str:
    rows = [
        "| dataset | max abs(payload / model rate - 1) over the sweep | exact latent round trip |",
        "|---|---|---|",
    ]
    for ds in datasets:
        dev = mean_std(runs, f"learned/{ds}/payload_vs_model_max_rel_dev", "{:.4f}")
        rt = mean_std(runs, f"learned/{ds}/roundtrip_exact", "{:.0f}")
        rows.append(f"| {ds} | {dev} | {rt} |")
    return "\n".join(rows)


def classical_table(runs, datasets) -> str:
    """BD-rate per seed of each neural codec against each classical one, under the same overlap
    rule as the experiment: pairs sharing less than MIN_OVERLAP read "no overlap (share)"."""
    refs = ("h264", "knots", "zlib", "lzma")
    rows = [
        "| dataset | codec | " + " | ".join(f"vs {r}" for r in refs) + " |",
        "|---|---|" + "---|" * len(refs),
    ]
    for ds in datasets:
        for method in ("learned", "learned-refined", "rd-oracle", "uniform"):
            cells = []
            for ref in refs:
                per = []
                for m in runs:
                    a, b = curve(m, ref, ds), curve(m, method, ds)
                    if not a[0] or not b[0]:
                        continue
                    try:
                        share = f"{100 * bd_overlap(a[1], b[1])[1]:.0f}%"
                    except ValueError:  # fewer than two finite points
                        per.append("too few points")
                        continue
                    try:
                        value = bd_rate(a[0], a[1], b[0], b[1], min_overlap=MIN_OVERLAP)
                        per.append(f"{value:.1f}% ({share})")
                    except ValueError:
                        per.append(f"no overlap ({share})")
                cells.append(", ".join(per) or "-")
            rows.append(f"| {ds} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def points_tables(runs, datasets) -> str:
    out = []
    for ds in datasets:
        n = len(runs)
        out.append(f"\n**{ds}** (bits per sequence / PSNR dB, mean +- std over {n} seeds)\n")
        out.append("| codec | operating points (bits / PSNR) |\n|---|---|")
        for method in CODECS:
            pts = []
            while f"{method}/{ds}/bits_p{len(pts)}" in runs[0]:
                i = len(pts)
                bits = mean_std(runs, f"{method}/{ds}/bits_p{i}", "{:.0f}")
                psnr = mean_std(runs, f"{method}/{ds}/psnr_p{i}", "{:.2f}")
                pts.append(f"{bits} / {psnr}")
            if pts:
                out.append(f"| {method} | " + "; ".join(pts) + " |")
    return "\n".join(out)


def main(root: str) -> None:
    runs = load(root)
    if not runs:
        raise SystemExit(f"no seed*/results.json under {root}")
    datasets = [d for d in DATASETS if any(f"/{d}/" in k for k in runs[0])]
    for table in (bd_table, refined_table, checks_table, classical_table, points_tables):
        print(table(runs, datasets))
        print()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
