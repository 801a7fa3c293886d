"""One contract every density model in ctflow meets (zuko's test_flows is the model).

Add an entry to DENSITIES when a new density lands. Each :class:`Density` says how to build a
model with an optional context size and an exact enough solver for the comparisons below, which
manifold its points live on (``Euclidean(D)`` for flows on R^D) and how to draw valid points
there. The contract is stated once for all of them: densities are w.r.t. the Riemannian volume,
and the change of variables restricts Jacobians to tangent spaces (on R^D the plain Jacobian).

Hutchinson models draw a random probe inside ``log_prob``, so every consistency check pins the
probe (:func:`fixed_probe`), and the Jacobian check averages over all Rademacher sign vectors,
for which the average of ``e^T A e`` is exactly ``tr A``.
"""

import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn

from ctflow.flows import CNF, CPFlow, RiemannianCNF, TangentField
from ctflow.manifolds import Euclidean, FlatTorus, Manifold, Product, Sphere
from ctflow.nn import TimeMLP
from ctflow.ops import PROBES
from ctflow.solvers import odeint

D = 3


@dataclass(frozen=True)
class Density:
    """A density model under test.

    Attributes:
        build: context size -> model (the tests call ``.double()`` on it).
        manifold: where the model's points live.
        contexts: the context sizes the model supports (0: unconditional).
    """

    build: Callable[[int], nn.Module]
    manifold: Manifold
    contexts: tuple[int, ...] = (0, 2)

    def points(self, n: int) -> Tensor:
        """``n`` valid float64 data points, shape ``(n, ambient_dim)``."""
        if isinstance(self.manifold, Euclidean):
            return torch.randn(n, self.manifold.ambient_dim, dtype=torch.float64)
        return self.manifold.random_uniform(n, dtype=torch.float64)


def cnf_exact(context):
    return CNF(TimeMLP(D, context=context, hidden=(16, 16), act="tanh"), D, atol=1e-9, rtol=1e-9)


def cnf_fixed_step(context):
    return CNF(
        TimeMLP(D, context=context, hidden=(16,), act="softplus"), D, method="rk4", step_size=0.1
    )


def cnf_adjoint(context):
    return CNF(TimeMLP(D, context=context, hidden=(16,)), D, atol=1e-8, rtol=1e-8, adjoint=True)


def cpflow_exact(context):
    return CPFlow(D, context=context, blocks=2, hidden=(8, 8), inverse_tol=1e-9)


def cpflow_stochastic(context):
    # the CG-surrogate gradient with the exact log-det value (D <= 16)
    return CPFlow(D, context=context, blocks=1, hidden=(8,), logdet="stochastic")


def riemannian_cnf(manifold: Manifold, divergence: str = "exact") -> Callable[[int], nn.Module]:
    def build(context):
        if context:
            raise ValueError("RiemannianCNF is unconditional")
        field = TangentField(manifold, hidden=(16, 16), act="tanh")
        return RiemannianCNF(field, manifold, atol=1e-9, rtol=1e-9, divergence=divergence)

    return build


def riemannian(manifold: Manifold, divergence: str = "exact") -> Density:
    # RiemannianCNF takes no context (its forward refuses one), so only context 0 is tested
    return Density(riemannian_cnf(manifold, divergence), manifold, contexts=(0,))


SPHERE, TORUS = Sphere(2), FlatTorus(2)

DENSITIES = {
    "cnf": Density(cnf_exact, Euclidean(D)),
    "cnf-rk4": Density(cnf_fixed_step, Euclidean(D)),
    "cnf-adjoint": Density(cnf_adjoint, Euclidean(D)),
    "cpflow": Density(cpflow_exact, Euclidean(D)),
    "cpflow-stochastic": Density(cpflow_stochastic, Euclidean(D)),
    "rcnf-sphere": riemannian(SPHERE),
    "rcnf-sphere-hutchinson": riemannian(SPHERE, "hutchinson"),
    "rcnf-torus": riemannian(TORUS),
    "rcnf-torus-hutchinson": riemannian(TORUS, "hutchinson"),
    "rcnf-product": riemannian(Product(SPHERE, FlatTorus(1))),
}
CURVED = sorted(name for name, d in DENSITIES.items() if not isinstance(d.manifold, Euclidean))
WITH_CONTEXT = [(name, c) for name in sorted(DENSITIES) for c in DENSITIES[name].contexts]
UNCONDITIONAL = sorted(name for name, d in DENSITIES.items() if max(d.contexts) == 0)


@pytest.fixture(params=sorted(DENSITIES), ids=str)
def density(request):
    return DENSITIES[request.param]


@pytest.fixture
def fixed_probe(monkeypatch):
    """Make every Hutchinson probe the same draw for a given shape (a fresh seeded generator)."""
    for name, draw in list(PROBES.items()):

        def seeded(x, generator=None, draw=draw):
            return draw(x, generator=torch.Generator(device=x.device).manual_seed(0))

        monkeypatch.setitem(PROBES, name, seeded)


def is_hutchinson(model: nn.Module) -> bool:
    return getattr(model, "divergence", None) == "hutchinson"


@pytest.mark.parametrize(("name", "context"), WITH_CONTEXT, ids=str)
def test_shapes(name, context):
    density = DENSITIES[name]
    dim = density.manifold.ambient_dim
    model = density.build(context).double()
    c = torch.randn(4, context, dtype=torch.float64) if context else None
    dist = model(c)
    batch = (4,) if context else ()
    x = dist.sample((5,))
    assert x.shape == (5, *batch, dim) and not x.requires_grad
    assert dist.log_prob(x).shape == (5, *batch)
    xr, lp = dist.rsample_and_log_prob((2,))
    assert xr.shape == (2, *batch, dim) and lp.shape == (2, *batch)


