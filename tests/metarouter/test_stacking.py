"""The stacked meta-router: exact simplex weights (against CVXPY) and the combination."""

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold

from metarouter import MetaRouter, StackedMetaRouter
from metarouter.datasets import make_shift_data
from metarouter.selection import CANDIDATES
from metarouter.stacking import (
    DEFAULT_CANDIDATES,
    MAX_CANDIDATES,
    simplex_least_squares,
)

# a deterministic propensity and linear models: every candidate's fit is
# reproducible without sharing the R candidate's propensities
TEMPLATE = MetaRouter(
    outcome_model=Ridge(alpha=1.0),
    propensity_model=LogisticRegression(),
    n_folds=3,
    scale=None,
)


@pytest.fixture(scope="module")
def small():
    return make_shift_data(n_gs=45, n_pb=300, n_test=200, d=6, random_state=2)


def _cvxpy_simplex(P, y, w):
    """The same problem written in CVXPY (independent of the enumeration)."""
    a = cp.Variable(P.shape[1])
    objective = cp.sum(cp.multiply(w, cp.square(y - P @ a)))
    problem = cp.Problem(cp.Minimize(objective), [a >= 0, cp.sum(a) == 1])
    problem.solve(solver="CLARABEL")
    return a.value, problem.value


@pytest.mark.parametrize("seed", range(6))
def test_simplex_weights_match_cvxpy(seed):
    rng = np.random.default_rng(seed)
    n, k = 60, 2 + seed % 4
    y = rng.normal(size=n)
    # candidates of varied quality, some biased, some nearly collinear
    P = y[:, None] + rng.normal(scale=rng.uniform(0.3, 2.0, k), size=(n, k))
    P[:, 0] += rng.normal() * 0.5
    if k > 2:
        P[:, 2] = P[:, 1] + 1e-3 * rng.normal(size=n)
    w = rng.exponential(size=n) if seed % 2 else np.ones(n)
    a = simplex_least_squares(P, y, w)
    a_ref, value_ref = _cvxpy_simplex(P, y, w)
    value = float(np.sum(w * (y - P @ a) ** 2))
    # CLARABEL's interior point stops at a relative gap of about 1e-8
    assert value <= value_ref * (1 + 1e-7)
    assert value == pytest.approx(value_ref, rel=1e-6)
    # certificates: on the simplex
    assert np.all(a >= 0)
    assert a.sum() == pytest.approx(1.0, abs=1e-12)
    if seed % 3 == 0:  # well-conditioned: the optimum is unique, weights agree
        np.testing.assert_allclose(a, a_ref, atol=1e-5)


def test_simplex_weights_pick_an_exact_candidate_and_balance_opposite_biases():
    y = np.linspace(-1, 1, 20)
    exact = np.column_stack([y + 1.0, y.copy(), np.zeros(20)])
    np.testing.assert_allclose(simplex_least_squares(exact, y), [0, 1, 0], atol=1e-12)
    opposite = np.column_stack([y + 0.3, y - 0.3, -y])
    np.testing.assert_allclose(
        simplex_least_squares(opposite, y), [0.5, 0.5, 0.0], atol=1e-12
    )


@settings(max_examples=40, deadline=None)
@given(
    exponent=st.integers(-300, 300),
    seed=st.integers(0, 2**16),
)
def test_simplex_weights_are_scale_free_at_extreme_magnitudes(exponent, seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=40)
    P = y[:, None] + rng.normal(scale=[0.5, 1.0, 1.5], size=(40, 3)) + [0.2, -0.1, 0]
    base = simplex_least_squares(P, y)
    scaled = simplex_least_squares(P * 10.0**exponent, y * 10.0**exponent)
    assert np.all(np.isfinite(scaled))
    assert scaled.sum() == pytest.approx(1.0, abs=1e-12)
    # the power-of-two unit makes the rescaling nearly exact (decimal scales
    # round at 1e-16 per entry)
    np.testing.assert_allclose(scaled, base, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    ("P", "y", "w", "match"),
    [
        (np.ones((3, 2)), np.ones(4), None, "one row per outcome"),
        (np.full((3, 2), np.nan), np.ones(3), None, "finite"),
        (np.ones((3, MAX_CANDIDATES + 1)), np.ones(3), None, "at most"),
        (np.ones((3, 2)), np.ones(3), np.array([1.0, -1.0, 1.0]), "sample_weight"),
        (np.ones((3, 2)), np.ones(3), np.zeros(3), "sample_weight"),
    ],
)
def test_simplex_weights_bad_input_names_the_argument(P, y, w, match):
    with pytest.raises(ValueError, match=match):
        simplex_least_squares(P, y, w)


