"""The Newton machinery: the per-query block solve (numba kernel against the numpy
reference, and against a dense KKT solve) and the solver with and without the kernel."""

import numpy as np
import pandas as pd
import pytest

from racer_dro import RoutingProblem, _kernels, newton, primal_dual, solve_primal_dual


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
@pytest.mark.parametrize("n", [300, 1_500])  # 1,500: the subsample start and row solves
def test_solver_with_and_without_the_kernel_agree(n, monkeypatch):
    rng = np.random.default_rng(0)
    rewards, costs = rng.uniform(size=(n, 4)), rng.uniform(1, 6, size=(n, 4))
    problem = RoutingProblem(
        rewards, costs, 2.5, beta=0.02, reward_temperature=0.5, cost_radius=0.1
    )
    compiled = solve_primal_dual(problem)
    monkeypatch.setattr(newton, "USE_KERNEL", False)
    reference = solve_primal_dual(problem)
    # the same iterates up to rounding: both converged to 1e-12 in the policy
    np.testing.assert_allclose(compiled.policy, reference.policy, atol=1e-12)
    assert compiled.objective == pytest.approx(reference.objective, abs=1e-12)


@pytest.mark.skipif(not _kernels.available(), reason="numba is not installed")
@pytest.mark.parametrize("K", [2, 5, 11])
@pytest.mark.parametrize("tol", [1e-4, 1e-13])
def test_row_solve_kernel_agrees_with_the_numpy_reference(K, tol):
    # frozen tilts of a solved problem, a multiplier away from its optimum and the
    # cold start (r - lambda c) / beta: rows far from their optimum and rows
    # saturated at the logit floor
    rng = np.random.default_rng(K)
    rewards = rng.uniform(size=(600, K))
    costs = np.column_stack(
        [rng.uniform(0.5, 1.5, 600), rng.uniform(1, 8, (600, K - 1))]
    )
    problem = RoutingProblem(
        rewards, costs, 3.0, beta=0.01, reward_temperature=0.5, cost_radius=0.1
    )
    sol = solve_primal_dual(problem)
    table = primal_dual._tilt_table(primal_dual._frozen_tilts(problem, sol.policy))
    lam, beta = 1.3 * sol.multiplier, problem.beta
    R, C = problem.rewards, problem.costs
    theta0 = (R - lam * C) / beta
    args = (R, C, lam, beta, table, theta0, tol, max(tol, 1e-8), 100)
    compiled = newton.softmax_logits(_kernels.solve_rows(*args))[1]
    reference = newton.softmax_logits(primal_dual._solve_rows_numpy(*args))[1]
    # the same per-row iteration; only the order of the K-term sums differs, and
    # ~10 Newton steps on rows with pi down to 1e-22 (damped steps, line-search
    # decisions) amplify that rounding to ~2e-11 on a few entries (measured), so
    # 1e-10 on the policy
    np.testing.assert_allclose(compiled, reference, rtol=0, atol=1e-10)
    # and it is each row's optimum: the row's own primal step with its frozen
    # tilt reproduces the policy (the fixed point that defines the row solve)
    if tol < 1e-8:
        f_r = np.einsum("ij,ij->i", compiled, R)
        f_c = np.einsum("ij,ij->i", compiled, C)
        w_r = np.exp(-(f_r - table[0, 1]) / table[0, 0] - table[0, 2])
        w_c = np.exp(-(-f_c - table[1, 1]) / table[1, 0] - table[1, 2])
        logits = (w_r[:, None] * R - lam * w_c[:, None] * C) / beta
        step = np.exp(logits - logits.max(axis=1, keepdims=True))
        step /= step.sum(axis=1, keepdims=True)
        # 1e-9: the row tolerance 1e-13 in pi, times the primal step's Lipschitz
        # constant ~ |R| / beta w / tau ~ 1e3, with margin
        np.testing.assert_allclose(step, compiled, atol=1e-9)


