"""Cost functions: eq. (3) and the token pricing of Remark 2."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metarouter import TokenCost, UnitCost
from metarouter.costs import cost_difference


def test_unit_cost_is_eq_3():
    np.testing.assert_array_equal(UnitCost().difference(4), np.ones(4))
    np.testing.assert_array_equal(UnitCost(2.5, 0.5).difference(2), [2.0, 2.0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        UnitCost().premium = 3.0


def test_token_cost_hand_computed():
    cost = TokenCost(
        premium_input_rate=3.0,
        premium_output_rate=15.0,
        alternative_input_rate=0.25,
        alternative_output_rate=1.25,
        premium_fixed=0.5,
        alternative_fixed=0.1,
    )
    # premium: 3*10 + 15*20 + 0.5 = 330.5 ; alternative: 0.25*12 + 1.25*8 + 0.1 = 13.1
    diff = cost.difference(10, 20, 8, alternative_input_tokens=12)
    np.testing.assert_allclose(diff, [330.5 - 13.1])
    np.testing.assert_allclose(cost.premium_cost([1, 2], [0, 1]), [3.5, 21.5])
    np.testing.assert_allclose(cost.alternative_cost([4], [4]), [6.1])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(0, 10_000), min_size=1, max_size=10),
    st.floats(0, 1e-3),
    st.floats(0, 1e-3),
    st.floats(0, 1e-4),
    st.floats(0, 1e-4),
)
def test_token_cost_difference_is_linear_in_tokens(tokens, a, b, c, d):
    cost = TokenCost(a, b, c, d)
    t = np.asarray(tokens, float)
    diff = cost.difference(t, 2 * t, t)
    np.testing.assert_allclose(
        diff, a * t + b * 2 * t - (c * t + d * t), rtol=1e-12, atol=1e-15
    )


def test_bad_costs_name_the_argument():
    with pytest.raises(ValueError, match="`premium`"):
        UnitCost(premium=-1.0)
    with pytest.raises(TypeError, match="`premium_output_rate`"):
        TokenCost(1.0, "x", 1.0, 1.0)
    with pytest.raises(ValueError, match="`input_tokens`"):
        TokenCost(1.0, 1.0, 1.0, 1.0).difference([-1], [1])
    with pytest.raises(TypeError, match="token counts"):
        cost_difference(TokenCost(1.0, 1.0, 1.0, 1.0), None, 3)
    with pytest.raises(ValueError, match="`cost` contains"):
        cost_difference([1.0, np.nan], None, 2)


def test_token_counts_of_different_lengths_are_an_error():
    """Issue 12: a length-1 array must not broadcast silently against length 2."""
    cost = TokenCost(1.0, 2.0, 0.5, 1.0)
    with pytest.raises(ValueError, match="one length"):
        cost.difference([100, 200], [10], [10, 20])
    # scalars still broadcast
    np.testing.assert_allclose(
        cost.difference([100, 200], 10, 10), [100 * 0.5 + 10, 200 * 0.5 + 10]
    )


def test_model_costs_check_lengths_and_errors_name_the_argument():
    cost = TokenCost(1.0, 2.0, 0.5, 1.0)
    # lengths 2 and 3 gave numpy's "operands could not be broadcast" error
    with pytest.raises(ValueError, match="`output_tokens` has 3 entries"):
        cost.premium_cost([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="`output_tokens` has 3 entries"):
        cost.alternative_cost([1, 2], [1, 2, 3])
    # a negative alternative count was reported as `output_tokens`
    with pytest.raises(ValueError, match="`alternative_output_tokens`"):
        cost.difference([1, 2], [1, 2], [-3, 1])
    with pytest.raises(ValueError, match="`alternative_input_tokens`"):
        cost.difference([1, 2], [1, 2], alternative_input_tokens=[np.nan, 1])
    # exact: small integers times dyadic rates
    np.testing.assert_array_equal(cost.premium_cost([1, 2], 3), [7.0, 8.0])


@pytest.mark.parametrize("bad", [2.7, -1, True, "3"])
def test_unit_cost_difference_needs_a_count(bad):
    # 2.7 was truncated to 2 queries and -1 gave numpy's "negative dimensions"
    with pytest.raises(ValueError, match="`n_queries`"):
        UnitCost().difference(bad)