@pytest.mark.parametrize("name", sorted(DENSITIES))
def test_unbatched_point(name, fixed_probe):
    """Any batch shape works, also none: one point of shape ``(D,)`` has a 0-d log-density."""
    density = DENSITIES[name]
    model = density.build(0).double()
    x = model().sample()
    assert x.shape == (density.manifold.ambient_dim,)
    lp = model().log_prob(x)
    assert lp.shape == ()
    torch.testing.assert_close(lp, model().log_prob(x.unsqueeze(0)).squeeze(0))
    xr, lp = model().rsample_and_log_prob()
    assert xr.shape == x.shape and lp.shape == ()


@pytest.mark.parametrize("name", UNCONDITIONAL)
def test_unconditional_refuses_a_context(name):
    model = DENSITIES[name].build(0).double()
    with pytest.raises(ValueError, match="context"):
        model(torch.randn(4, 2, dtype=torch.float64))


def test_every_parameter_gets_a_gradient(density):
    context = max(density.contexts)
    model = density.build(context).double()
    x = density.points(6)
    c = torch.randn(6, context, dtype=torch.float64) if context else None
    model(c).log_prob(x).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_rsample_gradient_reaches_parameters(density):
    model = density.build(0).double()
    # sin, not a squared norm: |x|^2 is constant on a sphere, so its gradient would vanish
    model().rsample((4,)).sin().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("name", CURVED)
def test_samples_lie_on_the_manifold(name):
    density = DENSITIES[name]
    model, manifold = density.build(0).double(), density.manifold
    x, _ = model().rsample_and_log_prob((6,))
    for points in (model().sample((6,)), x.detach()):
        assert bool(manifold.check_point(points).all())
        torch.testing.assert_close(manifold.projx(points), points, atol=1e-10, rtol=0)


def test_rsample_and_log_prob_consistent_with_log_prob(density, fixed_probe):
    model = density.build(0).double()
    x, lp = model().rsample_and_log_prob((8,))
    torch.testing.assert_close(lp, model().log_prob(x), atol=1e-5, rtol=1e-5)


def normalizing_map(model: nn.Module) -> tuple[Callable, Callable]:
    """``(x -> z, base log-density)``: the map to the base that each model's log_prob inverts."""
    if isinstance(model, (CNF, RiemannianCNF)):
        t = torch.tensor([model.t1, model.t0], dtype=torch.float64)
        if isinstance(model, CNF):
            return (
                lambda x: odeint(lambda t, y: model.velocity(t, y), x, t, **model.solver)[-1],
                model.base().log_prob,
            )
        manifold = model.manifold
        return (
            lambda x: odeint(model.field, x, t, manifold=manifold, **model.solver)[-1],
            manifold.uniform_logprob,
        )
    dist = model()  # zuko-style flows: data -> base through dist.transform
    return dist.transform, dist.base.log_prob


def tangent_basis(manifold: Manifold, x: Tensor) -> Tensor:
    """An orthonormal basis of the tangent space at ``x``, shape ``(ambient_dim, dim)``.

    The eigenvectors of the (symmetric) projection ``u -> proju(x, u)`` with eigenvalue 1.
    """
    eye = torch.eye(manifold.ambient_dim, dtype=x.dtype)
    projection = manifold.proju(x.expand_as(eye), eye)  # row i: P e_i
    eigenvalues, vectors = torch.linalg.eigh(projection)
    torch.testing.assert_close(
        eigenvalues[-manifold.dim :], torch.ones_like(eigenvalues)[: manifold.dim]
    )
    return vectors[:, -manifold.dim :]


def log_abs_det_tangent(f: Callable, manifold: Manifold, x: Tensor) -> Tensor:
    """``log |det E_{f(x)}^T (df/dx) E_x|`` for one point ``x``, ambient Jacobian by autograd."""
    jac = torch.autograd.functional.jacobian(f, x)
    restricted = tangent_basis(manifold, f(x)).T @ jac @ tangent_basis(manifold, x)
    return torch.linalg.slogdet(restricted).logabsdet


def test_log_prob_matches_autograd_jacobian(density, monkeypatch):
    """log p(x) = log p0(T x) + log |det dT/dx| on tangent spaces, for the map T to the base.

    Hutchinson models: ``log_prob`` with probe ``e`` integrates ``e^T J e`` along a path that does
    not depend on ``e``, so its average over all ``2^D`` sign vectors ``e`` is the exact one.
    """
    model = density.build(0).double()
    manifold = density.manifold
    x = density.points(3)
    to_base, base_log_prob = normalizing_map(model)
    if is_hutchinson(model):
        signs = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=manifold.ambient_dim)))
        k = len(signs)

        def every_sign(y, generator=None):  # row i * k + j gets sign vector j
            return signs.to(y).repeat(y.shape[0] // k, 1)

        monkeypatch.setitem(PROBES, model.probe, every_sign)
        log_prob = model().log_prob(x.repeat_interleave(k, dim=0)).view(len(x), k).mean(-1)
    else:
        log_prob = model().log_prob(x)
    for xi, lp in zip(x, log_prob):
        truth = base_log_prob(to_base(xi)) + log_abs_det_tangent(to_base, manifold, xi)
        torch.testing.assert_close(lp, truth, atol=1e-5, rtol=1e-5)


def test_save_load_roundtrip(density, fixed_probe):
    model = density.build(0).double()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = density.build(0).double()
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    x = density.points(4)
    torch.testing.assert_close(model().log_prob(x), fresh().log_prob(x))


def test_eval_equals_train(density, fixed_probe):
    model = density.build(0).double()
    x = density.points(4)
    model.train()
    a = model().log_prob(x)
    model.eval()
    torch.testing.assert_close(a, model().log_prob(x))
