"""Formulas of racer_dro.formulas that no solver test covers: Monte Carlo truths,
finite differences."""

import numpy as np
import pytest

from racer_dro import formulas, kl_worst_case
from racer_dro.formulas import worst_case_standard_error


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
