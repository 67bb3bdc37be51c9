"""The compiled exp of the tilt passes (racer_dro._kernels_exp) against numpy's exp."""

import numpy as np
import pytest

from racer_dro import _kernels_exp

pytestmark = pytest.mark.skipif(
    not _kernels_exp.available(), reason="numba is not installed"
)


def _exp(x):
    out = np.empty_like(x)
    _kernels_exp.exp_array(x, out)
    return out


def test_within_two_ulps_of_numpy_over_the_whole_range():
    """Over every exponent that gives a normal or subnormal result: the reduction
    (ln 2 split in two) and the degree-13 polynomial are accurate to about half
    an ulp, so two ulps of numpy's (itself within an ulp of exact) bounds it."""
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            np.linspace(-745.0, 709.78, 2_000_001),
            rng.uniform(-50.0, 50.0, 200_000),
            rng.uniform(-1e-3, 1e-3, 10_000),  # r near 0: the polynomial's head
            np.arange(-1074, 1024) * np.log(2.0),  # k ln 2: the reduction's edges
        ]
    )
    got, want = _exp(x), np.exp(x)
    positive = want > 0
    ulps = np.abs(got[positive] - want[positive]) / np.spacing(want[positive])
    assert ulps.max() <= 2.0
    np.testing.assert_array_equal(got[~positive], want[~positive])


def test_special_values_as_numpy():
    x = np.array(
        [np.nan, np.inf, -np.inf, 0.0, -0.0, 709.79, 710.0, 1e308, -745.2, -1e308]
    )
    with np.errstate(over="ignore"):
        want = np.exp(x)
    np.testing.assert_array_equal(_exp(x), want)  # NaN == NaN for this helper
