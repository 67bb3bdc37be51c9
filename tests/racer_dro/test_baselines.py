"""Judge-routing baselines: rates, budgets on the training data, the KNN rule."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from racer_dro.baselines import (
    AllCheapRouter,
    AllExpensiveRouter,
    KNNRouter,
    RandomJudgeRouter,
)
from racer_dro.datasets import make_judge_data

ROUTERS = [
    AllCheapRouter(),
    AllExpensiveRouter(),
    RandomJudgeRouter(rate=0.3, random_state=0),
    KNNRouter(5),
]


@pytest.fixture(scope="module")
def data():
    return make_judge_data(1500, random_state=0)


def _separated(n, rng, gains, extra, k=10):
    """Well-separated groups with known per-group reward gain and extra cost."""
    g = rng.integers(len(gains), size=n)
    X = 10.0 * np.eye(len(gains))[g] + rng.standard_normal((n, len(gains)))
    r0 = rng.uniform(0.2, 0.6, size=n)
    rewards = np.column_stack([r0, r0 + np.asarray(gains)[g]])
    c0 = np.ones(n)
    costs = np.column_stack([c0, c0 + np.asarray(extra)[g]])
    return g, X, rewards, costs


def test_all_cheap_and_all_expensive(data):
    cheap = AllCheapRouter().fit(data.X, data.rewards, data.costs)
    dear = AllExpensiveRouter().fit(data.X, data.rewards, data.costs)
    assert np.all(cheap.predict(data.X) == 0) and np.all(dear.predict(data.X) == 1)
    np.testing.assert_array_equal(cheap.predict_proba(data.X[:3]), [[1, 0]] * 3)
    np.testing.assert_array_equal(dear.predict_proba(data.X[:3]), [[0, 1]] * 3)


def test_random_rate_is_respected():
    X = np.zeros((20_000, 2))
    router = RandomJudgeRouter(rate=0.3, random_state=1).fit(
        X, np.zeros((20_000, 2)), np.ones((20_000, 2))
    )
    share = router.predict(X).mean()
    # Binomial sd sqrt(0.3 * 0.7 / 20000) = 0.0032; 4 sd.
    assert abs(share - 0.3) <= 4 * math.sqrt(0.21 / 20_000)
    np.testing.assert_array_equal(router.predict(X), router.predict(X))  # deterministic
    other = RandomJudgeRouter(rate=0.3, random_state=2).fit(
        X, np.zeros((20_000, 2)), np.ones((20_000, 2))
    )
    assert np.any(other.predict(X) != router.predict(X))


@pytest.mark.parametrize("budget", [1.5, 3.0, 4.5])
def test_random_budget_met_in_expectation_on_training(data, budget):
    router = RandomJudgeRouter(budget=budget, random_state=0).fit(
        data.X, data.rewards, data.costs
    )
    c0, c1 = data.costs[:, 0], data.costs[:, 1]
    # Exact in expectation over the draws (closed form).
    assert c0.mean() + router.rate_ * (c1 - c0).mean() == pytest.approx(
        budget, rel=1e-12
    )
    # Realised over one draw: sd of the mean cost is sqrt(rate (1 - rate) mean(Dc^2) / n).
    chosen = np.where(router.predict(data.X) == 1, c1, c0)
    se = math.sqrt(
        router.rate_ * (1 - router.rate_) * np.mean((c1 - c0) ** 2) / c0.size
    )
    assert abs(chosen.mean() - budget) <= 4 * se + 1e-12


def test_rewards_and_costs_optional_where_unused(data):
    # Routing preference pairs: no rewards or costs, only a rate.
    router = RandomJudgeRouter(rate=0.25, random_state=0).fit(data.X)
    assert router.rate_ == 0.25
    assert AllCheapRouter().fit(data.X).predict(data.X).sum() == 0
    assert AllExpensiveRouter().fit(data.X).predict(data.X).sum() == data.X.shape[0]
    with pytest.raises(ValueError, match="`rewards` and `costs` required"):
        RandomJudgeRouter(budget=3.0).fit(data.X)
    with pytest.raises(ValueError, match="`costs` required"):
        AllCheapRouter().fit(data.X, data.rewards)
    with pytest.raises(TypeError):
        KNNRouter(5).fit(data.X)  # KNN always needs both


def test_random_budget_edges(data):
    above = RandomJudgeRouter(budget=100.0).fit(data.X, data.rewards, data.costs)
    assert above.rate_ == 1.0
    floor = data.costs[:, 0].mean()
    with pytest.raises(ValueError, match=r"`budget`.*infeasible.*minimum achievable.*"):
        RandomJudgeRouter(budget=0.5 * floor).fit(data.X, data.rewards, data.costs)
    with pytest.raises(ValueError, match="exactly one of `rate` and `budget`"):
        RandomJudgeRouter().fit(data.X, data.rewards, data.costs)
    with pytest.raises(ValueError, match="exactly one of `rate` and `budget`"):
        RandomJudgeRouter(rate=0.2, budget=3.0).fit(data.X, data.rewards, data.costs)
    with pytest.raises(ValueError, match="`rate`"):
        RandomJudgeRouter(rate=1.5).fit(data.X, data.rewards, data.costs)


def _loo_gain_extra(X, rewards, costs, k):
    """Hand-written leave-one-out k-NN means (brute-force distances)."""
    d2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k]
    r, c = rewards[idx].mean(1), costs[idx].mean(1)
    return r[:, 1] - r[:, 0], c[:, 1] - c[:, 0]


@pytest.mark.parametrize("budget", [2.0, 3.0, 4.0])
def test_knn_budget_is_the_smallest_weight_that_meets_it(budget):
    data = make_judge_data(600, random_state=3)
    router = KNNRouter(15, budget=budget).fit(data.X, data.rewards, data.costs)
    gain, extra = _loo_gain_extra(data.X, data.rewards, data.costs, 15)

    def cost(lam):
        return np.where(
            gain - lam * extra > 0, data.costs[:, 1], data.costs[:, 0]
        ).mean()

    assert cost(router.cost_weight_) <= budget
    assert router.training_cost_ == pytest.approx(cost(router.cost_weight_), rel=1e-12)
    # No smaller weight on a fine grid meets the budget (breakpoints are distinct a.s.).
    grid = np.linspace(0, router.cost_weight_, 2001)[:-1]
    costs = np.array([cost(lam) for lam in grid])
    ok = np.flatnonzero(costs <= budget)
    if ok.size:  # a smaller grid weight can only tie with the same routing
        lam = grid[ok[0]]
        np.testing.assert_array_equal(
            gain - lam * extra > 0, gain - router.cost_weight_ * extra > 0
        )


def test_knn_recovers_a_known_group_rule():
    rng = np.random.default_rng(4)
    gains, extra = [0.3, 0.2, -0.05, 0.1], [5.0, 5.0, 1.0, 5.0]
    g, X, rewards, costs = _separated(2000, rng, gains, extra)
    g_te, X_te, _, _ = _separated(1000, rng, gains, extra)
    # Free choice (lambda = 0): reasoning where the gain is positive.
    free = KNNRouter(10).fit(X, rewards, costs).predict(X_te)
    np.testing.assert_array_equal(free, np.isin(g_te, [0, 1, 3]).astype(int))
    # Weight 0.03: gain - 0.03 * extra > 0 only for groups 0 (0.15) and 1 (0.05).
    tight = KNNRouter(10, cost_weight=0.03).fit(X, rewards, costs).predict(X_te)
    np.testing.assert_array_equal(tight, np.isin(g_te, [0, 1]).astype(int))
    # Budget = the training cost of routing exactly group 0 (highest gain per
    # cost; 1e-9 for rounding): the smallest weight sends no other group.
    share0 = np.mean(g == 0)
    budget = 1 + share0 * 5.0 + 1e-9
    fitted = KNNRouter(10, budget=budget).fit(X, rewards, costs)
    np.testing.assert_array_equal(fitted.predict(X_te), (g_te == 0).astype(int))
    assert 0.05 / 5.0 < fitted.cost_weight_ < 0.3 / 5.0


def test_knn_routes_reasoning_heavy_domains_on_judge_data():
    train = make_judge_data(2000, random_state=5)
    test = make_judge_data(2000, random_state=6)
    pred = KNNRouter(30).fit(train.X, train.rewards, train.costs).predict(test.X)
    rate = [pred[test.domain == k].mean() for k in range(4)]
    # Gains: math 0.35+, code 0.27+, safety -0.04, knowledge -0.02 (noisy 0/1 rewards).
    assert min(rate[0], rate[1]) > max(rate[2], rate[3]) + 0.2


def test_knn_validation(data):
    with pytest.raises(ValueError, match="`n_neighbors`"):
        KNNRouter(0).fit(data.X, data.rewards, data.costs)
    with pytest.raises(ValueError, match="`n_neighbors`"):
        KNNRouter(data.X.shape[0]).fit(data.X, data.rewards, data.costs)
    with pytest.raises(TypeError, match="`n_neighbors`"):
        KNNRouter(2.5).fit(data.X, data.rewards, data.costs)
    with pytest.raises(ValueError, match="at most one of `budget` and `cost_weight`"):
        KNNRouter(5, budget=3.0, cost_weight=0.1).fit(data.X, data.rewards, data.costs)
    with pytest.raises(ValueError, match="`cost_weight`"):
        KNNRouter(5, cost_weight=-1.0).fit(data.X, data.rewards, data.costs)
    with pytest.raises(ValueError, match=r"`budget`.*infeasible"):
        KNNRouter(5, budget=0.1).fit(data.X, data.rewards, data.costs)


@pytest.mark.parametrize("router", ROUTERS, ids=lambda r: type(r).__name__)
def test_input_validation_names_the_argument(router, data):
    X, r, c = data.X, data.rewards, data.costs
    bad_nan = r.copy()
    bad_nan[0, 0] = np.nan
    bad_neg = c.copy()
    bad_neg[1, 1] = -1.0
    cases = [
        ((X, r[:, :1], c), "`rewards`"),
        ((X, r, c[:-1]), "`costs`"),
        ((X, bad_nan, c), "`rewards` must be finite"),
        ((X, r, bad_neg), "`costs` must be non-negative"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            clone(router).fit(*args)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clone(router).fit(X_nan, r, c)
    with pytest.raises(NotFittedError):
        clone(router).predict(X)


@pytest.mark.parametrize("router", ROUTERS, ids=lambda r: type(r).__name__)
def test_sklearn_contract_and_pandas(router, data):
    est = clone(router)
    assert est.get_params() == router.get_params()
    frame = pd.DataFrame(data.X, columns=[f"f{i}" for i in range(data.X.shape[1])])
    est.fit(frame, pd.DataFrame(data.rewards), pd.DataFrame(data.costs))
    np.testing.assert_array_equal(est.feature_names_in_, frame.columns)
    assert est.n_features_in_ == data.X.shape[1]
    pred = est.predict(frame)
    assert pred.shape == (data.X.shape[0],) and set(np.unique(pred)) <= {0, 1}
    proba = est.predict_proba(frame)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="feature"):
        est.predict(frame.iloc[:, :3])


def _k_arm_data(n=600, seed=0):
    """Three arms: a cheap weak one, a middle one and a dear strong one."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    rewards = (rng.random((n, 3)) < [0.4, 0.6, 0.8]).astype(float)
    costs = np.column_stack([np.ones(n), np.full(n, 3.0), np.full(n, 9.0)])
    return X, rewards, costs


