"""Bad input gives a ValueError/TypeError naming the argument; validators fuzzed."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsRegressor

from metarouter import DRLearner, GSOnlyRouter, MetaRouter, PooledRouter, RLearner
from metarouter._crossfit import resolve_folds
from metarouter._validation import check_binary, check_sample_weight, check_vector
from metarouter.datasets import make_routing_data


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    t = np.r_[np.ones(n // 2), np.zeros(n - n // 2)].astype(int)
    y = rng.normal(size=n)
    return X, y, t


LIN = {
    "outcome_model": LinearRegression(),
    "propensity_model": LogisticRegression(),
    "cate_model": LinearRegression(),
}


@pytest.mark.parametrize("cls", [RLearner, DRLearner])
@pytest.mark.parametrize(
    "mutate, match",
    [
        (
            lambda X, y, t: (
                np.where(np.arange(X.size).reshape(X.shape) == 4, np.nan, X),
                y,
                t,
            ),
            "X",
        ),
        (
            lambda X, y, t: (
                np.where(np.arange(X.size).reshape(X.shape) == 4, np.inf, X),
                y,
                t,
            ),
            "X",
        ),
        (lambda X, y, t: (X, np.r_[np.nan, y[1:]], t), "y"),
        (lambda X, y, t: (X, y[:-1], t), "`y` has 59 rows but `X` has 60"),
        (lambda X, y, t: (X, y, t[:-2]), "`treatment` has 58 rows"),
        (
            lambda X, y, t: (X, y, np.where(t == 1, 2, 0)),
            "`treatment` must contain only 0 and 1",
        ),
        (lambda X, y, t: (X, y, np.zeros_like(t)), "`treatment` has a single level"),
        (
            lambda X, y, t: (X, y, np.r_[1, 1, np.zeros(58, int)]),
            "`treatment` has 2 rows equal to 1, fewer than n_folds=5",
        ),
        (lambda X, y, t: (X, y, np.r_[np.nan, t[1:]]), "`treatment` contains"),
    ],
)
def test_cate_learner_bad_inputs(cls, mutate, match):
    X, y, t = _data()
    X, y, t = mutate(X, y, t)
    with pytest.raises(ValueError, match=match):
        cls(**LIN).fit(X, y, t)


@pytest.mark.parametrize("cls", [RLearner, DRLearner])
def test_cate_learner_bad_parameters(cls):
    X, y, t = _data()
    with pytest.raises(ValueError, match="n_folds"):
        cls(n_folds=1).fit(X, y, t)
    with pytest.raises(ValueError, match="propensity_clip"):
        cls(propensity_clip=0.5).fit(X, y, t)
    with pytest.raises(TypeError, match="propensity_model"):
        cls(LinearRegression(), LinearRegression(), LinearRegression()).fit(X, y, t)
    with pytest.raises(ValueError, match="sample_weight"):
        cls(**LIN).fit(X, y, t, sample_weight=-np.ones(60))
    with pytest.raises(ValueError, match="`propensity` must lie in"):
        cls(**LIN).fit(X, y, t, propensity=np.full(60, 1.5))
    with pytest.raises(ValueError, match="`folds`"):
        cls(**LIN).fit(X, y, t, folds=np.zeros(60))


def test_r_learner_needs_a_weighted_cate_model():
    X, y, t = _data()
    with pytest.raises(TypeError, match="`cate_model` .*sample_weight"):
        RLearner(LinearRegression(), LogisticRegression(), KNeighborsRegressor()).fit(
            X, y, t
        )
    # The DR-learner's final fit is unweighted, so KNN is fine there...
    DRLearner(LinearRegression(), LogisticRegression(), KNeighborsRegressor()).fit(
        X, y, t
    )
    # ...until the caller passes weights.
    with pytest.raises(TypeError, match="`cate_model` .*sample_weight"):
        DRLearner(LinearRegression(), LogisticRegression(), KNeighborsRegressor()).fit(
            X, y, t, sample_weight=np.ones(60)
        )
    with pytest.raises(TypeError, match="`outcome_model` .*sample_weight"):
        RLearner(KNeighborsRegressor(), LogisticRegression(), LinearRegression()).fit(
            X, y, t, sample_weight=np.ones(60)
        )


@pytest.mark.parametrize("router_cls", [MetaRouter, PooledRouter, GSOnlyRouter])
def test_router_bad_sources(router_cls):
    X, y, s = _data()
    router = router_cls(outcome_model=LinearRegression())
    with pytest.raises(ValueError, match="`source` must contain only 0 and 1"):
        router.fit(X, y, np.where(s == 1, 3, 0))
    with pytest.raises(ValueError, match="`source` has no gold-standard rows"):
        router.fit(X, y, np.zeros(60))
    with pytest.raises(ValueError, match="`source` has 59 rows"):
        router.fit(X, y, s[:-1])
    with pytest.raises(ValueError, match="`y` has 59 rows"):
        router.fit(X, y[:-1], s)
    with pytest.raises(ValueError, match="`source` contains"):
        router.fit(X, y, np.r_[np.inf, s[1:]])
    with pytest.raises(TypeError, match="`outcome_model` .*sample_weight"):
        router_cls(outcome_model=KNeighborsRegressor()).fit(
            X, y, s, sample_weight=np.ones(60)
        )


def test_meta_router_bad_inputs():
    X, y, s = _data()
    with pytest.raises(ValueError, match="`cate_learner`"):
        MetaRouter("x").fit(X, y, s)
    with pytest.raises(TypeError, match="`cate_learner`"):
        MetaRouter(object()).fit(X, y, s)
    with pytest.raises(ValueError, match="`scale`"):
        MetaRouter(scale="median").fit(X, y, s)
    with pytest.raises(ValueError, match="`overlap`"):
        MetaRouter(overlap=0.7).fit(X, y, s)
    few = np.r_[1, 1, np.zeros(58, int)]
    with pytest.raises(ValueError, match="`source` has 2 rows equal to 1, fewer than"):
        MetaRouter("r", LinearRegression()).fit(X, y, few)
    with pytest.raises(TypeError, match="`outcome_model` .*sample_weight"):
        MetaRouter("r", KNeighborsRegressor()).fit(X, y, s)


# -- hypothesis fuzzing of the validators -------------------------------------

_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=60, deadline=None)
@given(st.lists(_floats, min_size=1, max_size=30))
def test_check_vector_accepts_exactly_finite_input(values):
    arr = np.asarray(values, dtype=float)
    if np.all(np.isfinite(arr)):
        np.testing.assert_array_equal(check_vector(values, "v"), arr)
    else:
        with pytest.raises(ValueError, match="`v` contains"):
            check_vector(values, "v")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([0, 1, 2, -1, 0.5]), min_size=1, max_size=30),
    st.integers(min_value=2, max_value=6),
)
def test_check_binary_accepts_exactly_two_level_zero_one(values, n_folds):
    arr = np.asarray(values, dtype=float)
    valid = np.isin(arr, (0, 1)).all()
    enough = valid and min(np.sum(arr == 0), np.sum(arr == 1)) >= n_folds
    if enough:
        out = check_binary(values, "source", n_folds=n_folds)
        np.testing.assert_array_equal(out, arr.astype(int))
    else:
        with pytest.raises(ValueError, match="`source`"):
            check_binary(values, "source", n_folds=n_folds)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-2, 5, allow_nan=False), min_size=1, max_size=20))
def test_check_sample_weight_rejects_negative_and_all_zero(values):
    arr = np.asarray(values)
    if np.any(arr < 0) or not np.any(arr > 0):
        with pytest.raises(ValueError, match="sample_weight"):
            check_sample_weight(values, arr.size)
    else:
        np.testing.assert_array_equal(check_sample_weight(values, arr.size), arr)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=4, max_size=30))
def test_resolve_folds_partitions_rows(labels):
    labels = np.asarray(labels)
    n = labels.size
    if np.unique(labels).size < 2:
        with pytest.raises(ValueError, match="`folds`"):
            resolve_folds(labels, n)
        return
    fold_ids, splits = resolve_folds(labels, n)
    tests = np.concatenate([test for _, test in splits])
    np.testing.assert_array_equal(np.sort(tests), np.arange(n))  # a partition
    for k, (train, test) in enumerate(splits):
        assert np.intersect1d(train, test).size == 0
        assert train.size + test.size == n
        assert np.all(fold_ids[test] == k)
    pairs_ids, _ = resolve_folds([(tr, te) for tr, te in splits], n)
    np.testing.assert_array_equal(pairs_ids, fold_ids)


@pytest.mark.parametrize("cls", [MetaRouter, PooledRouter, GSOnlyRouter])
def test_one_row_or_one_gs_row_is_an_error(cls):
    """Issue 12: a fit on one row (or one GS row) returned a constant silently."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 3)), rng.normal(size=50)
    with pytest.raises(ValueError, match="1 sample"):
        cls().fit(X[:1], y[:1])
    s = np.zeros(50, dtype=int)
    s[0] = 1
    with pytest.raises(ValueError, match="single gold-standard row"):
        cls().fit(X, y, s)


@pytest.mark.filterwarnings("ignore:.*propensities were clipped")
@pytest.mark.parametrize("cls", [MetaRouter, PooledRouter, GSOnlyRouter])
def test_extreme_gs_scale_gives_the_same_router(cls):
    """Issue 12: GS outcomes times 1e160 gave constant predictions and a warning
    that the scale was undefined. Variance alignment makes the router invariant
    to the GS unit: predictions scale by 1e160 and nothing else changes (up to
    the rounding of 1e160 against the power of two used inside: 1e-8 of the
    prediction range)."""
    data = make_routing_data(n_gs=60, n_pb=300, n_test=100, d=5, random_state=0)
    y = data.y.copy()
    y[data.source == 1] *= 1e160
    ref = cls(random_state=0).fit(data.X, data.y, data.source).predict(data.X_test)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no misleading warning
        warnings.filterwarnings("ignore", message=".*propensities were clipped")
        big = cls(random_state=0).fit(data.X, y, data.source).predict(data.X_test)
    assert np.ptp(ref) > 0
    np.testing.assert_allclose(big / 1e160, ref, rtol=0, atol=1e-8 * np.ptp(ref))
