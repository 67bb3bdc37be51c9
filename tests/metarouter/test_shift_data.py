"""make_gs_pb_data: outcome laws, the exact propensity and weights, and bad input.

The reference densities are scipy's multivariate normals (written apart from the
generator's closed form ``mu . x - |mu|^2 / 2``).
"""

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from metarouter.datasets import make_gs_pb_data, make_shift_data


def _m(X):
    return np.tanh(X[:, 0]) + 0.3 * X[:, 1] * X[:, 2]


def _bias(X):
    return 0.2 + 0.5 * (X[:, 3] > 0)


MU = np.array([0.6, 0.0, -0.4, 0.5, 0.0])


@pytest.fixture(scope="module")
def big():
    return make_gs_pb_data(
        _m, _bias, MU, 20_000, 20_000, 1000, noise=0.5, random_state=0
    )


def test_outcome_laws_and_query_centres(big):
    """GS outcomes are m + noise, PB outcomes m - bias + noise; GS queries sit at
    ``gs_mean``, PB and test queries at 0. Tolerances: 5 standard errors of a mean
    of 20,000 draws (noise sd 0.5, query sd 1)."""
    gs, pb = big.source == 1, big.source == 0
    tol_y, tol_x = 5 * 0.5 / np.sqrt(20_000), 5 / np.sqrt(20_000)
    assert abs(np.mean(big.y[gs] - _m(big.X[gs]))) < tol_y
    assert abs(np.mean(big.y[pb] - _m(big.X[pb]) + _bias(big.X[pb]))) < tol_y
    assert abs(np.std(big.y[gs] - _m(big.X[gs])) - 0.5) < 0.02  # sd of a sd: 0.0025
    np.testing.assert_allclose(big.X[gs].mean(0), MU, atol=tol_x)
    np.testing.assert_allclose(big.X[pb].mean(0), 0.0, atol=tol_x)
    np.testing.assert_allclose(big.delta, _bias(big.X), rtol=1e-15)
    np.testing.assert_allclose(big.eta, big.m - big.delta, rtol=1e-15)
    np.testing.assert_allclose(big.delta_test, _bias(big.X_test), rtol=1e-15)
    # the test responses are m_test plus fresh noise of the same sd
    assert abs(np.std(big.r_test - big.m_test) - 0.5) < 0.06  # 1000 draws: sd 0.011


def test_propensity_and_weights_match_the_densities(big):
    """Lemma 1 from scipy's Gaussian densities: p = k f_GS / (k f_GS + (1 - k) f_PB),
    and target_weight = f_test / f_GS (rounding only: 1e-9 relative)."""
    X = big.X[::97]
    f_gs = multivariate_normal(MU, np.eye(MU.size)).pdf(X)
    f_pb = multivariate_normal(np.zeros(MU.size), np.eye(MU.size)).pdf(X)
    kappa = 0.5
    p = kappa * f_gs / (kappa * f_gs + (1 - kappa) * f_pb)
    np.testing.assert_allclose(big.propensity[::97], p, rtol=1e-9)
    np.testing.assert_allclose(big.target_weight[::97], f_pb / f_gs, rtol=1e-9)


def test_make_shift_data_is_the_family_at_one_shifted_feature():
    """make_shift_data equals make_gs_pb_data with gs_mean = shift e_0, draw for draw."""
    a = make_shift_data(40, 200, 30, d=6, shift=0.8, noise=0.3, random_state=5)
    mu = np.r_[0.8, np.zeros(5)]
    b = make_gs_pb_data(
        lambda X: 0.8 * np.tanh(X[:, 0]) + 0.5 * np.sin(1.5 * X[:, 1]) + 0.3 * X[:, 2],
        lambda X: 0.3 + 0.5 * np.tanh(1.5 * X[:, 3]),
        mu, 40, 200, 30, noise=0.3, random_state=5,
    )  # fmt: skip
    for name in ("X", "y", "propensity", "target_weight", "X_test", "r_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"m": "tanh"}, TypeError, "`m`"),
        ({"bias": lambda X: X[:, :2]}, ValueError, "`bias`"),
        ({"bias": lambda X: np.full(X.shape[0], np.nan)}, ValueError, "`bias`"),
        ({"gs_mean": [0.5, np.inf]}, ValueError, "`gs_mean`"),
        ({"gs_mean": np.zeros((2, 2))}, ValueError, "`gs_mean`"),
        ({"gs_mean": [60.0, 0.0]}, OverflowError, "`gs_mean`"),
        ({"noise": 0.0}, ValueError, "`noise`"),
        ({"n_gs": 0}, ValueError, "`n_gs`"),
    ],
)
def test_bad_input_names_the_argument(kwargs, error, match):
    args = {"m": _m, "bias": lambda X: 0.1 * X[:, 1], "gs_mean": [0.5, 0.0]}
    args.update(kwargs)
    if args["m"] is _m:
        args["m"] = lambda X: X[:, 0]
    with pytest.raises(error, match=match):
        make_gs_pb_data(args.pop("m"), args.pop("bias"), args.pop("gs_mean"),
                        n_gs=args.pop("n_gs", 10), n_pb=20, n_test=5, random_state=0,
                        **args)  # fmt: skip
