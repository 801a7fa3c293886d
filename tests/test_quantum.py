"""ctflow.quantum against QuTiP (forward) and finite differences (gradients)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ctflow.quantum import (
    METHODS,
    lindblad_rhs,
    liouvillian,
    random_lindbladian,
    steady_state,
    steady_state_jacobian,
    unvec,
    vec,
)

qutip = pytest.importorskip("qutip")

SIGMA_MINUS = torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=torch.complex128)


def _qobjs(H, c_ops):
    return qutip.Qobj(H.numpy()), [qutip.Qobj(c.numpy()) for c in c_ops]


# ---------------------------------------------------------------- vectorisation, Liouvillian


def test_vec_is_column_stacking_and_unvec_inverts_it():
    a = torch.randn(3, 4, 4, dtype=torch.float64)
    b = torch.randn(4, 4, dtype=torch.float64)
    c = torch.randn(4, 4, dtype=torch.float64)
    assert vec(a)[0, 1] == a[0, 1, 0]
    torch.testing.assert_close(unvec(vec(a)), a)
    # vec(A rho B) = kron(B^T, A) vec(rho)
    torch.testing.assert_close(vec(b @ a[0] @ c), torch.kron(c.T.contiguous(), b) @ vec(a[0]))


@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_liouvillian_matches_qutip(n):
    H, c_ops = random_lindbladian(n, k=3, seed=n)
    expected = qutip.liouvillian(*_qobjs(H, c_ops)).full()
    np.testing.assert_allclose(liouvillian(H, c_ops).numpy(), expected, atol=1e-12, rtol=0)
    # a list of operators gives the same as the stacked tensor
    np.testing.assert_allclose(liouvillian(H, list(c_ops)).numpy(), expected, atol=1e-12, rtol=0)


def test_liouvillian_batched_and_real_inputs():
    Hs, cs = zip(*(random_lindbladian(3, seed=s) for s in range(4)))
    H, c = torch.stack(Hs), torch.stack(cs)
    L = liouvillian(H, c)
    assert L.shape == (4, 9, 9) and L.dtype == torch.complex128
    for i in range(4):
        torch.testing.assert_close(L[i], liouvillian(Hs[i], cs[i]))
    # real inputs are cast; shared (n, n) operators broadcast against a batch of H
    Lr = liouvillian(torch.eye(2).expand(5, 2, 2), [SIGMA_MINUS.real])
    assert Lr.shape == (5, 4, 4) and Lr.dtype == torch.complex128


def test_lindblad_rhs_evolves_like_qutip_mesolve():
    from ctflow.solvers import odeint

    H, c_ops = random_lindbladian(3, seed=7)
    rho0 = torch.zeros(3, 3, dtype=torch.complex128)
    rho0[0, 0] = 1.0
    t = torch.linspace(0.0, 1.0, 3, dtype=torch.float64)
    f = lindblad_rhs(H, c_ops)

    def f_real(t, y):
        # ctflow's odeint integrates real states: carry (re, im) pairs
        return torch.view_as_real(f(t, torch.view_as_complex(y)))

    y0 = torch.view_as_real(vec(rho0)).contiguous()
    y = odeint(f_real, y0, t, method="dopri5", atol=1e-10, rtol=1e-10)
    out = torch.view_as_complex(y.contiguous())
    Hq, cq = _qobjs(H, c_ops)
    ref = qutip.mesolve(Hq, qutip.Qobj(rho0.numpy()), t.numpy(), cq, options={"atol": 1e-12})
    np.testing.assert_allclose(unvec(out[-1]).numpy(), ref.states[-1].full(), atol=1e-7)


@pytest.mark.parametrize(
    ("H", "c_ops", "match"),
    [
        (torch.zeros(2, 3), [], "shape"),
        (torch.zeros(2, 2), [torch.zeros(3, 3)], "2 x 2"),
        (torch.tensor([[0.0, 1.0], [0.0, 0.0]]), [], "Hermitian"),
        (torch.zeros(2, 2), torch.zeros(2, 2), r"\(\*batch, k, n, n\)"),
        (torch.zeros(2, 2), [torch.zeros(2)], "c_ops\\[0\\]"),
    ],
)
def test_liouvillian_rejects_bad_inputs(H, c_ops, match):
    with pytest.raises(ValueError, match=match):
        liouvillian(H, c_ops)


def test_liouvillian_rejects_non_tensors():
    with pytest.raises(TypeError, match="H must be a tensor"):
        liouvillian([[0.0]], [])
    with pytest.raises(TypeError, match="c_ops"):
        liouvillian(torch.eye(2), 3.0)


# ---------------------------------------------------------------- steady state forward


@pytest.mark.parametrize("n", [2, 3, 5, 8])
@pytest.mark.parametrize("method", METHODS)
def test_steady_state_matches_qutip(n, method):
    H, c_ops = random_lindbladian(n, seed=10 + n)
    expected = qutip.steadystate(*_qobjs(H, c_ops)).full()
    rho = steady_state(liouvillian(H, c_ops), method=method)
    atol = 1e-8 if method == "evolution" else 1e-10
    np.testing.assert_allclose(rho.numpy(), expected, atol=atol, rtol=0)
    assert rho.shape == (n, n) and rho.dtype == torch.complex128
    assert abs(complex(rho.diagonal().sum()) - 1.0) < 1e-12
    torch.testing.assert_close(rho, rho.mH, rtol=0, atol=0)
    assert float(torch.linalg.eigvalsh(rho).min()) >= -1e-12


def test_steady_state_known_answer_and_batch():
    # pure decay to |0>, and a thermal qubit with detailed balance: populations 1 : r
    L = liouvillian(torch.zeros(2, 2), [SIGMA_MINUS])
    torch.testing.assert_close(steady_state(L).real, torch.diag(torch.tensor([1.0, 0.0])).double())
    r = 0.25
    Ls = torch.stack([L, liouvillian(torch.zeros(2, 2), [SIGMA_MINUS, r**0.5 * SIGMA_MINUS.mH])])
    rho = steady_state(Ls, method="eigen")
    assert rho.shape == (2, 2, 2)
    torch.testing.assert_close(rho[1].diagonal().real, torch.tensor([0.8, 0.2]).double())


def test_steady_state_evolution_respects_t_max():
    H, c_ops = random_lindbladian(3, seed=1)
    with pytest.raises(ValueError, match="did not reach the steady state"):
        steady_state(liouvillian(H, c_ops), method="evolution", t_max=1e-3)


@pytest.mark.parametrize("method", METHODS)
def test_steady_state_rejects_non_unique(method):
    # H = 0 and no dissipation: every state is stationary
    L = liouvillian(torch.zeros(2, 2), [])
    with pytest.raises(ValueError, match="not unique"):
        steady_state(L, method=method)
    # pure dephasing of a qubit: both |0><0| and |1><1| are stationary
    L = liouvillian(torch.diag(torch.tensor([0.0, 1.0])), [torch.diag(torch.tensor([1.0, -1.0]))])
    with pytest.raises(ValueError, match="not unique"):
        steady_state(L, method=method)


@pytest.mark.parametrize(
    ("L", "kwargs", "match"),
    [
        (torch.zeros(3, 3), {}, "n\\^2 x n\\^2"),
        (torch.zeros(4, 5), {}, "shape"),
        (torch.zeros(4, 4), {"method": "power"}, "method must be one of"),
        (torch.zeros(4, 4), {"tol": 0.0}, "tol"),
    ],
)
def test_steady_state_rejects_bad_inputs(L, kwargs, match):
    with pytest.raises(ValueError, match=match):
        steady_state(L, **kwargs)


# ---------------------------------------------------------------- gradients

N_MODEL = 3


def _model():
    H0, c_ops = random_lindbladian(N_MODEL, seed=42)
    g = torch.Generator().manual_seed(43)
    v = torch.randn(N_MODEL, N_MODEL, dtype=torch.complex128, generator=g)
    o = torch.randn(N_MODEL, N_MODEL, dtype=torch.complex128, generator=g)
    return H0, (v + v.mH) / 2, c_ops, (o + o.mH) / 2


H0, V, C_OPS, OBS = _model()
THETA = torch.tensor([0.3, -0.2], dtype=torch.float64)


def build_L(theta):
    """theta (..., 2): H = H0 + theta_0 V, c_ops scaled by sqrt(exp(theta_1))."""
    H = H0 + theta[..., 0, None, None] * V
    scale = torch.exp(0.5 * theta[..., 1])[..., None, None, None]
    return liouvillian(H, scale * C_OPS)


def objective(theta, method="direct"):
    rho = steady_state(build_L(theta), method=method)
    return torch.einsum("ij,...ji->...", OBS, rho).real


def _central_fd(f, theta, eps=1e-5):
    grads = []
    for p in range(theta.shape[-1]):
        e = torch.zeros_like(theta)
        e[..., p] = eps
        grads.append((f(theta + e) - f(theta - e)) / (2 * eps))
    return torch.stack(grads, dim=-1)


@pytest.mark.parametrize("method", METHODS)
def test_gradient_matches_finite_differences(method):
    theta = THETA.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(objective(theta, method), theta)
    fd = _central_fd(objective, THETA)
    torch.testing.assert_close(grad, fd, rtol=1e-6, atol=1e-10)


def test_gradients_agree_across_methods():
    grads = []
    for method in METHODS:
        theta = THETA.clone().requires_grad_(True)
        grads.append(torch.autograd.grad(objective(theta, method), theta)[0])
    for g in grads[1:]:
        torch.testing.assert_close(g, grads[0], rtol=1e-8, atol=1e-12)


def test_gradcheck_objective():
    theta = THETA.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(objective, (theta,), eps=1e-6, atol=1e-7, rtol=1e-5)
    assert torch.autograd.gradcheck(
        lambda t: objective(t, "eigen"), (theta,), eps=1e-6, atol=1e-7, rtol=1e-5
    )


def test_gradcheck_complex_liouvillian_entries():
    # the backward w.r.t. a complex L directly (PyTorch's conjugate convention)
    L0 = build_L(THETA).detach()
    delta = (1e-2 * torch.randn(9, 9, dtype=torch.complex128)).requires_grad_(True)

    def f(d):
        rho = steady_state(L0 + d)
        return torch.einsum("ij,ji->", OBS, rho)  # complex output exercises both parts

    assert torch.autograd.gradcheck(f, (delta,), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_backward_batched():
    theta = torch.stack([THETA, THETA + 0.1, THETA - 0.2]).requires_grad_(True)
    (grad,) = torch.autograd.grad(objective(theta).sum(), theta)
    for i in range(3):
        t = theta[i].detach().clone().requires_grad_(True)
        torch.testing.assert_close(grad[i], torch.autograd.grad(objective(t), t)[0])


def test_jacobian_matches_autograd_and_finite_differences():
    J = steady_state_jacobian(build_L, THETA)
    assert J.shape == (N_MODEL, N_MODEL, 2) and J.dtype == torch.complex128
    theta = THETA.clone().requires_grad_(True)
    rho = steady_state(build_L(theta))
    for i, j in [(0, 0), (0, 1), (2, 1)]:
        for part in (torch.real, torch.imag):
            (g,) = torch.autograd.grad(part(rho[i, j]), theta, retain_graph=True)
            torch.testing.assert_close(part(J[i, j]), g, rtol=1e-9, atol=1e-12)
    fd = _central_fd(lambda t: steady_state(build_L(t)), THETA)
    torch.testing.assert_close(J, fd, rtol=1e-6, atol=1e-9)
    # derivative of a density matrix: Hermitian, traceless
    torch.testing.assert_close(J, J.transpose(0, 1).conj(), rtol=0, atol=1e-14)
    assert float(J.diagonal(dim1=0, dim2=1).sum(-1).abs().max()) < 1e-12


def test_jacobian_batched():
    theta = torch.stack([THETA, THETA + 0.1, THETA - 0.2])
    J = steady_state_jacobian(build_L, theta)
    assert J.shape == (3, N_MODEL, N_MODEL, 2)
    for i in range(3):
        torch.testing.assert_close(J[i], steady_state_jacobian(build_L, theta[i]))
    # contracted with the observable it is the objective's gradient
    t = theta.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(objective(t).sum(), t)
    torch.testing.assert_close(torch.einsum("ij,bjip->bp", OBS, J).real, g, rtol=1e-9, atol=1e-12)


def test_jacobian_rejects_bad_theta():
    with pytest.raises(ValueError, match="real tensor"):
        steady_state_jacobian(build_L, torch.tensor(0.3, dtype=torch.float64))
    with pytest.raises(ValueError, match="real tensor"):
        steady_state_jacobian(build_L, torch.tensor([1, 2]))


def test_random_lindbladian_is_reproducible_and_validates():
    a, b = random_lindbladian(4, k=3, seed=5), random_lindbladian(4, k=3, seed=5)
    torch.testing.assert_close(a, b)
    assert a[1].shape == (3, 4, 4)
    torch.testing.assert_close(a[0], a[0].mH)
    with pytest.raises(ValueError, match="n must be"):
        random_lindbladian(0)


@pytest.mark.parametrize(
    "shape_H, shape_c",
    [((3, 3), (2, 3, 3)), ((4, 3, 3), (2, 3, 3)), ((2, 1, 3, 3), (1, 4, 2, 3, 3))],
)
def test_liouvillian_hand_written_derivatives_match_autograd(shape_H, shape_c):
    # reference: the same assembly recorded op by op by autograd
    from ctflow.quantum.liouvillian import _assemble

    def recorded(H, c):
        return _assemble(-1j * H - 0.5 * (c.mH @ c).sum(-3), c)

    g = torch.Generator().manual_seed(3)
    a = torch.randn(*shape_H, dtype=torch.complex128, generator=g)
    H, c = (a + a.mH) / 2, torch.randn(*shape_c, dtype=torch.complex128, generator=g)
    batch = torch.broadcast_shapes(shape_H[:-2], shape_c[:-3])
    G = torch.randn(*batch, 9, 9, dtype=torch.complex128, generator=g)
    grads = []
    for build in (liouvillian, recorded):
        Hr, cr = H.clone().requires_grad_(), c.clone().requires_grad_()
        grads.append(torch.autograd.grad((build(Hr, cr) * G).sum().real, (Hr, cr)))
    for mine, ref in zip(*grads):
        assert mine.shape == ref.shape
        torch.testing.assert_close(mine, ref, rtol=1e-12, atol=1e-12)
    dH, dc = torch.randn_like(H), torch.randn_like(c)
    dH = (dH + dH.mH) / 2
    jvp_mine = torch.func.jvp(liouvillian, (H, c), (dH, dc))[1]
    jvp_ref = torch.func.jvp(recorded, (H, c), (dH, dc))[1]
    torch.testing.assert_close(jvp_mine, jvp_ref, rtol=1e-12, atol=1e-12)


def test_liouvillian_second_derivatives():
    g = torch.Generator().manual_seed(4)
    H = torch.randn(2, 2, dtype=torch.complex128, generator=g).requires_grad_()
    c = torch.randn(1, 2, 2, dtype=torch.complex128, generator=g).requires_grad_()
    assert torch.autograd.gradgradcheck(lambda h, c: liouvillian((h + h.mH) / 2, c), (H, c))


def test_steady_state_refuses_a_non_finite_liouvillian():
    L = torch.zeros(4, 4, dtype=torch.complex128)
    L[1, 2] = float("nan")
    with pytest.raises(ValueError, match="L contains NaN or inf"):
        steady_state(L)
