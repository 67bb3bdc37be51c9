"""scikit-learn conformance of the routers and the CATE learners."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
    parametrize_with_checks,
)

from metarouter import (
    DRLearner,
    GSOnlyRouter,
    MetaRouter,
    PooledRouter,
    RandomRouter,
    RLearner,
    StackedMetaRouter,
)
from metarouter.offset import OffsetLearner

_SMALL_HGB = HistGradientBoostingRegressor(max_iter=10, max_depth=2)

_ROUTERS = [
    MetaRouter(),  # defaults: boosters for step 1, SelectedRegressor for step 2
    PooledRouter(),
    GSOnlyRouter(),
    MetaRouter("dr", Ridge(), scale="wasserstein"),  # a linear, weight-exact model
    MetaRouter("offset", Ridge(), scale="max"),
    MetaRouter("dr-joint", Ridge()),
    MetaRouter("auto", Ridge()),
    StackedMetaRouter(),
    StackedMetaRouter(MetaRouter(outcome_model=Ridge()), candidates=("r", "gs-only")),
]


def _expected_failures(router):
    """With the default step-2 model (a cross-validated choice, SelectedRegressor)
    integer weights are not repeated rows: a repeated row may fall into several
    folds. Every other check passes (the routing score of eq. 4 is
    `routing_score(X, w, cost)`, not `decision_function`)."""
    template = getattr(router, "router", router)  # StackedMetaRouter's template
    if template is None or template.outcome_model is None:
        return {"check_sample_weight_equivalence_on_dense_data": "CV folds"}
    return {}


@parametrize_with_checks(_ROUTERS, expected_failed_checks=_expected_failures)
def test_routers_pass_check_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("cls", [RLearner, DRLearner, OffsetLearner, RandomRouter])
def test_parameter_checks_without_fit(cls):
    """The checks that never call fit(X, y) without a treatment."""
    name = cls.__name__
    check_parameters_default_constructible(name, cls())
    check_no_attributes_set_in_init(name, cls())
    check_get_params_invariance(name, cls())
    check_set_params(name, cls())


def _cate_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    t = rng.binomial(1, 1 / (1 + np.exp(-X[:, 0])))
    tau = 1.0 + X[:, 1]
    y = X[:, 0] + t * tau + rng.normal(scale=0.5, size=n)
    return X, y, t, tau


@pytest.mark.parametrize("cls", [RLearner, DRLearner])
def test_cate_learners_clone_and_refit_identically(cls):
    X, y, t, _ = _cate_data()
    est = cls(
        Ridge(alpha=2.0), LogisticRegression(), Ridge(), n_folds=3, random_state=4
    )
    twin = clone(est)
    assert twin.get_params()["outcome_model"].alpha == 2.0
    assert twin.get_params()["outcome_model"] is not est.get_params()["outcome_model"]
    np.testing.assert_array_equal(
        est.fit(X, y, t).predict(X), twin.fit(X, y, t).predict(X)
    )
    assert not hasattr(clone(est), "cate_model_")  # clone drops fitted state


def test_offset_learner_clones_and_refits_identically():
    X, y, t, _ = _cate_data()
    est = OffsetLearner(Ridge(alpha=2.0), Ridge(), n_folds=3, random_state=4)
    twin = clone(est)
    np.testing.assert_array_equal(
        est.fit(X, y, t).predict(X), twin.fit(X, y, t).predict(X)
    )
    assert not hasattr(clone(est), "cate_model_")


@pytest.mark.parametrize("cls", [RLearner, DRLearner, OffsetLearner])
def test_cate_learners_not_fitted_error(cls):
    with pytest.raises(NotFittedError):
        cls().predict(np.zeros((3, 2)))


@pytest.mark.parametrize("router", [MetaRouter(), PooledRouter(), GSOnlyRouter()])
def test_routers_not_fitted_error(router):
    with pytest.raises(NotFittedError):
        router.route(np.zeros((3, 2)))


@pytest.mark.filterwarnings("ignore:.*propensities were clipped")
@pytest.mark.parametrize("cls", [RLearner, DRLearner])
def test_grid_search_over_a_nuisance_parameter(cls):
    """GridSearchCV splits `treatment` with the rows and tunes a nested parameter.

    The score is minus the MSE against the known CATE (a function of X), so
    the search is checkable: a strongly over-regularised final model
    (alpha = 1e6 shrinks the CATE slope to ~0) must lose to alpha = 1e-3.
    """
    X, y, t, _ = _cate_data(n=400, seed=1)

    def oracle_score(estimator, X_val, y_val):
        return -np.mean((estimator.predict(X_val) - (1.0 + X_val[:, 1])) ** 2)

    est = cls(
        LinearRegression(), LogisticRegression(), Ridge(), n_folds=3, random_state=0
    )
    search = GridSearchCV(
        est, {"cate_model__alpha": [1e-3, 1e6]}, cv=3, scoring=oracle_score
    )
    search.fit(X, y, treatment=t)
    assert search.best_params_ == {"cate_model__alpha": 1e-3}
    refit = clone(est).set_params(cate_model__alpha=1e-3).fit(X, y, t)
    np.testing.assert_allclose(search.best_estimator_.predict(X), refit.predict(X))


def test_random_state_seeds_nuisance_models():
    """Nested random_state=None models are seeded: two fits agree exactly."""
    X, y, t, _ = _cate_data(n=200, seed=2)
    sub = (
        HistGradientBoostingRegressor(max_iter=10, max_depth=2, subsample=0.5)
        if "subsample" in HistGradientBoostingRegressor().get_params()
        else _SMALL_HGB
    )
    a = RLearner(sub, None, sub, n_folds=2, random_state=7).fit(X, y, t).predict(X)
    b = RLearner(sub, None, sub, n_folds=2, random_state=7).fit(X, y, t).predict(X)
    np.testing.assert_array_equal(a, b)
    est = RLearner(sub, None, sub, n_folds=2, random_state=7).fit(X, y, t)
    seeds = [m.random_state for m in est.outcome_models_]
    assert all(isinstance(s, int) for s in seeds) and len(set(seeds)) == 2
