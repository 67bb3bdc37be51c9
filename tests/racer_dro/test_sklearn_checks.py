"""scikit-learn's estimator checks on RACER's router and the judge baselines.

Their ``fit`` takes ``(X, rewards, costs)`` with rewards and costs of shape (n, K),
not ``(X, y)``: every check that calls ``fit(X, y)`` (or ``fit(X, y, sample_weight)``)
cannot apply, and is declared below with that reason. The checks that do not fit
(construction, parameters, cloning, tags, unfitted errors, repr) must pass. The
behaviour those fit-based checks probe is tested directly in test_router.py and
test_baselines.py (validation of X, n_features_in_, refits, pickling of fitted routers).
"""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from racer_dro import (
    AllCheapRouter,
    AllExpensiveRouter,
    KNNRouter,
    RacerRouter,
    RandomJudgeRouter,
)

SIGNATURE = "fit takes (X, rewards, costs) of shape (n, K); the check calls fit(X, y)"

# the checks that fit each estimator through fit(X, y): measured with
# sklearn.utils.estimator_checks.check_estimator(est, on_fail=None)
_COMMON = [
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
]
_DATA_CHECKS = [  # also fit(X, y), on sparse, complex, empty or 1-d data
    "check_complex_data",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_estimator_sparse_tag",
    "check_estimators_empty_data_messages",
    "check_fit1d",
    "check_requires_y_none",
]
_RACER = [  # RacerRouter is a classifier with sample weights: those checks fit(X, y) too
    "check_all_zero_sample_weights_error",
    "check_classifier_data_not_an_array",
    "check_classifiers_classes",
    "check_classifiers_one_label",
    "check_classifiers_one_label_sample_weights",
    "check_classifiers_regression_target",
    "check_classifiers_train",
    "check_non_transformer_estimators_n_iter",
    "check_sample_weight_equivalence_on_dense_data",
    "check_sample_weights_list",
    "check_sample_weights_not_an_array",
    "check_sample_weights_not_overwritten",
    "check_sample_weights_pandas_series",
    "check_sample_weights_shape",
    "check_supervised_y_2d",
    "check_supervised_y_no_nan",
]


def _declared(estimator) -> dict:
    names = list(_COMMON)
    if isinstance(estimator, (RacerRouter, KNNRouter)):
        names += _DATA_CHECKS
    if isinstance(estimator, RacerRouter):
        names += _RACER
    return dict.fromkeys(names, SIGNATURE)


ESTIMATORS = [
    RacerRouter(1.0, robust="none", random_state=0),
    AllCheapRouter(),
    AllExpensiveRouter(),
    RandomJudgeRouter(rate=0.5, random_state=0),
    KNNRouter(),
]


@pytest.mark.filterwarnings("ignore")
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_declared)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_the_checks_that_apply_are_run():
    # the declared list must leave the construction, parameter and clone checks in
    # force: a list that declared everything would make the test above vacuous
    applying = {
        "check_parameters_default_constructible",
        "check_no_attributes_set_in_init",
        "check_get_params_invariance",
        "check_set_params",
        "check_estimator_cloneable",
        "check_estimators_unfitted",
    }
    for estimator in ESTIMATORS:
        assert not applying & set(_declared(estimator))
