"""The compiled joint Newton loop (``_kernels_newton``) against the Python loop it replaces.

Both run the same compiled passes in the same order; only the state's two dot
products (numba's BLAS instead of numpy's) and the 4 x 4 capacitance solve
(numba's LAPACK) may round differently, so the iterates agree to rounding: the
tolerances below are 1e-12 (relative), as for the other compiled passes, and the
number of Newton steps must be the same.
"""

import numpy as np
import pytest

from racer_dro import (
    RoutingProblem,
    _kernels_newton,
    _kernels_policy,
    newton,
    primal_dual,
    solve_primal_dual,
)

numba = pytest.importorskip("numba")


def _problem(K, n, seed=0, **sides):
    rng = np.random.default_rng(seed)
    rewards = rng.uniform(size=(n, K))
    costs = np.column_stack([rng.uniform(0.5, 1.5, n), rng.uniform(1, 8, (n, K - 1))])
    kw = {"reward_temperature": 0.5, "cost_radius": 0.1}
    kw.update(sides)
    return RoutingProblem(rewards, costs, 3.0, beta=0.01, **kw)


CASES = {
    "binary, temperature + radius": _problem(2, 1500),  # above the subsample threshold
    "K = 3, temperature + radius": _problem(3, 300, seed=1),
    "K = 11, temperature + radius": _problem(11, 200, seed=2),
    "nominal sides": _problem(
        3, 200, seed=3, reward_temperature=None, cost_radius=None
    ),
    "reward radius, cost temperature": _problem(
        3,
        200,
        seed=4,
        reward_temperature=None,
        reward_radius=0.2,
        cost_radius=None,
        cost_temperature=0.3,
    ),
    "budget not binding": _problem(2, 200, seed=5).replace(budget=100.0),
    "zero-weight rows": _problem(3, 200, seed=6).replace(
        sample_weight=np.r_[np.zeros(20), np.ones(180)]
    ),
}


def _iterate(record):
    """``(pi, log pi)`` of a record's iterate: the compiled loop keeps the pair, the
    Python loop the centred logits (its softmax is the state's policy exactly)."""
    theta = record["theta"]
    return theta if isinstance(theta, tuple) else newton.softmax_logits(theta)[1:]


