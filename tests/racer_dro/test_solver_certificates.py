"""A solution that says it converged carries its certificates, at extreme magnitudes.

Hypothesis draws small problems (1-12 queries, 2-5 arms) with rewards and costs
scaled anywhere in 1e-6..1e6, ties, heavy-tailed costs, zero sample weights,
``beta`` from 1e-4 to 3 times the reward scale, every side kind, and budgets from
the cheapest policy's cost to above the dearest. For every draw:

* ``solve_primal_dual`` returns ``converged=True`` or says it did not (a
  ``ConvergenceWarning``);
* the solution's objective and multiplier are those of its policy
  (:func:`racer_dro.primal_dual.evaluate_policy`; the multiplier to the rounding
  of ``C - B``, :func:`racer_dro.formulas.dual_step_rounding`), its worst-case
  weights sum to one and lie within their KL radius;
* a converged solution is not beaten by the closed-form primal step of its own
  policy, nor (slow, opt-in: CVXPY's retries take seconds on such problems) by
  CVXPY's policy evaluated exactly: tolerance 1e-6 of the objective's largest
  term (CVXPY's accuracy) plus the solver's policy tolerance (1e-10 per entry)
  times the objective's largest slope in the policy.

A search of 1,100 such draws found four solver defects (``test_primal_dual.py``
keeps them); this test keeps the search going. It is derandomised on CI.
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racer_dro import RoutingProblem, solve_cvxpy, solve_primal_dual
from racer_dro.formulas import dual_step_rounding
from racer_dro.primal_dual import ConvergenceWarning, evaluate_policy, policy_step
from racer_dro.reference import SolverError

_SIDES = ("none", "radius", "temperature")


@st.composite
def problems(draw):
    n = draw(st.integers(1, 12))
    K = draw(st.integers(2, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    reward_scale = 10.0 ** draw(st.floats(-6, 6))
    cost_scale = 10.0 ** draw(st.floats(-6, 6))
    rewards = reward_scale * rng.uniform(size=(n, K))
    if draw(st.booleans()):  # binary rewards: ties within and across rows
        rewards = np.round(rewards / reward_scale) * reward_scale
    spread = draw(st.floats(0.0, 2.0))
    costs = np.sort(rng.lognormal(0, 1, K)) * rng.lognormal(0, spread, size=(n, K))
    kw = {"beta": reward_scale * 10.0 ** draw(st.floats(-4, 0.5))}
    for side, scale in (("reward", reward_scale), ("cost", cost_scale)):
        kind = draw(st.sampled_from(_SIDES))
        if kind == "radius":
            kw[f"{side}_radius"] = 10.0 ** draw(st.floats(-3, 0.3))
        elif kind == "temperature":
            kw[f"{side}_temperature"] = scale * 10.0 ** draw(st.floats(-2, 2))
    if n > 1 and draw(st.booleans()):
        weights = rng.pareto(1.5, n) + 0.01
        weights[rng.random(n) < 0.15] = 0.0
        weights[0] = max(weights[0], 0.01)
        kw["sample_weight"] = weights
    costs = cost_scale * costs
    probe = RoutingProblem(rewards, costs, 1e300, **kw)
    budget = probe.min_cost + draw(st.floats(0.0, 1.2)) * (
        probe.max_cost - probe.min_cost
    )
    return RoutingProblem(rewards, costs, max(budget, probe.min_cost), **kw)


def _kl(weights, nominal):
    pos = weights > 0
    return float(np.sum(weights[pos] * np.log(weights[pos] / nominal[pos])))


def _check_certificates(problem, against_cvxpy):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sol = solve_primal_dual(problem)
    if not sol.converged:
        assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
        return
    pi = sol.policy
    assert np.all(pi >= 0)
    np.testing.assert_allclose(pi.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    value = evaluate_policy(problem, pi)
    # the largest term of the objective sets the scale of its rounding
    penalty = max(value.worst_case_cost - problem.budget, 0.0) ** 2 / problem.beta
    scale = max(
        abs(value.objective),
        abs(value.worst_case_reward),
        problem.beta * value.entropy,
        penalty,
        1e-300,
    )
    assert abs(value.objective - sol.objective) <= 1e-9 * scale
    rounding = dual_step_rounding(value.worst_case_cost, problem.budget, problem.beta)
    # lambda from C - B, known to its rounding (twice: C is evaluated twice); a worst
    # case at temperature tau is tau log Z, whose log rounds by eps absolute: C by
    # eps tau (tau 59 against C 0.3: two evaluations 1e-14 apart, lambda 2e-5
    # relative at beta 1e-6; found by exploring this fuzz)
    tau_c = problem.worst_case_cost(pi).temperature
    tau_c = tau_c if math.isfinite(tau_c) else 0.0
    delta = (
        32 * np.finfo(float).eps * (abs(value.worst_case_cost) + problem.budget + tau_c)
    )
    assert abs(value.multiplier - sol.multiplier) <= max(
        1e-9 * max(1.0, sol.multiplier), 2 * rounding + delta / problem.beta
    )
    nominal = np.asarray(problem.weights)
    for weights, radius in (
        (value.reward_weights, problem.reward_radius),
        (value.cost_weights, problem.cost_radius),
    ):
        assert abs(weights.sum() - 1.0) <= 1e-9
        if radius is not None:  # within the ball, to the root finder's 1e-12
            assert _kl(weights, nominal) <= radius * (1 + 1e-9) + 1e-12
    # tolerance: 1e-6 of the largest term (CVXPY's accuracy), plus what the
    # solver's own tolerance allows, a policy step of 1e-10 per entry, times the
    # objective's largest slope in pi (rewards and lambda times costs at their
    # worst-case weights, beta times log pi down to the logit floor, e^-50)
    support = nominal > 0
    ratio_r = np.max(value.reward_weights[support] / nominal[support])
    ratio_c = np.max(value.cost_weights[support] / nominal[support])
    slope = max(
        ratio_r * np.max(np.abs(problem.rewards)),
        ratio_c * sol.multiplier * np.max(problem.costs),
        problem.beta * (50.0 + math.log(problem.n_arms)),
    )
    gap = 1e-6 * scale + 1e-9 * problem.n_arms * slope
    step = evaluate_policy(problem, policy_step(problem, pi, sol.multiplier))
    assert step.objective <= sol.objective + gap
    if not against_cvxpy:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = solve_cvxpy(problem, time_limit=30)
    except SolverError:
        return
    assert (
        evaluate_policy(problem, ref.policy).objective <= sol.objective + 1e-6 * scale
    )
    assert math.isfinite(sol.objective)


_SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
}


@settings(max_examples=40, **_SETTINGS)
@given(problems())
def test_converged_solutions_carry_their_certificates(problem):
    _check_certificates(problem, against_cvxpy=False)


@pytest.mark.slow
@settings(max_examples=150, **_SETTINGS)
@given(problems())
def test_converged_solutions_are_not_beaten_by_cvxpy(problem):
    _check_certificates(problem, against_cvxpy=True)
