"""The two-arm per-row start (``_kernels_binary``): the generic kernel's arithmetic
unrolled on scalars, so its results are bit-identical to it (and through it agree
with the numpy reference, ``test_newton``)."""

import numpy as np
import pytest

from racer_dro import RoutingProblem, _kernels, _kernels_binary, primal_dual

pytest.importorskip("numba")


def _rows(n, seed, scale):
    rng = np.random.default_rng(seed)
    rewards = scale * rng.uniform(size=(n, 2))
    costs = scale * np.column_stack([rng.uniform(0.5, 1.5, n), rng.uniform(1, 8, n)])
    return rewards, costs


@pytest.mark.parametrize("n", [700, 2 * _kernels.CHUNK + 5])  # serial and chunked
@pytest.mark.parametrize("tol", [1e-4, 1e-13])
@pytest.mark.parametrize("sides", ["both", "reward only", "nominal"])
def test_two_arm_row_solve_is_the_generic_kernel_bit_for_bit(n, tol, sides):
    rewards, costs = _rows(n, 0, 1.0)
    kw = {"beta": 0.01}
    if sides != "nominal":
        kw["reward_temperature"] = 0.5
    if sides == "both":
        kw["cost_radius"] = 0.1
    problem = RoutingProblem(rewards, costs, 3.0, **kw)
    sol = primal_dual.solve_primal_dual(problem)
    table = primal_dual._tilt_table(primal_dual._frozen_tilts(problem, sol.policy))
    assert table[:, 3].sum() == {"both": 2, "reward only": 1, "nominal": 0}[sides]
    for lam in (0.0, 1.3 * sol.multiplier + 0.5):
        # the cold start (r - lambda c) / beta: rows far from their optimum and
        # rows saturated at the logit floor (beta = 0.01)
        theta0 = (rewards - lam * costs) / problem.beta
        args = (
            rewards,
            costs,
            lam,
            problem.beta,
            table,
            theta0,
            tol,
            max(tol, 1e-8),
            100,
        )
        with _kernels.using_threads(2):  # above one chunk: the chunks in parallel
            binary = _kernels_binary.solve_rows(*args)
        generic = _kernels.solve_rows(*args)
        # the same operations in the same order: equal, not close
        assert np.array_equal(binary, generic)
        assert np.isfinite(binary).all() and binary.max() == 0.0


def test_two_arm_row_solve_at_extreme_magnitudes():
    # tables of 1e-150 and 1e150: the objective's curvature at rounding level or
    # at overflow's edge; still the generic kernel's answer bit for bit
    for scale in (1e-150, 1e150):
        rewards, costs = _rows(300, 1, scale)
        table = np.array(
            [[0.5 * scale, 0.0, 0.0, 1.0], [2.0 * scale, -scale, -1.0, 1.0]]
        )
        theta0 = np.random.default_rng(2).normal(0.0, 30.0, size=(300, 2))
        args = (rewards, costs, 0.7, 0.01 * scale, table, theta0, 1e-10, 1e-8, 100)
        assert np.array_equal(
            _kernels_binary.solve_rows(*args),
            _kernels.solve_rows(*args),
            equal_nan=True,
        )


@pytest.mark.parametrize("n", [500, 2 * _kernels.CHUNK + 5])  # serial and chunked
@pytest.mark.parametrize("lam", [0.0, 20.0])
def test_two_arm_direction_is_the_generic_kernel_bit_for_bit(n, lam, monkeypatch):
    from racer_dro import _kernels_direction, newton

    rewards, costs = _rows(n, 3, 1.0)
    problem = RoutingProblem(
        rewards, costs, 3.0, beta=0.01, reward_temperature=0.5, cost_radius=0.1
    )
    engine = newton.Engine(problem)
    # a policy away from the optimum, with rows saturated at the logit floor
    st = engine.state(0.3 * (rewards - 20.0 * costs) / problem.beta)
    results = []
    for max_rows in (n, 0):  # each row's basis kept between the passes, or not
        monkeypatch.setattr(_kernels_direction, "BASIS_MAX_ROWS", max_rows)
        with _kernels.using_threads(2):  # above one chunk: the chunks in parallel
            results.append([np.array(a) for a in engine.direction(st, lam)])
    # the generic kernels, through the two-arm dispatch (their drivers take no basis)
    kd = _kernels_direction
    monkeypatch.setattr(_kernels_binary, "_moments_rows2", kd._moments_rows)
    monkeypatch.setattr(_kernels_binary, "_steps_rows2", kd._steps_rows)
    monkeypatch.setattr(
        _kernels_binary,
        "_moments_chunks2",
        lambda *a: kd._moments_chunks(*a[:-2], a[-1]),
    )
    monkeypatch.setattr(
        _kernels_binary, "_steps_chunks2", lambda *a: kd._steps_chunks(*a[:14], *a[15:])
    )
    with _kernels.using_threads(2):
        results.append(engine.direction(st, lam))
    # the same operations in the same order: equal, not close
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("n", [500, 2 * _kernels.CHUNK + 5])
def test_two_arm_state_pass_is_the_generic_kernel_bit_for_bit(n):
    rng = np.random.default_rng(4)
    # logits spread over +-100: rows with an entry at the floor 50 below the max
    theta, direction = rng.normal(0.0, 30.0, size=(2, n, 2))
    R, C = _rows(n, 5, 1.0)
    kernels = (_kernels_binary._softmax2, _kernels_binary._softmax2_chunks)
    for args in ((theta, R, C), (theta, R, C, direction, 0.37)):
        with _kernels.using_threads(2):  # above one chunk: the chunks in parallel
            binary = _kernels.softmax_values(*args, kernels=kernels)
        generic = _kernels.softmax_values(*args)
        for a, b in zip(binary, generic):  # equal, not close
            assert np.array_equal(a, b)


@pytest.mark.parametrize("n", [500, 2 * _kernels.CHUNK + 5])
def test_two_arm_history_distances_are_the_generic_kernel_bit_for_bit(n):
    from racer_dro import _kernels_policy as kp

    rng = np.random.default_rng(6)
    # logits spread over +-100 (rows at the floor), ties, and a final policy
    theta = rng.normal(0.0, 30.0, size=(n, 2))
    theta[:7] = 1.5  # ties: both centred logits 0
    R, C = _rows(n, 5, 1.0)
    _, pi_star, log_star = _kernels.softmax_values(rng.normal(size=(n, 2)), R, C)[:3]
    p = rng.uniform(size=n)
    p /= p.sum()
    star = (pi_star, log_star, p)
    generic = kp.chunk_sums(kp._distances_kernel, n, 2, theta, *star)
    binary = kp.chunk_sums(kp._distances2_kernel, n, 2, theta, *star)
    assert np.array_equal(binary, generic)  # the same operations: equal, not close
    with _kernels.using_threads(2):  # the chunks in parallel, added in order
        assert np.array_equal(
            kp._distances_chunks(theta, *star, _kernels.CHUNK), generic
        )
    expected = (max(float(generic[0]), 0.0), float(np.sqrt(generic[1])))
    assert kp.distances_to_final(theta, *star) == expected  # dispatches to K = 2
