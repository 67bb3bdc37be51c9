"""The K-model meta-router: a hand-written reference, K = 2, recovery of known gains.

The reference below imports nothing from ``metarouter``: it writes the two-step
R-learner meta-router (seed 003, eqs. 6 and 9) per model with plain scikit-learn
fits on the router's shared folds.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, LogisticRegression

from metarouter import GSOnlyRouter, MetaRouter, PooledRouter
from metarouter.multimodel import MultiModelRouter, trade_off_grid
from metarouter.multimodel_data import make_multimodel_data

CLIP = 0.01


MIN_FINAL_WEIGHT = 0.01  # documented default floor, written here independently


def reference_meta_router(X, quality, comparisons, folds, ref, k, X_new):
    """m_hat_k at X_new: R-learner shift and eq. 6 with linear models, given folds."""
    gs = np.flatnonzero(~np.isnan(quality[:, k]) & ~np.isnan(quality[:, ref]))
    mine = comparisons[comparisons["model"] == k]
    pb_mean = mine.groupby("query")["verdict"].mean()
    pb = pb_mean.index.to_numpy()
    rows = np.r_[gs, pb]
    o = np.r_[quality[gs, k] - quality[gs, ref], pb_mean.to_numpy()]
    t = np.r_[np.ones(gs.size), np.zeros(pb.size)]
    Xk, fk = X[rows], folds[rows]
    gamma = np.empty(rows.size)
    p = np.empty(rows.size)
    for f in np.unique(fk):
        tr, te = fk != f, fk == f
        gamma[te] = LinearRegression().fit(Xk[tr], o[tr]).predict(Xk[te])
        pm = LogisticRegression().fit(Xk[tr], t[tr])
        p[te] = pm.predict_proba(Xk[te])[:, list(pm.classes_).index(1)]
    p = np.clip(p, CLIP, 1 - CLIP)
    t_res = t - p
    # the R-learner's final stage with a user's model leaves out rows whose R-loss
    # weight (t - p)^2 is below 0.01 (RLearner(min_final_weight="auto"))
    keep = t_res**2 >= MIN_FINAL_WEIGHT
    shift = LinearRegression().fit(
        Xk[keep], ((o - gamma) / t_res)[keep], sample_weight=t_res[keep] ** 2
    )
    target = o.copy()
    is_pb = t == 0
    target[is_pb] = o[is_pb] + shift.predict(Xk[is_pb])
    return LinearRegression().fit(Xk, target).predict(X_new)


def linear_template():
    return MetaRouter(
        "r",
        LinearRegression(),
        scale=None,
        propensity_model=LogisticRegression(),
        n_folds=3,
    )


@pytest.mark.parametrize("coverage", [1.0, 0.6])
def test_matches_hand_written_reference_on_shared_folds(coverage):
    data = make_multimodel_data(
        n_gs=120, n_pb=300, n_test=50, pb_coverage=coverage, random_state=3
    )
    router = MultiModelRouter(linear_template(), random_state=0)
    router.fit(data.X, data.quality, data.comparisons, models=data.models)
    comp = data.comparisons.assign(
        model=data.comparisons["model"].map(data.models.index)
    )
    got = router.predict(data.X_test)
    np.testing.assert_array_equal(got[:, 0], 0.0)
    for k in range(1, 4):
        want = reference_meta_router(
            data.X, data.quality, comp, router.folds_, 0, k, data.X_test
        )
        # linear least squares on the same rows in another order: float rounding
        np.testing.assert_allclose(got[:, k], want, rtol=0, atol=1e-8)
        assert router.shared_propensity_[k] == (coverage == 1.0)
    # folds are per query and shared; a PB query with no verdict is unused (-1)
    assert set(np.unique(router.folds_[router.folds_ >= 0])) == {0, 1, 2}
    assert np.sum(router.folds_ < 0) == router.n_unlabelled_
    assert (router.n_unlabelled_ > 0) == (coverage < 1.0)


def test_two_models_is_the_binary_meta_router():
    data = make_multimodel_data(
        n_gs=100, n_pb=400, n_test=80, n_models=2, random_state=1
    )
    multi = MultiModelRouter(MetaRouter("r", scale=None), random_state=0)
    multi.fit(data.X, data.quality, data.comparisons, models=data.models)
    gs = ~np.isnan(data.quality[:, 0])
    pb = data.comparisons["query"].to_numpy()
    rows = np.r_[np.flatnonzero(gs), pb]
    y = np.r_[data.quality[gs, 1] - data.quality[gs, 0], data.comparisons["verdict"]]
    s = np.r_[np.ones(gs.sum()), np.zeros(pb.size)]
    binary = clone(multi.estimators_[1]).fit(
        data.X[rows],
        y,
        s,
        folds=multi.folds_[rows],
        propensity=multi.propensity_[rows],
    )
    m_hat = binary.predict(data.X_test)
    np.testing.assert_array_equal(multi.predict(data.X_test)[:, 1], m_hat)
    for w in (0.0, 0.05, 0.2):
        np.testing.assert_array_equal(
            multi.route(data.X_test, w=w, cost=data.cost) == 1,
            binary.route(data.X_test, w=w, cost=data.cost[1] - data.cost[0]),
        )


@pytest.mark.slow
@pytest.mark.parametrize("learner", ["r", "dr"])
def test_recovers_known_gains_where_pooling_does_not(learner):
    data = make_multimodel_data(n_gs=400, n_pb=3000, n_test=2000, random_state=7)
    fit = {"models": data.models}
    meta = MultiModelRouter(MetaRouter(learner, scale=None), random_state=0)
    meta.fit(data.X, data.quality, data.comparisons, **fit)
    pooled = MultiModelRouter(PooledRouter(scale=None), random_state=0)
    pooled.fit(data.X, data.quality, data.comparisons, **fit)
    truth = data.gain_test
    mse_meta = ((meta.predict(data.X_test) - truth) ** 2).mean(axis=0)[1:]
    mse_pooled = ((pooled.predict(data.X_test) - truth) ** 2).mean(axis=0)[1:]
    gs_only = MultiModelRouter(GSOnlyRouter(), random_state=0)
    gs_only.fit(data.X, data.quality, data.comparisons, **fit)
    mse_gs = ((gs_only.predict(data.X_test) - truth) ** 2).mean(axis=0)[1:]
    var = truth.var(axis=0)[1:]
    # measured (this seed): var(m_k) ~0.049; MSE r 0.006-0.008 (mean 0.0072), dr
    # 0.007-0.012 (0.0099), pooled 0.024-0.118 (the judge's family and length
    # shifts), GS-only 0.007-0.012 (0.0099; 0.022 with the booster alone, before
    # the step-2 regression became a cross-validated choice: 400 GS rows and a
    # ridge regression leave little for the PB rows to add). The pooled and
    # variance bounds leave a factor ~2 of room for fold/seed noise; against
    # GS-only only R's mean over the models is asserted (DR is level with it).
    assert np.all(mse_meta < mse_pooled)
    assert np.all(mse_meta < 0.5 * var)
    if learner == "r":
        assert mse_meta.mean() < mse_gs.mean()


def test_routing_score_and_route_rule():
    data = make_multimodel_data(n_gs=60, n_pb=150, n_test=40, random_state=2)
    router = MultiModelRouter(linear_template(), random_state=0)
    router.fit(data.X, data.quality, data.comparisons, models=data.models)
    gain = router.predict(data.X_test)
    score = router.routing_score(data.X_test, w=0.1, cost=data.cost)
    np.testing.assert_allclose(score, gain - 0.1 * (data.cost - data.cost[0]))
    per_query = np.tile(data.cost, (40, 1)) * 2.0
    np.testing.assert_array_equal(
        router.route(data.X_test, w=0.05, cost=per_query),
        np.argmax(gain - 0.05 * (per_query - per_query[:, [0]]), axis=1),
    )
    ws = trade_off_grid(gain, data.cost)
    cheapest = router.route(data.X_test, w=ws[-1], cost=data.cost)
    np.testing.assert_array_equal(cheapest, 0)  # above every ratio: reference


def test_reference_by_name_and_reproducible():
    data = make_multimodel_data(n_gs=60, n_pb=150, n_test=20, random_state=4)
    q = pd.DataFrame(data.quality, columns=data.models)
    a = MultiModelRouter(linear_template(), reference="m0", random_state=5)
    b = clone(a)
    pa = a.fit(data.X, q, data.comparisons).predict(data.X_test)
    pb = b.fit(data.X, q, data.comparisons).predict(data.X_test)
    np.testing.assert_array_equal(pa, pb)
    assert a.models_ == data.models and a.reference_index_ == 0


def _small():
    data = make_multimodel_data(n_gs=30, n_pb=60, n_test=5, n_models=3, random_state=0)
    return data, MultiModelRouter(linear_template(), random_state=0)


def test_bad_reference():
    data, router = _small()
    router.set_params(reference="gpt-9")
    with pytest.raises(ValueError, match="`reference` 'gpt-9'"):
        router.fit(data.X, data.quality, data.comparisons, models=data.models)


def test_model_without_gs_rows():
    data, router = _small()
    q = data.quality.copy()
    q[:, 2] = np.nan
    with pytest.raises(ValueError, match="model 'm2-b' has no gold-standard rows"):
        router.fit(data.X, q, data.comparisons, models=data.models)


def test_model_without_comparisons():
    data, router = _small()
    comp = data.comparisons[data.comparisons["model"] != "m1-a"]
    with pytest.raises(ValueError, match="model 'm1-a' has no PB comparisons"):
        router.fit(data.X, data.quality, comp, models=data.models)


def test_comparisons_naming_unknown_models():
    data, router = _small()
    comp = data.comparisons.copy()
    comp.loc[0, "model"] = "claude-0"
    with pytest.raises(ValueError, match=r"`comparisons` names unknown model.*claude"):
        router.fit(data.X, data.quality, comp, models=data.models)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d, q, c: (d.X[:-1], q, c), "`quality` has 90 rows but `X` has 89"),
        (
            lambda d, q, c: (d.X, q, c.assign(query=c["query"] - 30)),
            "a query is either GS or PB",
        ),
        (lambda d, q, c: (d.X, q, c.assign(model="m0")), "with itself"),
        (lambda d, q, c: (d.X, q, c.drop(columns="verdict")), "lacks the column"),
        (lambda d, q, c: (d.X, q, c.assign(query=c["query"] + 100)), "row indices"),
        (lambda d, q, c: (d.X, q[:, :1], c), "at least 2 models"),
    ],
)
def test_bad_data(mutate, match):
    data, router = _small()
    X, q, c = mutate(data, data.quality, data.comparisons)
    with pytest.raises(ValueError, match=match):
        router.fit(X, q, c, models=None if q.shape[1] < 3 else data.models)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"favour": np.nan}, "`favour` must be a finite number"),
        ({"length_bias": np.inf}, "`length_bias` must be a finite number"),
        ({"pb_coverage": "half"}, r"`pb_coverage` must lie in \(0, 1\]"),
    ],
)
def test_make_multimodel_data_bad_parameters_are_named(kwargs, match):
    """Before: NaN (favour) or infinite (length_bias) verdicts came back without a
    word, and a non-numeric pb_coverage raised a bare comparison TypeError."""
    with pytest.raises(ValueError, match=match):
        make_multimodel_data(n_gs=10, n_pb=20, n_test=5, random_state=0, **kwargs)


def test_bad_cost_and_w():
    data, router = _small()
    router.fit(data.X, data.quality, data.comparisons, models=data.models)
    with pytest.raises(ValueError, match="`cost` must have shape"):
        router.route(data.X_test, w=1.0, cost=[1.0, 2.0])
    with pytest.raises(ValueError, match="`cost` is required"):
        router.route(data.X_test, w=1.0)
    with pytest.raises(ValueError, match="`w`"):
        router.route(data.X_test, w=np.nan, cost=data.cost)


def test_non_numeric_cost_and_w_name_themselves():
    """cost=['a', 'b', 'c'] raised numpy's 'could not convert string to float',
    a dict float()'s TypeError, and w='0.1' numpy's isfinite TypeError."""
    data, router = _small()
    router.fit(data.X, data.quality, data.comparisons, models=data.models)
    for cost in (["a", "b", "c"], {"x": 1}):
        with pytest.raises(TypeError, match="`cost`"):
            router.route(data.X_test, w=1.0, cost=cost)
    for w in ("0.1", 1j):
        with pytest.raises(ValueError, match="`w`"):
            router.route(data.X_test, w=w, cost=data.cost)


class TLearner:
    """A user CATE learner (not built in): difference of two linear fits."""

    def get_params(self, deep=True):
        return {}

    def set_params(self, **params):
        return self

    def fit(self, X, y, treatment):
        t = np.asarray(treatment)
        self.m1_ = LinearRegression().fit(X[t == 1], y[t == 1])
        self.m0_ = LinearRegression().fit(X[t == 0], y[t == 0])
        return self

    def predict(self, X):
        return self.m1_.predict(X) - self.m0_.predict(X)


def test_any_cate_learner_works_per_model():
    data = make_multimodel_data(n_gs=80, n_pb=200, n_test=30, random_state=6)
    template = MetaRouter(TLearner(), LinearRegression(), scale=None)
    router = MultiModelRouter(template, random_state=0)
    router.fit(data.X, data.quality, data.comparisons, models=data.models)
    assert router.propensity_ is None  # a user learner does its own cross-fitting
    assert not any(router.shared_propensity_.values())
    # each model's router is the binary router on that model's rows
    gs = ~np.isnan(data.quality[:, 0])
    for k in (1, 2, 3):
        mine = data.comparisons[data.comparisons["model"] == data.models[k]]
        rows = np.r_[np.flatnonzero(gs), mine["query"].to_numpy()]
        y = np.r_[data.quality[gs, k] - data.quality[gs, 0], mine["verdict"]]
        s = np.r_[np.ones(gs.sum()), np.zeros(len(mine))]
        alone = MetaRouter(TLearner(), LinearRegression(), scale=None).fit(
            data.X[rows], y, s
        )
        np.testing.assert_allclose(
            router.predict(data.X_test)[:, k], alone.predict(data.X_test), atol=1e-10
        )
