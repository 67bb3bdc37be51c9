"""A random search of RACER problems against CVXPY (slow, opt-in).

Shapes, scales (rewards 1e-2..1e2, costs 1e-3..1e3), side kinds (nominal, radius,
temperature), weights and budgets (from the minimum cost to above the maximum) are
drawn at random; the problems a search like this found have their own fast tests in
``test_primal_dual.py``. Each problem must converge without a warning and agree with
CVXPY: objective within 1e-6 (relative), policy within 1e-3, unless CVXPY's own
objective is below ours by more than its accuracy (then its policy is not the optimum
of this strictly concave problem and says nothing about ours). Problems CVXPY cannot
solve are skipped, not counted.
"""

import warnings

import numpy as np
import pytest

from racer_dro import RoutingProblem, solve_primal_dual
from racer_dro.primal_dual import ConvergenceWarning
from racer_dro.reference import SolverError, solve_cvxpy


def _random_problem(rng):
    K = int(rng.choice([2, 3, 5, 11]))
    n = int(rng.choice([20, 60]))
    beta = float(10 ** rng.uniform(-3, 0))
    scale_r, scale_c = float(10 ** rng.uniform(-2, 2)), float(10 ** rng.uniform(-3, 3))
    kind = rng.integers(3)
    if kind == 0:  # correctness-like
        rewards = rng.binomial(1, rng.uniform(0.3, 0.9, K), size=(n, K)) * scale_r
    elif kind == 1:
        rewards = rng.normal(size=(n, K)) * scale_r
    else:
        rewards = rng.uniform(size=(n, K)) * scale_r + rng.normal(0, 0.1, size=(n, 1))
    base = np.sort(rng.lognormal(0, 1, K))
    costs = base * rng.lognormal(0, rng.uniform(0, 1), size=(n, K)) * scale_c
    if rng.random() < 0.3:
        costs[:, 0] = 0.0  # a free arm
    kw = {"beta": beta}
    for side, scale in (("reward", scale_r), ("cost", scale_c)):
        mode = rng.integers(3)
        if mode == 1:
            kw[f"{side}_radius"] = float(10 ** rng.uniform(-3, 0))
        elif mode == 2:
            kw[f"{side}_temperature"] = float(10 ** rng.uniform(-1, 1)) * scale
    w = rng.exponential(size=n) if rng.random() < 0.3 else None
    probe = RoutingProblem(rewards.astype(float), costs, 1e300, sample_weight=w, **kw)
    frac = float(rng.choice([0.0, 1e-3, 0.05, 0.3, 0.7, 1.2]))
    budget = probe.min_cost + frac * (probe.max_cost - probe.min_cost)
    return RoutingProblem(rewards.astype(float), costs, budget, sample_weight=w, **kw)


def _documented_limit(problem):
    """A radius so large that the worst case at the optimum sits on a few rows, with
    the budget at the minimum cost (``racer_dro.primal_dual``'s known limit)."""
    radius = max(problem.reward_radius or 0.0, problem.cost_radius or 0.0)
    near_min = problem.budget <= problem.min_cost + 1e-3 * (
        problem.max_cost - problem.min_cost
    )
    return radius >= 0.5 and near_min


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_random_problems_agree_with_cvxpy(seed):
    rng = np.random.default_rng(1000 + seed)
    checked, flagged = 0, 0
    for _ in range(30):
        problem = _random_problem(rng)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ours = solve_primal_dual(problem)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = solve_cvxpy(problem)
        except SolverError:
            continue
        if not ref.converged or _documented_limit(problem):
            continue
        checked += 1
        warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
        flagged += bool(warned or not ours.converged)
        scale = max(1.0, abs(ref.objective))
        assert ours.objective >= ref.objective - 1e-6 * scale
        if ref.objective >= ours.objective - 1e-9 * scale:  # CVXPY at the optimum
            assert np.max(np.abs(ours.policy - ref.policy)) < 1e-3
    assert checked >= 15  # most problems are within CVXPY's reach
    # accurate answers flagged as not converged (a ConvergenceWarning): robust
    # sides with costs in large units, where the joint Newton's multiplier can
    # oscillate and the nested fallback stops at rounding (measured 0-1 of 27-29)
    assert flagged <= 0.15 * checked
