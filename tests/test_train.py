import json
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import ctflow
from ctflow.checkpoint import Checkpointer, load_checkpoint
from ctflow.reproduce import aggregate, reproduce
from ctflow.runs import resume_experiment, run_experiment, sample_run
from ctflow.solvers import SolverError, odeint
from ctflow.train import fit


class Interrupt(Exception):
    pass


def make_model():
    torch.manual_seed(123)
    return torch.nn.Sequential(
        torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)
    ).double()


def make_loss(model, gen, stop_at=None):
    w = torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64)

    def loss_fn(step):
        if step == stop_at:
            raise Interrupt
        x = torch.randn(32, 3, generator=gen, dtype=torch.float64)
        noise = 0.1 * torch.randn(32, 1, dtype=torch.float64)  # the global RNG, restored too
        return ((model(x) - x @ w - noise) ** 2).mean()

    return loss_fn


OPTS = dict(
    steps=20, lr=1e-2, schedule="cosine", warmup=3, grad_clip=5.0, ema_decay=0.9, progress=False
)


def test_resume_is_bit_identical(tmp_path):
    torch.manual_seed(0)
    model = make_model()
    gen = torch.Generator().manual_seed(5)
    fit(make_loss(model, gen), model, generators=[gen], **OPTS)

    path = tmp_path / "ckpt.pt"
    torch.manual_seed(0)
    first = make_model()
    gen = torch.Generator().manual_seed(5)
    ckpt = Checkpointer(path, experiment="test", config={}, every=5)
    ckpt.track({"m": first})
    with pytest.raises(Interrupt):
        fit(make_loss(first, gen, stop_at=13), first, generators=[gen], checkpointer=ckpt, **OPTS)
    payload = load_checkpoint(path)
    assert payload["extra"]["phases"]["train"]["step"] == 10

    torch.manual_seed(999)  # a fresh process would start from other RNG states
    resumed = make_model()
    gen = torch.Generator().manual_seed(77)
    ckpt = Checkpointer(path, experiment="test", config={}, every=5, resume=payload)
    ckpt.track({"m": resumed})
    result = fit(make_loss(resumed, gen), resumed, generators=[gen], checkpointer=ckpt, **OPTS)
    assert result.resumed_at == 10
    for a, b in zip(model.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_ema_matches_an_independent_average():
    torch.manual_seed(0)
    model = make_model()
    trajectory = []
    inner = make_loss(model, torch.Generator().manual_seed(1))

    def loss_fn(step):
        if step > 0:  # parameters after `step` updates
            trajectory.append(
                torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()
            )
        return inner(step)

    opts = {**OPTS, "ema_decay": None}
    fit(loss_fn, model, **opts)
    trajectory.append(torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone())
    ema = trajectory[0]
    for p in trajectory[1:]:
        ema = 0.9 * ema + 0.1 * p

    torch.manual_seed(0)
    model = make_model()
    fit(make_loss(model, torch.Generator().manual_seed(1)), model, **OPTS)
    torch.testing.assert_close(torch.nn.utils.parameters_to_vector(model.parameters()), ema)


def test_nan_guard_names_the_step_and_keeps_a_loadable_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = make_model()
    inner = make_loss(model, torch.Generator().manual_seed(2))

    def loss_fn(step):
        loss = inner(step)
        return loss * float("nan") if step == 7 else loss

    ckpt = Checkpointer(tmp_path / "c.pt", experiment="test", config={}, every=0)
    ckpt.track({"m": model})
    with pytest.raises(FloatingPointError, match=r"loss became nan at step 7.*saved in"):
        fit(loss_fn, model, checkpointer=ckpt, **{**OPTS, "ema_decay": None})
    payload = load_checkpoint(tmp_path / "c.pt")
    assert payload["extra"]["phases"]["train"]["step"] == 7
    restored = make_model()
    restored.load_state_dict(payload["models"]["m"])
    assert all(torch.isfinite(p).all() for p in restored.parameters())
    # they are the weights after 7 clean steps
    torch.manual_seed(0)
    clean = make_model()
    fit(
        make_loss(clean, torch.Generator().manual_seed(2)),
        clean,
        **{**OPTS, "ema_decay": None, "steps": 20},
    )
    torch.manual_seed(0)
    seven = make_model()
    loss7 = make_loss(seven, torch.Generator().manual_seed(2), stop_at=7)
    with pytest.raises(Interrupt):
        fit(loss7, seven, **{**OPTS, "ema_decay": None})
    for a, b in zip(seven.state_dict().values(), restored.state_dict().values()):
        assert torch.equal(a, b)


def test_runaway_ode_solve_in_the_loss_is_named_and_saved(tmp_path):
    torch.manual_seed(0)
    model = make_model()
    inner = make_loss(model, torch.Generator().manual_seed(2))

    def loss_fn(step):
        if step == 3:  # a field that blows up at t = 1, as a diverged CNF's does
            x0 = torch.ones(2)
            odeint(lambda t, x: x**2, x0, [0.0, 2.0], options={"max_num_steps": 30})
        return inner(step)

    ckpt = Checkpointer(tmp_path / "c.pt", experiment="test", config={}, every=0)
    ckpt.track({"m": model})
    message = r"train: the ODE solve failed: dopri5 .* at step 3.*saved"
    with pytest.raises(SolverError, match=message):
        fit(loss_fn, model, checkpointer=ckpt, **{**OPTS, "ema_decay": None})
    assert load_checkpoint(tmp_path / "c.pt")["extra"]["phases"]["train"]["step"] == 3


def test_experiment_resume_equals_uninterrupted_run(tmp_path, monkeypatch):
    import ctflow.data.point_sets as point_data

    cfg = {"steps": "12", "datasets": "8gaussians,checkerboard"}
    full_dir, _ = run_experiment(
        "cnf-2d",
        size="smoke",
        out=tmp_path / "full",
        overrides=cfg,
        progress=False,
        checkpoint_every=4,
    )
    calls = {"n": 0}
    real = point_data.sample_toy

    def flaky(name, *args, **kwargs):  # dies at step 5 of the second phase (checkpoint at 4)
        calls["n"] += name == "checkerboard"
        if calls["n"] == 6:
            raise Interrupt
        return real(name, *args, **kwargs)

    monkeypatch.setattr(point_data, "sample_toy", flaky)
    with pytest.raises(Interrupt):
        run_experiment(
            "cnf-2d",
            size="smoke",
            out=tmp_path / "cut",
            overrides=cfg,
            progress=False,
            checkpoint_every=4,
        )
    monkeypatch.setattr(point_data, "sample_toy", real)
    phases = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["extra"]["phases"]
    assert phases["cnf/8gaussians"]["done"] and phases["cnf/checkerboard"]["step"] == 4
    resume_experiment(tmp_path / "cut", progress=False, checkpoint_every=4)
    a, b = ctflow.load(full_dir), ctflow.load(tmp_path / "cut")
    for key in a:
        for x, y in zip(a[key].state_dict().values(), b[key].state_dict().values()):
            assert torch.equal(x, y)
    ra = json.loads((full_dir / "results.json").read_text())["metrics"]
    rb = json.loads((tmp_path / "cut" / "results.json").read_text())["metrics"]
    for key in ra:
        if "seconds" not in key:
            assert ra[key] == rb[key], key
    steps = [
        (r["tag"], r["step"])
        for r in map(json.loads, (tmp_path / "cut" / "series.jsonl").read_text().splitlines())
    ]
    assert len(steps) == len(set(steps))  # no repeated log rows after resume


def _ddp_worker(rank, world, store, out, x, y):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    model = make_model()
    half = slice(rank * len(x) // world, (rank + 1) * len(x) // world)
    fit(
        lambda step: ((model(x[half]) - y[half]) ** 2).mean(),
        model,
        steps=1,
        lr=0.1,
        optimizer="sgd",
        schedule="constant",
        progress=False,
    )
    if rank == 0:
        torch.save(model.state_dict(), out)
    # Both ranks leave gloo together: one tearing down while the other still holds the pair's
    # sockets aborts it now and then ("terminate called without an active exception").
    dist.barrier()
    dist.destroy_process_group()
    os._exit(0)  # no interpreter finalisation with gloo's threads about (it can abort too)


def test_two_process_ddp_averages_gradients_like_one_full_batch(tmp_path):
    x = torch.randn(64, 3, dtype=torch.float64)
    y = torch.randn(64, 1, dtype=torch.float64)
    out = tmp_path / "rank0.pt"
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "store"), str(out), x, y), nprocs=2, join=True)
    single = make_model()
    fit(
        lambda step: ((single(x) - y) ** 2).mean(),
        single,
        steps=1,
        lr=0.1,
        optimizer="sgd",
        schedule="constant",
        progress=False,
    )
    ddp = torch.load(out, weights_only=True)
    for key, value in single.state_dict().items():
        torch.testing.assert_close(ddp[key], value, atol=1e-12, rtol=0)
    start = make_model().state_dict()
    assert any(not torch.equal(start[k], v) for k, v in ddp.items())  # a step was taken


