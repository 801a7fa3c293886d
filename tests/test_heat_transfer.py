"""The V-system heat-transfer device: QuTiP agreement, energy balance, second law, symmetry,
and implicit gradients / Jacobians against finite differences."""

import math

import pytest
import torch

from ctflow.quantum import (
    HeatTransferVSystem,
    liouvillian,
    steady_state,
    steady_state_jacobian,
    vec,
)

qutip = pytest.importorskip("qutip")

DEVICE = HeatTransferVSystem()


def params(a0=1.0, a1=0.3, b0=0.2, b1=1.0, J=0.05, gamma_d=0.01):
    return torch.tensor([a0, a1, b0, b1, J, math.log(gamma_d)], dtype=torch.float64)


def current(device, p, ops):
    """Tr[H D(rho_ss)] for the dissipator of ``ops``, by the library's own pieces."""
    rho = device.steady_state(p)
    D = liouvillian(torch.zeros(3, 3), ops)
    return float((vec(device.hamiltonian(p).mT) * (D @ vec(rho))).sum().real)


def test_heat_current_matches_qutip():
    p = params()
    H = qutip.Qobj(DEVICE.hamiltonian(p).numpy())
    hot = [qutip.Qobj(o.numpy()) for o in DEVICE.bath_operators(p, "hot")]
    rest = [
        qutip.Qobj(o.numpy())
        for o in torch.cat([DEVICE.bath_operators(p, "cold"), DEVICE.dephasing_operators(p)])
    ]
    rho = qutip.steadystate(H, hot + rest)
    D_hot = sum(qutip.lindblad_dissipator(o) for o in hot)
    expected = (H * qutip.vector_to_operator(D_hot * qutip.operator_to_vector(rho))).tr().real
    assert float(DEVICE.heat_current(p)) == pytest.approx(expected, rel=1e-10, abs=1e-14)
    assert float(DEVICE.heat_current(p)) > 0


def test_energy_balance_and_second_law():
    # at the steady state d<H>/dt = 0: hot + cold + dephasing currents sum to zero
    p = params()
    hot = current(DEVICE, p, DEVICE.bath_operators(p, "hot"))
    cold = current(DEVICE, p, DEVICE.bath_operators(p, "cold"))
    deph = current(DEVICE, p, DEVICE.dephasing_operators(p))
    assert abs(hot + cold + deph) < 1e-14
    # without tunnelling the dephasing exchanges no energy: heat flows hot -> cold only
    p0 = params(J=0.0)
    hot0 = current(DEVICE, p0, DEVICE.bath_operators(p0, "hot"))
    cold0 = current(DEVICE, p0, DEVICE.bath_operators(p0, "cold"))
    assert hot0 > 0 and abs(hot0 + cold0) < 1e-14
    # equal temperatures: no net heat current
    still = HeatTransferVSystem(t_hot=1.0, t_cold=1.0)
    assert abs(float(still.heat_current(params(J=0.0)))) < 1e-14


def test_a_symmetric_device_does_not_rectify():
    # couplings identical for both baths: swapping temperatures just reverses the current
    sym = params(a0=0.8, a1=0.5, b0=0.8, b1=0.5)
    assert float(DEVICE.rectification(sym)) < 1e-10
    assert float(DEVICE.rectification(params())) > 0.05


def test_batched_equals_looped():
    ps = torch.stack([params(), params(a0=0.1, J=0.2), params(gamma_d=0.3)])
    batched = DEVICE.heat_current(ps)
    looped = torch.stack([DEVICE.heat_current(p) for p in ps])
    torch.testing.assert_close(batched, looped, rtol=1e-13, atol=0)
    assert DEVICE.rectification(ps).shape == (3,)


@pytest.mark.parametrize("objective", ["heat_current", "rectification"])
def test_gradients_match_central_differences(objective):
    f = getattr(DEVICE, objective)
    p = params().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(p), p)
    h = 1e-6
    eye = torch.eye(6, dtype=torch.float64)
    fd = torch.stack([(f(p.detach() + h * e) - f(p.detach() - h * e)) / (2 * h) for e in eye])
    assert float((grad - fd).norm() / fd.norm()) < 1e-6
    for method in ("eigen", "evolution"):
        q = params().requires_grad_(True)
        (other,) = torch.autograd.grad(getattr(DEVICE, objective)(q, method=method), q)
        torch.testing.assert_close(other, grad, rtol=1e-7, atol=1e-12)


def test_gradcheck_heat_current():
    p = params().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda q: DEVICE.heat_current(q), (p,), eps=1e-6, atol=1e-8)


def test_pump_sweep_jacobian_matches_finite_differences():
    p = params()
    log_n = torch.linspace(-4.0, 3.0, 6, dtype=torch.float64)

    def build(log_pump):  # (*batch, 1) -> L
        return DEVICE.liouvillian(p, hot_occupation=log_pump[..., 0].exp())

    jac = steady_state_jacobian(build, log_n[:, None])  # (6, 3, 3, 1)
    h = 1e-6
    fd = steady_state(build((log_n + h)[:, None])) - steady_state(build((log_n - h)[:, None]))
    torch.testing.assert_close(jac[..., 0], fd / (2 * h), rtol=1e-6, atol=1e-9)
    # the heat current's pump sensitivity through autograd, against the same differences
    log_pump = log_n.clone().requires_grad_(True)
    (dJ,) = torch.autograd.grad(
        DEVICE.heat_current(p, hot_occupation=log_pump.exp()).sum(), log_pump
    )
    fd_J = DEVICE.heat_current(p, hot_occupation=(log_n + h).exp()) - DEVICE.heat_current(
        p, hot_occupation=(log_n - h).exp()
    )
    torch.testing.assert_close(dJ, fd_J / (2 * h), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.zeros(5, dtype=torch.float64), "shape"),
        (torch.zeros(6, dtype=torch.complex128), "real"),
    ],
)
def test_bad_parameters_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        DEVICE.heat_current(bad)


def test_bad_constants_are_named():
    with pytest.raises(ValueError, match="t_cold"):
        HeatTransferVSystem(t_cold=0.0)
    with pytest.raises(ValueError, match="bath"):
        DEVICE.bath_operators(params(), "warm")
