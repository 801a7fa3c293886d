"""Fit an exactly divergence-free velocity field to noisy scattered measurements of a 2-D flow.

The user's data: velocities of an incompressible flow (three Gaussian vortices) measured with
noise at 400 scattered points, made with NumPy; 100 are held out. A ctflow MatrixField (u = div A,
A antisymmetric: divergence-free by construction) and a plain MLP of the same size are fitted by
least squares. Prints each fit's RMS error on the held-out points (against the noise-free truth)
and the largest |div u| of each on a 64 x 64 grid. The figure shows the fitted field and the MLP's
divergence. Default run (about 20 s on one core): held-out RMS error 0.039 for the MatrixField
against 0.044 for the MLP (seeds 1, 2: 0.043 / 0.050, 0.042 / 0.048; noise 0.05 per component);
max |div u| 4.8e-07 (float32 round-off) against 0.70 for the MLP.

    python examples/divergence_free_field.py [--steps N] [--seed S] [--out FOLDER]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ctflow.fields import MatrixField, divergence_of  # noqa: E402
from ctflow.nn import MLP  # noqa: E402

# the arguments tests/test_examples.py uses to run this script in a few seconds
SMOKE_ARGS = ["--steps", "20"]


def vortex_velocity(xy: np.ndarray) -> np.ndarray:
    """Velocity of three Gaussian vortices: u = (d psi/dy, -d psi/dx), so div u = 0."""
    centres = np.array([[-0.8, 0.5], [0.7, 0.6], [0.0, -0.7]])
    strengths, width = np.array([1.0, -0.8, 0.7]), 0.5
    d = xy[:, None, :] - centres  # (N, 3, 2)
    psi = strengths * np.exp(-(d**2).sum(-1) / (2 * width**2))  # (N, 3)
    grad = -(d / width**2) * psi[..., None]  # d psi / d(x, y) per vortex
    return np.stack([grad[..., 1].sum(1), -grad[..., 0].sum(1)], axis=1)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("examples/out"))
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    # the user's measurements: positions and noisy velocities, as NumPy arrays
    rng = np.random.default_rng(args.seed)
    xy = rng.uniform(-2, 2, size=(400, 2))
    uv = vortex_velocity(xy) + 0.05 * rng.standard_normal((400, 2))
    x, u = (torch.as_tensor(a, dtype=torch.float32) for a in (xy, uv))
    x_train, u_train, x_test = x[:300], u[:300], x[300:]
    u_test_true = torch.as_tensor(vortex_velocity(xy[300:]), dtype=torch.float32)

    # same width for both; MatrixField's net outputs the one entry of A (a stream function)
    models = {"ncl": MatrixField(2, hidden=(64, 64)), "mlp": MLP(2, 2, hidden=(64, 64), act="tanh")}
    for model in models.values():
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
        for _ in range(args.steps):  # full batch: 300 points
            loss = (model(x_train) - u_train).pow(2).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()

    side = torch.linspace(-2, 2, 64)
    grid = torch.stack(torch.meshgrid(side, side, indexing="xy"), -1).reshape(-1, 2)
    metrics, div = {}, {}
    for name, model in models.items():
        with torch.no_grad():
            err = (model(x_test) - u_test_true).pow(2).sum(-1).mean().sqrt()
        # divergence_of takes a per-point function (n,) -> (n,)
        single = model.single if name == "ncl" else model
        div[name] = divergence_of(single, grid).detach().reshape(64, 64)
        metrics[f"{name}_test_rmse"] = float(err)
        metrics[f"{name}_max_abs_div"] = float(div[name].abs().max())
    for key, value in metrics.items():
        print(f"{key}: {value:.4g}")

    args.out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3), dpi=80)
    with torch.no_grad():
        fitted = models["ncl"](grid).reshape(64, 64, 2).numpy()
    s, lim = side.numpy(), float(div["mlp"].abs().max())
    speed = np.hypot(fitted[..., 0], fitted[..., 1])
    axes[0].streamplot(s, s, fitted[..., 0], fitted[..., 1], color=speed, linewidth=0.8)
    axes[0].scatter(xy[:300, 0], xy[:300, 1], s=2, c="k", alpha=0.4)
    axes[0].set(title="MatrixField fit (div = 0)", xlabel="x", ylabel="y", aspect="equal")
    style = dict(origin="lower", extent=(-2, 2, -2, 2), cmap="RdBu_r", vmin=-lim, vmax=lim)
    image = axes[1].imshow(div["mlp"].numpy(), **style)
    fig.colorbar(image, ax=axes[1], label="div u")
    axes[1].set(title="MLP fit: divergence", xlabel="x")
    fig.savefig(args.out / "divergence_free_field.png", bbox_inches="tight")
    plt.close(fig)
    return metrics


if __name__ == "__main__":
    main()
