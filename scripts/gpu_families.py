"""One training step and one sampling (or solve) call per method family, timed on a device.

Used by ``scripts/gpu_check.py``. Each family builds a small model of the size its experiments use
on ``device``, and returns two callables: ``train()`` (loss, backward, Adam step) and ``sample()``
(the family's generation or solve, without gradients). Timing synchronises the device around
each call, warms up twice, and reports the median of ``repeats`` calls in milliseconds.

SMAC and the sequence compressor are left out on purpose: their inner loops are host-bound (a
gymnasium environment on the CPU, an entropy coder over Python integers).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

__all__ = ["FAMILIES", "time_families"]


def _adam_step(model: torch.nn.Module, loss_fn: Callable[[], torch.Tensor], lr: float = 1e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def step():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()

    return step


def flow_matching(device: torch.device):
    from ctflow.flows import cfm_loss
    from ctflow.nn import TimeMLP
    from ctflow.paths import CondOTPath
    from ctflow.solvers import odeint

    net = TimeMLP(2, hidden=(256,) * 3).to(device)
    x1 = torch.randn(4096, 2, device=device)
    x0 = torch.randn(4096, 2, device=device)
    train = _adam_step(net, lambda: cfm_loss(net, CondOTPath(), x1))
    return train, lambda: odeint(net, x0, [0.0, 1.0], method="midpoint", step_size=0.02)[-1]


def cnf_likelihood(device: torch.device):
    from ctflow.flows import CNF
    from ctflow.nn import TimeMLP

    flow = CNF(TimeMLP(2, hidden=(256,) * 3), 2, method="rk4", step_size=0.125).to(device)
    x = torch.randn(2048, 2, device=device)
    train = _adam_step(flow, lambda: -flow().log_prob(x).mean())
    return train, lambda: flow().sample((4096,))


def cpflow(device: torch.device):
    from ctflow.flows import CPFlow

    flow = CPFlow(2, blocks=2, hidden=(64, 64)).to(device)
    x = torch.randn(1024, 2, device=device)
    flow.initialize(x)
    train = _adam_step(flow, lambda: -flow().log_prob(x).mean())
    return train, lambda: flow().sample((1024,))


def divergence_free(device: torch.device):
    from ctflow.fields import MatrixField

    field = MatrixField(2, hidden=(64, 64)).to(device)
    x, u = torch.randn(1024, 2, device=device), torch.randn(1024, 2, device=device)
    train = _adam_step(field, lambda: (field(x) - u).square().sum(-1).mean())
    return train, lambda: field(x)


def ppd_sphere(device: torch.device):
    from ctflow.flows import RiemannianCNF, TangentField
    from ctflow.manifolds import Sphere
    from ctflow.ppd import KernelMixturePath, ppd_loss

    sphere = Sphere(2)
    data = torch.nn.functional.normalize(torch.randn(2048, 3, device=device), dim=-1)
    path = KernelMixturePath(sphere, data, scale_start=1.0, scale_end=0.1)
    field = TangentField(sphere, hidden=(64, 64, 64)).to(device)
    flow = RiemannianCNF(field, sphere, method="rk4", step_size=0.05)
    train = _adam_step(field, lambda: ppd_loss(field, path, 256))
    return train, lambda: flow().sample((1024,))


def sdebnn(device: torch.device):
    from ctflow.bayes import SDEBNN

    model = SDEBNN(1, 1, state=8, field_hidden=16, steps=10, likelihood="gaussian", sigma=0.1)
    model = model.to(device)
    x = torch.linspace(-2, 2, 256, device=device)[:, None]
    y = torch.sin(3 * x)[:, 0]
    train = _adam_step(model, lambda: model.loss(x, y, n_data=len(x))[0])
    return train, lambda: model.predict(x, samples=32).mean


def voronoi_dequantization(device: torch.device):
    import zuko

    from ctflow.flows import Dequantization, dequantization_posterior, make_dequantizer

    levels = (5, 4, 7)
    deqs = [make_dequantizer("voronoi", k, dim=2) for k in levels]
    prior = zuko.flows.NSF(2 * len(levels), transforms=2, hidden_features=(32, 32))
    posterior = dequantization_posterior(
        2 * len(levels), sum(levels), transforms=2, hidden_features=(32, 32)
    )
    model = Dequantization(deqs, prior, posterior).to(device)
    x = torch.stack([torch.randint(k, (512,)) for k in levels], 1).to(device)
    train = _adam_step(model, lambda: -model.elbo(x).mean())
    return train, lambda: model.sample((4096,))


def gflownet(device: torch.device):
    from ctflow.gfn import GFlowNetPolicy, SequenceEnv, gfn_loss, sample_trajectories

    env = SequenceEnv(vocab=4, length=6, log_reward_fn=lambda tokens: -tokens.float().sum(-1))
    policy = GFlowNetPolicy.for_env(env, hidden=(128, 128)).to(device)

    def loss():
        return gfn_loss("tb", env, policy, sample_trajectories(env, policy, 64))

    train = _adam_step(policy, loss)
    return train, lambda: sample_trajectories(env, policy, 1024)


def steady_state_gradient(device: torch.device):
    from ctflow.quantum import liouvillian, random_lindbladian, steady_state

    H, c_ops = (a.to(device) for a in random_lindbladian(12, k=2, seed=0))
    theta = torch.zeros((), dtype=torch.float64, device=device, requires_grad=True)
    observable = torch.diag(torch.arange(12.0, dtype=torch.float64)).to(device, torch.complex128)

    def train():  # forward solve and the implicit backward
        rho = steady_state(liouvillian(H + theta * observable, c_ops))
        torch.einsum("ij,ji->", observable, rho).real.backward()

    return train, lambda: steady_state(liouvillian(H, c_ops))


FAMILIES: dict[str, Callable] = {
    "flow matching (3x256, batch 4096; midpoint 100 NFE)": flow_matching,
    "CNF likelihood (3x256, batch 2048; rk4 sampling)": cnf_likelihood,
    "CP-Flow (2 blocks, batch 1024)": cpflow,
    "divergence-free field (MatrixField, 1024 points)": divergence_free,
    "PPD on the sphere (256 draws; rk4 sampling)": ppd_sphere,
    "SDE-BNN (256 points; 32-sample predictive)": sdebnn,
    "Voronoi dequantization (ELBO, batch 512)": voronoi_dequantization,
    "GFlowNet (TB, 64 trajectories; 1024 samples)": gflownet,
    "steady state (n = 12; solve + implicit gradient)": steady_state_gradient,
}


def _median_ms(fn: Callable, device: torch.device, repeats: int) -> float:
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(2):  # warm-up: kernels, allocator, lazy initialisation
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def time_families(device: torch.device, repeats: int = 5) -> list[dict]:
    """Time each family's training step and sampling call; a failure is recorded, not raised."""
    rows = []
    print(f"\n| family | train step ms | sample ms |  ({device}, median of {repeats})")
    print("|---|---|---|")
    for name, build in FAMILIES.items():
        try:
            torch.manual_seed(0)
            train, sample = build(device)
            train_ms = _median_ms(train, device, repeats)
            with torch.no_grad():
                sample_ms = _median_ms(sample, device, repeats)
            row = {"family": name, "train_ms": train_ms, "sample_ms": sample_ms, "error": None}
            print(f"| {name} | {train_ms:.2f} | {sample_ms:.2f} |", flush=True)
        except Exception as err:  # noqa: BLE001 -- a family that fails on a device is a finding
            row = {"family": name, "train_ms": None, "sample_ms": None, "error": repr(err)}
            print(f"| {name} | failed: {err!r} | |", flush=True)
        rows.append(row)
    return rows
