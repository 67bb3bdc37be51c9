"""Formulas of racer_dro.formulas that no solver test covers: Monte Carlo truths,
finite differences."""

import math

import numpy as np
import pytest

from racer_dro import formulas, kl_worst_case
from racer_dro.formulas import primal_step, softmax_policy, worst_case_standard_error


@pytest.mark.parametrize(
    ("sense", "form"),
    [
        ("max", {"temperature": 1.0}),
        ("max", {"radius": 0.1}),
        ("min", {"radius": 0.05}),
    ],
)
def test_worst_case_standard_error_is_the_sampling_sd(sense, form):
    """The delta-method standard error against the spread of the worst case over
    600 independent samples of 2,000 rows (costs: a bounded, skewed mix)."""
    rng = np.random.default_rng(0)
    n, reps = 2000, 600

    def draw():
        # costs 1 with probability 0.8, else uniform on [2, 8]: bounded, so the
        # tilt's moments exist, skewed, so the tilt matters
        heavy = rng.random(n) < 0.2
        return np.where(heavy, rng.uniform(2.0, 8.0, n), 1.0)

    values = [kl_worst_case(draw(), sense=sense, **form).value for _ in range(reps)]
    spread = float(np.std(values, ddof=1))
    f = draw()
    worst = kl_worst_case(f, sense=sense, **form)
    se = worst_case_standard_error(f, np.ones(n), worst.temperature, sense)
    # The MC sd has relative error ~1 / sqrt(2 * 600) = 3%; the one-sample
    # delta-method se varies by a few % more (its own sample); 15% covers both
    # at >3 sd. The nominal mean's se is far smaller at temperature 1, so this
    # can fail if the tilt is ignored.
    assert se == pytest.approx(spread, rel=0.15)


def test_worst_case_standard_error_limits():
    f = np.array([0.0, 1.0, 4.0, 9.0])
    rho = np.array([0.1, 0.2, 0.3, 0.4])
    mean = rho @ f
    n_eff = 1.0 / (rho @ rho)
    nominal = np.sqrt(rho @ (f - mean) ** 2 / n_eff)
    # no tilt: the weighted mean's standard error with Kish's effective size
    assert worst_case_standard_error(f, rho, np.inf, "max") == pytest.approx(
        nominal, rel=1e-12
    )
    # a huge temperature is the same limit (no cancellation blow-up)
    assert worst_case_standard_error(f, rho, 1e9, "min") == pytest.approx(
        nominal, rel=1e-6
    )
    # all mass on the extreme rows: the influence function vanishes
    assert worst_case_standard_error(f, rho, 0.0, "max") == 0.0
    # unnormalised weights give the same answer
    assert worst_case_standard_error(f, 10 * rho, 2.0, "max") == pytest.approx(
        worst_case_standard_error(f, rho, 2.0, "max"), rel=1e-12
    )


def test_primal_step_sensitivity_is_the_derivative_in_lambda():
    """Against central differences of the primal step (eq. 4) in ``lambda``
    (truncation error ~h^2 times the third derivative: rtol 1e-5 at h = 1e-6)."""
    rng = np.random.default_rng(3)
    n, K, beta, lam, h = 40, 4, 0.3, 0.7, 1e-6
    R, C = rng.normal(size=(n, K)), rng.uniform(0.5, 3.0, size=(n, K))
    wr, wc = rng.uniform(0.5, 2.0, n), rng.uniform(0.5, 2.0, n)
    pi = formulas.primal_step(R, C, wr, wc, lam, beta)
    up = formulas.primal_step(R, C, wr, wc, lam + h, beta)
    down = formulas.primal_step(R, C, wr, wc, lam - h, beta)
    numeric = np.abs(up - down) / (2 * h)
    np.testing.assert_allclose(
        formulas.primal_step_sensitivity(pi, C, wc, beta), numeric, rtol=1e-5,
        atol=1e-9,
    )  # fmt: skip


def test_dual_step_rounding_scales_with_the_cost_and_beta():
    eps = np.finfo(float).eps
    assert formulas.dual_step_rounding(3.0, 1.0, 0.5) == pytest.approx(
        formulas.EXCESS_ROUNDING_ULPS * eps * 4.0 / 0.5, rel=1e-15
    )
    # the rounding of C - B where both are ~2000: lambda is known to ~1e-9 at
    # beta = 0.01, while C - B = beta lambda may be ~1e-8
    assert formulas.dual_step_rounding(2000.0, 2000.0, 0.01) > 1e-9


def test_dual_step_rounding_is_zero_where_the_budget_is_slack_beyond_rounding():
    # lambda = (C - B)_+ / beta is 0 whatever the rounding of C - B when C is
    # below B by more than delta = 16 eps (|C| + |B|); in between, only the part
    # of [C - B - delta, C - B + delta] above 0 counts
    eps = np.finfo(float).eps
    delta = formulas.EXCESS_ROUNDING_ULPS * eps * 123.0
    assert formulas.dual_step_rounding(60.66, 62.34, 1e-7) == 0.0
    assert formulas.dual_step_rounding(62.34, 60.66, 1e-7) == delta / 1e-7
    budget = 61.5
    cost = budget - 0.5 * delta  # inside the rounding, below the budget
    expected = (
        cost - budget + formulas.EXCESS_ROUNDING_ULPS * eps * (cost + budget)
    ) / 0.1
    assert formulas.dual_step_rounding(cost, budget, 0.1) == pytest.approx(
        expected, rel=1e-12
    )
    assert 0 < expected < formulas.dual_step_rounding(budget, budget, 0.1)