def _held_out_reference(X, y, s, random_state, candidates):
    """Loop-written held-out predictions: KFold over the GS rows, one fit each."""
    seed = int(np.random.default_rng(random_state).integers(2**31 - 1))
    gs = np.flatnonzero(s == 1)
    P = np.zeros((len(candidates), gs.size))
    for k, (_, held) in enumerate(
        KFold(TEMPLATE.n_folds, shuffle=True, random_state=seed).split(gs)
    ):
        train = np.setdiff1d(np.arange(len(y)), gs[held])
        for j, name in enumerate(candidates):
            est = clone(TEMPLATE).set_params(cate_learner=name, random_state=seed + k)
            est.fit(X[train], y[train], s[train])
            P[j, held] = est.predict(X[gs[held]])
    return P, gs


def _pb_weights_reference(X, source, random_state, n_folds, clip=0.01, q=0.95):
    """GS rows' density-ratio weights f_PB / f_GS, written out: out-of-fold
    logistic propensities on source-stratified folds (the seed derived as the
    library derives it), ``(1 - p) / p * n_gs / n_pb``, truncated at the 0.95
    quantile, mean 1."""
    from sklearn.model_selection import StratifiedKFold

    seed = int(np.random.default_rng(random_state).integers(2**31 - 1))
    p = np.zeros(X.shape[0])
    for train, test in StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(
        X, source
    ):
        p[test] = (
            LogisticRegression()
            .fit(X[train], source[train])
            .predict_proba(X[test])[:, 1]
        )
    gs = source == 1
    p = np.clip(p[gs], clip, 1 - clip)
    w = (1 - p) / p * gs.sum() / (~gs).sum()
    w = np.minimum(w, np.quantile(w, q))
    return w / w.mean()


def test_gs_to_pb_weights_against_the_written_out_reference(small):
    from metarouter.selection import gs_to_pb_weights

    w = gs_to_pb_weights(
        small.X, small.source, propensity_model=LogisticRegression(), n_folds=3,
        random_state=11,
    )  # fmt: skip
    # the same folds and a deterministic model: agreement to rounding
    np.testing.assert_allclose(
        w, _pb_weights_reference(small.X, small.source, 11, 3), rtol=1e-9
    )
    # make_shift_data's GS rows sit 0.5 sd to the right on feature 0: the true
    # ratio f_PB / f_GS = exp(0.125 - 0.5 x_0) falls with x_0, and so must the
    # estimate (rank correlation well above 0 for 45 rows and five irrelevant
    # features; measured 0.55)
    from scipy.stats import spearmanr

    x0 = small.X[small.source == 1, 0]
    assert spearmanr(w, -x0).statistic > 0.3


