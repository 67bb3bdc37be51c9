"""TE, PMUR and efficiency gain (seed 003, section 4)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metarouter import efficiency_curve, efficiency_gain
from tests.metarouter.reference import te_brute_force


def test_curve_hand_computed():
    curve = efficiency_curve([0.2, 0.9, 0.5, -1.0], [1.0, 2.0, -3.0, 4.0])
    np.testing.assert_allclose(curve["pmur"], [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(curve["te"], [0.0, 2.0, -1.0, 0.0, 4.0])
    # routing scores > threshold reproduces each row's premium set
    s = np.array([0.2, 0.9, 0.5, -1.0])
    for k, thr in zip(curve["n_premium"], curve["threshold"]):
        assert np.sum(s > thr) == k


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 2), min_size=1, max_size=6),
    st.lists(st.integers(-3, 3), min_size=6, max_size=6),
)
def test_tied_scores_give_the_random_tie_breaking_expectation(scores, r):
    r = np.asarray(r[: len(scores)], float)
    curve = efficiency_curve(np.asarray(scores, float), r)
    for k, te in zip(curve["n_premium"], curve["te"]):
        # exact enumeration over tie-breaking orders; rounding only
        assert te == pytest.approx(te_brute_force(scores, r, k), abs=1e-12)


def test_constant_scores_equal_random_routing():
    rng = np.random.default_rng(0)
    r = rng.normal(size=200)
    gain = efficiency_gain(np.zeros(200), r, pmur=[0.1, 0.5, 0.9])
    np.testing.assert_allclose(gain["eg"], 0.0, atol=1e-12)


def test_gain_uses_medians_over_rounds():
    rng = np.random.default_rng(1)
    r = rng.normal(size=(5, 40))
    scores = r + rng.normal(scale=0.5, size=(5, 40))
    gain = efficiency_gain(scores, r, pmur=[0.3])
    k = 12
    te_router = [np.sort(r[j][np.argsort(-scores[j])][:k]).sum() for j in range(5)]
    te_random = [k / 40 * r[j].sum() for j in range(5)]
    assert gain["te_router"][0] == pytest.approx(np.median(te_router))
    assert gain["te_random"][0] == pytest.approx(np.median(te_random))
    assert gain["eg"][0] == pytest.approx(
        (np.median(te_router) - np.median(te_random)) / 40
    )
    assert gain["n_rounds"][0] == 5
    # a list of rounds and a mapping of routers give the same numbers
    as_list = efficiency_gain(list(scores), list(r), pmur=[0.3])
    assert as_list["eg"][0] == gain["eg"][0]
    both = efficiency_gain({"a": scores, "b": -scores}, r, pmur=[0.3])
    assert list(both["router"]) == ["a", "b"] and both["eg"][0] == gain["eg"][0]


def test_simulated_random_router_matches_expectation_on_average():
    rng = np.random.default_rng(2)
    r = rng.normal(loc=0.2, size=(400, 50))
    expected = efficiency_gain(np.zeros((400, 50)), r, pmur=[0.4])["te_random"][0]
    simulated = efficiency_gain(
        np.zeros((400, 50)), r, pmur=[0.4], random="simulate", random_state=0
    )["te_random"][0]
    # Medians over 400 rounds of sums of 20 draws: the sampling-without-replacement
    # noise (sd ~ 3.5 per round) moves the median by about 3.5 * 1.25 / 20 ~ 0.2.
    assert abs(simulated - expected) < 0.8


def test_oracle_scores_dominate_random():
    rng = np.random.default_rng(3)
    r = rng.normal(size=300)
    gain = efficiency_gain(r, r)
    assert np.all(gain["eg"] >= -1e-12)
    assert gain["eg"].iloc[1:-1].min() > 0  # strictly better inside (0, 1)
    np.testing.assert_allclose(gain["eg"].iloc[[0, -1]], 0.0, atol=1e-12)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="`scores` and `r` differ"):
        efficiency_curve([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="`pmur`"):
        efficiency_curve([1.0, 2.0], [1.0, 0.0], pmur=[1.5])
    with pytest.raises(ValueError, match="`r` round 0 contains"):
        efficiency_gain([1.0, 2.0], [np.nan, 0.0])
    with pytest.raises(ValueError, match="`random`"):
        efficiency_gain([1.0], [1.0], random="bootstrap")


def test_gain_accepts_a_dataframe_of_rounds():
    """A DataFrame (rounds x queries) was read as one round and rejected.

    It must give the ndarray's numbers exactly (the same floats, the same order).
    """
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    S, R = rng.normal(size=(5, 8)), rng.normal(size=(5, 8))
    expected = efficiency_gain(S, R, pmur=[0.25, 0.5])
    got = efficiency_gain(pd.DataFrame(S), pd.DataFrame(R), pmur=[0.25, 0.5])
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    curve = efficiency_curve(pd.DataFrame(S), pd.DataFrame(R))
    assert curve["round"].nunique() == 5


def test_gain_of_an_empty_mapping_is_a_clear_error():
    with pytest.raises(ValueError, match="empty mapping"):
        efficiency_gain({}, [1.0, 2.0])
