"""The sparse steady-state path agrees with the dense path (values and gradients), with QuTiP,
and with finite differences, at sizes where the dense path cannot run."""

from __future__ import annotations

import pytest
import torch

from ctflow.quantum import (
    liouvillian,
    random_lindbladian,
    sparse_liouvillian,
    steady_state,
    steady_state_of,
)


def kerr_cavity(n: int, drive, detuning: float = -0.5, kerr: float = 0.1, kappa: float = 1.0):
    """A driven, damped Kerr cavity truncated at ``n`` levels: sparse H and collapse operator."""
    a = torch.diag(torch.arange(1, n, dtype=torch.float64).sqrt(), 1).to(torch.complex128)
    ad = a.mH
    H = detuning * ad @ a + kerr * ad @ ad @ a @ a + drive * (a + ad)
    return H, [kappa**0.5 * a], a


def test_sparse_liouvillian_equals_the_dense_one():
    H, c = random_lindbladian(5, 3, seed=0)
    torch.testing.assert_close(
        torch.from_numpy(sparse_liouvillian(H, c).toarray()), liouvillian(H, c), rtol=0, atol=1e-13
    )


def test_sparse_and_dense_steady_states_and_gradients_agree():
    H, c = random_lindbladian(6, 2, seed=1)
    O = torch.randn(6, 6, dtype=torch.complex128, generator=torch.Generator().manual_seed(2))
    O = O + O.mH
    grads = {}
    for method in ("dense", "sparse"):
        Hm = H.clone().requires_grad_(True)
        cm = c.clone().requires_grad_(True)
        rho = steady_state_of(Hm, cm, method=method)
        loss = torch.einsum("ij,ji->", O, rho).real + rho[0, 1].abs() ** 2
        loss.backward()
        grads[method] = (rho.detach(), Hm.grad, cm.grad)
    for dense, sparse in zip(grads["dense"], grads["sparse"]):
        torch.testing.assert_close(sparse, dense, rtol=1e-8, atol=1e-10)


def test_sparse_steady_state_matches_qutip_on_a_kerr_cavity():
    qutip = pytest.importorskip("qutip")
    H, c, _ = kerr_cavity(30, 0.8)
    rho = steady_state_of(H, c)  # sparse (n > DENSE_MAX_LEVELS)
    expected = qutip.steadystate(qutip.Qobj(H.numpy()), [qutip.Qobj(op.numpy()) for op in c])
    torch.testing.assert_close(rho, torch.from_numpy(expected.full()), rtol=0, atol=1e-8)


def test_sparse_gradient_matches_central_differences_at_a_size_the_dense_path_avoids():
    n, h = 60, 1e-6
    number = torch.arange(n, dtype=torch.float64)

    def photons(drive):
        H, c, _ = kerr_cavity(n, drive)
        return torch.diagonal(steady_state_of(H, c, method="sparse")).real @ number

    drive = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(photons(drive), drive)
    with torch.no_grad():
        fd = (photons(drive + h) - photons(drive - h)) / (2 * h)
    assert abs(float(grad) - float(fd)) < 1e-6 * max(1.0, abs(float(fd)))


def test_auto_picks_the_dense_path_for_few_levels_and_both_refuse_bad_input():
    H, c = random_lindbladian(3, 2, seed=3)
    torch.testing.assert_close(steady_state_of(H, c), steady_state(liouvillian(H, c)))
    with pytest.raises(ValueError, match="Hermitian"):
        steady_state_of(torch.randn(20, 20, dtype=torch.float64), [], method="sparse")
    with pytest.raises(ValueError, match="not unique"):  # no dissipation: every state is steady
        steady_state_of(torch.zeros(20, 20, dtype=torch.float64), [], method="sparse")
    with pytest.raises(ValueError, match="n >= 1"):
        steady_state_of(torch.zeros(0, 0), [], method="sparse")
    with pytest.raises(ValueError, match="method"):
        steady_state_of(H, c, method="iterative")
