"""The shared validators: pandas' missing values and the messages that name the argument."""

import numpy as np
import pandas as pd
import pytest

from racer_dro import RacerRouter
from racer_dro._validation import as_float_array, check_values
from racer_dro.judge_evaluation import routed_accuracy


def test_nullable_pandas_missing_values_are_nan_not_a_type_error():
    # a nullable column (Float64, boolean) holding pd.NA failed numpy's float
    # conversion and was reported as "`rewards` must be numeric, got ndarray":
    # the type of the converted array, for a numeric table with a missing value
    rewards = pd.DataFrame(
        {"cheap": pd.array([1.0, None, 0.0], dtype="Float64"), "dear": [1.0, 1.0, 0.0]}
    )
    with pytest.raises(ValueError, match="`rewards` must be finite, got NaN"):
        check_values(rewards, "rewards", ndim=2)
    filled = check_values(rewards.fillna(0.5), "rewards", ndim=2)
    np.testing.assert_array_equal(filled, [[1.0, 1.0], [0.5, 1.0], [0.0, 0.0]])
    route = pd.array([True, None, False], dtype="boolean")
    with pytest.raises(ValueError, match="`route` must be finite"):
        routed_accuracy([[0, 1], [0, 1], [1, 0]], route)
    np.testing.assert_array_equal(as_float_array(route, "route"), [1.0, np.nan, 0.0])
    with pytest.raises(TypeError, match="`rewards` must be numeric, got DataFrame"):
        check_values(pd.DataFrame({"a": ["x", "y"]}), "rewards", ndim=2)
    X = np.arange(20.0).reshape(10, 2)
    with pytest.raises(ValueError, match="`rewards` must be finite"):
        RacerRouter(1.0).fit(X, pd.concat([rewards] * 4).iloc[:10], np.ones((10, 2)))