@pytest.mark.skipif(not _kernels.available(), reason="numba is not installed")
@pytest.mark.parametrize("K", [2, 5, 11])
@pytest.mark.parametrize("lam", [0.0, 20.0])
def test_fused_direction_agrees_with_the_numpy_reference_to_1e_12(K, lam, monkeypatch):
    # a radius side (two coupling columns) and a temperature side (one), at a
    # policy away from the optimum; lam = 0 drops the cost side's coupling
    rng = np.random.default_rng(K)
    rewards = rng.uniform(size=(400, K))
    costs = np.column_stack(
        [rng.uniform(0.5, 1.5, 400), rng.uniform(1, 8, (400, K - 1))]
    )
    problem = RoutingProblem(
        rewards, costs, 3.0, beta=0.01, reward_temperature=0.5, cost_radius=0.1
    )
    engine = newton.Engine(problem)
    st = engine.state(0.3 * (rewards - 20.0 * costs) / problem.beta)
    compiled = engine.direction(st, lam)
    monkeypatch.setattr(newton, "USE_KERNEL", False)
    reference = engine.direction(st, lam)
    # the same arithmetic in another order: relative rounding ~1e-16 (measured 3e-16)
    for a, b in zip(compiled, reference):
        assert np.max(np.abs(a - b)) <= 1e-12 * np.max(np.abs(b))


@pytest.mark.skipif(not _kernels.available(), reason="numba is not installed")
@pytest.mark.parametrize("K", [2, 5, 11])
def test_fused_softmax_agrees_with_the_numpy_reference_to_1e_12(K):
    # logits spread over +-100: rows with entries at the floor 50 below the max
    rng = np.random.default_rng(K)
    theta = rng.normal(0.0, 30.0, size=(500, K))
    R, C = rng.uniform(size=(500, K)), rng.uniform(1, 8, size=(500, K))
    compiled = _kernels.softmax_values(theta, R, C)
    th, pi, log_pi = newton.softmax_logits(theta)
    reference = (
        th,
        pi,
        log_pi,
        *(np.einsum("ij,ij->i", pi, t) for t in (R, C, log_pi)),
    )
    # the same operations; only the order of the K-term sums may differ (measured 7e-15
    # absolute on log pi ~ -50, i.e. relative 1e-16)
    for a, b in zip(compiled, reference):
        assert np.max(np.abs(a - b)) <= 1e-12 * max(1.0, np.max(np.abs(b)))


@pytest.mark.parametrize("use_kernel", [False, True])
@pytest.mark.parametrize("lam", [0.0, 20.0])
def test_direction_against_a_dense_kkt_solve_of_the_full_hessian(
    use_kernel, lam, monkeypatch
):
    # the Newton direction (block solves of [grad, r, c] per row combined, then the
    # low-rank coupling) against one dense solve of the whole (n K + n) KKT system:
    # M = blockdiag(beta p_i diag(1 / pi_i) + alpha_i r_i r_i^T + gamma_i c_i c_i^T)
    # minus the coupling sum_a W_a U_a U_a^T, one simplex constraint per row
    if use_kernel and not _kernels.available():
        pytest.skip("numba is not installed")
    monkeypatch.setattr(newton, "USE_KERNEL", use_kernel)
    rng = np.random.default_rng(3)
    n, K = 30, 3
    rewards = rng.uniform(size=(n, K))
    costs = np.column_stack([rng.uniform(0.5, 1.5, n), rng.uniform(1, 8, (n, K - 1))])
    problem = RoutingProblem(
        rewards, costs, 3.0, beta=0.05, reward_temperature=0.5, cost_radius=0.1
    )
    engine = newton.Engine(problem)
    st = engine.state(0.3 * (rewards - 2.0 * costs) / problem.beta)
    step, dtheta, z, ztheta, dec, dc_step, dc_z = engine.direction(st, lam)
    p, beta, pi = engine.p, problem.beta, st.pi
    # the gradients of F = R - lam C + beta H and of C in pi (envelope theorem)
    qr, qc = st.rs.q[:, None], st.cs.q[:, None]
    grad = qr * rewards - lam * qc * costs - beta * p[:, None] * st.log_pi
    grad_c = qc * costs
    curv_r, low_r = newton.worst_case_curvature(st.rs)
    curv_c, low_c = newton.worst_case_curvature(st.cs)
    M = np.zeros((n * K, n * K))
    for i in range(n):
        blk = np.diag(beta * p[i] / pi[i])
        blk += curv_r * st.rs.q[i] * np.outer(rewards[i], rewards[i])
        blk += lam * curv_c * st.cs.q[i] * np.outer(costs[i], costs[i])
        M[i * K : (i + 1) * K, i * K : (i + 1) * K] = blk
    terms = [(c, (v[:, None] * rewards).ravel()) for c, v in low_r]
    if lam > 0:
        terms += [(lam * c, (v[:, None] * costs).ravel()) for c, v in low_c]
    for coef, u in terms:
        M -= coef * np.outer(u, u)
    E = np.kron(np.eye(n), np.ones((K, 1)))
    kkt = np.block([[M, E], [E.T, np.zeros((n, n))]])
    rhs = np.zeros((n * K + n, 2))
    rhs[: n * K, 0] = grad.ravel()
    rhs[: n * K, 1] = grad_c.ravel()
    dense = np.linalg.solve(kkt, rhs)[: n * K]
    # the KKT system's condition number is ~1e7 here (beta p / pi against the
    # rank-one terms): either solve carries relative rounding ~1e-9 at most, so 1e-8
    np.testing.assert_allclose(
        step.ravel(), dense[:, 0], rtol=1e-8, atol=1e-8 * np.abs(dense[:, 0]).max()
    )
    np.testing.assert_allclose(
        -z.ravel(), dense[:, 1], rtol=1e-8, atol=1e-8 * np.abs(dense[:, 1]).max()
    )
    np.testing.assert_allclose(
        dtheta, step / pi, rtol=1e-8, atol=1e-8 * np.abs(dtheta).max()
    )
    np.testing.assert_allclose(
        ztheta, z / pi, rtol=1e-8, atol=1e-8 * np.abs(ztheta).max()
    )
    # the scalars: Newton decrement, predicted change of C, dC / dlambda
    assert dec == pytest.approx(grad.ravel() @ dense[:, 0], rel=1e-8)
    assert dc_step == pytest.approx(grad_c.ravel() @ dense[:, 0], rel=1e-8)
    assert dc_z == pytest.approx(-(grad_c.ravel() @ dense[:, 1]), rel=1e-8)


