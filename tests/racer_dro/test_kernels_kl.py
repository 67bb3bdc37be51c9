"""The compiled KL worst case (racer_dro._kernels_kl) against the numpy reference
(racer_dro.kl.worst_case_min), and its certificates fuzzed at extreme magnitudes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racer_dro import _kernels_kl, kl

pytestmark = pytest.mark.skipif(
    not _kernels_kl.available(), reason="numba is not installed"
)


def _instance(n, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=n) * scale
    p = rng.uniform(0.2, 1.0, n)
    p /= p.sum()
    return f, p


@pytest.mark.parametrize("n", [3, 50, 20_000])
@pytest.mark.parametrize(
    "kw",
    [
        {"radius": 0.1},
        {"radius": 1e-3},
        {"radius": 1.5},
        {"temperature": 0.5},
        {"temperature": 1e-3},
        {"temperature": 50.0},
    ],
)
@pytest.mark.parametrize("scale", [1.0, 1e-60, 1e60])
def test_compiled_worst_case_agrees_with_the_numpy_reference(n, kw, scale):
    f, p = _instance(n, n, scale)
    kw = dict(kw)
    if "temperature" in kw:
        kw["temperature"] *= scale
    compiled = _kernels_kl.worst_case_min(f, p, np.log(p), **kw)
    reference = kl.worst_case_min(f, p, root="newton", **kw)
    # the same tilt and root (stop at |log KL - log radius| < 1e-13), the sums in
    # another order and centred. KL itself carries absolute rounding ~ eps log n
    # ~ 2e-15 in either evaluation (a 40-digit mpmath check at n = 20,000, radius
    # 1e-3: both roots' KL within 4e-16 of the radius, the computed KLs 1.3e-15
    # apart), so KL to 1e-14 absolute and tau to 1e-12 relative plus that KL noise
    # over the radius (d log tau = d log KL / 2 near the root); the values to 1e-12
    slack = 1e-12 + (1e-14 / kw["radius"] if "radius" in kw else 0.0)
    assert compiled.tau == pytest.approx(reference.tau, rel=slack)
    assert compiled.value == pytest.approx(
        reference.value, rel=1e-12, abs=1e-12 * scale
    )
    assert compiled.expectation == pytest.approx(
        reference.expectation, rel=1e-12, abs=1e-12 * scale
    )
    assert compiled.kl == pytest.approx(reference.kl, rel=1e-12, abs=1e-14)
    assert compiled.variance == pytest.approx(reference.variance, rel=1e-11)
    np.testing.assert_allclose(compiled.q, reference.q, rtol=1e-11, atol=1e-14 / n)
    np.testing.assert_array_equal(compiled.shifted, reference.shifted)


def test_warm_start_and_centre_do_not_change_the_answer():
    f, p = _instance(500, 7)
    cold = _kernels_kl.worst_case_min(f, p, np.log(p), radius=0.2)
    warm = _kernels_kl.worst_case_min(
        f, p, np.log(p), radius=0.2, tau_init=3.0 * cold.tau, centre=5.0
    )
    # the root is unique: both stop within 1e-13 of it in log KL
    assert warm.tau == pytest.approx(cold.tau, rel=1e-12)
    assert warm.value == pytest.approx(cold.value, rel=1e-12)


@pytest.mark.parametrize(
    "f, kw",
    [
        (np.ones(4), {"radius": 0.1}),  # constant values
        (np.arange(4.0), {"radius": 0.0}),  # nominal
        (
            np.arange(4.0),
            {"radius": 5.0},
        ),  # beyond -log p(argmin): all on the minimiser
        (
            np.arange(4.0),
            {"radius": 1e-12},
        ),  # at KL's rounding floor: small-shift closed form
        (
            np.arange(4.0) * 1e200,
            {"radius": 0.1},
        ),  # beyond 1e100: rescaled by the reference
    ],
)
def test_edge_cases_are_the_references(f, kw):
    p = np.full(f.shape[0], 1.0 / f.shape[0])
    compiled = _kernels_kl.worst_case_min(f, p, np.log(p), **kw)
    reference = kl.worst_case_min(f, p, root="newton", **kw)
    assert compiled.value == reference.value
    assert compiled.tau == reference.tau
    np.testing.assert_array_equal(compiled.q, reference.q)


@settings(max_examples=150, deadline=None)
@given(
    base=st.lists(st.floats(-1, 1, allow_nan=False), min_size=2, max_size=12),
    exponent=st.integers(-300, 300),
    radius=st.floats(1e-6, 2.0),
)
def test_fuzz_certificates_at_every_magnitude(base, exponent, radius):
    """The certificates of tests/racer_dro/test_kl.py for the compiled path: KL within
    the radius (1e-9 relative: the root is solved to ~1e-13 in log KL), weights a
    distribution (1e-12), the value between the minimum and the mean (1e-12 of max |f|:
    rounding of the weighted sums; plus n smallest subnormals where f is subnormal)."""
    f = np.asarray(base) * 10.0**exponent
    p = np.full(f.shape[0], 1.0 / f.shape[0])
    res = _kernels_kl.worst_case_min(f, p, np.log(p), radius=radius)
    assert np.all(res.q >= 0)
    assert res.q.sum() == pytest.approx(1.0, abs=1e-12)
    assert res.kl <= radius * (1 + 1e-9) + 1e-15
    # below the normal range rounding is absolute: each product and sum of the
    # weighted mean rounds by up to half the smallest subnormal (f ~ 1e-315)
    tiny = f.shape[0] * np.finfo(float).smallest_subnormal
    slack = 1e-12 * (float(np.max(np.abs(f))) if np.any(f) else 1.0) + tiny
    assert f.min() - slack <= res.value <= float(p @ f) + slack


def test_regression_temperature_whose_square_underflows():
    # hypothesis find: the root needs tau ~ 1e-232 (two minimisers 3e-232 apart),
    # where tau^2 underflows; the safeguarded Newton (both paths) bisects instead of
    # dividing by zero. Certificates as in the fuzz test.
    f = np.array([0.0, 1.0, 3.1415129845935677e-232])
    p = np.full(3, 1.0 / 3.0)
    for res in (
        _kernels_kl.worst_case_min(f, p, np.log(p), radius=1.0),
        kl.worst_case_min(f, p, radius=1.0, root="newton"),
    ):
        assert res.kl <= 1.0 * (1 + 1e-9)
        assert res.q.sum() == pytest.approx(1.0, abs=1e-12)
        assert 0.0 <= res.value <= 1e-12


@pytest.mark.skipif(not _kernels_kl.available(), reason="numba is not installed")
@pytest.mark.parametrize("ratio", [1e4, 1e8, 1e12])
def test_temperature_far_above_the_spread_keeps_the_value(ratio):
    # a temperature `ratio` times the values' spread is nearly the nominal mean: the
    # penalised value -tau log E_p exp(-f / tau) is the cumulant series
    # k1 - k2 / (2 tau) + k3 / (6 tau^2) - k4 / (24 tau^3) + ..., written here apart
    # from both implementations. The kernel's -tau log Z multiplied log Z's
    # rounding (~1e-16) by tau: 1e-4 off at 1e12 before it left such temperatures
    # to the reference. Tolerance 1e-12 of the spread (rounding of the sums) plus
    # the first omitted term's size
    rng = np.random.default_rng(0)
    f = rng.uniform(size=500)
    p = rng.dirichlet(np.ones(500))
    tau = ratio * (f.max() - f.min())
    k1 = float(p @ f)
    d = f - k1
    k2, k3 = float(p @ d**2), float(p @ d**3)
    k4 = float(p @ d**4) - 3 * k2**2
    expected = k1 - k2 / (2 * tau) + k3 / (6 * tau**2)
    got = _kernels_kl.worst_case_min(f, p, np.log(p), temperature=tau).value
    slack = 1e-12 * (f.max() - f.min()) + abs(k4) / (24 * tau**3)
    assert got == pytest.approx(expected, abs=slack)
