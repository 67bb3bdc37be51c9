"""The default boosters: scikit-learn's histogram gradient boosting, unweighted bin edges."""

import numpy as np
import pytest
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)

from metarouter._boosting import BoostingClassifier, BoostingRegressor


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.3 * rng.normal(size=n)
    return X, y, rng.uniform(0.1, 5.0, size=n)


@pytest.mark.parametrize(
    "ours, theirs", [(BoostingRegressor, HistGradientBoostingRegressor),
                     (BoostingClassifier, HistGradientBoostingClassifier)],
)  # fmt: skip
def test_without_weights_it_is_scikit_learns_booster(ours, theirs):
    X, y, _ = _data()
    if ours is BoostingClassifier:
        y = (y > 0).astype(int)
    a = ours(max_iter=30, random_state=0).fit(X, y)
    b = theirs(max_iter=30, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_weighted_fit_bins_like_an_unweighted_one_and_boosts_weighted():
    X, y, w = _data()
    weighted = BoostingRegressor(max_iter=30, random_state=0).fit(X, y, sample_weight=w)
    plain = BoostingRegressor(max_iter=30, random_state=0).fit(X, y)
    for a, b in zip(
        weighted._bin_mapper.bin_thresholds_, plain._bin_mapper.bin_thresholds_
    ):
        np.testing.assert_array_equal(a, b)
    sk = HistGradientBoostingRegressor(max_iter=30, random_state=0)
    sk.fit(X, y, sample_weight=w)
    # scikit-learn's own weighted bin edges differ (weighted quantiles) ...
    assert any(
        a.shape != b.shape or not np.array_equal(a, b)
        for a, b in zip(
            sk._bin_mapper.bin_thresholds_, weighted._bin_mapper.bin_thresholds_
        )
    )
    # ... but the fits agree closely: only the candidate split points moved
    # (measured: correlation of predictions above 0.99 on these draws)
    assert np.corrcoef(sk.predict(X), weighted.predict(X))[0, 1] > 0.98
    # the weights still act: on a constant feature no split is possible and the
    # prediction is the weighted mean of y (squared error's baseline), exactly
    const = BoostingRegressor(max_iter=5).fit(np.ones((400, 1)), y, sample_weight=w)
    np.testing.assert_allclose(const.predict(np.ones((1, 1))), np.average(y, weights=w),
                               rtol=1e-12)  # fmt: skip
