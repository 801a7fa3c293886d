"""Train a GFlowNet to sample short DNA-like sequences in proportion to a reward you write.

The user's reward: sequences of length 6 over A, C, G, T score 0.1 plus the number of times the
motifs GAT or TAC occur. A GFlowNet policy builds them left to right and is trained by trajectory
balance; every 100 steps the exact L1 distance between its terminal distribution and R(x) / Z
(over all 4096 sequences) is computed. Prints the L1 before and after training, the learned and
true log Z, and the probability mass on motif-bearing sequences. The figure shows learned against
target probability for every sequence, and the L1 curve. Default run (2000 steps of 64
trajectories, about 15 s on one core): L1 0.969 before training, 0.024 after; log Z 6.823 learned
against 6.826 true; 0.609 of the mass on motif-bearing sequences against 0.610 in R / Z.

    python examples/gflownet_your_reward.py [--steps N] [--seed S] [--out FOLDER]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ctflow.gfn import (  # noqa: E402
    GFlowNetPolicy,
    SequenceEnv,
    gfn_loss,
    l1_distance,
    sample_trajectories,
    terminal_distribution,
)

# the arguments tests/test_examples.py uses to run this script in a few seconds
SMOKE_ARGS = ["--steps", "20"]

ALPHABET = "ACGT"
MOTIFS = ("GAT", "TAC")


def motif_counts(tokens: torch.Tensor) -> torch.Tensor:
    """Motif occurrences in each row of ``tokens`` ``(batch, length)``, 0..3 = A, C, G, T."""
    count = torch.zeros(tokens.shape[0])
    for motif in MOTIFS:
        code = torch.tensor([ALPHABET.index(c) for c in motif])
        windows = tokens.unfold(1, len(motif), 1)  # (batch, positions, len(motif))
        count += (windows == code).all(-1).sum(-1)
    return count


def log_reward(tokens: torch.Tensor) -> torch.Tensor:
    return torch.log(0.1 + motif_counts(tokens))


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("examples/out"))
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    env = SequenceEnv(vocab=len(ALPHABET), length=6, log_reward_fn=log_reward)
    # log Z gets a 100x larger effective learning rate, as GFlowNets usually train it
    policy = GFlowNetPolicy.for_env(env, hidden=(128, 128), log_z_scale=100.0)
    opt = torch.optim.Adam(policy.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(args.seed)
    curve = [(0, l1_distance(env, policy))]
    for step in range(1, args.steps + 1):
        traj = sample_trajectories(env, policy, 64, generator=gen)
        loss = gfn_loss("tb", env, policy, traj)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == args.steps:
            curve.append((step, l1_distance(env, policy)))

    states, learned = terminal_distribution(env, policy)
    _, target = env.reward_distribution()  # R(x) / Z, enumerated in the same order
    has_motif = motif_counts(env.tokens(states)) > 0
    metrics = {
        "l1_before": curve[0][1],
        "l1_after": curve[-1][1],
        "log_z_learned": float(policy.log_z.detach()),
        "log_z_true": float(torch.logsumexp(env.log_reward(states), 0)),
        "motif_mass_learned": float(learned[has_motif].sum()),
        "motif_mass_target": float(target[has_motif].sum()),
    }
    for key, value in metrics.items():
        print(f"{key}: {value:.4g}")

    args.out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3), dpi=80, layout="constrained")
    order = torch.argsort(target, descending=True)  # sequences ranked by their reward
    rank = torch.arange(len(order))
    axes[0].scatter(rank, learned[order], s=2, c="C0", alpha=0.5, label="learned P_T(x)")
    axes[0].plot(rank, target[order], c="k", lw=1.5, label="target R(x) / Z")
    axes[0].set(yscale="log", xlabel="sequence, by reward rank", ylabel="probability")
    axes[0].set_title("all 4096 terminal states", fontsize=10)
    axes[0].legend(fontsize=8)
    steps, l1 = zip(*curve)
    axes[1].plot(steps, l1, "o-", ms=3)
    axes[1].set(xlabel="training step", ylabel="L1 to R/Z", title="exact L1 distance")
    fig.savefig(args.out / "gflownet_your_reward.png", bbox_inches="tight")
    plt.close(fig)
    return metrics


if __name__ == "__main__":
    main()