def test_aggregate_is_mean_and_sample_std():
    agg = aggregate([{"a/b/c": 1.0, "a/b/d": 5.0}, {"a/b/c": 3.0}])
    assert agg["a/b/c"]["mean"] == 2.0 and agg["a/b/c"]["std"] == pytest.approx(
        np.std([1, 3], ddof=1)
    )
    assert agg["a/b/d"] == {"mean": 5.0, "std": 0.0, "n": 1, "values": [5.0]}


def test_reproduce_two_smoke_seeds(tmp_path, capsys):
    report = reproduce(["cnf-2d"], seeds=[0, 1], size="smoke", out=tmp_path, progress=False)
    summary = json.loads(report.with_suffix(".json").read_text())["cnf-2d"]
    per_seed = [
        json.loads((tmp_path / "cnf-2d-smoke" / f"seed{s}" / "results.json").read_text())
        for s in (0, 1)
    ]
    key = "cnf/checkerboard/test_nll"
    values = [p["metrics"][key] for p in per_seed]
    assert values[0] != values[1]
    assert summary["metrics"][key]["mean"] == pytest.approx(np.mean(values))
    assert summary["metrics"][key]["std"] == pytest.approx(np.std(values, ddof=1))
    text = report.read_text()
    assert "ctflow reproduce cnf-2d --smoke --seeds 0 1" in text and key in text
    for line in text.splitlines():  # every figure link resolves
        if line.startswith("!["):
            assert (report.parent / line[line.index("(") + 1 : -1]).is_file()
    reproduce(["cnf-2d"], seeds=[0, 1], size="smoke", out=tmp_path, progress=False)
    assert capsys.readouterr().out.count("reusing") == 2


