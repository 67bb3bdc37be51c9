"""The soft-target logistic refit against scikit-learn on the duplicated rows."""

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from sklearn.linear_model import LogisticRegression

from racer_dro._soft_logistic import refit_soft_logistic, soft_log_loss


def _data(n=400, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    q = 1.0 / (1.0 + np.exp(-(X[:, 0] - 0.5 * X[:, 1] + rng.normal(size=n))))
    q[:20] = 0.0  # exact 0/1 targets: one of a row's two copies has zero weight
    q[20:40] = 1.0
    weight = rng.exponential(size=n)
    weight[40:50] = 0.0  # rows that drop out
    return X, q, weight


def _duplicated_fit(X, q, weight, C):
    """scikit-learn's own fit of the soft targets: each row as class 1 with
    weight q w and as class 0 with weight (1 - q) w (zero weights dropped)."""
    n = X.shape[0]
    X2 = np.vstack([X, X])
    y2 = np.concatenate([np.ones(n), np.zeros(n)])
    w2 = np.concatenate([q * weight, (1.0 - q) * weight])
    keep = w2 > 0
    model = LogisticRegression(C=C, solver="lbfgs", tol=1e-12, max_iter=10_000)
    return model.fit(X2[keep], y2[keep], sample_weight=w2[keep])


@pytest.mark.parametrize("C", [1.0, 0.05])
def test_refit_reaches_sklearns_duplicated_row_fit(C):
    X, q, weight = _data()
    truth = _duplicated_fit(X, q, weight, C)
    # an arbitrary fitted start (another problem's solution)
    start = LogisticRegression(C=C).fit(X, (X[:, 2] > 0).astype(int))
    start_coef = start.coef_.copy()
    refit = refit_soft_logistic(start, X, q, weight, tol=1e-12, max_iter=10_000)
    # Both minimise the same strictly convex objective to a projected gradient
    # of 1e-12 on the mean-loss scale; the Hessian's smallest eigenvalue is at
    # least 1 / (C sum w) ~ 1e-3 here, so each solution is within ~1e-9 of the
    # minimiser: 1e-6 leaves room for the line searches' rounding.
    np.testing.assert_allclose(refit.coef_, truth.coef_, atol=1e-6)
    np.testing.assert_allclose(refit.intercept_, truth.intercept_, atol=1e-6)
    np.testing.assert_allclose(
        refit.predict_proba(X), truth.predict_proba(X), atol=1e-7
    )
    # the warm start is copied, never changed
    np.testing.assert_array_equal(start.coef_, start_coef)
    assert refit is not start and refit.n_iter_[0] >= 1


def test_loss_gradient_matches_finite_differences_at_large_margins():
    X, q, weight = _data(n=60, d=3, seed=1)
    X = X * 300.0  # margins |z| up to ~1e3: log(1 + e^z) must not overflow
    rng = np.random.default_rng(2)
    for _ in range(3):
        params = rng.normal(size=4)
        value, grad = soft_log_loss(params, X, q, weight, 0.1)
        assert np.isfinite(value) and np.all(np.isfinite(grad))
        numeric = approx_fprime(
            params, lambda p: soft_log_loss(p, X, q, weight, 0.1)[0], 1e-7
        )
        # central-difference-free forward differences at step 1e-7 on a loss of
        # scale ~1e2: truncation ~1e-7 * curvature, rounding ~1e-14 / 1e-7 * 1e2
        np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-3)


def test_loss_is_the_duplicated_weighted_log_loss():
    X, q, weight = _data(n=50, d=2, seed=3)
    params = np.array([0.3, -0.2, 0.1])
    z = X @ params[:2] + params[2]
    p = 1.0 / (1.0 + np.exp(-z))
    # the two copies' weighted log-losses, written out directly
    direct = -(q * weight * np.log(p) + (1 - q) * weight * np.log(1 - p)).sum()
    direct = direct / weight.sum() + 0.5 * 0.7 * (params[:2] @ params[:2])
    value, _ = soft_log_loss(params, X, q, weight, 0.7)
    assert value == pytest.approx(direct, rel=1e-12)
