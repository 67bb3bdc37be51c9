"""The simulated routing data: shapes, outcome laws and the exact propensity."""

import itertools

import numpy as np
import pytest

from metarouter.datasets import make_routing_data


@pytest.fixture(scope="module")
def big():
    return make_routing_data(n_gs=3000, n_pb=6000, n_test=3000, d=10, random_state=0)


def test_shapes_and_fields():
    data = make_routing_data(n_gs=30, n_pb=70, n_test=20, d=8, random_state=1)
    assert data.X.shape == (100, 8) and data.X_test.shape == (20, 8)
    for name in ("y", "source", "y_oracle", "m", "eta", "delta", "shift", "propensity"):
        assert getattr(data, name).shape == (100,), name
    for name in ("r_test", "m_test", "eta_test", "delta_test"):
        assert getattr(data, name).shape == (20,), name
    assert data.source.sum() == 30
    np.testing.assert_array_equal(
        data.y[data.source == 1], data.y_oracle[data.source == 1]
    )
    assert set(np.unique(data.y[data.source == 0])) <= {-1.0, 0.0, 1.0}
    np.testing.assert_allclose(data.delta, data.m - data.eta)
    again = make_routing_data(n_gs=30, n_pb=70, n_test=20, d=8, random_state=1)
    np.testing.assert_array_equal(again.X, data.X)


def test_outcomes_are_unbiased_for_their_mechanisms(big):
    pb = big.source == 0
    # E[y | x] = eta(x) on PB rows and E[r | x] = m(x) on all queries; residual
    # means over 6000-12000 rows have SE <= 0.012: 4 SE is 0.05.
    resid_pb = big.y[pb] - big.eta[pb]
    assert abs(resid_pb.mean()) < 4 * resid_pb.std() / np.sqrt(pb.sum())
    resid_gs = big.y_oracle - big.m
    assert abs(resid_gs.mean()) < 4 * resid_gs.std() / np.sqrt(resid_gs.size)
    # the mechanism is also right within strata (tertiles) of eta
    cuts = np.quantile(big.eta[pb], [0, 1 / 3, 2 / 3, 1])
    for lo, hi in itertools.pairwise(cuts):
        rows = pb & (big.eta >= lo) & (big.eta <= hi)
        d = big.y[rows] - big.eta[rows]
        assert abs(d.mean()) < 4 * d.std() / np.sqrt(rows.sum())
    resid_test = big.r_test - big.m_test
    assert abs(resid_test.mean()) < 4 * resid_test.std() / np.sqrt(resid_test.size)


def test_propensity_is_calibrated(big):
    """P(source = 1 | x) is exact: within propensity bins the GS share matches."""
    p, s = big.propensity, big.source
    assert p.std() > 0.05  # GS and PB query distributions differ
    edges = np.quantile(p, np.linspace(0, 1, 6))
    for lo, hi in itertools.pairwise(edges):
        rows = (p >= lo) & (p <= hi)
        # Binomial SE of a bin's GS share; 4 SE bounds a false alarm at ~1e-4.
        se = np.sqrt(p[rows].mean() * (1 - p[rows].mean()) / rows.sum())
        assert abs(s[rows].mean() - p[rows].mean()) < 4 * se + 1e-3


def test_bias_designs():
    kwargs = {"n_gs": 50, "n_pb": 150, "n_test": 30, "d": 6, "random_state": 2}
    none = make_routing_data(bias="none", **kwargs)
    np.testing.assert_allclose(none.delta, 0.0, atol=1e-12)
    homo = make_routing_data(bias="homogeneous", **kwargs)
    assert np.ptp(homo.delta) < 1e-12 and abs(homo.delta[0]) > 0
    het = make_routing_data(**kwargs)
    assert het.delta.std() > 0.05
    scaled = make_routing_data(gs_scale=2.0, **kwargs)
    np.testing.assert_allclose(scaled.m, 2.0 * het.m)
    np.testing.assert_allclose(scaled.shift, het.shift)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="`bias`"):
        make_routing_data(bias="weird")
    with pytest.raises(ValueError, match="`d`"):
        make_routing_data(n_gs=2, n_pb=2, n_test=2, d=10)
    with pytest.raises(ValueError, match="`n_gs`"):
        make_routing_data(n_gs=0)


def test_heterogeneous_bias_reorders_queries_and_keeps_a_valid_outcome_law(big):
    """The PB judge's bias changes which queries look best, not only the level.

    A constant offset leaves the ranking of queries by eta equal to their ranking by
    m (Spearman 1); the heterogeneous design must reverse part of it, otherwise a
    ranking metric such as the efficiency gain cannot tell a corrected router from
    a pooled one. 0.8 is far from the measured 0.63 and far below 1.
    """
    from scipy.stats import spearmanr

    assert spearmanr(big.eta, big.m)[0] < 0.8
    homo = make_routing_data(
        n_gs=300, n_pb=600, n_test=300, d=10, bias="homogeneous", random_state=0
    )
    assert spearmanr(homo.eta, homo.m)[0] > 0.999
    # P(y = +-1) = (0.95 +- eta) / 2 must be a probability: |eta| <= 0.95
    eta = np.r_[big.eta, big.eta_test]
    assert np.abs(eta).max() <= 0.95 + 1e-12


def test_nie_wager_bad_arguments_name_themselves():
    """n, d and sigma are checked: a negative n gave numpy's 'negative dimensions',
    a float n or d a bare TypeError, and a NaN, infinite or negative sigma
    returned NaN or infinite outcomes without a word."""
    from metarouter.datasets import make_nie_wager_data

    for n in (-1, 2.5, True):
        with pytest.raises(ValueError, match="`n`"):
            make_nie_wager_data("A", n, random_state=0)
    with pytest.raises(ValueError, match="`d`"):
        make_nie_wager_data("B", 10, d=5.5, random_state=0)
    for sigma in (np.nan, np.inf, -1.0):
        with pytest.raises(ValueError, match="`sigma`"):
            make_nie_wager_data("C", 10, sigma=sigma, random_state=0)
    # sigma = 0 is a noiseless design: y = b + (t - 0.5) tau exactly
    X, y, t, tau = make_nie_wager_data("C", 10, sigma=0.0, random_state=0)
    b = 2 * np.log1p(np.exp(X[:, 0] + X[:, 1] + X[:, 2]))
    np.testing.assert_allclose(y, b + (t - 0.5) * tau, rtol=1e-12)


def test_shift_data_too_large_shift_names_itself():
    """A shift whose density ratio overflows is an error naming `shift`: 1e200 (a
    Python float) raised OverflowError, np.float64(1e200) gave NaN propensities and
    40 infinite target weights."""
    from metarouter.datasets import make_shift_data

    for shift in (1e200, np.float64(1e200), 40.0, -40.0):
        with pytest.raises(ValueError, match="`shift`"):
            make_shift_data(n_gs=20, n_pb=50, n_test=10, shift=shift, random_state=0)
    data = make_shift_data(n_gs=20, n_pb=50, n_test=10, shift=3.0, random_state=0)
    assert np.all(np.isfinite(data.propensity))
    assert np.all(np.isfinite(data.target_weight))
