"""How far a minibatch OT coupling is from the true OT coupling, against the batch size.

    python scripts/coupling_bias.py [--repeats R] [--out runs/coupling_bias]

Source ``N(0, I)`` in 2-D; four conditions, each with target ``N(m_c, diag(0.5, 2))``, ``m_c`` on
a circle of radius 3. Per condition the population OT cost ``W2^2`` is closed form
(``|m|^2 + sum (sqrt(s) - 1)^2`` for these commuting covariances). For each batch size, the mean
squared distance of the pairs made by ``ctflow.paths.ot_coupling`` is averaged over ``repeats``
batches and compared with the mean of the four ``W2^2``:

- **within conditions** (``condition=labels``): each condition's quarter of the batch is coupled
  to source noise on its own. Its bias shrinks as the batch grows.
- **global**, ignoring the labels: it pairs noise with the nearest condition's data. Its cost
  falls below the conditional ``W2^2``, because it solves a different (easier) problem. That gap
  is how much conditioning a global coupling destroys.

Prints a table and writes ``coupling_bias.json`` and ``coupling_bias.png`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ctflow.paths import ot_coupling  # noqa: E402

BATCHES = (16, 32, 64, 128, 256, 512, 1024)
VARIANCES = torch.tensor([0.5, 2.0], dtype=torch.float64)
MEANS = (
    3.0
    * torch.stack(
        [
            torch.tensor([math.cos(a), math.sin(a)])
            for a in (0.0, 0.5 * math.pi, math.pi, 1.5 * math.pi)
        ]
    ).double()
)


def population_cost() -> float:
    """Mean over the conditions of the closed-form W2^2 from N(0, I) to N(m_c, diag(var))."""
    spread = float(((VARIANCES.sqrt() - 1.0) ** 2).sum())
    return float((MEANS.square().sum(-1) + spread).mean())


def batch(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    labels = torch.arange(n) % len(MEANS)
    x1 = MEANS[labels] + VARIANCES.sqrt() * torch.randn(n, 2, generator=g, dtype=torch.float64)
    x0 = torch.randn(n, 2, generator=g, dtype=torch.float64)
    return x0, x1, labels


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("runs/coupling_bias"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    truth = population_cost()
    rows = []
    print(f"population W2^2 (mean over the 4 conditions, closed form): {truth:.4f}\n")
    print("| batch | within conditions | bias | bias / W2^2 | global | global - W2^2 |")
    print("|---|---|---|---|---|---|")
    for n in BATCHES:
        within, glob = [], []
        for _ in range(args.repeats):
            x0, x1, labels = batch(n, g)
            paired, _ = ot_coupling(x0, x1, condition=labels)
            within.append(float((paired - x1).square().sum(-1).mean()))
            paired, _ = ot_coupling(x0, x1)
            glob.append(float((paired - x1).square().sum(-1).mean()))
        w, gl = torch.tensor(within), torch.tensor(glob)
        row = {
            "batch": n,
            "within": float(w.mean()),
            "within_se": float(w.std() / math.sqrt(len(w))),
            "global": float(gl.mean()),
            "global_se": float(gl.std() / math.sqrt(len(gl))),
        }
        rows.append(row)
        bias = row["within"] - truth
        print(
            f"| {n} | {row['within']:.4f} +- {row['within_se']:.4f} | {bias:+.4f} | "
            f"{bias / truth:+.2%} | {row['global']:.4f} | {row['global'] - truth:+.4f} |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"population_w2_squared": truth, "repeats": args.repeats, "rows": rows}
    (args.out / "coupling_bias.json").write_text(json.dumps(payload, indent=2) + "\n")
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=80)
    sizes = [r["batch"] for r in rows]
    for key, label in (("within", "within conditions"), ("global", "global (labels ignored)")):
        ax.errorbar(
            sizes,
            [r[key] - truth for r in rows],
            yerr=[2 * r[f"{key}_se"] for r in rows],
            marker="o",
            capsize=3,
            label=label,
        )
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("minibatch OT cost - W2^2")
    ax.set_title("coupling bias (error bars: 2 standard errors)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "coupling_bias.png")
    plt.close(fig)
    print(f"\nwrote {args.out / 'coupling_bias.json'} and {args.out / 'coupling_bias.png'}")
    return payload


if __name__ == "__main__":
    main()