def test_k_arm_constant_and_random_routers_and_arm_values():
    X, rewards, costs = _k_arm_data()
    names = ["small", "medium", "large"]
    cheap = AllCheapRouter().fit(X, rewards, costs, arm_names=names)
    dear = AllExpensiveRouter().fit(X, rewards, costs, arm_names=names)
    assert cheap.predict_proba(X).shape == (600, 3)
    assert set(cheap.predict(X)) == {0} and set(dear.predict(X)) == {2}
    assert dear.arm_names_.tolist() == names
    r_hat, c_hat = dear.predict_arm_values(X[:4])
    np.testing.assert_allclose(r_hat, np.tile(rewards.mean(axis=0), (4, 1)))
    np.testing.assert_allclose(c_hat, np.tile(costs.mean(axis=0), (4, 1)))
    # budget 5 between the cheap (1) and the dear (9) arm: rate (5 - 1) / 8
    rnd = RandomJudgeRouter(budget=5.0, random_state=0).fit(X, rewards, costs)
    assert rnd.rate_ == pytest.approx(0.5, rel=1e-12)
    proba = rnd.predict_proba(X[:2])
    np.testing.assert_allclose(proba, [[0.5, 0.0, 0.5]] * 2)
    assert set(rnd.predict(X)) == {0, 2}