def test_pb_weighting_recovers_a_pb_mean_from_shifted_gs_rows():
    """Importance weights take a GS mean to the PB one: GS x ~ N(1, 1), PB x ~
    N(0, 1), so the unweighted GS mean of x is 1 and the PB mean 0. With the
    true ratio truncated at the same 0.95 quantile the weighted mean is the
    reference (truncation's bias included); the estimate must be within 0.1 of
    it (logistic propensities on 6,000 rows: sampling error about 0.03)."""
    from metarouter.selection import gs_to_pb_weights

    rng = np.random.default_rng(5)
    x_gs, x_pb = rng.normal(1.0, 1.0, 2000), rng.normal(0.0, 1.0, 4000)
    X = np.r_[x_gs, x_pb][:, None]
    source = np.r_[np.ones(2000, int), np.zeros(4000, int)]
    w = gs_to_pb_weights(
        X, source, propensity_model=LogisticRegression(), random_state=0
    )
    true = np.exp(0.5 - x_gs)
    true = np.minimum(true, np.quantile(true, 0.95))
    reference = np.average(x_gs, weights=true)
    assert abs(reference) < 0.35  # the truncated truth is much nearer 0 than 1
    assert abs(np.average(x_gs, weights=w) - reference) < 0.1
    # no shift: the weights are about 1 (their spread is the propensity's noise)
    w0 = gs_to_pb_weights(
        np.r_[rng.normal(size=2000), x_pb][:, None], source,
        propensity_model=LogisticRegression(), random_state=0,
    )  # fmt: skip
    assert np.std(w0) < 0.1
    # too few rows of a source for the folds: an error naming `source`
    with pytest.raises(ValueError, match="`source` has 3 GS"):
        gs_to_pb_weights(X[1997:], source[1997:], random_state=0)


def test_selection_target_pb_weights_the_held_out_errors(small):
    """``selection_target="pb"``: ``auto``'s and the stacked router's held-out
    errors and simplex weights use the GS rows' density-ratio weights
    (reference: :func:`_pb_weights_reference`, the same seed and folds)."""
    template = clone(TEMPLATE).set_params(selection_target="pb")
    P, gs = _held_out_reference(
        small.X, small.y, small.source, child_seed_of(7), CANDIDATES
    )
    w_ref = _pb_weights_reference(small.X, small.source, child_seed_of(7), 3)
    errors = ((small.y[gs] - P) ** 2) @ (w_ref / w_ref.sum())
    auto = clone(template).set_params(cate_learner="auto", random_state=7)
    auto.fit(small.X, small.y, small.source)
    np.testing.assert_allclose(auto.cv_results_["mean_gs_mse"], errors, rtol=1e-10)
    stacked = StackedMetaRouter(template, candidates=CANDIDATES, random_state=7)
    stacked.fit(small.X, small.y, small.source)
    np.testing.assert_allclose(stacked.cv_results_["mean_gs_mse"], errors, rtol=1e-10)
    a_ref, _ = _cvxpy_simplex(P.T, small.y[gs], w_ref)
    # CLARABEL stops at a relative gap of about 1e-8: weights to 1e-5
    np.testing.assert_allclose(stacked.weights_.to_numpy(), a_ref, atol=1e-5)
    # the weights differ from 1 here (GS rows shifted 0.5 sd), so the choice
    # is not the unweighted one's by construction
    unweighted = ((small.y[gs] - P) ** 2).mean(axis=1)
    assert not np.allclose(errors, unweighted, rtol=1e-3)
    with pytest.raises(ValueError, match="`selection_target`"):
        clone(auto).set_params(selection_target="test").fit(
            small.X, small.y, small.source
        )


def child_seed_of(seed):
    """The selection folds' seed of a router with ``random_state=seed``."""
    from metarouter._crossfit import ROLE_SELECT, _base_entropy, child_seed

    return child_seed(_base_entropy(seed), ROLE_SELECT)