@pytest.mark.skipif(not _kernels.available(), reason="numba is not installed")
@pytest.mark.parametrize("K", [2, 5, 11])
def test_compiled_policy_passes_agree_with_the_numpy_reference(K, monkeypatch):
    # the fixed-point residual and the history's distances to a final policy, one
    # pass each, against the numpy code (the same formulas): only the order of the
    # sums differs, so rounding ~1e-16 relative; 1e-12
    rng = np.random.default_rng(K)
    rewards, costs = rng.uniform(size=(300, K)), rng.uniform(1, 8, size=(300, K))
    problem = RoutingProblem(
        rewards, costs, 10.0, beta=0.05, reward_temperature=0.5, cost_radius=0.1
    )
    engine = newton.Engine(problem)
    st = engine.state(rng.normal(0.0, 30.0, size=(300, K)))
    final = rng.normal(0.0, 5.0, size=(300, K))
    thetas = [rng.normal(0.0, 20.0, size=(300, K)) for _ in range(3)] + [final]
    history = pd.DataFrame({"lambda": [1.0, 2.0, 3.0, 4.0]})
    compiled = engine.fixed_point_residual(st, 3.0)
    dist = primal_dual._distances_to_final(history.copy(), thetas, final, 4.0, engine.p)
    monkeypatch.setattr(newton, "USE_KERNEL", False)
    reference = engine.fixed_point_residual(st, 3.0)
    ref = primal_dual._distances_to_final(history.copy(), thetas, final, 4.0, engine.p)
    assert compiled > 0.01  # a policy far from its primal step
    assert compiled == pytest.approx(reference, rel=1e-12)
    for col in ("kl_to_final", "l2_to_final"):
        # atol: the final policy against itself is 0 up to the rounding of the two
        # softmax evaluations summed over 300 K entries (measured 2e-15)
        np.testing.assert_allclose(dist[col], ref[col], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("K", [2, 5])
def test_fixed_point_residual_allows_for_the_rounding_of_lambda(monkeypatch, K):
    """A policy that is the primal step at ``lambda + delta`` (nominal sides: the
    ratios are 1 whatever the policy) misses the primal step at ``lambda`` by its
    sensitivity times ``delta``, and passes once ``dlam`` covers ``delta``; the
    compiled residual equals the numpy reference with ``dlam`` too."""
    rng = np.random.default_rng(K)
    n, beta, lam, delta = 200, 0.05, 0.4, 1e-6
    rewards, costs = rng.uniform(size=(n, K)), rng.uniform(1, 8, size=(n, K))
    problem = RoutingProblem(rewards, costs, 8.0, beta=beta)
    engine = newton.Engine(problem)
    st = engine.state((rewards - (lam + delta) * costs) / beta)
    plain = engine.fixed_point_residual(st, lam)
    covered = engine.fixed_point_residual(st, lam, 1.01 * delta)
    half = engine.fixed_point_residual(st, lam, 0.5 * delta)
    # first order: sensitivity (up to 8 / (4 beta) = 40) times delta; second
    # order ~ (40 delta)^2 = 2e-9 at most
    assert plain > 1e-6
    assert covered < 1e-8
    assert covered < half < plain
    monkeypatch.setattr(newton, "USE_KERNEL", False)
    assert engine.fixed_point_residual(st, lam) == pytest.approx(plain, rel=1e-12)
    assert engine.fixed_point_residual(st, lam, 0.5 * delta) == pytest.approx(
        half, rel=1e-9
    )


def _row_optimum_by_bisection(r, c, lam, beta, table):
    """Two arms, written apart from the solver: the row's optimal logit ``log(pi_1 /
    pi_0)``, the root of the derivative of ``-tau_r w_r - lam tau_c w_c + beta H`` in
    ``pi_1``, ``w_r (r_1 - r_0) - lam w_c (c_1 - c_0) + beta log(pi_0 / pi_1)``
    (decreasing), by bisection on the logit."""

    def derivative(x):
        p1 = 1.0 / (1.0 + np.exp(-x))
        f_r, f_c = r[0] + p1 * (r[1] - r[0]), c[0] + p1 * (c[1] - c[0])
        (tr, mr, Lr, _), (tc, mc, Lc, _) = table
        with np.errstate(over="ignore"):
            w_r = np.exp(-(f_r - mr) / tr - Lr)
            w_c = np.exp((f_c + mc) / tc - Lc)
        return w_r * (r[1] - r[0]) - lam * w_c * (c[1] - c[0]) - beta * x

    lo, hi = -45.0, 45.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if derivative(mid) > 0 else (lo, mid)
    return 0.5 * (lo + hi)


@pytest.mark.parametrize("use_kernel", [True, False])
@pytest.mark.parametrize("K", [2, 3])
def test_row_solve_recovers_where_a_tiny_temperature_overflows_from_its_start(
    K, use_kernel, monkeypatch
):
    # a cost side whose frozen temperature is 1e-9 (a KL radius with the worst case
    # on the cheapest rows): from the uniform start the ratio exp((f_c - 1) / tau)
    # is e^(2.5e8) and the row's Newton ends in inf - inf; the row's problem is
    # strictly concave, so its optimum is found from another start (found by a
    # fuzz against CVXPY: a zero-weight row's limit came out NaN and the solver
    # raised)
    if use_kernel and not _kernels.available():
        pytest.skip("numba is not installed")
    monkeypatch.setattr(newton, "USE_KERNEL", use_kernel)
    R = np.array([[0.0, 0.01, 0.0], [0.01, 0.0, 0.0]])[:, :K]
    C = np.array([[1.0, 1.5, 2.0], [1.0, 1.5, 2.0]])[:, :K]
    table = np.array([[1e-3, 0.0, 0.0, 1.0], [1e-9, -1.0, 0.0, 1.0]])
    lam, beta = 1e-3, 1e-7
    theta = primal_dual._solve_rows(
        R, C, lam, beta, [tuple(table[0, :3]), tuple(table[1, :3])],
        np.zeros_like(R), tol=1e-13,
    )  # fmt: skip
    assert np.isfinite(theta).all()
    if K == 2:
        pi = newton.softmax_logits(theta)[1]
        for i in range(2):
            expected = _row_optimum_by_bisection(R[i], C[i], lam, beta, table)
            # pi_1 ~ 6e-9 at the optimum. The block solve's Woodbury form carries
            # relative rounding ~1/(gamma d c^2) ~ 1e-14 into a step of ~1e-12, so
            # near the optimum the Newton steps are a few percent off and the row
            # ends within ~1e-2 of the optimal logit (measured 4.5e-3): 1e-10
            # absolute on the policy, i.e. within 2% of pi_1
            assert pi[i, 1] == pytest.approx(1 / (1 + np.exp(-expected)), abs=1e-10)
        assert pi[0, 1] > 1e-9  # not the vertex it restarted from (pi_1 = 2e-22)
    else:  # the third arm is dearer still and earns nothing: at the logit floor
        pi = newton.softmax_logits(theta)[1]
        assert pi[0, 1] > 1e-9 and pi[0, 1] < 1e-8  # pi_1 ~ 6e-9, as for K = 2
        np.testing.assert_array_less(pi[:, 2], 1e-20)
