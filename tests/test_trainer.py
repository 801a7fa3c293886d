"""The Trainer's extensions: evaluation, the best state (checkpointed, so resume is exact),
early stopping, sinks, per-module learning rates, gradient accumulation, bf16 autocast and the
lazy NaN check used on accelerators. Each is checked against an independent computation."""

import copy
import csv
import json

import pytest
import torch

from ctflow.checkpoint import Checkpointer, load_checkpoint
from ctflow.train import (
    CSVSink,
    EarlyStopping,
    Evaluate,
    KeepBest,
    SeriesLogger,
    Trainer,
    fit,
    parameter_groups,
)


def _problem(seed=0, noise=0.0):
    """A small regression with its own data generator; a held-out set for evaluation."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    gen = torch.Generator().manual_seed(seed + 1)
    x_val = torch.randn(200, 3, generator=torch.Generator().manual_seed(99))
    y_val = x_val.sum(-1).sin()

    def loss_fn(step):
        x = torch.randn(32, 3, generator=gen)
        y = x.sum(-1).sin() + noise * torch.randn(32, generator=gen)
        return (net(x).squeeze(-1) - y).square().mean()

    def val(model):
        with torch.no_grad():
            return float((model(x_val).squeeze(-1) - y_val).square().mean())

    return net, loss_fn, gen, val


def test_keep_best_loads_the_state_with_the_best_validation_value():
    # an independent record: evaluate every 10 steps by hand, keeping deep copies
    net, loss_fn, gen, val = _problem(noise=3.0)  # noisy, so validation goes up and down
    manual = {}

    def watched(step, net=net):
        if step % 10 == 0:
            manual[step] = (val(net), copy.deepcopy(net.state_dict()))
        return loss_fn(step)

    fit(watched, net, steps=200, lr=0.05, progress=False, generators=[gen])
    manual[200] = (val(net), copy.deepcopy(net.state_dict()))
    best_step = min(manual, key=lambda s: manual[s][0])
    assert best_step not in (0, 200)  # the test needs a best state in the middle

    net2, loss_fn2, gen2, val2 = _problem(noise=3.0)
    result = fit(loss_fn2, net2, steps=200, lr=0.05, progress=False, generators=[gen2],
                 callbacks=[Evaluate(val2, every=10), KeepBest("val")])  # fmt: skip
    assert result.best == {"value": manual[best_step][0], "step": best_step, "monitor": "val"}
    for k, v in net2.state_dict().items():
        assert torch.equal(v, manual[best_step][1][k])
    assert [m["step"] for m in result.metrics] == list(range(0, 201, 10))


def test_early_stopping_stops_after_patience_reports_without_improvement():
    net, loss_fn, gen, _ = _problem()
    values = iter([5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 2.0])  # best 3.0 at step 20, then 3 worse
    stopper = EarlyStopping("val", patience=3)
    evaluate = Evaluate(lambda m: next(values), every=10, at_end=False)
    result = fit(loss_fn, net, steps=100, progress=False, generators=[gen],
                 callbacks=[evaluate, stopper])  # fmt: skip
    assert stopper.stopped_at == 50 and result.stopped_at == 50
    assert len(result.losses) == 50  # steps 0..49 ran; step 50 did not


@pytest.mark.parametrize("monitor", ["val", "drift"])
def test_keep_best_and_early_stopping_resume_exactly(tmp_path, monitor):
    # "drift" (distance from the initial weights) is best at step 0, long before the crash:
    # only a checkpointed best state survives it
    def run(crash_at=None, path=None, resume=False):
        net, loss_fn, gen, val = _problem(noise=3.0)
        start = [p.detach().clone() for p in net.parameters()]

        def metrics(model):
            drift = sum(float((p - q).square().sum()) for p, q in zip(model.parameters(), start))
            return {"val": val(model), "drift": drift}

        def maybe_crash(step):
            if step == crash_at:
                raise KeyboardInterrupt  # a killed process
            return loss_fn(step)

        ckpt = None
        if path is not None:
            saved = load_checkpoint(path) if resume else None
            ckpt = Checkpointer(path, experiment="t", config={}, every=30, resume=saved)
            ckpt.track({"net": net})
        callbacks = [Evaluate(metrics, every=10), KeepBest(monitor), EarlyStopping("val", 50)]
        result = fit(maybe_crash, net, steps=150, lr=0.05, progress=False, generators=[gen],
                     checkpointer=ckpt, callbacks=callbacks)  # fmt: skip
        return net, result

    ref_net, ref = run()
    path = tmp_path / "ckpt.pt"
    with pytest.raises(KeyboardInterrupt):
        run(crash_at=100, path=path)  # the last checkpoint is at step 90
    net, result = run(path=path, resume=True)
    assert result.resumed_at == 90
    assert result.best == ref.best and result.losses == ref.losses
    assert result.metrics == ref.metrics
    for a, b in zip(net.state_dict().values(), ref_net.state_dict().values()):
        assert torch.equal(a, b)


def test_sinks_receive_every_row(tmp_path):
    net, loss_fn, gen, val = _problem()
    seen = []
    series = SeriesLogger(tmp_path / "series.jsonl")
    table = CSVSink(tmp_path / "rows.csv")
    fit(loss_fn, net, steps=60, progress=False, generators=[gen], log_every=20,
        sinks=[seen.append, table], logger=series, callbacks=[Evaluate(val, every=30)])  # fmt: skip
    train_rows = [r for r in seen if r["tag"] == "train"]
    eval_rows = [r for r in seen if r["tag"] == "train/eval"]
    assert [r["step"] for r in train_rows] == [0, 20, 40, 59]
    assert [r["step"] for r in eval_rows] == [0, 30, 60]
    lines = [json.loads(line) for line in (tmp_path / "series.jsonl").read_text().splitlines()]
    assert lines == seen
    with open(tmp_path / "rows.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(seen) and list(rows[0]) == ["tag", "step", "val", "loss", "lr",
                                                        "grad_norm"]  # fmt: skip
    assert float(rows[1]["loss"]) == seen[1]["loss"] and rows[0]["loss"] == ""


def test_per_module_learning_rates():
    net, loss_fn, gen, _ = _problem()
    groups = parameter_groups(net, {"0": 1e-2})
    assert [g["name"] for g in groups] == ["0", "rest"]
    assert groups[0]["params"] == list(net[0].parameters())
    trainer = Trainer(net, loss_fn, steps=5, lr=1e-3, lrs={"0": 1e-2}, schedule="constant",
                      progress=False)  # fmt: skip
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [1e-2, 1e-3]
    # with SGD the first update of each group is -lr * grad: check against autograd
    net_a, loss_a, _, _ = _problem()
    before = copy.deepcopy(net_a.state_dict())
    grads = torch.autograd.grad(loss_a(0), list(net_a.parameters()))
    net_b, loss_b, gen_b, _ = _problem()
    fit(loss_b, net_b, steps=1, lr=1e-3, lrs={"2": 0.5}, optimizer="sgd", schedule="constant",
        progress=False, generators=[gen_b])  # fmt: skip
    for (name, p), g in zip(net_b.named_parameters(), grads):
        lr = 0.5 if name.startswith("2.") else 1e-3
        torch.testing.assert_close(p.detach(), before[name] - lr * g, rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match="no trainable parameters under 'encoder'"):
        parameter_groups(net, {"encoder": 1e-3})


def test_gradient_accumulation_equals_one_larger_batch():
    torch.manual_seed(0)
    make = lambda: torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(),  # noqa: E731
                                       torch.nn.Linear(8, 1)).double()  # fmt: skip
    net_a = make()
    net_b = copy.deepcopy(net_a)
    x = torch.randn(8, 64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    y = x.sum(-1, keepdim=True).sin()
    calls = {"n": 0}

    def halves(step):  # step s, micro-batch k: the k-th half of batch s
        k = calls["n"] % 2
        calls["n"] += 1
        xs, ys = x[step, 32 * k : 32 * (k + 1)], y[step, 32 * k : 32 * (k + 1)]
        return (net_a(xs) - ys).square().mean()

    fit(halves, net_a, steps=8, lr=0.01, accumulate=2, progress=False, schedule="constant")
    fit(lambda s: (net_b(x[s]) - y[s]).square().mean(), net_b, steps=8, lr=0.01,
        progress=False, schedule="constant")  # fmt: skip
    assert calls["n"] == 16
    for a, b in zip(net_a.parameters(), net_b.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_bf16_autocast_trains_in_bfloat16_and_keeps_float32_weights():
    net, loss_fn, gen, val = _problem()
    dtypes = []
    start = val(net)
    net[0].register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    fit(loss_fn, net, steps=150, lr=0.02, autocast="bf16", progress=False, generators=[gen])
    assert dtypes and set(dtypes) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert val(net) < 0.5 * start


def test_the_lazy_check_names_the_first_bad_step():
    # what an accelerator run does (checks every log_every steps), forced on the CPU
    net, loss_fn, gen, _ = _problem()

    def poisoned(step):
        loss = loss_fn(step)
        return loss * float("nan") if step in (13, 15) else loss

    with pytest.raises(FloatingPointError, match="at step 13 \\(checked every 10 steps\\)"):
        fit(poisoned, net, steps=40, progress=False, generators=[gen], check_every=10)
    net, loss_fn, gen, _ = _problem()
    eager = fit(loss_fn, net, steps=25, progress=False, generators=[gen])
    net, loss_fn, gen, _ = _problem()
    lazy = fit(loss_fn, net, steps=25, progress=False, generators=[gen], check_every=10)
    assert lazy.losses == eager.losses  # the same numbers, read back in blocks


def test_bad_options_are_refused_by_name():
    net, loss_fn, _, _ = _problem()
    for kwargs, message in [
        ({"accumulate": 0}, "accumulate"),
        ({"autocast": "fp8"}, "autocast"),
        ({"log_every": 0}, "log_every"),
        ({"check_every": 0}, "check_every"),
    ]:
        with pytest.raises(ValueError, match=message):
            Trainer(net, loss_fn, steps=3, **kwargs)
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="mode"):
        KeepBest(mode="lowest")
    with pytest.raises(RuntimeError, match="put an Evaluate"):
        fit(loss_fn, net, steps=3, progress=False, callbacks=[KeepBest("val")])


def test_evaluation_does_not_move_the_training_stream():
    # an evaluation that draws from the global RNG: isolated, training sees the same noise as
    # with no evaluation at all
    def run(callbacks):
        net, _, _, _ = _problem()
        torch.manual_seed(7)
        x = torch.randn(64, 3, generator=torch.Generator().manual_seed(1))

        def loss_fn(step):
            noise = 0.1 * torch.randn(64)  # the global stream
            return (net(x).squeeze(-1) - x.sum(-1).sin() - noise).square().mean()

        return fit(loss_fn, net, steps=30, progress=False, callbacks=callbacks).losses

    noisy_eval = lambda m: float(torch.randn(1000).mean())  # noqa: E731
    plain = run([])
    assert run([Evaluate(noisy_eval, every=5)]) == plain
    assert run([Evaluate(noisy_eval, every=5, isolate_rng=False)]) != plain