def test_softmax_policy_at_extreme_beta_is_finite_and_has_its_limits():
    """Scores over a tiny ``beta`` overflow to inf when divided before the shift;
    ``inf - inf`` gave NaN where the limit is a tie (or a one-hot row). The limits
    are exact in floating point here, so the comparison is exact (atol 0)."""
    beta = 1e-300
    logits = np.array([[1e300, 1e300], [1e300, 0.0], [1e9, 1e9], [1.0, 0.0]])
    pi = formulas.softmax_policy(logits, beta)
    np.testing.assert_array_equal(pi, [[0.5, 0.5], [1.0, 0.0], [0.5, 0.5], [1.0, 0.0]])
    # a huge beta: scores 1e300 over beta 1e300 are softmax([1, 0]) (rtol 1e-15:
    # a few ulps of exp)
    np.testing.assert_allclose(
        formulas.softmax_policy([[1e300, 0.0]], 1e300),
        formulas.softmax_policy([[1.0, 0.0]]),
        rtol=1e-15,
    )
    # a 2x2 hand computation at beta = 1: softmax([0, log 3]) = [1/4, 3/4] (rtol
    # 1e-15: a few ulps of exp and log)
    np.testing.assert_allclose(
        formulas.softmax_policy([[0.0, np.log(3.0)], [np.log(3.0), 0.0]]),
        [[0.25, 0.75], [0.75, 0.25]],
        rtol=1e-15,
    )


@pytest.mark.parametrize("temperature", [1e12, 1e17, 1e100, 1e300])
def test_worst_case_standard_error_at_huge_temperatures_is_the_nominal_one(
    temperature,
):
    """As tau -> inf the influence function tends to ``f - E[f]`` (the docstring's
    limit); the ratio ``w`` rounded to 1 beyond tau ~ 1e16 and the result was 0.
    The first-order term is (f - E f)^2 / (2 tau) <= 1e-11 of the nominal at
    tau >= 1e12, so rel 1e-9 leaves room only for rounding."""
    f = np.array([0.0, 1.0, 4.0, 9.0])
    rho = np.array([0.1, 0.2, 0.3, 0.4])
    for sense in ("max", "min"):
        nominal = worst_case_standard_error(f, rho, np.inf, sense)
        assert worst_case_standard_error(f, rho, temperature, sense) == pytest.approx(
            nominal, rel=1e-9
        )


def test_worst_case_standard_error_of_values_near_1e300_is_finite():
    """``rho @ IF^2`` overflowed to inf for values ~1e300. Here f = (1e300, -1e300,
    0, 0) at uniform weights has E f = 0, ``sum rho IF^2 = 5e599`` and
    ``sum rho^2 = 1/4``, so the result is ``sqrt(5e599 / 4) = sqrt(0.5) 1e300 / 2``
    (rel 1e-12: a few roundings)."""
    f = np.array([1e300, -1e300, 0.0, 0.0])
    se = worst_case_standard_error(f, np.full(4, 0.25), np.inf, "max")
    assert se == pytest.approx(np.sqrt(0.5) * 1e300 / 2.0, rel=1e-12)


def test_worst_case_standard_error_names_a_bad_sense():
    with pytest.raises(ValueError, match="`sense`"):
        worst_case_standard_error([0.0, 1.0], [1.0, 1.0], 1.0, "upper")


def test_softmax_policy_takes_the_limit_of_infinite_scores():
    # found by exploring the solver-certificate fuzz: a zero-weight row's worst-case
    # ratio (capped at e^700) times a reward of 1e5 overflows to inf, and the
    # primal step was NaN (inf - inf) where its limit is the inf arm
    s = np.array(
        [
            [np.inf, 0.0, np.inf],  # ties at +inf: split evenly among them
            [-np.inf, -np.inf, -np.inf],  # all equal: uniform
            [-np.inf, 0.0, np.log(3.0)],  # -inf: weight 0, the rest as usual
        ]
    )
    expected = np.array([[0.5, 0.0, 0.5], [1 / 3, 1 / 3, 1 / 3], [0.0, 0.25, 0.75]])
    np.testing.assert_allclose(softmax_policy(s), expected, rtol=1e-15, atol=0)
    assert np.isnan(softmax_policy(np.array([[np.nan, 1.0]]))).all()  # NaN stays NaN


def test_primal_step_with_an_overflowing_ratio_is_its_limit():
    pi = primal_step(
        np.array([[0.0, 1e5, 0.0]]),
        np.array([[0.4, 0.7, 2.4]]),
        np.array([math.exp(700.0)]),  # the cap of a ratio off the support
        np.ones(1),
        0.5,
        1e5,
    )
    np.testing.assert_array_equal(pi, [[0.0, 1.0, 0.0]])
