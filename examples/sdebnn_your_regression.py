"""An SDE Bayesian neural network on your own 1-D regression data, with honest uncertainty.

Your data: noisy readings of a curve at inputs with a gap in the middle (a sensor that was off),
as NumPy arrays. An SDEBNN (weights follow a posterior SDE) and an ODENet of the same trunk (one
point estimate of the weights) are fitted; their predictive distributions are scored on held-out
points inside the data and on points in the gap, where only the Bayesian model widens its error
bars. Default run (about 36 s on one core), held-out NLL in nats: in the data -0.68 (SDEBNN) and
-0.83 (ODENet, slightly sharper there); in the gap -0.65 and 0.43, where the ODENet is
confidently wrong.

    python examples/sdebnn_your_regression.py [--steps N] [--seed S] [--out FOLDER]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ctflow.bayes import SDEBNN, ODENet  # noqa: E402

# the arguments tests/test_examples.py uses to run this script in a few seconds
SMOKE_ARGS = ["--steps", "5"]


def readings(n: int, rng: np.random.Generator, gap: bool) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy readings of sin(2x): in the gap (-0.5, 0.5) only, or everywhere else."""
    x = rng.uniform(-0.5, 0.5, n) if gap else rng.choice([-1, 1], n) * rng.uniform(0.5, 2.0, n)
    return x, np.sin(2 * x) + 0.1 * rng.normal(size=n)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("examples/out"))
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    as_xy = lambda x, y: (torch.tensor(x, dtype=torch.float32)[:, None], torch.tensor(y))  # noqa: E731
    x, y = as_xy(*readings(64, rng, gap=False))
    x_in, y_in = as_xy(*readings(256, rng, gap=False))  # held out, where the data are
    x_gap, y_gap = as_xy(*readings(256, rng, gap=True))  # held out, where there were none

    common = dict(state=8, field_hidden=16, steps=10, likelihood="gaussian")
    models = {
        "SDEBNN": SDEBNN(1, 1, sigma=0.1, estimator="stl", **common),
        "ODENet": ODENet(1, 1, **common),
    }
    for model in models.values():
        opt = torch.optim.Adam(model.parameters(), lr=5e-3)
        for _ in range(args.steps):  # the negative ELBO (for the ODENet: the NLL)
            loss, _ = model.loss(x, y.float(), n_data=len(x))
            opt.zero_grad()
            loss.backward()
            opt.step()

    metrics, grid = {}, torch.linspace(-3, 3, 200)[:, None]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3), dpi=80, sharey=True, layout="constrained")
    for ax, (name, model) in zip(axes, models.items()):
        for where, (xs, ys) in {"data": (x_in, y_in), "gap": (x_gap, y_gap)}.items():
            predictive = model.predict(xs, samples=32)  # a mixture of normals per input
            metrics[f"{name}_nll_{where}"] = float(-predictive.log_prob(ys[:, None]).mean())
        predictive = model.predict(grid, samples=32)
        mean, std = predictive.mean[:, 0], predictive.variance[:, 0].sqrt()
        ax.fill_between(grid[:, 0], mean - 2 * std, mean + 2 * std, alpha=0.3, label="+- 2 std")
        ax.plot(grid[:, 0], mean, label="predictive mean")
        ax.scatter(x[:, 0], y, s=8, c="k", label="your readings")
        ax.axvspan(-0.5, 0.5, color="0.9", zorder=-1)
        ax.set_title(f"{name}: NLL in the gap {metrics[f'{name}_nll_gap']:.2f}", fontsize=9)
        ax.set_xlabel("x")
    axes[0].legend(fontsize=7, loc="lower right")
    for key, value in metrics.items():
        print(f"{key}: {value:.4g}")
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / "sdebnn_your_regression.png", bbox_inches="tight")
    plt.close(fig)
    return metrics


if __name__ == "__main__":
    main()
