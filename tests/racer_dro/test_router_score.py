"""``RacerRouter.score``: held-out reward at the budget, against a hand-written reference.

The reference below imports nothing from the code it checks: per row, the cheapest
arm (ties to the larger reward) by a plain loop; the policy's weighted mean reward
and cost; and, over the budget, the mix with the cheapest arms that spends exactly
the budget. Tolerance 1e-12: the same sums in a different order (float rounding).
"""

import numpy as np
import pytest
import sklearn
from sklearn.model_selection import GridSearchCV, KFold

from racer_dro import RacerRouter
from racer_dro.datasets import make_judge_data
from racer_dro.formulas import reward_at_budget


def _reference_score(pi, rewards, costs, budget, weights=None):
    n, K = rewards.shape
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    w = w / w.sum()
    R = C = R0 = C0 = 0.0
    for i in range(n):
        best = 0
        for a in range(1, K):
            if costs[i, a] < costs[i, best] or (
                costs[i, a] == costs[i, best] and rewards[i, a] > rewards[i, best]
            ):
                best = a
        R += w[i] * sum(pi[i, a] * rewards[i, a] for a in range(K))
        C += w[i] * sum(pi[i, a] * costs[i, a] for a in range(K))
        R0 += w[i] * rewards[i, best]
        C0 += w[i] * costs[i, best]
    if C <= budget:
        return R
    t = (budget - C0) / (C - C0) if C0 < budget else 0.0
    return R0 + t * (R - R0)


@pytest.fixture(scope="module")
def fitted():
    train = make_judge_data(500, d=5, random_state=0)
    router = RacerRouter(3.0, robust="none", random_state=0)
    return router.fit(train.X, train.rewards, train.costs)


@pytest.mark.parametrize("cost_factor", [1.0, 3.0])
def test_score_matches_the_reference(fitted, cost_factor):
    # factor 3: the held-out costs shift up, the policy overspends and is mixed
    test = make_judge_data(400, d=5, random_state=1)
    costs = test.costs * cost_factor
    weights = np.random.default_rng(0).pareto(2.0, 400) + 0.01
    pi = fitted.predict_proba(test.X)
    spend = float(np.mean(np.sum(pi * costs, axis=1)))
    assert (spend > 3.0) == (cost_factor > 1.0)  # both paths are exercised
    for w in (None, weights):
        got = fitted.score(test.X, test.rewards, costs, sample_weight=w)
        want = _reference_score(pi, test.rewards, costs, 3.0, w)
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
    if cost_factor > 1.0:  # an overspending policy scores below its own reward
        assert fitted.score(test.X, test.rewards, costs) < float(
            np.mean(np.sum(pi * test.rewards, axis=1))
        )


def test_reward_at_budget_mix_spends_the_budget():
    rng = np.random.default_rng(3)
    for _ in range(200):
        R, R0 = rng.normal(size=2) * 10.0 ** rng.uniform(-6, 6)
        C0, B = np.sort(rng.uniform(0, 1, 2)) * 10.0 ** rng.uniform(-6, 6)
        C = B * (1 + rng.uniform(1e-6, 100))  # over the budget
        t = (reward_at_budget(R, C, R0, C0, B) - R0) / (R - R0)
        # the mix's cost is the budget (float rounding of the quotients)
        assert t * C + (1 - t) * C0 == pytest.approx(B, rel=1e-9)
        assert reward_at_budget(R, B, R0, C0, B) == R  # at the budget: as it is
    # a floor over the budget: only the floor can be had
    assert reward_at_budget(0.9, 5.0, 0.4, 3.0, budget=2.0) == 0.4


def test_score_needs_costs_and_matching_arms(fitted):
    test = make_judge_data(50, d=5, random_state=2)
    with pytest.raises(ValueError, match="`costs`.*set_score_request"):
        fitted.score(test.X, test.rewards)
    three = np.column_stack([test.rewards, test.rewards[:, 0]])
    with pytest.raises(ValueError, match="3 arms; the router's policy .* has 2"):
        fitted.score(test.X, three, np.column_stack([test.costs, test.costs[:, 0]]))


def test_grid_search_ranks_by_the_held_out_score():
    # before, GridSearchCV scored every candidate NaN (ClassifierMixin's accuracy
    # on (n, K) rewards) and silently kept the first
    data = make_judge_data(450, d=5, random_state=4)
    folds = list(KFold(3, shuffle=True, random_state=0).split(data.X))
    grid = [0.02, 1.0]
    with sklearn.config_context(enable_metadata_routing=True):
        router = RacerRouter(3.0, robust="none", random_state=0)
        router.set_fit_request(costs=True).set_score_request(costs=True)
        search = GridSearchCV(router, {"beta": grid}, cv=folds, error_score="raise")
        search.fit(data.X, data.rewards, costs=data.costs)
    manual = []
    for beta in grid:
        scores = []
        for tr, te in folds:
            r = RacerRouter(3.0, robust="none", beta=beta, random_state=0)
            r.fit(data.X[tr], data.rewards[tr], data.costs[tr])
            pi = r.predict_proba(data.X[te])
            scores.append(_reference_score(pi, data.rewards[te], data.costs[te], 3.0))
        manual.append(np.mean(scores))
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], manual, rtol=1e-12
    )
    assert manual[0] != manual[1]  # the grid's candidates differ
    assert search.best_params_["beta"] == grid[int(np.argmax(manual))]
