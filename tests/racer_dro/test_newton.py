"""The Newton machinery: the per-query block solve (numba kernel against the numpy
reference, and against a dense KKT solve) and the solver with and without the kernel."""

import numpy as np
import pytest

from racer_dro import RoutingProblem, _kernels, newton, solve_primal_dual


def _blocks(n, K, seed):
    rng = np.random.default_rng(seed)
    pi = rng.dirichlet(np.ones(K), size=n)
    bp = rng.uniform(1e-3, 1e-2, n)
    R, C = rng.uniform(size=(n, K)), rng.uniform(1, 5, size=(n, K))
    alpha, gamma = rng.uniform(0, 3, n), rng.uniform(0, 3, n)
    Y = rng.normal(size=(n, K, 4))
    return pi, bp, R, C, alpha, gamma, Y


@pytest.mark.parametrize("K", [2, 3, 11])
def test_block_solve_against_a_dense_kkt_system(K):
    pi, bp, R, C, alpha, gamma, Y = _blocks(20, K, K)
    X, T = newton._block_solve_numpy(pi, bp, R, C, alpha, gamma, Y)
    for i in range(20):
        M = np.diag(bp[i] / pi[i]) + alpha[i] * np.outer(R[i], R[i])
        M += gamma[i] * np.outer(C[i], C[i])
        kkt = np.block([[M, np.ones((K, 1))], [np.ones((1, K)), np.zeros((1, 1))]])
        rhs = np.vstack([Y[i], np.zeros((1, Y.shape[2]))])
        dense = np.linalg.solve(kkt, rhs)[:K]
        # the KKT matrices have condition numbers up to ~1e6 (bp / pi spans 1e-3 to
        # 1e2 against rank-one terms ~10): either solve carries ~1e-10 relative
        # rounding (measured 1.3e-10), so 1e-8
        np.testing.assert_allclose(X[i], dense, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(T[i], dense / pi[i][:, None], rtol=1e-8)


@pytest.mark.skipif(not _kernels.available(), reason="numba is not installed")
@pytest.mark.parametrize("K", [2, 5, 11])
def test_kernel_agrees_with_the_numpy_reference_to_1e_12(K):
    args = _blocks(500, K, 10 + K)
    X1, T1 = _kernels.block_solve(*args)
    X2, T2 = newton._block_solve_numpy(*args)
    assert np.max(np.abs(X1 - X2)) <= 1e-12 * np.max(np.abs(X2))
    assert np.max(np.abs(T1 - T2)) <= 1e-12 * np.max(np.abs(T2))


@pytest.mark.skipif(not _kernels.available(), reason="numba is not installed")
def test_solver_with_and_without_the_kernel_agree(monkeypatch):
    rng = np.random.default_rng(0)
    rewards, costs = rng.uniform(size=(300, 4)), rng.uniform(1, 6, size=(300, 4))
    problem = RoutingProblem(
        rewards, costs, 2.5, beta=0.02, reward_temperature=0.5, cost_radius=0.1
    )
    compiled = solve_primal_dual(problem)
    monkeypatch.setattr(newton, "USE_KERNEL", False)
    reference = solve_primal_dual(problem)
    # the same iterates up to rounding: both converged to 1e-12 in the policy
    np.testing.assert_allclose(compiled.policy, reference.policy, atol=1e-12)
    assert compiled.objective == pytest.approx(reference.objective, abs=1e-12)
