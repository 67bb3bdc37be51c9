"""kl_worst_case against independent references: the scalar dual, CVXPY on the simplex,
Gaussian closed forms; exact edge cases; invariants fuzzed with hypothesis."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from racer_dro import KLWorstCase, kl_worst_case
from racer_dro.kl import _log_weights, _radius_temperature_newton, kl_divergence
from tests.racer_dro.kl_reference import (
    cvxpy_inner,
    dual_value,
    gaussian_grid,
    penalised_value,
)


def _instance(seed, n=40):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=n) * rng.uniform(0.1, 5)
    p = rng.uniform(0.1, 1.0, size=n)
    return f, p / p.sum()


# ------------------------------------------------------------------ against the scalar dual
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("radius", [1e-4, 0.05, 0.5, 2.0])
def test_radius_matches_scalar_dual(seed, radius):
    f, p = _instance(seed)
    res = kl_worst_case(f, weights=p, radius=radius)
    # The reference maximises the concave dual to xatol 1e-12 in log tau; its
    # value is flat at the optimum, so it is accurate to ~1e-12 relative.
    ref = dual_value(f, p, radius)
    assert res.value == pytest.approx(ref, abs=1e-9 * (1 + abs(ref)))
    # weak duality: the primal value at the returned (feasible) weights is the dual value
    assert res.kl <= radius * (1 + 1e-9)
    assert float(res.weights @ f) == pytest.approx(
        res.value, abs=1e-12 * (1 + abs(ref))
    )


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("radius", [0.02, 0.3])
def test_radius_max_sense_is_mirror_of_dual(seed, radius):
    f, p = _instance(seed)
    res = kl_worst_case(f, weights=p, radius=radius, sense="max")
    ref = -dual_value(-f, p, radius)
    assert res.value == pytest.approx(ref, abs=1e-9 * (1 + abs(ref)))
    assert res.value >= float(p @ f)


@pytest.mark.parametrize("tau", [1e-3, 0.1, 1.0, 50.0])
@pytest.mark.parametrize("sense", ["min", "max"])
def test_temperature_matches_formula_and_variational_form(tau, sense):
    f, p = _instance(7)
    res = kl_worst_case(f, weights=p, temperature=tau, sense=sense)
    sign = 1.0 if sense == "min" else -1.0
    ref = sign * penalised_value(sign * f, p, tau)
    # log-sum-exp evaluated two ways: agreement to rounding (1e-12 relative)
    assert res.value == pytest.approx(ref, rel=1e-12, abs=1e-12)
    # the value is the penalised objective at the returned weights (Theorem 3.1)
    penalised = float(res.weights @ f) + sign * tau * kl_divergence(res.weights, p)
    assert res.value == pytest.approx(penalised, rel=1e-9, abs=1e-10)
    assert res.expectation == pytest.approx(
        float(res.weights @ f), rel=1e-12, abs=1e-12
    )


# ------------------------------------------------------------------ against CVXPY on the simplex
@pytest.mark.parametrize("sense", ["min", "max"])
@pytest.mark.parametrize(
    ("radius", "temperature"), [(0.1, None), (0.7, None), (None, 0.5), (None, 3.0)]
)
def test_against_cvxpy_inner_problem(sense, radius, temperature):
    f, p = _instance(11, n=8)
    res = kl_worst_case(
        f, weights=p, radius=radius, temperature=temperature, sense=sense
    )
    value, rho = cvxpy_inner(f, p, radius=radius, temperature=temperature, sense=sense)
    # CLARABEL's default tolerances give ~1e-8 on the value; the weights of a
    # strictly convex program are accurate to ~1e-5.
    assert res.value == pytest.approx(value, abs=1e-6)
    np.testing.assert_allclose(res.weights, rho, atol=1e-4)


# ------------------------------------------------------------------ Gaussian closed forms
@pytest.mark.parametrize("radius", [0.01, 0.1, 0.5, 2.0])
def test_gaussian_closed_form_radius(radius):
    mu, sigma = 1.5, 0.7
    x, w = gaussian_grid(mu, sigma)
    res = kl_worst_case(x, weights=w, radius=radius)
    # The KL-ball worst case of N(mu, sigma^2) is mu - sigma sqrt(2 delta) (the tilt
    # is N(mu - sigma^2 / tau, sigma^2)); the grid reproduces it to the quadrature
    # error, below 1e-9 (see gaussian_grid).
    assert res.value == pytest.approx(mu - sigma * math.sqrt(2 * radius), abs=1e-8)
    assert res.temperature == pytest.approx(sigma / math.sqrt(2 * radius), rel=1e-7)
    high = kl_worst_case(x, weights=w, radius=radius, sense="max")
    assert high.value == pytest.approx(mu + sigma * math.sqrt(2 * radius), abs=1e-8)


@pytest.mark.parametrize("tau", [0.3, 1.0, 5.0])
def test_gaussian_closed_form_temperature(tau):
    mu, sigma = -0.4, 1.2
    x, w = gaussian_grid(mu, sigma)
    res = kl_worst_case(x, weights=w, temperature=tau)
    # -tau log E exp(-X / tau) = mu - sigma^2 / (2 tau) for X ~ N(mu, sigma^2)
    assert res.value == pytest.approx(mu - sigma**2 / (2 * tau), abs=1e-8)


def test_gaussian_large_sample():
    rng = np.random.default_rng(0)
    n, radius = 400_000, 0.05
    x = rng.normal(2.0, 1.0, size=n)
    res = kl_worst_case(x, radius=radius)
    # Sampling error of the worst-case mean: it is a tilted mean, sd about
    # sqrt(E w^2 / n) ~ 1.6e-3 here; 5 sd.
    assert res.value == pytest.approx(2.0 - math.sqrt(2 * radius), abs=8e-3)


# ------------------------------------------------------------------ edge cases, exactly
def test_radius_zero_gives_nominal():
    f, p = _instance(3)
    res = kl_worst_case(f, weights=p, radius=0.0)
    np.testing.assert_allclose(
        res.weights, p, rtol=1e-15
    )  # exact up to renormalising p
    assert res.value == pytest.approx(float(p @ f), rel=1e-15)
    assert res.kl == 0.0 and math.isinf(res.temperature)


@pytest.mark.parametrize(
    "kw", [{"radius": 0.3}, {"temperature": 0.01}, {"radius": 50.0}]
)
def test_constant_values(kw):
    res = kl_worst_case(np.full(6, 2.5), **kw)
    assert res.value == 2.5
    np.testing.assert_allclose(res.weights, np.full(6, 1 / 6))


def test_ties_and_threshold():
    f = np.array([0.0, 0.0, 1.0, 3.0])
    threshold = -math.log(0.5)  # P(argmin) = 1/2
    for radius in (threshold, threshold + 1.0, math.inf):
        res = kl_worst_case(f, radius=radius)
        assert res.value == 0.0
        np.testing.assert_array_equal(res.weights, [0.5, 0.5, 0.0, 0.0])
        assert res.temperature == 0.0
    below = kl_worst_case(f, radius=threshold - 1e-3)
    assert below.kl == pytest.approx(threshold - 1e-3, rel=1e-9)
    assert 0 < below.value < 1e-2
    assert below.weights[0] == pytest.approx(
        below.weights[1], rel=1e-12
    )  # ties share mass


def test_zero_weight_points_get_no_mass():
    f = np.array([-5.0, 0.0, 1.0, 2.0])
    p = np.array([0.0, 1.0, 1.0, 1.0])
    res = kl_worst_case(f, weights=p, radius=10.0)
    assert res.value == 0.0  # the minimum over the support, not -5
    assert res.weights[0] == 0.0


@pytest.mark.parametrize("scale", [1e4, 1e-4])
def test_scale_equivariance_and_no_overflow(scale):
    f, p = _instance(5)
    base_t = kl_worst_case(f, weights=p, temperature=0.01)
    big_t = kl_worst_case(scale * f, weights=p, temperature=0.01 * scale)
    assert big_t.value == pytest.approx(scale * base_t.value, rel=1e-12)
    base_r = kl_worst_case(f, weights=p, radius=0.2)
    big_r = kl_worst_case(scale * f, weights=p, radius=0.2)
    assert big_r.value == pytest.approx(scale * base_r.value, rel=1e-10)


def test_values_over_temperature_1e4_is_stable():
    f = np.array([-1e4, 0.0, 1e4])
    res = kl_worst_case(f, temperature=1.0)
    # -log(1/3 e^{1e4} + ...) = -1e4 + log 3 exactly up to e^{-1e4}
    assert res.value == pytest.approx(-1e4 + math.log(3.0), rel=1e-15)
    np.testing.assert_allclose(res.weights, [1.0, 0.0, 0.0])
    high = kl_worst_case(f, temperature=1.0, sense="max")
    assert high.value == pytest.approx(1e4 - math.log(3.0), rel=1e-15)


def test_newton_root_agrees_with_brentq():
    f, p = _instance(9, n=500)
    g = f - f.min()
    for radius in (1e-6, 0.01, 1.0):
        tau_b = kl_worst_case(f, weights=p, radius=radius).temperature
        tau_n = _radius_temperature_newton(
            g, _log_weights(p), p, radius, tau_init=tau_b * 7
        )
        assert tau_n == pytest.approx(tau_b, rel=1e-9)


def test_result_type_and_fields():
    res = kl_worst_case([1.0, 2.0], temperature=1.0, sense="max")
    assert isinstance(res, KLWorstCase)
    assert res.sense == "max" and res.radius is None and res.temperature == 1.0


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"values": [1.0, np.nan]}, ValueError, "`values`"),
        ({"values": [[1.0, 2.0]]}, ValueError, "`values`"),
        ({"values": [1.0, 2.0], "weights": [1.0]}, ValueError, "`weights`"),
        ({"values": [1.0, 2.0], "weights": [1.0, -1.0]}, ValueError, "`weights`"),
        ({"values": [1.0, 2.0], "weights": [0.0, 0.0]}, ValueError, "`weights`"),
        (
            {"values": [1.0, 2.0], "radius": 0.1, "temperature": 1.0},
            ValueError,
            "`radius`",
        ),
        ({"values": [1.0, 2.0], "radius": -0.1}, ValueError, "`radius`"),
        ({"values": [1.0, 2.0], "temperature": 0.0}, ValueError, "`temperature`"),
        ({"values": [1.0, 2.0], "temperature": "1"}, TypeError, "`temperature`"),
        ({"values": [1.0, 2.0], "sense": "lower"}, ValueError, "`sense`"),
    ],
)
def test_bad_input(kwargs, exc, match):
    values = kwargs.pop("values")
    with pytest.raises(exc, match=match):
        kl_worst_case(values, **kwargs)


# ------------------------------------------------------------------ invariants (hypothesis)
_values = arrays(
    np.float64,
    st.integers(2, 30),
    elements=st.floats(-100, 100, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=60, deadline=None)
@given(f=_values, radius=st.floats(0.0, 5.0), tau=st.floats(1e-3, 1e3))
def test_invariants(f, radius, tau):
    p = np.full(f.shape[0], 1.0 / f.shape[0])
    mean = float(p @ f)
    tol = 1e-9 * (1 + np.abs(f).max())
    for kw in ({"radius": radius}, {"temperature": tau}):
        low = kl_worst_case(f, **kw)
        high = kl_worst_case(f, sense="max", **kw)
        for res in (low, high):
            assert np.all(res.weights >= 0)
            assert res.weights.sum() == pytest.approx(1.0, abs=1e-12)
        assert low.value <= mean + tol <= high.value + 2 * tol
        assert f.min() - tol <= low.value and high.value <= f.max() + tol
    # KL of the worst case equals the radius below the all-on-minimisers threshold
    threshold = -math.log(np.mean(f == f.min()))
    res = kl_worst_case(f, radius=radius)
    if f.max() > f.min() and radius < threshold * (1 - 1e-6):
        assert res.kl == pytest.approx(radius, rel=1e-7, abs=1e-12)
        assert kl_divergence(res.weights, p) == pytest.approx(
            radius, rel=1e-7, abs=1e-12
        )


@settings(max_examples=40, deadline=None)
@given(f=_values, r1=st.floats(0.0, 4.0), r2=st.floats(0.0, 4.0))
def test_monotone_in_radius_and_inverse_temperature(f, r1, r2):
    lo_r, hi_r = sorted((r1, r2))
    tol = 1e-9 * (1 + np.abs(f).max())
    assert (
        kl_worst_case(f, radius=hi_r).value <= kl_worst_case(f, radius=lo_r).value + tol
    )
    assert (
        kl_worst_case(f, radius=hi_r, sense="max").value
        >= kl_worst_case(f, radius=lo_r, sense="max").value - tol
    )
    # larger 1/temperature (smaller temperature) = more pessimistic
    t_small, t_big = 1.0 / (1.0 + hi_r * 10), 1.0 / (1.0 + lo_r * 10)
    assert (
        kl_worst_case(f, temperature=t_small).value
        <= kl_worst_case(f, temperature=t_big).value + tol
    )


@pytest.mark.parametrize("radius", [1e-16, 2.220446049250313e-16, 1e-13, 1e-11, 1e-9])
def test_radius_at_the_rounding_floor_of_kl(radius):
    # Regression (found by hypothesis): a radius of a few 1e-16 sent the bracket search
    # for tau past exp(709). The value must follow the small-shift closed form
    # mean -+ sd sqrt(2 radius) (its relative error is O(sqrt(radius)) <= 3e-5 here).
    f = np.array([0.0, 0.0] + [1.0] * 16)
    shift = f.std() * np.sqrt(2 * radius)
    low = kl_worst_case(f, radius=radius)
    high = kl_worst_case(f, radius=radius, sense="max")
    assert np.isfinite(low.temperature) and np.isfinite(high.temperature)
    assert low.value == pytest.approx(f.mean() - shift, abs=1e-3 * shift + 1e-15)
    assert high.value == pytest.approx(f.mean() + shift, abs=1e-3 * shift + 1e-15)


@settings(max_examples=150, deadline=None)
@given(
    base=st.lists(st.floats(-1, 1, allow_nan=False), min_size=2, max_size=12),
    exponent=st.integers(-300, 300),
    radius=st.floats(1e-6, 2.0),
    sense=st.sampled_from(["min", "max"]),
)
def test_fuzz_certificates_at_every_magnitude(base, exponent, radius, sense):
    """Issue 12: at |f| from 1e-300 to 1e300 the radius form returns a certificate:
    KL within the radius, weights a distribution, value between the extreme and the mean.
    Tolerances: KL to 1e-9 relative (the root is solved to ~1e-13 in log tau); the
    value's bounds to 1e-12 of max |f| (rounding of the weighted sums), plus n smallest
    subnormals where f is subnormal (absolute rounding there)."""
    f = np.asarray(base) * 10.0**exponent
    res = kl_worst_case(f, radius=radius, sense=sense)
    assert np.all(res.weights >= 0)
    assert res.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert res.kl <= radius * (1 + 1e-9) + 1e-15
    scale = float(np.max(np.abs(f))) if np.any(f) else 1.0
    mean = float(f.mean())
    # below the normal range rounding is absolute: up to half the smallest
    # subnormal per product and sum of the weighted mean
    slack = 1e-12 * scale + f.shape[0] * np.finfo(float).smallest_subnormal
    if sense == "min":
        assert f.min() - slack <= res.value <= mean + slack
    else:
        assert mean - slack <= res.value <= f.max() + slack
    # scale invariance: the worst case of f / s times s (s a power of ten, exact).
    # Each value is accurate to the slack above (1e-12 of max |f|), so the two
    # differ by up to twice it: a value near 0 on that scale has no relative
    # accuracy (HYPOTHESIS_EXPLORE found base [0, 2.2e-313, -1, -2.1e-85], radius
    # 1, "max": unscaled, the top gap is subnormal and the answer -6.8e-86, 1e-85
    # of max |f| from the optimum ~1e-313; scaled by 1e11 it is 1.9e-302)
    unit = kl_worst_case(np.asarray(base), radius=radius, sense=sense)
    expected = unit.value * 10.0**exponent
    assert res.value == pytest.approx(expected, rel=1e-9, abs=max(2 * slack, 1e-300))


# ------------------------------------------------------------------ extreme temperatures and spreads
@pytest.mark.parametrize("n", [2, 7, 10])
@pytest.mark.parametrize("tau", [1e10, 1e15, 1e300])
def test_huge_temperature_gives_the_penalised_value_not_rounding_noise(n, tau):
    # -tau log E exp(-f / tau) = mean(f) - Var(f) / (2 tau) + O(tau^-2); the
    # penalised reference shifts by the max only, so it shares the cancellation:
    # compare with the expansion instead. Tolerance 1e-12 relative: the
    # expansion's remainder is < 1e-20 here, so this is rounding of the mean
    # (the old value was 0.0 or 2e284 at tau = 1e300, 0.44 for mean 0.5 at 1e15).
    f = np.arange(n, dtype=float)
    res = kl_worst_case(f, temperature=tau)
    expected = f.mean() - f.var() / (2 * tau)
    assert res.value == pytest.approx(expected, rel=1e-12)
    high = kl_worst_case(f, temperature=tau, sense="max")
    assert high.value == pytest.approx(f.mean() + f.var() / (2 * tau), rel=1e-12)


def test_subnormal_tilt_keeps_the_penalised_value_below_the_mean():
    # f ~ 1e-20 and tau = 1e300: f / tau is subnormal (few digits); the
    # penalised min is at most the mean (Jensen) up to rounding (1e-15 relative;
    # the old value was 2e-4 relative above it)
    f = np.array([1e-20, 3e-20, 7e-20])
    low = kl_worst_case(f, temperature=1e300)
    high = kl_worst_case(f, temperature=1e300, sense="max")
    assert low.value == pytest.approx(f.mean(), rel=1e-15, abs=0)
    assert high.value == pytest.approx(f.mean(), rel=1e-15, abs=0)
    assert low.value <= f.mean() * (1 + 1e-15) and high.value >= f.mean() * (1 - 1e-15)


@pytest.mark.parametrize("f", [[1e150, 3e150], [1e300, 1.0000000000000002e300]])
def test_tiny_temperature_at_huge_values_is_not_nan(f):
    # tau / max|f| underflows to 0: the tilt is all on the minimiser, value
    # min f + tau log 2 = min f exactly in floating point (the old result was NaN)
    f = np.array(f)
    res = kl_worst_case(f, temperature=1e-300)
    assert res.value == f.min()
    assert res.weights.tolist() == [1.0, 0.0]
    assert res.temperature == 1e-300
    assert res.kl == pytest.approx(math.log(2), rel=1e-15)
    assert kl_worst_case(f, temperature=1e-300, sense="max").value == f.max()


def test_tiny_temperature_reports_a_finite_kl():
    # g / tau overflows to inf where q = 0: 0 * inf made the KL NaN; the tilt is
    # all on the minimiser, so KL = log 2 (to rounding)
    res = kl_worst_case(np.array([1e20, 3e20]), temperature=1e-300)
    assert res.kl == pytest.approx(math.log(2), rel=1e-15)


@pytest.mark.parametrize(
    "kw", [{}, {"radius": 0.1}, {"radius": 5.0}, {"temperature": 1e307}]
)
def test_spread_beyond_the_largest_float(kw):
    # max f - min f overflows; the worst case is homogeneous, so it equals
    # 2 * V(f / 2) and 1e8 * V(f / 1e8) (relative 1e-12: two root finds to
    # 4 eps in log tau). The old value was NaN or +-inf.
    f = np.array([-1e308, 1e308, 0.0])
    for sense in ("min", "max"):
        res = kl_worst_case(f, sense=sense, **kw)
        small_kw = {k: v / 1e8 if k == "temperature" else v for k, v in kw.items()}
        ref = 1e8 * kl_worst_case(f / 1e8, sense=sense, **small_kw).value
        assert math.isfinite(res.value)
        assert res.value == pytest.approx(ref, rel=1e-12, abs=1e-300)
        assert res.weights.sum() == pytest.approx(1.0, abs=1e-15)


def test_all_on_minimiser_reports_the_kl_for_a_tiny_minimiser_weight():
    # the minimiser has weight 1e-300: putting all mass there has KL
    # -log(1e-300 / total) = 690.78 (reported inf before); exact to 1e-12
    f = np.array([0.0, 1.0, 2.0, 3.0])
    w = np.array([1e-300, 1e-100, 1e-10, 1.0])
    res = kl_worst_case(f, weights=w, radius=1000.0)
    assert res.weights.tolist() == [1.0, 0.0, 0.0, 0.0]
    expected = -math.log(1e-300 / w.sum())
    assert res.kl == pytest.approx(expected, rel=1e-12)
    assert kl_divergence(res.weights, w / w.sum()) == pytest.approx(expected, rel=1e-12)
    # a radius between 50 and the threshold still tilts (KL = radius)
    mid = kl_worst_case(f, weights=w, radius=600.0)
    assert mid.kl == pytest.approx(600.0, rel=1e-9)


def test_worst_case_min_refuses_non_finite_values_instead_of_recursing():
    # a NaN in the values (a solver's non-finite trial step) made the halving
    # for spreads that overflow recurse without end (RecursionError)
    from racer_dro.kl import worst_case_min

    p = np.full(3, 1 / 3)
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="finite"):
            worst_case_min(np.array([0.0, bad, 1.0]), p, radius=0.1)
    # a finite spread that overflows is still solved by halving
    res = worst_case_min(np.array([-1e308, 1e308]), np.full(2, 0.5), radius=0.1)
    assert math.isfinite(res.value) and -1e308 <= res.value <= 0.0
