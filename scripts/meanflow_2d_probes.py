"""Probes of MeanFlow's one-jump gap on the 2D toys (docs/results/meanflow.md, "Tried").

    python scripts/meanflow_2d_probes.py DATASET STEPS SEED 'VARIANTS'

VARIANTS is a Python list of dicts, one training run each, e.g.
``'[{"m": "fm"}, {"m": "mf", "hidden": (256, 256, 256, 256)}, {"m": "mf", "ends": 0.1}]'``.
Keys:
``m`` ("fm" or "mf"), ``hidden``, ``lr``, ``B`` (batch), ``eq`` (share with s = t), ``times``
("uniform" or "logit", with ``mu``, ``sig``), ``ends`` (share of the batch at s = 0, t = 1),
``ema`` (decay of an exponential moving average of the weights, which is then evaluated),
``selfv`` (True: where s < t, the velocity in the JVP tangent and the target is the model's
own ``u(s, s, x_s)`` without gradient, not the conditional ``x1 - x0``).
Training is the experiment's (Adam, cosine with 100 warm-up steps, gradient clip 10); the
evaluation is one jump (MeanFlow) or a 100-NFE midpoint solve (flow matching) from 2000 fixed
noise draws, exact W2 against 2000 fresh data points. Prints one line per run.
"""

from __future__ import annotations

import ast
import math
import sys
import time

import torch

from ctflow.data import sample_toy
from ctflow.flows import (
    average_velocity_and_derivative,
    cfm_loss,
    flow_map_sample,
    meanflow_loss,
)
from ctflow.metrics import wasserstein2
from ctflow.nn import FlowMapMLP, TimeMLP
from ctflow.paths import CondOTPath
from ctflow.solvers import odeint


def draw_times(B: int, gen: torch.Generator, v: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """``(s, t)`` of shape ``(B,)``: sorted pairs (uniform or logit-normal), ``s = t`` for a
    share ``eq``, and ``(0, 1)`` for a share ``ends``."""
    if v.get("times", "uniform") == "uniform":
        a, b = torch.rand(B, generator=gen), torch.rand(B, generator=gen)
    else:  # the paper's logit-normal, in ctflow's time direction (s = 0 is noise)
        mu, sig = v.get("mu", 0.4), v.get("sig", 1.0)
        a = torch.sigmoid(mu + sig * torch.randn(B, generator=gen))
        b = torch.sigmoid(mu + sig * torch.randn(B, generator=gen))
    s, t = torch.minimum(a, b), torch.maximum(a, b)
    u = torch.rand(B, generator=gen)
    s = torch.where(u < v.get("eq", 0.75), t, s)
    ends = u > 1 - v.get("ends", 0.0)
    return torch.where(ends, 0.0, s), torch.where(ends, 1.0, t)


def self_velocity_loss(net, path, x1, s, t, gen) -> torch.Tensor:
    """MeanFlow's loss with the model's instantaneous velocity where ``s < t``: the same target
    in expectation over ``x1`` given ``x_s``, with less variance."""
    x0 = torch.randn(x1.shape, generator=gen)
    sample = path._sample(x0, x1, s)
    with torch.no_grad():
        v_model = net(s, s, sample.x_t)
    v = torch.where((s == t).unsqueeze(-1), sample.dx_t, v_model)
    u, du_ds = average_velocity_and_derivative(net, s, t, sample.x_t, v)
    target = (v + (t - s).unsqueeze(-1) * du_ds).detach()
    return (u - target).square().mean()


def train(v: dict, data: str, steps: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    hidden = v.get("hidden", (128,) * 3)
    net = TimeMLP(2, hidden=hidden) if v["m"] == "fm" else FlowMapMLP(2, hidden=hidden)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=v.get("lr", 1e-3))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: min(1.0, (k + 1) / 100) * 0.5 * (1 + math.cos(math.pi * k / steps))
    )
    path = CondOTPath()
    ema = None
    if v.get("ema"):
        avg = torch.optim.swa_utils.get_ema_multi_avg_fn(v["ema"])
        ema = torch.optim.swa_utils.AveragedModel(net, multi_avg_fn=avg)
    for _ in range(steps):
        x1 = sample_toy(data, v.get("B", 512), generator=gen)
        if v["m"] == "fm":
            loss = cfm_loss(net, path, x1, generator=gen)
        else:
            s, t = draw_times(len(x1), gen, v)
            if v.get("selfv"):
                loss = self_velocity_loss(net, path, x1, s, t, gen)
            else:
                loss = meanflow_loss(net, path, x1, s=s, t=t, generator=gen)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        sched.step()
        if ema is not None:
            ema.update_parameters(net)
    return net if ema is None else ema.module


def main() -> None:
    torch.set_num_threads(1)
    data, steps, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    variants = ast.literal_eval(sys.argv[4])
    gen = torch.Generator().manual_seed(10**6 + seed)
    x_ref = sample_toy(data, 2000, generator=gen).double()
    x0 = torch.randn(2000, 2, generator=gen)
    for v in variants:
        start = time.time()
        net = train(v, data, steps, seed)
        with torch.no_grad():
            if v["m"] == "fm":
                x = odeint(net, x0, [0.0, 1.0], method="midpoint", step_size=0.02)[-1]
            else:
                x = flow_map_sample(net, x0, 1)
        w2 = float(wasserstein2(x.double(), x_ref))
        print(f"{data} seed {seed} {v}: W2 {w2:.4f} ({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