def test_sample_writes_npy_and_figure(tmp_path):
    run_dir, _ = run_experiment(
        "cnf-2d",
        size="smoke",
        out=tmp_path / "r",
        progress=False,
        overrides={"steps": "2", "datasets": "8gaussians"},
    )
    paths = sample_run(run_dir, 50)
    arr = np.load(paths[0])
    assert arr.shape == (50, 2) and np.isfinite(arr).all()
    assert paths[1].suffix == ".png" and paths[1].stat().st_size > 1000
    with pytest.raises(ValueError, match="no model 'x'.*choose one of: 8gaussians"):
        sample_run(run_dir, 5, model="x")
    with pytest.raises(ValueError, match="-n must be an integer from 1 to"):
        sample_run(run_dir, 0)


def _interrupted_run(tmp_path, monkeypatch, name="cut", overrides=None):
    """A cnf-2d smoke run killed at step 6 of its only phase (checkpoint at step 4)."""
    import ctflow.data.point_sets as point_data

    cfg = {"steps": "12", "datasets": "8gaussians", **(overrides or {})}
    calls = {"n": 0}
    real = point_data.sample_toy

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:
            raise Interrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(point_data, "sample_toy", flaky)
    with pytest.raises(Interrupt):
        run_experiment(
            "cnf-2d", size="smoke", out=tmp_path / name, overrides=cfg, progress=False,
            checkpoint_every=4,
        )  # fmt: skip
    monkeypatch.setattr(point_data, "sample_toy", real)
    return tmp_path / name


