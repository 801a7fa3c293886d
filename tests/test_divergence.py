import pytest
import torch

from ctflow.ops import divergence, gaussian_like, rademacher_like


def make_field(d, dtype=torch.float64):
    torch.manual_seed(3)
    net = torch.nn.Sequential(
        torch.nn.Linear(d + 1, 32), torch.nn.Tanh(), torch.nn.Linear(32, d)
    ).to(dtype)

    def f(t, x):
        return net(torch.cat([x, t.expand(*x.shape[:-1], 1)], -1))

    return f, net


def jacobian_trace(f, t, x):
    """Independent truth: the full autograd Jacobian of each point, then its trace."""
    flat = x.reshape(-1, x.shape[-1])
    traces = [torch.autograd.functional.jacobian(lambda z: f(t, z), p).trace() for p in flat]
    return torch.stack(traces).reshape(x.shape[:-1])


@pytest.mark.parametrize("d", [1, 2, 5])
@pytest.mark.parametrize("batch", [(), (4,), (2, 3)])
def test_exact_divergence_is_jacobian_trace(d, batch):
    f, _ = make_field(d)
    x = torch.randn(*batch, d, dtype=torch.float64)
    t = torch.tensor(0.3, dtype=torch.float64)
    dx, div = divergence(f, t, x)
    assert div.shape == batch
    torch.testing.assert_close(dx, f(t, x))
    torch.testing.assert_close(div, jacobian_trace(f, t, x))


def test_event_ndim_two():
    w = torch.randn(6, 6, dtype=torch.float64)

    def f(t, x):  # x: (*batch, 2, 3)
        return torch.tanh(x.flatten(-2) @ w).reshape(x.shape)

    x = torch.randn(4, 2, 3, dtype=torch.float64)
    _, div = divergence(f, torch.tensor(0.0), x, event_ndim=2)
    flat_f = lambda t, z: f(t, z.reshape(*z.shape[:-1], 2, 3)).flatten(-2)  # noqa: E731
    torch.testing.assert_close(div, jacobian_trace(flat_f, torch.tensor(0.0), x.flatten(-2)))


@pytest.mark.parametrize("draw", [rademacher_like, gaussian_like])
def test_hutchinson_is_unbiased(draw):
    f, _ = make_field(4)
    x = torch.randn(3, 4, dtype=torch.float64)
    t = torch.tensor(0.0, dtype=torch.float64)
    _, exact = divergence(f, t, x)
    xs = x.expand(4000, 3, 4)
    gen = torch.Generator().manual_seed(0)
    _, est = divergence(f, t, xs, method="hutchinson", probe=draw(xs, generator=gen))
    stderr = est.std(0) / 4000**0.5
    assert ((est.mean(0) - exact).abs() < 4 * stderr + 1e-12).all()


def test_divergence_is_differentiable():
    w = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    probe = rademacher_like(x)

    def div_of(w, x, method):
        return divergence(
            lambda t, z: torch.tanh(z @ w), torch.tensor(0.0), x, method=method, probe=probe
        )[1]

    for method in ("exact", "hutchinson"):
        assert torch.autograd.gradcheck(lambda w, x, method=method: div_of(w, x, method), (w, x))


def test_no_grad_gives_detached_values():
    f, _ = make_field(2)
    with torch.no_grad():
        dx, div = divergence(
            f, torch.tensor(0.0, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
        )
    assert not dx.requires_grad and not div.requires_grad


def test_errors():
    f, _ = make_field(2)
    x = torch.randn(3, 2, dtype=torch.float64)
    t = torch.tensor(0.0)
    with pytest.raises(ValueError, match="unknown divergence method 'trace'"):
        divergence(f, t, x, method="trace")
    with pytest.raises(ValueError, match="needs a probe"):
        divergence(f, t, x, method="hutchinson")
    with pytest.raises(ValueError, match="probe shape"):
        divergence(f, t, x, method="hutchinson", probe=torch.ones(2))
    with pytest.raises(ValueError, match="returned shape"):
        divergence(lambda t, z: z[..., :1], t, x)


@pytest.mark.parametrize("act", ["silu", "tanh", "softplus", "relu", "elu", "gelu"])
@pytest.mark.parametrize("d, context", [(1, 0), (2, 0), (3, 2)])
def test_analytic_mlp_divergence_matches_autograd(act, d, context):
    from ctflow.nn import TimeMLP

    torch.manual_seed(0)
    field = TimeMLP(d, context=context, hidden=(8, 8, 8), act=act).double()
    x = torch.randn(4, 5, d, dtype=torch.float64)
    c = torch.randn(4, 5, context, dtype=torch.float64) if context else None
    t = torch.tensor(0.7, dtype=torch.float64)
    v, div = field.value_and_divergence(t, x, c)
    torch.testing.assert_close(v, field(t, x, c))
    xs, cs = x.reshape(-1, d), (c.reshape(-1, context) if context else [None] * 20)
    truth = torch.stack(
        [
            torch.autograd.functional.jacobian(lambda z, ci=ci: field(t, z, ci), xi).trace()
            for xi, ci in zip(xs, cs)
        ]
    ).reshape(4, 5)
    torch.testing.assert_close(div, truth)


def test_analytic_divergence_gradients_match_autograd_divergence():
    from ctflow.nn import TimeMLP

    torch.manual_seed(1)
    field = TimeMLP(2, hidden=(8, 8), act="silu").double()
    x = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(0.2, dtype=torch.float64)
    params = (x, *field.parameters())
    fast = torch.autograd.grad(divergence(field, t, x)[1].sum(), params, allow_unused=True)
    slow = torch.autograd.grad(
        divergence(field, t, x, analytic=False)[1].sum(), params, allow_unused=True
    )
    for a, b, p in zip(fast, slow, params):
        zero = torch.zeros_like(p)  # the last bias does not affect the divergence
        torch.testing.assert_close(zero if a is None else a, zero if b is None else b)


def test_linear_network_divergence_is_its_trace():
    from ctflow.nn.jacobian import mlp_value_and_divergence

    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 3)).double()
    inp = torch.randn(5, 4, dtype=torch.float64)
    _, div = mlp_value_and_divergence(net, inp, 3)
    jac = net[1].weight @ net[0].weight[:, :3]
    torch.testing.assert_close(div, jac.trace().expand(5))


@pytest.mark.parametrize("method", ["exact", "hutchinson"])
@pytest.mark.parametrize("kind", ["parameter", "constant", "parameter-times-zero-x"])
def test_fields_that_ignore_x_have_zero_divergence(method, kind):
    c = torch.nn.Parameter(torch.randn(3, dtype=torch.float64))
    fields = {
        "parameter": lambda t, x: c.expand_as(x),
        "constant": lambda t, x: torch.ones_like(x),
        "parameter-times-zero-x": lambda t, x: c + 0 * x,
    }
    x = torch.randn(5, 3, dtype=torch.float64)
    probe = torch.ones_like(x) if method == "hutchinson" else None
    dx, div = divergence(fields[kind], 0.0, x, method=method, probe=probe)
    assert dx.shape == x.shape
    assert torch.equal(div, torch.zeros(5, dtype=torch.float64))
