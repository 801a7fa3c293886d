"""Keep the checkpoint whose one-step samples are best: the Trainer with callbacks.

Your data: a NumPy array of 2-D points (here six blobs on a ring). A MeanFlow field learns to
jump from noise to the data in one evaluation. One jump's quality wanders during training, and
the last weights are not the best, so the run scores one jump on held-out points every 250
steps, keeps the best weights (`KeepBest`), stops when 12 scores in a row bring nothing
(`EarlyStopping`), and writes every row to a CSV file (`CSVSink`) next to the figure. Default
run (about 25 s on one core): after step 500 the W2 of one jump to the held-out points wanders
between 0.62 and 0.78; the kept weights score 0.623 (step 4250), the final ones 0.625. With
`patience=8` the run stops at step 2750 and keeps step 750 (0.644): patience trades steps for
the chance of a later best.

    python examples/trainer_keep_the_best_jump.py [--steps N] [--seed S] [--out FOLDER]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ctflow.flows import flow_map_sample, meanflow_loss  # noqa: E402
from ctflow.metrics import wasserstein2  # noqa: E402
from ctflow.nn import FlowMapMLP  # noqa: E402
from ctflow.paths import CondOTPath  # noqa: E402
from ctflow.train import CSVSink, EarlyStopping, Evaluate, KeepBest, Trainer  # noqa: E402

# the arguments tests/test_examples.py uses to run this script in a few seconds
SMOKE_ARGS = ["--steps", "60", "--every", "20"]


def your_points(n: int, rng: np.random.Generator) -> np.ndarray:
    """Stand-in for your data: ``(n, 2)`` points in six blobs on a ring of radius 3."""
    angle = 2 * math.pi * rng.integers(0, 6, n) / 6
    centres = 3 * np.stack([np.cos(angle), np.sin(angle)], 1)
    return (centres + 0.3 * rng.normal(size=(n, 2))).astype(np.float32)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--every", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("examples/out"))
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train = torch.from_numpy(your_points(4000, rng))
    held_out = torch.from_numpy(your_points(600, rng)).double()

    net, path = FlowMapMLP(2, hidden=(128, 128, 128)), CondOTPath()
    data_gen = torch.Generator().manual_seed(args.seed)  # the training stream
    noise = torch.randn(600, 2, generator=torch.Generator().manual_seed(10**6))  # scoring only

    def loss_fn(step: int) -> torch.Tensor:
        idx = torch.randint(0, len(train), (256,), generator=data_gen)
        return meanflow_loss(net, path, train[idx], generator=data_gen)

    def one_jump_w2(model) -> dict[str, float]:
        return {"w2": float(wasserstein2(flow_map_sample(model, noise, 1).double(), held_out))}

    args.out.mkdir(parents=True, exist_ok=True)
    rows = CSVSink(args.out / "trainer_keep_the_best_jump.csv")
    keep, stop = KeepBest("w2"), EarlyStopping("w2", patience=12)
    trainer = Trainer(net, loss_fn, steps=args.steps, lr=1e-3, warmup=100, grad_clip=10.0,
                      callbacks=[Evaluate(one_jump_w2, every=args.every), keep, stop],
                      sinks=[rows], generators=[data_gen], progress=False)  # fmt: skip
    result = trainer.run()

    scores = result.metrics  # [{"step": s, "w2": ...}], the last one for the final weights
    metrics = {
        "best_w2": result.best["value"],
        "best_step": float(result.best["step"]),
        "final_w2": scores[-1]["w2"],
        "steps_run": float(len(result.losses)),
    }
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), dpi=80, layout="constrained")
    axes[0].plot([s["step"] for s in scores], [s["w2"] for s in scores], "o-", ms=3)
    axes[0].axvline(result.best["step"], color="C2", ls="--", label="kept")
    if result.stopped_at is not None:
        axes[0].axvline(result.stopped_at, color="C3", ls=":", label="stopped")
    axes[0].set(xlabel="step", ylabel="W2 of one jump", title="held-out score")
    axes[0].legend(fontsize=7)
    with torch.no_grad():
        jump = flow_map_sample(net, noise, 1)  # the kept weights are loaded
    axes[1].scatter(*held_out.T, s=2, c="0.7", label="held out")
    axes[1].scatter(*jump.T, s=2, c="C0", label="one jump, kept weights")
    axes[1].set(aspect="equal", title=f"W2 {metrics['best_w2']:.3f}")
    axes[1].legend(fontsize=7, markerscale=4, loc="center")
    fig.savefig(args.out / "trainer_keep_the_best_jump.png", bbox_inches="tight")
    plt.close(fig)
    for key, value in metrics.items():
        print(f"{key}: {value:.4g}")
    return metrics


if __name__ == "__main__":
    main()
