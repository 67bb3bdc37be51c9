"""UncertaintyRouter: MAP and Laplace covariance against independent computations,
distance awareness on a known OOD region, routing against random routing."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from racer_dro import UncertaintyRouter
from racer_dro.datasets import make_preference_pairs, strong_judge_labels


@pytest.fixture(scope="module")
def fitted():
    train = make_preference_pairs(1000, random_state=0)
    router = UncertaintyRouter(n_features=256, random_state=0).fit(train.X, train.y)
    return train, router


def _neg_log_posterior(w, phi, y, ridge):
    """Hand-written: sum of Bernoulli log-losses plus the Gaussian prior."""
    z = phi @ w
    return np.sum(np.logaddexp(0, z) - y * z) + 0.5 * ridge * w @ w


def test_map_equals_sklearn_ridge_logistic(fitted):
    train, router = fitted
    phi = router.feature_map_.transform(train.X)
    # sklearn minimises C * sum(loss) + ||w||^2 / 2, i.e. ridge = 1 / C.
    ref = LogisticRegression(
        C=1.0 / router.ridge,
        fit_intercept=False,
        solver="newton-cholesky",
        tol=1e-12,
        max_iter=200,
    ).fit(phi, train.y)
    # Both solve the same strictly convex problem to ~1e-10 in the gradient;
    # the minimiser agrees to well within 1e-6.
    np.testing.assert_allclose(router.coef_, ref.coef_.ravel(), atol=1e-6)


def test_laplace_covariance_equals_inverse_numerical_hessian():
    train = make_preference_pairs(300, random_state=1)
    router = UncertaintyRouter(n_features=6, ridge=0.5, random_state=0).fit(
        train.X, train.y
    )
    phi = router.feature_map_.transform(train.X)
    y = train.y.astype(float)
    w0, d, h = router.coef_, 6, 1e-4
    f = lambda w: _neg_log_posterior(w, phi, y, 0.5)
    hess = np.empty((d, d))
    eye = np.eye(d) * h
    for i in range(d):
        for j in range(d):
            hess[i, j] = (
                f(w0 + eye[i] + eye[j])
                - f(w0 + eye[i] - eye[j])
                - f(w0 - eye[i] + eye[j])
                + f(w0 - eye[i] - eye[j])
            ) / (4 * h * h)
    # Central differences: truncation error O(h^2) ~ 1e-8 times the third
    # derivatives, rounding ~ 1e-16 * f / h^2 ~ 1e-6 relative for f ~ 200.
    np.testing.assert_allclose(
        np.linalg.inv(hess), router.covariance_, rtol=1e-4, atol=1e-8
    )
    # And the MAP is a stationary point of the hand-written objective.
    grad = np.array([(f(w0 + eye[i]) - f(w0 - eye[i])) / (2 * h) for i in range(d)])
    assert np.max(np.abs(grad)) < 1e-5


def test_uncertainty_and_probabilities_from_the_covariance(fitted):
    _train, router = fitted
    test = make_preference_pairs(200, ood_fraction=0.5, random_state=2)
    phi = router.feature_map_.transform(test.X)
    var = np.einsum("ij,jk,ik->i", phi, router.covariance_, phi)
    np.testing.assert_allclose(router.uncertainty(test.X), var, rtol=1e-8, atol=1e-12)
    mean = phi @ router.coef_
    np.testing.assert_allclose(
        router.decision_function(test.X), mean, rtol=1e-10, atol=1e-12
    )
    p = expit(mean / np.sqrt(1 + math.pi / 8 * var))
    np.testing.assert_allclose(
        router.predict_proba(test.X), np.column_stack([1 - p, p]), atol=1e-12
    )
    np.testing.assert_array_equal(router.predict(test.X), (p > 0.5).astype(int))


def test_far_away_uncertainty_is_the_prior_variance(fitted):
    train, router = fitted
    far = train.X[:50] + 100.0  # kernel to every training pair ~ exp(-100^2 / 2)
    phi = router.feature_map_.transform(far)
    prior = np.sum(phi**2, axis=1) / router.ridge  # Sigma -> I / ridge away from data
    # With finitely many random features a far pair's phi is a random vector,
    # and the data pin down the ~30 feature directions their 2-D plane spans
    # (of D = 256): its variance loses about 30 / 256 of the prior, never more
    # than the prior. Margin: above 80% of the prior on average.
    far_u = router.uncertainty(far)
    assert np.all(far_u <= prior * (1 + 1e-9))
    assert far_u.mean() > 0.8 * prior.mean()
    near = router.uncertainty(train.X[:50])
    assert near.mean() < 0.5 * prior.mean()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_uncertainty_higher_out_of_distribution(seed):
    train = make_preference_pairs(1000, random_state=seed)
    test = make_preference_pairs(1000, ood_fraction=0.3, random_state=100 + seed)
    router = UncertaintyRouter(n_features=256, random_state=seed).fit(train.X, train.y)
    u = router.uncertainty(test.X)
    ood = ~test.in_distribution
    # OOD pairs sit ~3 length scales off the training plane: their variance is
    # near the prior (~1) against ~0.25 in distribution. Margins: mean ratio
    # above 2 and OOD detection AUROC above 0.95.
    assert u[ood].mean() > 2 * u[~ood].mean()
    assert roc_auc_score(ood, u) > 0.95


def test_routing_beats_random_routing_at_equal_calls():
    gains = []
    for seed in range(3):
        train = make_preference_pairs(1000, random_state=seed)
        test = make_preference_pairs(2000, ood_fraction=0.2, random_state=200 + seed)
        router = UncertaintyRouter(n_features=256, random_state=seed).fit(
            train.X, train.y
        )
        judge = strong_judge_labels(test, accuracy=0.9, random_state=seed)
        cheap_ok = router.predict(test.X) == test.y
        judge_ok = judge == test.y
        ask = router.route(test.X, calls=0.2)
        m = int(ask.sum())
        assert m == 400
        acc_routed = np.where(ask, judge_ok, cheap_ok).mean()
        # Random routing of m of the n pairs, averaged exactly over all subsets.
        acc_random = (1 - m / 2000) * cheap_ok.mean() + (m / 2000) * judge_ok.mean()
        gains.append(acc_routed - acc_random)
    # Random routing's accuracy over one draw has sd ~ sqrt(m (1 - m/n) var / n^2)
    # ~ 0.005 here; uncertainty routing sends the OOD pairs (20%, cheap model at
    # chance there, judge at 0.9), worth about 0.2 * 0.4 * (1 - 0.2) = 0.06.
    assert min(gains) > 0.015
    assert np.mean(gains) > 0.03


def test_route_calls_and_threshold():
    router = UncertaintyRouter(n_features=32, random_state=0)
    train = make_preference_pairs(200, random_state=0)
    router.fit(train.X, train.y)
    test = make_preference_pairs(10, ood_fraction=0.5, random_state=1)
    u = router.uncertainty(test.X)
    for calls, count in (
        (3, 3),
        (0, 0),
        (10, 10),
        (0.25, 3),
        (0.2, 2),
        (1.0, 10),
        (0.04, 0),
    ):
        ask = router.route(test.X, calls=calls)
        assert ask.dtype == bool and ask.sum() == count, calls
        if 0 < count < 10:
            assert u[ask].min() >= u[~ask].max()
    t = float(np.median(u))
    np.testing.assert_array_equal(router.route(test.X, threshold=t), u > t)
    with pytest.raises(ValueError, match="exactly one of `calls` and `threshold`"):
        router.route(test.X)
    with pytest.raises(ValueError, match="exactly one of `calls` and `threshold`"):
        router.route(test.X, calls=2, threshold=0.1)
    for bad in (11, -1, 1.5, 0.0):
        with pytest.raises(ValueError, match="`calls`"):
            router.route(test.X, calls=bad)
    with pytest.raises(TypeError, match="`calls`"):
        router.route(test.X, calls=True)
    with pytest.raises(ValueError, match="`threshold`"):
        router.route(test.X, threshold=float("nan"))


def test_route_ties_broken_by_row_order(fitted):
    _, router = fitted
    X = np.repeat(make_preference_pairs(3, random_state=3).X[:1], 6, axis=0)
    ask = router.route(X, calls=2)
    np.testing.assert_array_equal(ask, [True, True, False, False, False, False])


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.floats(0.01, 1.0))
def test_route_fraction_is_the_rounded_count(n, frac):
    router = UncertaintyRouter(n_features=8, random_state=0)
    train = make_preference_pairs(50, random_state=0)
    router.fit(train.X, train.y)
    X = make_preference_pairs(n, ood_fraction=0.5, random_state=n).X
    assert router.route(X, calls=frac).sum() == min(n, math.floor(frac * n + 0.5))


@pytest.mark.parametrize(
    "params, y, exc, match",
    [
        ({"n_features": 0}, None, ValueError, "`n_features`"),
        ({"n_features": 2.0}, None, TypeError, "`n_features`"),
        ({"length_scale": 0.0}, None, ValueError, "`length_scale`"),
        ({"length_scale": -1.0}, None, ValueError, "`length_scale`"),
        ({"ridge": 0.0}, None, ValueError, "`ridge`"),
        ({"ridge": math.inf}, None, ValueError, "`ridge`"),
        ({}, "three", ValueError, "Only binary classification.*`y`"),
        ({}, "continuous", ValueError, "Unknown label type"),
        ({}, "short", ValueError, "`y`"),
    ],
)
def test_validation(params, y, exc, match):
    train = make_preference_pairs(30, random_state=0)
    target = {
        None: train.y,
        "three": np.arange(30) % 3,
        "continuous": np.linspace(0, 1, 30),
        "short": train.y[:-1],
    }[y]
    with pytest.raises(exc, match=match):
        UncertaintyRouter(**{"n_features": 8, **params}).fit(train.X, target)


def test_non_finite_x_and_not_fitted():
    train = make_preference_pairs(30, random_state=0)
    X = train.X.copy()
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        UncertaintyRouter(n_features=8).fit(X, train.y)
    with pytest.raises(NotFittedError):
        UncertaintyRouter().uncertainty(train.X)


def test_sklearn_contract_pandas_and_seeds():
    train = make_preference_pairs(300, random_state=0)
    frame = pd.DataFrame(train.X, columns=[f"x{i}" for i in range(train.X.shape[1])])
    router = UncertaintyRouter(n_features=32, random_state=3)
    twin = clone(router).fit(frame, pd.Series(train.y.astype(bool)))
    np.testing.assert_array_equal(twin.feature_names_in_, frame.columns)
    again = clone(router).fit(frame, train.y)
    np.testing.assert_array_equal(twin.uncertainty(frame), again.uncertainty(frame))
    other = UncertaintyRouter(n_features=32, random_state=4).fit(frame, train.y)
    assert not np.allclose(other.uncertainty(frame), again.uncertainty(frame))
    search = GridSearchCV(
        UncertaintyRouter(n_features=32, random_state=0), {"ridge": [0.1, 10.0]}, cv=2
    )
    search.fit(train.X, train.y)
    assert search.best_params_["ridge"] in (0.1, 10.0)
    assert 0.5 < search.best_score_ <= 1.0


def test_one_class_is_an_error():
    # Issue 12: fitted on one class it silently predicted that class.
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="only one class"):
        UncertaintyRouter(n_features=16).fit(X, np.ones(20))


def test_variance_only_name_is_the_posters_router():
    from racer_dro.uncertainty import VarianceOnlyRouter

    assert VarianceOnlyRouter is UncertaintyRouter


def test_any_two_labels_work_like_zero_one():
    train = make_preference_pairs(200, random_state=0)
    base = UncertaintyRouter(n_features=32, random_state=0).fit(train.X, train.y)
    named = np.where(train.y == 1, "A", "B")  # sorted classes: "A" < "B"
    other = UncertaintyRouter(n_features=32, random_state=0).fit(train.X, 1 - train.y)
    np.testing.assert_array_equal(base.predict(train.X), 1 - other.predict(train.X))
    lab = UncertaintyRouter(n_features=32, random_state=0).fit(train.X, named)
    np.testing.assert_array_equal(lab.classes_, ["A", "B"])
    # "B" (second class) plays the role of 1 here, i.e. the 0 of base
    np.testing.assert_array_equal(
        lab.predict(train.X) == "B", base.predict(train.X) == 0
    )


@parametrize_with_checks([UncertaintyRouter(n_features=16, random_state=0)])
def test_sklearn_check_estimator(estimator, check):
    # Every applicable check passes (binary-only is declared by the multi_class tag).
    check(estimator)


@pytest.mark.parametrize("length_scale", [1e-300, 1e300])
def test_length_scale_whose_gamma_is_not_a_positive_float_is_named(length_scale):
    # gamma = 1 / (2 length_scale^2): 1e-300 raised ZeroDivisionError and 1e300
    # OverflowError from the square, neither naming the argument
    train = make_preference_pairs(30, random_state=0)
    with pytest.raises(ValueError, match="`length_scale`"):
        UncertaintyRouter(16, length_scale=length_scale).fit(train.X, train.y)
