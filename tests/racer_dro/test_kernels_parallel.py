"""The compiled passes above one chunk of rows (``_kernels.CHUNK``), where they run
in parallel: against the numpy references, and bit-identical with one thread or two."""

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from racer_dro import (
    RoutingProblem,
    _kernels,
    kl_worst_case,
    newton,
    primal_dual,
    solve_primal_dual,
)

numba = pytest.importorskip("numba")

# two full chunks and a short one: the chunk boundaries and the remainder
N = 2 * _kernels.CHUNK + 777


def _problem(K, n=N, seed=0):
    rng = np.random.default_rng(seed)
    rewards = rng.uniform(size=(n, K))
    costs = np.column_stack([rng.uniform(0.5, 1.5, n), rng.uniform(1, 8, (n, K - 1))])
    return RoutingProblem(
        rewards, costs, 3.0, beta=0.01, reward_temperature=0.5, cost_radius=0.1
    )


@pytest.mark.parametrize("K", [2, 11])
@pytest.mark.parametrize("n_jobs", [1, 2])  # chunks on the calling thread / in parallel
def test_chunked_passes_agree_with_the_numpy_references(K, n_jobs, monkeypatch):
    with _kernels.using_threads(n_jobs):
        _compare_chunked_passes(K, monkeypatch)


def _compare_chunked_passes(K, monkeypatch):
    problem = _problem(K)
    rng = np.random.default_rng(K)
    engine = newton.Engine(problem)
    theta = 0.3 * (problem.rewards - 20.0 * problem.costs) / problem.beta
    st = engine.state(theta)
    lam = 20.0
    compiled_dir = engine.direction(st, lam)
    compiled_dir = [np.array(a) for a in compiled_dir]  # buffers are reused
    compiled_res = engine.fixed_point_residual(st, lam)
    final = rng.normal(0.0, 5.0, size=theta.shape)
    thetas = [rng.normal(0.0, 20.0, size=theta.shape), final]
    history = pd.DataFrame({"lambda": [1.0, 2.0]})
    dist = primal_dual._distances_to_final(history.copy(), thetas, final, 2.0, engine.p)
    # the iterates given as (pi, log pi), as the Newton solver keeps them
    pairs = [tuple(newton.softmax_logits(t)[1:]) for t in thetas]
    dist_pairs = primal_dual._distances_to_final(
        history.copy(), pairs, final, 2.0, engine.p
    )
    monkeypatch.setattr(newton, "USE_KERNEL", False)
    ref_st = engine.state(theta)
    reference = engine.direction(st, lam)  # at the same state, as in test_newton
    # the same arithmetic, the sums over rows in chunks instead of numpy's
    # pairwise order: relative rounding ~1e-16 (as in test_newton); 1e-12
    for a, b in zip(compiled_dir, reference):
        assert np.max(np.abs(np.subtract(a, b))) <= 1e-12 * np.max(np.abs(b))
    for a, b in zip((st.pi, st.log_pi, st.reward, st.cost, st.entropy),
                    (ref_st.pi, ref_st.log_pi, ref_st.reward, ref_st.cost, ref_st.entropy)):  # fmt: skip
        assert np.max(np.abs(np.subtract(a, b))) <= 1e-12 * max(1.0, np.max(np.abs(b)))
    assert compiled_res == pytest.approx(
        engine.fixed_point_residual(ref_st, lam), rel=1e-12
    )
    ref = primal_dual._distances_to_final(history.copy(), thetas, final, 2.0, engine.p)
    ref_pairs = primal_dual._distances_to_final(
        history.copy(), pairs, final, 2.0, engine.p
    )
    for col in ("kl_to_final", "l2_to_final"):
        # atol: the final policy against itself is 0 up to the softmax's rounding
        for got in (dist, dist_pairs, ref_pairs):
            np.testing.assert_allclose(got[col], ref[col], rtol=1e-12, atol=1e-13)
    assert dist[col].iloc[0] > 0.1  # far from the final policy
    # the per-row start (rows are independent: chunking changes nothing but the
    # thread a row runs on); 1e-10 as in test_newton (damped steps amplify rounding)
    table = primal_dual._tilt_table(primal_dual._frozen_tilts(problem, st.pi))
    args = (
        problem.rewards,
        problem.costs,
        1.3,
        problem.beta,
        table,
        theta,
        1e-4,
        1e-4,
        100,
    )
    np.testing.assert_allclose(
        newton.softmax_logits(_kernels.solve_rows(*args))[1],
        newton.softmax_logits(primal_dual._solve_rows_numpy(*args))[1],
        rtol=0,
        atol=1e-10,
    )


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one numba thread")
@pytest.mark.parametrize("K", [2, 5])
def test_results_do_not_depend_on_the_number_of_threads(K):
    # fixed chunks, per-chunk sums added in chunk order: bit-identical, not close
    problem = _problem(K, seed=K)
    one = solve_primal_dual(problem)  # n_jobs=None: the calling thread
    two = solve_primal_dual(problem, n_jobs=2)
    assert one.converged and two.converged
    assert np.array_equal(one.policy, two.policy)
    assert one.objective == two.objective and one.multiplier == two.multiplier
    pd.testing.assert_frame_equal(one.history, two.history, check_exact=True)


@pytest.mark.parametrize(
    "K, n, method", [(3, 12_000, "auto"), (2, 50_000, "auto"), (2, 12_000, "nested")]
)
def test_results_do_not_depend_on_blas_threads(K, n, method):
    # BLAS's ddot splits a long dot product across its threads (OpenBLAS above
    # ~10,000 entries), which moved the policy by ~1e-12 with the thread count
    # (the worst cases' and the entropy's row sums); racer_dro._dot sums fixed
    # blocks in order: bit-identical, not close
    problem = _problem(K, n=n, seed=K)
    values = problem.rewards[:, 0] + 0.1 * np.arange(n) / n

    def solve_under(threads):
        with threadpool_limits(threads, "blas"):
            sol = solve_primal_dual(problem, method=method)
            worst = [
                kl_worst_case(values, radius=0.1),
                kl_worst_case(values, temperature=0.3),
            ]
            return sol, worst, primal_dual.evaluate_policy(problem, sol.policy)

    (one, one_kl, one_eval), (two, two_kl, two_eval) = solve_under(1), solve_under(2)
    assert one.converged and two.converged
    assert np.array_equal(one.policy, two.policy)
    assert one.objective == two.objective and one.multiplier == two.multiplier
    for a, b in zip(one_kl, two_kl):
        assert a.value == b.value and a.temperature == b.temperature
        assert np.array_equal(a.weights, b.weights)
    assert one_eval.objective == two_eval.objective
    assert one_eval.entropy == two_eval.entropy


def test_n_jobs_is_validated_and_restored():
    problem = _problem(2, n=50)
    for bad in (0, 1.5, "2", True):
        with pytest.raises(ValueError, match="n_jobs"):
            solve_primal_dual(problem, n_jobs=bad)
    threads = numba.get_num_threads()
    solve_primal_dual(problem, n_jobs=-1)
    assert numba.get_num_threads() == threads and not _kernels.parallel(10**9)