def _solve(problem, compiled, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(_kernels_newton, "ENABLED", compiled)
        return solve_primal_dual(problem)


@pytest.mark.parametrize("name", list(CASES))
def test_compiled_loop_agrees_with_the_python_loop(name, monkeypatch):
    problem = CASES[name]
    calls = []
    original = _kernels_newton.newton_joint
    monkeypatch.setattr(
        _kernels_newton,
        "newton_joint",
        lambda *a: calls.append(1) or original(*a),
    )
    fast = _solve(problem, True, monkeypatch)
    slow = _solve(problem, False, monkeypatch)
    assert calls  # the compiled loop did run (and the Python loop when disabled)
    assert fast.converged and slow.converged
    assert fast.n_iter == slow.n_iter
    assert np.max(np.abs(fast.policy - slow.policy)) <= 1e-12
    assert abs(fast.objective - slow.objective) <= 1e-12 * max(1.0, abs(slow.objective))
    # the multiplier is the root of the budget residual, flat near the optimum, so the
    # two loops' last-place rounding differences move it most: measured 1.15e-12
    # with lambda = 0.034 on the machine of 2026-12-02 (below 1e-12 on earlier
    # machines with the same package versions): 1e-11 bounds that
    assert abs(fast.multiplier - slow.multiplier) <= 1e-11 * max(1.0, slow.multiplier)
    assert list(fast.history.columns) == list(slow.history.columns)
    a, b = fast.history.to_numpy(float), slow.history.to_numpy(float)
    # the history's distances to the final iterate are differences of nearly equal
    # numbers near the end: absolute 1e-12 on a scale of at least one
    assert np.max(np.abs(a - b)) <= 1e-12 * max(1.0, np.max(np.abs(b)))


def test_compiled_loop_updates_the_engine_warm_starts_as_the_python_loop():
    problem = CASES["binary, temperature + radius"]
    theta = (problem.rewards - problem.costs) / problem.beta
    engines = [newton.Engine(problem), newton.Engine(problem)]
    st_fast, rec_fast, ok_fast, lam_fast, dcz_fast = _kernels_newton.newton_joint(
        engines[0], theta, 1e-12, 200, True, primal_dual._FIXED_POINT_TOL,
        primal_dual._ROUNDING_STEPS,
    )  # fmt: skip
    _kernels_newton.ENABLED = False
    try:
        _, rec_slow, ok_slow, lam_slow, dcz_slow = primal_dual._newton(
            engines[1], theta, 0.0, 1e-12, 200, joint=True
        )
    finally:
        _kernels_newton.ENABLED = True
    assert ok_fast and ok_slow and len(rec_fast) == len(rec_slow)
    for sign in (1.0, -1.0):
        for memo in ("tau", "centre"):
            a, b = getattr(engines[0], memo)[sign], getattr(engines[1], memo)[sign]
            assert (a is None) == (b is None)
            if a is not None:
                assert abs(a - b) <= 1e-12 * max(1.0, abs(b))
    assert abs(lam_fast - lam_slow) <= 1e-12 * max(1.0, lam_slow)
    assert abs(dcz_fast - dcz_slow) <= 1e-12 * max(1.0, abs(dcz_slow))
    # each record's iterate is kept, the last one is the final state's policy
    assert rec_fast[-1]["theta"][0] is st_fast.pi
    for r, s in zip(rec_fast, rec_slow):
        assert np.max(np.abs(_iterate(r)[0] - _iterate(s)[0])) <= 1e-12


def test_compiled_loop_hands_edge_cases_to_the_python_loop(monkeypatch):
    # constant rewards: the compiled worst case leaves them to the numpy reference
    problem = _problem(2, 100, seed=7)
    problem = problem.replace(rewards=np.ones_like(problem.rewards))
    engine = newton.Engine(problem)
    theta = np.zeros(problem.rewards.shape)
    assert (
        _kernels_newton.newton_joint(engine, theta, 1e-12, 50, True, 1e-6, 100.0)
        is None
    )
    assert engine.tau == {
        1.0: None,
        -1.0: None,
    }  # untouched: the Python loop starts afresh
    fast = _solve(problem, True, monkeypatch)
    slow = _solve(problem, False, monkeypatch)
    assert fast.converged and np.array_equal(fast.policy, slow.policy)


def test_compiled_loop_grows_its_history_past_its_first_slots():
    # more than 16 Newton steps (the loop's first allocation of iterates): a cold
    # start on a strongly regularised-away problem takes ~30
    problem = _problem(3, 300, seed=1)
    engine = newton.Engine(problem)
    theta = problem.rewards / problem.beta
    _, records, ok, _, _ = _kernels_newton.newton_joint(
        engine, theta, 1e-12, 200, True, 1e-6, 100.0
    )
    assert ok and len(records) > 16
    _kernels_newton.ENABLED = False
    try:
        _, slow, _, _, _ = primal_dual._newton(
            newton.Engine(problem), theta, 0.0, 1e-12, 200, joint=True
        )
    finally:
        _kernels_newton.ENABLED = True
    assert len(slow) == len(records)
    for r, s in zip(records, slow):
        log_fast, log_slow = _iterate(r)[1], _iterate(s)[1]
        assert np.max(np.abs(log_fast - log_slow)) <= 1e-12 * max(
            1.0, np.max(np.abs(log_slow))
        )


@pytest.mark.parametrize("K", [2, 11])
def test_history_distances_from_logits_equal_those_from_the_state_policy(K):
    # the Python loop keeps each iterate's centred logits, not (pi, log pi): the
    # distances' softmax must reproduce the state's policy bit for bit (the same
    # centring, floor, exp and sums in the same order), so the history is the
    # same as with the pair kept: compared exactly, not to a tolerance
    problem = _problem(K, 9_000, seed=8)  # above one chunk: the Python loop
    engine = newton.Engine(problem)
    theta = (problem.rewards - problem.costs) / problem.beta
    _, records, ok, _, _ = primal_dual._newton(
        engine, theta, 0.0, 1e-12, 200, joint=True
    )
    assert ok and len(records) > 3
    final = newton.Engine(problem).state(records[-1]["theta"])
    star = (final.pi, final.log_pi, engine.p)
    for record in records[:-1]:
        logits = record["theta"]
        assert not isinstance(logits, tuple)
        st = newton.Engine(problem).state(logits)
        assert np.array_equal(st.theta, logits)  # centred already: unchanged
        from_logits = _kernels_policy.distances_to_final(logits, *star)
        from_pair = _kernels_policy.distances_to_final((st.pi, st.log_pi), *star)
        assert from_logits == from_pair
