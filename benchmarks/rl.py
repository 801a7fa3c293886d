"""SAC and SMAC gradient-update speed: ctflow's SAC vs Stable-Baselines3's SAC, and SMAC's cost
relative to SAC as the particle count K grows.

    python benchmarks/rl.py [--quick] [--out runs/benchmarks/rl.json]

Pinned configurations, float32, one CPU thread, Pendulum-v1 sizes (observation 3, action 1),
batch 256, Adam 3e-4, replay filled with 5000 transitions of a uniform random policy (the same
transitions for every agent), medians of interleaved repeats of 25 updates:

- SAC vs SB3: both with twin critics, target critics, automatic temperature and the network of
  SB3's default `net_arch=[256, 256]` (actor and each critic: Linear 256, ReLU, Linear 256, ReLU,
  the action concatenated to the observation at the critic's input). SB3 is timed by
  `model.train(gradient_steps=25, batch_size=256)` (its own replay sampling included); ctflow by
  25 calls of `agent.update(buffer.sample(256))`. Ratio = SB3 time / ctflow time (>1: ctflow is
  faster).
- SMAC cost: the latent-variable agent (latent 8, observation trunk shared across particles, a
  per-particle layer of width 64 after the [256, 256] trunk) at K = 0 (latent SAC), 8 and 32, as
  a multiple of ctflow SAC's update time (the [256, 256] network above) and of SAC with the same
  trunk-and-head network; with particle-wise critics Q(s, z_k, a) (the default) and with critics
  Q(s, a) (``critic_latent=False``, as in the smac-control runs; each particle still has its own
  target action).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.append(sys.path.pop(0))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_timing import interleaved_medians, write_report  # noqa: E402

from ctflow.rl import SAC, SMAC, ReplayBuffer  # noqa: E402

UPDATES = 25
BATCH = 256
FILL = 5000


def random_transitions(n: int, seed: int = 0):
    """``n`` Pendulum-v1 transitions of a uniform random policy (actions scaled to [-1, 1])."""
    import gymnasium as gym

    env = gym.make("Pendulum-v1")
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    rows = []
    for _ in range(n):
        a = rng.uniform(-1, 1, size=1).astype(np.float32)
        nxt, r, term, trunc, _ = env.step(2 * a)
        rows.append((obs, a, r, nxt, term))
        obs = env.reset()[0] if (term or trunc) else nxt
    return rows


def sb3_model(rows):
    from stable_baselines3 import SAC as SB3SAC

    model = SB3SAC(
        "MlpPolicy",
        "Pendulum-v1",
        learning_rate=3e-4,
        batch_size=BATCH,
        buffer_size=FILL,
        learning_starts=FILL,
        policy_kwargs=dict(net_arch=[256, 256]),
        device="cpu",
        seed=0,
        verbose=0,
    )
    model.learn(total_timesteps=1)  # sets up the logger; no gradient step before learning_starts
    buf = model.replay_buffer
    buf.reset()
    for obs, a, r, nxt, term in rows:
        buf.add(obs[None], nxt[None], a[None], np.array([r]), np.array([term]), [{}])
    return model


def ctflow_buffer(rows):
    buf = ReplayBuffer(3, 1, capacity=len(rows))
    for obs, a, r, nxt, term in rows:
        buf.add(obs, a, r, nxt, term)
    return buf


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--out", default="runs/benchmarks/rl.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    repeats = 3 if args.quick else 9
    rows = random_transitions(FILL)
    buf = ctflow_buffer(rows)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    agents = {
        "ctflow SAC": SAC(3, 1, hidden=(256, 256)),
        "ctflow SAC, trunk + head": SAC(3, 1, hidden=(256, 256, 64), inject="last"),
        "ctflow latent SAC (K = 0)": SMAC(3, 1, particles=0, hidden=(256, 256, 64)),
        "ctflow SMAC K = 8": SMAC(3, 1, particles=8, hidden=(256, 256, 64)),
        "ctflow SMAC K = 32": SMAC(3, 1, particles=32, hidden=(256, 256, 64)),
        "ctflow SMAC K = 8, critic Q(s, a)": SMAC(
            3, 1, particles=8, hidden=(256, 256, 64), critic_latent=False
        ),
        "ctflow SMAC K = 32, critic Q(s, a)": SMAC(
            3, 1, particles=32, hidden=(256, 256, 64), critic_latent=False
        ),
    }

    def run_ctflow(agent):
        for _ in range(UPDATES):
            agent.update(buf.sample(BATCH, gen))

    fns = {name: (lambda a=agent: run_ctflow(a)) for name, agent in agents.items()}
    try:
        model = sb3_model(rows)
        fns["Stable-Baselines3 SAC"] = lambda: model.train(gradient_steps=UPDATES, batch_size=BATCH)
        import stable_baselines3

        sb3_version = stable_baselines3.__version__
    except ImportError:
        print("stable-baselines3 is not installed (pip install -r benchmarks/requirements.txt)")
        sb3_version = None
    med = interleaved_medians(fns, repeats)
    per_update = {k: v / UPDATES for k, v in med.items()}
    sac = per_update["ctflow SAC"]
    same = per_update["ctflow SAC, trunk + head"]
    table = []
    for name, t in per_update.items():
        table.append(
            {
                "agent": name,
                "ms_per_update": t * 1e3,
                "updates_per_s": 1 / t,
                "time_over_ctflow_sac": t / sac,
                "time_over_same_network_sac": t / same,
            }
        )
    print(f"torch {torch.__version__}, 1 thread, float32, batch {BATCH}, Pendulum-v1 sizes")
    print(f"stable-baselines3 {sb3_version}\n")
    print("| agent | ms / update | updates / s | time / ctflow SAC | time / same-network SAC |")
    print("|---|---|---|---|---|")
    for r in table:
        print(
            f"| {r['agent']} | {r['ms_per_update']:.2f} | {r['updates_per_s']:.0f} | "
            f"{r['time_over_ctflow_sac']:.2f} | {r['time_over_same_network_sac']:.2f} |"
        )
    summary = {}
    if "Stable-Baselines3 SAC" in per_update:
        summary["sb3_over_ctflow_sac_time"] = per_update["Stable-Baselines3 SAC"] / sac
        print(
            f"\nctflow SAC vs SB3 SAC: {summary['sb3_over_ctflow_sac_time']:.2f}x the updates/s "
            "(target >= 1.0x)"
        )
    for k in (8, 32):
        summary[f"smac_k{k}_over_sac_time"] = per_update[f"ctflow SMAC K = {k}"] / sac
        summary[f"smac_k{k}_over_same_network_sac_time"] = per_update[f"ctflow SMAC K = {k}"] / same
        plain = per_update[f"ctflow SMAC K = {k}, critic Q(s, a)"]
        summary[f"smac_k{k}_critic_sa_over_sac_time"] = plain / sac
    print(
        f"SMAC cost vs SAC: K = 8 {summary['smac_k8_over_sac_time']:.2f}x, "
        f"K = 32 {summary['smac_k32_over_sac_time']:.2f}x (target <= 2x at K = 32); "
        f"with a critic Q(s, a): K = 8 {summary['smac_k8_critic_sa_over_sac_time']:.2f}x, "
        f"K = 32 {summary['smac_k32_critic_sa_over_sac_time']:.2f}x"
    )
    payload = {"torch": torch.__version__, "sb3": sb3_version, "rows": table, "summary": summary}
    write_report(args.out, payload)


if __name__ == "__main__":
    main()