def test_resume_refuses_a_checkpoint_of_another_experiment_or_config(tmp_path, monkeypatch):
    run = _interrupted_run(tmp_path, monkeypatch)
    other = _interrupted_run(tmp_path, monkeypatch, "other", {"hidden": "8"})
    ckpt = run / "checkpoint.pt"
    ckpt.write_bytes((other / "checkpoint.pt").read_bytes())
    before = ckpt.read_bytes()
    with pytest.raises(ValueError, match=r"another config of cnf-2d \(fields hidden differ"):
        resume_experiment(run, progress=False)
    payload = load_checkpoint(ckpt)
    payload["experiment"] = "flow-matching-2d"
    torch.save(payload, ckpt)
    before = ckpt.read_bytes()
    with pytest.raises(ValueError, match="written by experiment 'flow-matching-2d'"):
        resume_experiment(run, progress=False)
    assert ckpt.read_bytes() == before  # refused before anything was overwritten


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 damaged", b"not a checkpoint"])
def test_a_damaged_checkpoint_is_a_clear_error(tmp_path, monkeypatch, content):
    run = _interrupted_run(tmp_path, monkeypatch)
    (run / "checkpoint.pt").write_bytes(content)
    with pytest.raises(ValueError, match="not a readable ctflow checkpoint") as err:
        resume_experiment(run, progress=False)
    assert "weights_only" not in str(err.value)


def test_a_damaged_run_json_names_the_file(tmp_path, monkeypatch):
    run = _interrupted_run(tmp_path, monkeypatch)
    (run / "run.json").write_text("")
    with pytest.raises(ValueError, match="run.json is damaged"):
        resume_experiment(run, progress=False)


def test_resume_survives_a_torn_last_log_line_and_logs_each_step_once(tmp_path, monkeypatch):
    full, _ = run_experiment(
        "cnf-2d", size="smoke", out=tmp_path / "full", progress=False, checkpoint_every=4,
        overrides={"steps": "12", "datasets": "8gaussians"},
    )  # fmt: skip
    run = _interrupted_run(tmp_path, monkeypatch)
    with open(run / "series.jsonl", "a") as f:
        f.write('{"tag": "cnf/8gaussians", "st')  # killed mid-write
    resume_experiment(run, progress=False, checkpoint_every=4)

    def steps(d):
        rows = [json.loads(line) for line in (d / "series.jsonl").read_text().splitlines()]
        return [(r["tag"], r["step"]) for r in rows]

    assert steps(run) == steps(full)


def test_a_run_killed_before_its_first_checkpoint_resumes_without_repeated_rows(
    tmp_path, monkeypatch
):
    run = _interrupted_run(tmp_path, monkeypatch)
    (run / "checkpoint.pt").unlink()  # as if killed before step 4
    resume_experiment(run, progress=False, checkpoint_every=4)
    rows = [json.loads(line) for line in (run / "series.jsonl").read_text().splitlines()]
    keys = [(r["tag"], r["step"]) for r in rows]
    assert len(keys) == len(set(keys))


def test_stale_temporary_checkpoints_are_removed(tmp_path):
    from ctflow.checkpoint import save_checkpoint

    stale = tmp_path / ".c.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    save_checkpoint(tmp_path / "c.pt", experiment="x", config={}, models={})
    assert not stale.exists() and load_checkpoint(tmp_path / "c.pt")["experiment"] == "x"


def test_progress_without_a_terminal_is_plain_lines(capsys):
    model = torch.nn.Linear(2, 1)
    x = torch.randn(16, 2)
    fit(lambda step: model(x).pow(2).mean(), model, steps=20, lr=1e-2, progress=True, tag="demo")
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("demo: step")]
    assert len(lines) == 11 and lines[-1].startswith("demo: step 20/20")  # first, then each tenth
    assert "\r" not in err


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_fused_optimizer_equals_the_default_up_to_rounding(name):
    from ctflow.train import make_optimizer

    torch.manual_seed(0)
    a = torch.nn.Linear(4, 3).double()
    b = torch.nn.Linear(4, 3).double()
    b.load_state_dict(a.state_dict())
    initial = a.weight.detach().clone()
    opts = [
        make_optimizer(m.parameters(), name, 1e-2, 0.1, fused=f) for m, f in ((a, False), (b, True))
    ]
    for step in range(20):
        x = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(step))
        for m, opt in zip((a, b), opts):
            opt.zero_grad()
            m(x).square().mean().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)
    assert (b.weight - initial).abs().max() > 1e-2  # it trained


def test_fused_is_refused_for_sgd():
    from ctflow.train import make_optimizer

    with pytest.raises(ValueError, match="fused=True applies to 'adam' and 'adamw'"):
        make_optimizer(torch.nn.Linear(2, 2).parameters(), "sgd", fused=True)
