"""SelectedRegressor: the choice against a hand-written cross-validation, on processes
whose better method is known, and scikit-learn conformance."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import KFold
from sklearn.neighbors import KNeighborsRegressor
from sklearn.utils.estimator_checks import parametrize_with_checks

from metarouter.regressors import SelectedRegressor

_SMALL_HGB = HistGradientBoostingRegressor(max_iter=20, max_depth=2)


# Integer weights are not repeated rows here, as for any cross-validated choice
# (GridSearchCV): a row repeated k times may fall into several folds, so the
# held-out errors, and with them the choice, differ.
_REPEATS = {
    "check_sample_weight_equivalence_on_dense_data": "folds split repeated rows",
}


@parametrize_with_checks(
    [SelectedRegressor(), SelectedRegressor([Ridge(), _SMALL_HGB], n_folds=2)],
    expected_failed_checks=lambda est: _REPEATS,
)
def test_passes_check_estimator(estimator, check):
    check(estimator)


def _reference_choice(cands, X, y, w, seed, n_folds):
    """Weighted K-fold squared error of each candidate, by loops (imports nothing
    from the library): the index of the smallest and the errors."""
    folds = KFold(n_folds, shuffle=True, random_state=seed).split(X)
    total = np.zeros(len(cands))
    for train, test in folds:
        for i, cand in enumerate(cands):
            est = clone(cand)
            est.fit(X[train], y[train], sample_weight=w[train])
            pred = est.predict(X[test])
            for j, row in enumerate(test):
                total[i] += w[row] * (y[row] - pred[j]) ** 2
    total /= w.sum()
    return int(np.argmin(total)), total


def test_choice_and_errors_match_a_loop_reference():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 4))
    y = np.sin(2 * X[:, 0]) + 0.3 * X[:, 1] + rng.normal(scale=0.3, size=120)
    w = rng.uniform(0.2, 3.0, size=120)
    cands = [Ridge(alpha=1.0), LinearRegression(), _SMALL_HGB]
    reg = SelectedRegressor(cands, n_folds=4, random_state=11).fit(X, y, w)
    best, errors = _reference_choice(cands, X, y, w, 11, 4)
    # the same fits on the same folds: equal to rounding (summation order)
    np.testing.assert_allclose(reg.cv_results_["mean_error"], errors, rtol=1e-10)
    assert reg.best_index_ == best
    refit = clone(cands[best]).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(reg.predict(X), refit.predict(X), rtol=1e-10)
    assert reg.cv_results_["candidate"] == ["Ridge", "LinearRegression",
                                             "HistGradientBoostingRegressor"]  # fmt: skip


@pytest.mark.parametrize("seed", range(5))
def test_picks_the_method_the_truth_favours(seed):
    """A linear truth with few noisy rows: ridge; a step truth with many rows: the
    booster. Fixed draws; their cross-validated errors: linear 0.95-1.17 (ridge)
    against 1.15-1.23 (booster), step 0.09-0.10 (booster) against 0.46-0.48."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 20))
    y = X[:, :3] @ np.array([0.5, -0.4, 0.3]) + rng.normal(size=200)
    lin = SelectedRegressor(random_state=seed).fit(X, y)
    assert lin.cv_results_["candidate"][lin.best_index_] == "RidgeCV"
    X = rng.normal(size=(2000, 5))
    y = np.where(X[:, 0] > 0, 1.0, -1.0) * (X[:, 1] > -0.5) + 0.3 * rng.normal(
        size=2000
    )
    step = SelectedRegressor(random_state=seed).fit(X, y)
    assert isinstance(step.best_estimator_, HistGradientBoostingRegressor)


def test_reproducible_and_seeds_the_candidates():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(150, 3)), rng.normal(size=150)
    hgb = HistGradientBoostingRegressor(max_iter=15, early_stopping=True,
                                        validation_fraction=0.2, n_iter_no_change=2)  # fmt: skip
    a = SelectedRegressor([hgb], random_state=4).fit(X, y).predict(X)
    b = SelectedRegressor([hgb], random_state=4).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)


def test_keeps_feature_names():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(60, 2)), columns=["len", "score"])
    reg = SelectedRegressor(random_state=0).fit(X, rng.normal(size=60))
    assert list(reg.feature_names_in_) == ["len", "score"]


def test_bad_input_names_the_argument():
    X, y = np.zeros((30, 2)), np.arange(30.0)
    with pytest.raises(ValueError, match="`candidates` must hold at least one"):
        SelectedRegressor([]).fit(X, y)
    with pytest.raises(TypeError, match=r"`candidates\[1\]` must be a regressor"):
        SelectedRegressor([Ridge(), "ridge"]).fit(X, y)
    with pytest.raises(TypeError, match="`candidates` must be a list"):
        SelectedRegressor("ridge").fit(X, y)
    with pytest.raises(ValueError, match="`n_folds` must be an integer >= 2"):
        SelectedRegressor(n_folds=1).fit(X, y)
    with pytest.raises(ValueError, match=r"`candidates\[0\]` \(KNeighborsRegressor\)"):
        SelectedRegressor([KNeighborsRegressor(3)]).fit(X, y, np.ones(30))
    with pytest.raises(ValueError, match="at least `n_folds`"):
        SelectedRegressor(n_folds=5).fit(X[:3], y[:3])


def test_bad_sample_weight_is_named():
    """Negative weights: an error (before: NaN predictions, no word). A selection
    fold whose training rows all weigh 0: an error naming the weights and the
    fold (before: scikit-learn's message from a candidate's fit)."""
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(30, 2)), rng.normal(size=30)
    w = np.ones(30)
    w[3] = -0.5
    with pytest.raises(ValueError, match="Negative values .*`sample_weight`"):
        SelectedRegressor(random_state=0).fit(X, y, w)
    w = np.zeros(30)
    w[0] = 1.0  # in one fold's held-out rows: that fold trains on zero weight
    with pytest.raises(ValueError, match="`sample_weight` is zero on every training"):
        SelectedRegressor(random_state=0).fit(X, y, w)


def test_random_state_instances_and_bad_values():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(90, 3)), rng.normal(size=90)
    a = SelectedRegressor(random_state=np.random.RandomState(5)).fit(X, y)
    b = SelectedRegressor(random_state=np.random.RandomState(5)).fit(X, y)
    np.testing.assert_array_equal(
        a.cv_results_["mean_error"], b.cv_results_["mean_error"]
    )
    with pytest.raises(ValueError, match="cannot be used to seed"):
        SelectedRegressor(random_state="seed").fit(X, y)


@settings(max_examples=25, deadline=None)
@given(exponent=st.integers(-300, 300), seed=st.integers(0, 2**16))
def test_equivariant_at_extreme_magnitudes(exponent, seed):
    """Outcomes times 10^k give the same choice and predictions times 10^k: the fit
    runs in a power-of-two unit (exact), so nothing overflows or underflows. The
    choice and the predictions agree to rounding (rtol 1e-9: a power of two
    rescales exactly, 10^k / 2^j is one more rounding per value)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(90, 3))
    y = X[:, 0] - 0.5 * X[:, 1] + 0.3 * rng.normal(size=90)
    base = SelectedRegressor(random_state=1).fit(X, y)
    big = SelectedRegressor(random_state=1).fit(X, y * 10.0**exponent)
    assert big.best_index_ == base.best_index_
    scaled = big.predict(X) / 10.0**exponent
    assert np.all(np.isfinite(scaled))
    np.testing.assert_allclose(scaled, base.predict(X), rtol=1e-9, atol=1e-9)
