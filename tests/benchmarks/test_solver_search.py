"""The random search's classes: each one reached by a problem whose answer is known."""

import dataclasses

import numpy as np
import pytest

from benchmarks import solver_search
from racer_dro import RoutingProblem, solve_primal_dual
from racer_dro.problem import Solution


def _small():
    rng = np.random.default_rng(0)
    rewards = rng.uniform(size=(30, 3))
    costs = np.tile([1.0, 2.0, 4.0], (30, 1)) * rng.uniform(0.8, 1.2, size=(30, 3))
    return RoutingProblem(rewards, costs, 2.0, beta=0.05, cost_radius=0.1)


def test_draws_are_seeded_and_valid():
    a = [solver_search.random_problem(np.random.default_rng(3))[1] for _ in range(1)]
    b = [solver_search.random_problem(np.random.default_rng(3))[1] for _ in range(1)]
    assert a == b
    problem, desc = solver_search.random_problem(np.random.default_rng(4), sizes=(20,))
    assert problem.rewards.shape == (20, desc["K"])
    assert problem.budget >= problem.min_cost - 1e-12 * (1 + abs(problem.min_cost))


def test_an_easy_problem_agrees():
    assert solver_search.classify(_small()) == "agree"


@pytest.mark.parametrize(
    ("change", "label"),
    [
        ({"objective": -1.0}, "wrong"),  # ours far below CVXPY's
        ({"converged": False}, "flagged"),  # accurate but not converged
    ],
)
def test_each_class_is_reached(change, label, monkeypatch):
    problem = _small()
    exact = solve_primal_dual(problem)
    shifted = {
        k: getattr(exact, k) + v if k == "objective" else v for k, v in change.items()
    }
    fake: Solution = dataclasses.replace(exact, **shifted)
    monkeypatch.setattr(solver_search, "solve_primal_dual", lambda p, **kw: fake)
    assert solver_search.classify(problem) == label


@pytest.mark.parametrize(("shift", "label"), [(+1.0, "CVXPY off"), (-5e-7, "wrong")])
def test_policies_apart(shift, label, monkeypatch):
    """Ours a different policy: CVXPY's is off when its objective is below ours,
    else ours is wrong (here 5e-7 below the optimum: inside the objective
    tolerance, CVXPY's solve is accurate to ~1e-8, so CVXPY is above ours)."""
    problem = _small()
    exact = solve_primal_dual(problem)
    other = np.roll(exact.policy, 1, axis=1)
    fake = dataclasses.replace(
        exact, policy=other, objective=exact.objective + shift * abs(exact.objective)
    )
    monkeypatch.setattr(solver_search, "solve_primal_dual", lambda p, **kw: fake)
    assert solver_search.classify(problem) == label


def test_a_failing_reference_is_counted_not_raised(monkeypatch):
    seen = []

    def fail(problem, **kwargs):
        seen.append(kwargs)
        raise RuntimeError("no")

    monkeypatch.setattr(solver_search, "solve_cvxpy", fail)
    assert solver_search.classify(_small()) == "CVXPY failed"
    # CVXPY is bounded by its own time limit (a signal cannot stop SCS's C loop)
    assert seen == [{"time_limit": solver_search.TIMEOUT}]


def test_large_radius_draws_are_seeded_and_in_their_ranges():
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(20):
        problem, desc = solver_search.large_radius_problem(rng_a)
        assert desc == solver_search.large_radius_problem(rng_b)[1]
        assert desc["K"] in (2, 3, 5) and problem.rewards.shape == (
            desc["n"],
            desc["K"],
        )
        assert 10**-0.5 <= problem.cost_radius <= 10**0.5
        assert problem.reward_radius is None or 10**-0.5 <= problem.reward_radius
        # 5-70% of the way from the cheapest to the dearest policy's cost
        span = problem.max_cost - problem.min_cost
        assert problem.min_cost + 0.05 * span * (1 - 1e-12) <= problem.budget
        assert problem.budget <= problem.min_cost + 0.7 * span * (1 + 1e-12)


def test_bad_family_or_solve_is_a_one_line_exit():
    with pytest.raises(SystemExit, match="FAMILY must be one of"):
        solver_search.main(1, 0, (20,), "huge-radius")
    with pytest.raises(SystemExit, match="SOLVE"):
        solver_search.main(1, 0, (20,), "random", "fast")