def test_k_arm_knn_against_a_hand_written_rule():
    X, rewards, costs = _k_arm_data(seed=1)
    router = KNNRouter(12, cost_weight=0.05).fit(X, rewards, costs)
    test = np.random.default_rng(9).standard_normal((50, 2))
    d2 = ((test[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    idx = np.argsort(d2, axis=1, kind="stable")[:, :12]
    score = rewards[idx].mean(1) - 0.05 * costs[idx].mean(1)
    np.testing.assert_array_equal(router.predict(test), score.argmax(axis=1))
    r_hat, c_hat = router.predict_arm_values(test)
    np.testing.assert_allclose(r_hat, rewards[idx].mean(1))
    np.testing.assert_allclose(c_hat, costs[idx].mean(1))
    # with a budget the realised leave-one-out training cost meets it
    fitted = KNNRouter(12, budget=4.0).fit(X, rewards, costs)
    assert fitted.training_cost_ <= 4.0
    assert fitted.predict_proba(test).shape == (50, 3)


@pytest.mark.parametrize(
    "router", [AllCheapRouter(), RandomJudgeRouter(rate=0.5), KNNRouter(5)]
)
def test_k_arm_bad_input_names_the_argument(router):
    X, rewards, costs = _k_arm_data(n=50)
    with pytest.raises(ValueError, match="`costs`.*same shape"):
        router.fit(X, rewards, costs[:, :2])
    with pytest.raises(ValueError, match="`rewards`.*K >= 2"):
        router.fit(X, rewards[:, :1], costs[:, :1])
    with pytest.raises(ValueError, match="`arm_names`.*3 arms"):
        router.fit(X, rewards, costs, arm_names=["a", "b"])
    with pytest.raises(ValueError, match="`arm_names`.*distinct"):
        router.fit(X, rewards, costs, arm_names=["a", "b", "a"])


def test_k_arm_budget_below_the_cheapest_arm_names_budget():
    X, rewards, costs = _k_arm_data(n=50)
    for router in (RandomJudgeRouter(budget=0.5), KNNRouter(5, budget=0.5)):
        with pytest.raises(ValueError, match="`budget`.*infeasible"):
            router.fit(X, rewards, costs)


@pytest.mark.parametrize(
    "router", [AllCheapRouter(), RandomJudgeRouter(rate=0.5), KNNRouter(5)]
)
def test_k_arm_names_from_dataframe_columns(router):
    """Reward / cost tables with model names as columns name the arms; tables whose
    columns disagree are refused (arms are matched by position: a reordered cost
    table would price each arm at another arm's cost)."""
    X, rewards, costs = _k_arm_data(n=60)
    names = ["small", "medium", "large"]
    r_df, c_df = (
        pd.DataFrame(rewards, columns=names),
        pd.DataFrame(costs, columns=names),
    )
    fitted = clone(router).fit(X, r_df, c_df)
    assert fitted.arm_names_.tolist() == names
    plain = clone(router).fit(X, rewards, costs)
    np.testing.assert_array_equal(fitted.predict_proba(X), plain.predict_proba(X))
    renamed = clone(router).fit(X, r_df, c_df, arm_names=["a", "b", "c"])
    assert renamed.arm_names_.tolist() == ["a", "b", "c"]  # explicit names win
    with pytest.raises(ValueError, match="`costs`.*`rewards`.*reorder"):
        clone(router).fit(X, r_df, c_df[names[::-1]])
    with pytest.raises(ValueError, match="`costs`.*same arms"):
        clone(router).fit(X, r_df, c_df.set_axis(["x", "y", "z"], axis=1))