def test_stacked_router_against_a_loop_reference(small):
    stacked = StackedMetaRouter(TEMPLATE, candidates=CANDIDATES, random_state=7)
    stacked.fit(small.X, small.y, small.source)
    P, gs = _held_out_reference(
        small.X, small.y, small.source, child_seed_of(7), CANDIDATES
    )
    errors = ((small.y[gs] - P) ** 2).mean(axis=1)
    np.testing.assert_allclose(stacked.cv_results_["mean_gs_mse"], errors, rtol=1e-10)
    a_ref, _ = _cvxpy_simplex(P.T, small.y[gs], np.ones(gs.size))
    np.testing.assert_allclose(stacked.weights_.to_numpy(), a_ref, atol=1e-5)
    # the combination of routers refitted on all rows, each as MetaRouter builds it
    expected = np.zeros(small.X_test.shape[0])
    for name, weight in stacked.weights_.items():
        if weight > 0:
            est = clone(TEMPLATE).set_params(cate_learner=name, random_state=7)
            expected += weight * est.fit(small.X, small.y, small.source).predict(
                small.X_test
            )
    np.testing.assert_allclose(stacked.predict(small.X_test), expected, rtol=1e-12)
    # its own held-out error is at most every single candidate's (they are feasible)
    assert stacked.stack_gs_mse_ <= errors.min() * (1 + 1e-12)
    assert set(stacked.estimators_) == set(stacked.weights_.index[stacked.weights_ > 0])


def test_stacked_router_shares_auto_folds_and_reduces_to_a_single_router(small):
    stacked = StackedMetaRouter(TEMPLATE, candidates=["offset"], random_state=3)
    stacked.fit(small.X, small.y, small.source)
    assert stacked.weights_.to_dict() == {"offset": 1.0}
    single = clone(TEMPLATE).set_params(cate_learner="offset", random_state=3)
    np.testing.assert_array_equal(
        stacked.predict(small.X_test),
        single.fit(small.X, small.y, small.source).predict(small.X_test),
    )
    full = StackedMetaRouter(TEMPLATE, random_state=3).fit(
        small.X, small.y, small.source
    )
    auto = clone(TEMPLATE).set_params(cate_learner="auto", random_state=3)
    auto.fit(small.X, small.y, small.source)
    # the default candidates (auto's without the DR learners) get auto's folds and
    # fits: their held-out errors are auto's rows for them (to 1e-12: the same
    # predictions, averaged by a matrix-vector product of another shape, whose
    # summation order may differ in the last bit)
    assert tuple(full.weights_.index) == DEFAULT_CANDIDATES
    rows = [list(CANDIDATES).index(name) for name in DEFAULT_CANDIDATES]
    np.testing.assert_allclose(
        full.cv_results_["mean_gs_mse"], auto.cv_results_["mean_gs_mse"][rows],
        rtol=1e-12,
    )  # fmt: skip


def test_stacked_router_without_pb_rows_is_gs_only(small):
    gs = small.source == 1
    stacked = StackedMetaRouter(TEMPLATE, random_state=0).fit(small.X[gs], small.y[gs])
    assert stacked.cv_results_ is None
    assert list(stacked.estimators_) == ["gs-only"]


def test_stacked_router_keeps_feature_names_and_weights(small):
    X = pd.DataFrame(small.X, columns=[f"f{j}" for j in range(small.X.shape[1])])
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=len(small.y))
    stacked = StackedMetaRouter(TEMPLATE, candidates=("r", "gs-only"), random_state=0)
    stacked.fit(X, small.y, small.source, sample_weight=w)
    assert list(stacked.feature_names_in_) == list(X.columns)
    assert stacked.predict(X.iloc[:5]).shape == (5,)
    assert stacked.weights_.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"candidates": ["r", "nope"]}, ValueError, "`candidates`"),
        ({"candidates": []}, ValueError, "`candidates`"),
        ({"candidates": ["r", "r"]}, ValueError, "twice"),
        ({"router": Ridge()}, TypeError, "`router`"),
    ],
)
def test_stacked_router_bad_input_names_the_argument(small, kwargs, error, match):
    with pytest.raises(error, match=match):
        StackedMetaRouter(**{"router": TEMPLATE, **kwargs}).fit(
            small.X, small.y, small.source
        )


def test_stacked_router_needs_two_gs_rows_per_fold(small):
    s = small.source.copy()
    s[4:45] = 0  # 4 GS rows for 3 folds
    with pytest.raises(ValueError, match="at least 2 GS rows .* per"):
        StackedMetaRouter(TEMPLATE).fit(small.X, small.y, s)
