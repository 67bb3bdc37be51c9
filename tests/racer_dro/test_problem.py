"""RoutingProblem: validation (errors name the argument), feasibility, derived values."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racer_dro import RoutingProblem
from tests.racer_dro.kl_reference import dual_value, penalised_value


def _data(n=20, seed=0):
    rng = np.random.default_rng(seed)
    rewards = rng.uniform(size=(n, 2))
    costs = np.column_stack([np.ones(n), rng.uniform(2, 6, size=n)])
    return rewards, costs


def test_fields_are_validated_and_frozen():
    rewards, costs = _data()
    problem = RoutingProblem(
        pd.DataFrame(rewards), costs.tolist(), 3, beta=1, cost_radius=0.1
    )
    assert isinstance(problem.rewards, np.ndarray) and problem.rewards.dtype == float
    assert problem.budget == 3.0 and isinstance(problem.beta, float)
    assert problem.reward_mode == "none" and problem.cost_mode == "radius"
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.budget = 4.0
    with pytest.raises(ValueError):
        problem.rewards[0, 0] = 5.0  # read-only arrays: the problem cannot drift
    np.testing.assert_allclose(problem.weights, np.full(20, 1 / 20))
    assert problem.n_arms == 2


@pytest.mark.parametrize(
    ("change", "exc", "match"),
    [
        ({"rewards": np.ones((5, 3))}, ValueError, "`costs`.*same shape"),
        ({"rewards": np.ones((20, 3))}, ValueError, "`costs`.*same shape"),
        ({"rewards": np.ones(20)}, ValueError, "`rewards`"),
        ({"costs": np.ones((19, 2))}, ValueError, "`costs`"),
        (
            {"rewards": np.ones((20, 1)), "costs": np.ones((20, 1))},
            ValueError,
            "`rewards`.*K >= 2",
        ),
        ({"rewards": np.full((20, 2), np.nan)}, ValueError, "`rewards`.*NaN"),
        ({"costs": np.full((20, 2), np.inf)}, ValueError, "`costs`.*finite"),
        ({"costs": -np.ones((20, 2))}, ValueError, "`costs`.*non-negative"),
        ({"budget": np.nan}, ValueError, "`budget`"),
        ({"budget": "3"}, TypeError, "`budget`"),
        ({"beta": 0.0}, ValueError, "`beta`"),
        ({"beta": -1.0}, ValueError, "`beta`"),
        (
            {"reward_radius": 0.1, "reward_temperature": 1.0},
            ValueError,
            "`reward_radius`",
        ),
        ({"cost_radius": 0.1, "cost_temperature": 1.0}, ValueError, "`cost_radius`"),
        ({"reward_temperature": 0.0}, ValueError, "`reward_temperature`"),
        ({"cost_temperature": -2.0}, ValueError, "`cost_temperature`"),
        ({"reward_radius": -0.1}, ValueError, "`reward_radius`"),
        ({"sample_weight": -np.ones(20)}, ValueError, "`sample_weight`"),
        ({"sample_weight": np.zeros(20)}, ValueError, "`sample_weight`"),
        ({"sample_weight": np.ones(7)}, ValueError, "`sample_weight`"),
    ],
)
def test_bad_input_names_the_argument(change, exc, match):
    rewards, costs = _data()
    kwargs = {"rewards": rewards, "costs": costs, "budget": 3.0, **change}
    with pytest.raises(exc, match=match):
        RoutingProblem(**kwargs)


def test_infeasible_budget_reports_minimum():
    rewards, costs = _data()
    minimum = costs.min(axis=1).mean()  # = 1: instruct is always cheaper here
    with pytest.raises(
        ValueError, match=r"`budget`.*infeasible.*minimum achievable.*1\.0"
    ):
        RoutingProblem(rewards, costs, budget=0.9)
    assert RoutingProblem(rewards, costs, budget=minimum).min_cost == pytest.approx(1.0)


def test_infeasible_budget_accounts_for_cost_robustness():
    rewards, costs = _data(seed=3)
    costs = costs.copy()
    costs[:, 0] = np.linspace(
        0.5, 2.0, 20
    )  # instruct costs vary, so the worst case exceeds the mean
    cheapest = costs.min(axis=1)
    robust_min = -dual_value(
        -cheapest, np.full(20, 1 / 20), 0.2
    )  # independent reference
    problem = RoutingProblem(rewards, costs, budget=robust_min + 1e-6, cost_radius=0.2)
    assert problem.min_cost == pytest.approx(robust_min, abs=1e-9)
    # a budget above the nominal minimum but below the worst-case minimum is infeasible
    budget = 0.5 * (cheapest.mean() + robust_min)
    with pytest.raises(ValueError, match="infeasible") as info:
        RoutingProblem(rewards, costs, budget=budget, cost_radius=0.2)
    assert f"{problem.min_cost!r}" in str(info.value)
    # and with a temperature the penalised worst case is what counts
    tau_min = -penalised_value(-cheapest, np.full(20, 1 / 20), 0.5)
    with pytest.raises(ValueError, match="infeasible"):
        RoutingProblem(rewards, costs, budget=tau_min - 1e-3, cost_temperature=0.5)
    RoutingProblem(rewards, costs, budget=tau_min + 1e-9, cost_temperature=0.5)


def test_budget_above_all_reasoning_is_allowed():
    rewards, costs = _data()
    problem = RoutingProblem(rewards, costs, budget=100.0)
    assert problem.max_cost == pytest.approx(costs[:, 1].mean())


def test_infeasible_budget_with_k_arms_names_the_cheapest_arm_cost():
    rng = np.random.default_rng(0)
    costs = rng.uniform(1, 5, size=(30, 4))
    rewards = rng.uniform(size=(30, 4))
    minimum = costs.min(axis=1).mean()  # each query's cheapest arm
    with pytest.raises(ValueError, match=r"`budget`.*infeasible.*cheapest arm"):
        RoutingProblem(rewards, costs, budget=minimum - 1e-3)
    problem = RoutingProblem(rewards, costs, budget=minimum)
    assert problem.min_cost == pytest.approx(minimum, rel=1e-14)
    assert problem.max_cost == pytest.approx(costs.max(axis=1).mean(), rel=1e-14)


def test_policy_values_and_objective_against_references():
    rewards, costs = _data(seed=5)
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=20)
    problem = RoutingProblem(
        rewards,
        costs,
        budget=2.0,
        beta=0.05,
        reward_radius=0.1,
        cost_temperature=0.7,
        sample_weight=w,
    )
    pi = np.linspace(0.05, 0.95, 20)
    policy = np.column_stack([1 - pi, pi])
    p = w / w.sum()
    r = rewards[:, 0] + pi * (rewards[:, 1] - rewards[:, 0])
    c = costs[:, 0] + pi * (costs[:, 1] - costs[:, 0])
    R = dual_value(r, p, 0.1)
    C = -penalised_value(-c, p, 0.7)
    H = float(p @ (-pi * np.log(pi) - (1 - pi) * np.log(1 - pi)))
    assert problem.worst_case_reward(policy).value == pytest.approx(R, abs=1e-10)
    assert problem.worst_case_cost(policy).value == pytest.approx(C, abs=1e-12)
    assert problem.entropy(policy) == pytest.approx(H, rel=1e-13)
    expected = R + 0.05 * H - max(C - 2.0, 0) ** 2 / (2 * 0.05)
    assert problem.objective(policy) == pytest.approx(expected, abs=1e-9)
    assert problem.objective(policy, constrained=True) == pytest.approx(
        R + 0.05 * H, abs=1e-10
    )


@pytest.mark.parametrize(
    ("policy", "match"),
    [
        (np.full((19, 2), 0.5), "shape"),
        (np.full(20, 0.5), "2-dimensional"),
        (np.full((20, 2), 1.5), r"\[0, 1\]"),
        (np.full((20, 2), 0.4), "sum to one"),
        (np.full((20, 2), np.nan), "finite"),
    ],
)
def test_bad_policy(policy, match):
    rewards, costs = _data()
    problem = RoutingProblem(rewards, costs, budget=3.0)
    with pytest.raises(
        ValueError, match=f"`policy`.*{match}|{match}.*`policy`|`policy`"
    ):
        problem.worst_case_cost(policy)


def test_replace_revalidates():
    rewards, costs = _data()
    problem = RoutingProblem(rewards, costs, budget=3.0)
    assert problem.replace(budget=4.0).budget == 4.0
    with pytest.raises(ValueError, match="`beta`"):
        problem.replace(beta=-1.0)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 6),
    cols=st.integers(1, 4),
    budget=st.floats(-10, 10, allow_nan=False),
    radius=st.one_of(st.none(), st.floats(-1, 3, allow_nan=False)),
    temperature=st.one_of(st.none(), st.floats(-1, 3, allow_nan=False)),
)
def test_fuzz_validation_either_valid_or_named_error(
    n, cols, budget, radius, temperature
):
    rewards = np.ones((n, cols))
    costs = np.ones((n, cols))
    try:
        problem = RoutingProblem(
            rewards, costs, budget, cost_radius=radius, cost_temperature=temperature
        )
    except ValueError as err:
        message = str(err)
        assert any(
            name in message
            for name in (
                "`rewards`",
                "`costs`",
                "`budget`",
                "`cost_radius`",
                "`cost_temperature`",
            )
        )
        return
    # valid: then every documented condition holds
    assert cols >= 2 and budget >= 1.0 - 1e-9
    assert not (radius is not None and temperature is not None)
    assert radius is None or radius >= 0
    assert temperature is None or temperature > 0
    assert math.isclose(problem.min_cost, 1.0)


@pytest.mark.parametrize(
    "side",
    [{}, {"cost_radius": 0.2}, {"cost_radius": 1e-6}, {"cost_temperature": 0.5}],
)
def test_min_and_max_cost_by_the_compiled_worst_case_equal_the_numpy_reference(side):
    # min_cost / max_cost use the compiled KL worst case when numba is available;
    # the numpy worst case (_cost_of_values) is the reference: both solve the same
    # root (radius) or evaluate the same log-sum-exp (temperature), to 1e-12
    # relative (the kernels' agreement elsewhere); zero-weight rows take no part
    pytest.importorskip("numba")
    rng = np.random.default_rng(11)
    rewards = rng.uniform(size=(300, 3))
    costs = rng.uniform(1, 5, size=(300, 3))
    weights = rng.uniform(size=300)
    weights[:30] = 0.0
    problem = RoutingProblem(rewards, costs, budget=10.0, sample_weight=weights, **side)
    for compiled, values in (
        (problem.min_cost, costs.min(axis=1)),
        (problem.max_cost, costs.max(axis=1)),
    ):
        reference = problem._cost_of_values(values).value
        assert compiled == pytest.approx(reference, rel=1e-12, abs=0)
    # the zero-weight rows' values do not count
    cheap = costs.copy()
    cheap[:30] = 1e-3
    assert problem.replace(costs=cheap).min_cost == pytest.approx(
        problem.min_cost, rel=1e-12, abs=0
    )


def test_solution_history_is_a_dataframe_built_once_from_its_columns():
    """The solver stores the history as columns (no pandas on the hot path); reading
    ``history`` gives a DataFrame of exactly those columns, the same object on every
    read, and it survives pickling and ``dataclasses.replace``."""
    import pickle

    from racer_dro.problem import Solution

    columns = {"iteration": np.arange(3), "lambda": np.array([0.0, 0.5, 0.25])}
    sol = Solution(np.full((2, 2), 0.5), 0.25, 1.0, 1.0, 2.0, True, history=columns)
    frame = sol.history
    assert isinstance(frame, pd.DataFrame) and frame is sol.history
    pd.testing.assert_frame_equal(frame, pd.DataFrame(columns))
    assert pickle.loads(pickle.dumps(sol)).history.equals(frame)
    assert dataclasses.replace(sol, n_iter=3).history.equals(frame)
    assert Solution(np.full((2, 2), 0.5), 0.0, 1.0, 1.0, 2.0, True).history is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        sol.history = None


@pytest.mark.parametrize("tau", [1e15, 1e300])
def test_min_cost_at_a_huge_cost_temperature_and_the_budget_check(tau):
    # tau far above the costs' spread: the penalised worst case is the mean
    # plus Var / (2 tau) (< 1e-14 here), so min_cost is the mean of the cheapest
    # arms to 1e-12 relative (rounding of the mean). The compiled path gave
    # -1.1e284 at tau = 1e300, which let an infeasible budget through.
    rewards, costs = _data(n=30)
    costs = costs * np.linspace(1.0, 2.0, 30)[:, None]
    problem = RoutingProblem(rewards, costs, budget=50.0, cost_temperature=tau)
    cheapest = costs.min(axis=1)
    assert problem.min_cost == pytest.approx(cheapest.mean(), rel=1e-12)
    assert problem.max_cost == pytest.approx(costs.max(axis=1).mean(), rel=1e-12)
    with pytest.raises(ValueError, match="`budget`"):
        RoutingProblem(
            rewards, costs, budget=0.5 * cheapest.mean(), cost_temperature=tau
        )


def test_sample_weights_whose_sum_overflows_are_normalised():
    # two weights of 1e308 summed to inf, and every normalised weight became 0
    # (then "zero-size array" inside the worst case); the same problem as weights
    # 1 and 1: exactly equal weights (each is the largest, scaled to 1 first)
    rewards, costs = np.array([[0.0, 1.0], [0.5, 0.2]]), np.array([[1.0, 2.0]] * 2)
    big = RoutingProblem(rewards, costs, 1.5, sample_weight=[1e308, 1e308])
    np.testing.assert_array_equal(big.weights, [0.5, 0.5])
    one = RoutingProblem(rewards, costs, 1.5, sample_weight=[1.0, 1.0])
    assert big.min_cost == one.min_cost
