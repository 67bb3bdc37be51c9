"""The judge routers' ``score``: escalation AUC and reward at the budget, against references.

The references import nothing from the code they check:

* ``_reference_auc`` averages the accuracy-vs-calls curve over every order of the
  pairs that the scores allow (ties in any order), by enumeration, then takes the
  trapezoid over the shares ``k / n``: the definition of RouteLLM's AUC with ties
  averaged, written without the efficiency curve the library reuses;
* the baselines' scores are the policy's mean reward (and cost) by plain loops.

Tolerance 1e-12: the same sums in another order (float rounding).
"""

import itertools
import math

import numpy as np
import pytest
import sklearn
from sklearn.model_selection import GridSearchCV, KFold

from racer_dro.baselines import AllCheapRouter, KNNRouter, RandomJudgeRouter
from racer_dro.datasets import make_judge_data
from racer_dro.escalation import (
    EscalationRouter,
    MarginRouter,
    RandomEscalationRouter,
    add_cheap_column,
)
from racer_dro.judge_evaluation import escalation_auc, policy_reward_at_budget


def _reference_auc(scores, rewards):
    n = len(scores)
    r0 = [row[0] for row in rewards]
    gain = [row[1] - row[0] for row in rewards]
    curves = []
    for order in itertools.permutations(range(n)):
        if any(scores[order[j]] < scores[order[j + 1]] for j in range(n - 1)):
            continue  # not an order of non-increasing scores
        acc = [sum(r0) / n]
        for k in range(1, n + 1):
            acc.append(acc[-1] + gain[order[k - 1]] / n)
        curves.append(acc)
    mean = [sum(c[k] for c in curves) / len(curves) for k in range(n + 1)]
    return sum((mean[k] + mean[k + 1]) / 2 / n for k in range(n))


@pytest.mark.parametrize("seed", range(6))
def test_escalation_auc_matches_the_enumerated_definition_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = 6
    rewards = rng.integers(0, 2, size=(n, 2)).astype(float)
    scores = rng.integers(0, 3, size=n).astype(float)  # many ties
    got = escalation_auc(scores, rewards)
    assert got == pytest.approx(
        _reference_auc(scores.tolist(), rewards.tolist()), abs=1e-12
    )


def test_escalation_auc_orders_the_oracle_above_random_above_the_worst():
    # all ties = a random ranking in expectation: the mean of the two judges'
    # accuracies, exactly; the oracle (by true gain) is the best ranking and its
    # reverse the worst
    rng = np.random.default_rng(0)
    rewards = rng.integers(0, 2, size=(40, 2)).astype(float)
    gain = rewards[:, 1] - rewards[:, 0]
    tied = escalation_auc(np.zeros(40), rewards)
    assert tied == pytest.approx(rewards.mean(), abs=1e-12)
    assert escalation_auc(gain, rewards) > tied > escalation_auc(-gain, rewards)


def test_escalation_auc_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="`scores` has 2 pairs but `rewards` has 3"):
        escalation_auc([1, 2], [[0, 1], [1, 1], [1, 0]])


def _judge_stream(n, seed):
    """Pairs whose cheap judge is right with probability expit(2 |s|): the margin ranks."""
    rng = np.random.default_rng(seed)
    s = rng.normal(0, 1.5, n)
    cheap_right = rng.random(n) < 1 / (1 + np.exp(-2 * np.abs(s)))
    strong_right = rng.random(n) < 0.9
    p = 1 / (1 + np.exp(-s))
    X = add_cheap_column(rng.normal(size=(n, 3)), p)
    rewards = np.column_stack([cheap_right, strong_right]).astype(float)
    costs = np.column_stack([np.zeros(n), np.ones(n)])
    return X, rewards, costs


@pytest.mark.parametrize(
    "router", [MarginRouter(), RandomEscalationRouter(random_state=0)]
)
def test_escalation_router_score_is_the_auc_of_its_priority(router):
    X, rewards, costs = _judge_stream(300, 1)
    router.fit(X[:200], rewards[:200], costs[:200])
    expected = _reference_auc_fast(router.priority(X[200:]), rewards[200:])
    assert router.score(X[200:], rewards[200:]) == pytest.approx(expected, abs=1e-12)


def _reference_auc_fast(scores, rewards):
    """``_reference_auc`` for distinct scores (no ties to enumerate): one order."""
    scores = np.asarray(scores, float)
    assert np.unique(scores).size == scores.size
    order = np.argsort(-scores)
    n = len(scores)
    acc = [float(np.mean(rewards[:, 0]))]
    for i in order:
        acc.append(acc[-1] + (rewards[i, 1] - rewards[i, 0]) / n)
    return sum((acc[k] + acc[k + 1]) / 2 / n for k in range(n))


def test_margin_ranking_scores_above_random_where_the_margin_is_informative():
    # on this process the cheap judge's errors sit at small margins: escalating
    # by margin beats random escalation by far more than the AUC's sampling
    # error (2000 test pairs: measured margin - random 0.040-0.051 over four
    # seeds; the SE of the difference is ~0.005)
    X, rewards, costs = _judge_stream(3000, 2)
    margin = MarginRouter().fit(X[:1000], rewards[:1000], costs[:1000])
    rand = RandomEscalationRouter(random_state=0).fit(
        X[:1000], rewards[:1000], costs[:1000]
    )
    assert (
        margin.score(X[1000:], rewards[1000:])
        > rand.score(X[1000:], rewards[1000:]) + 0.02
    )


def test_grid_search_over_escalation_routers_scores_each_fold_by_its_auc():
    X, rewards, costs = _judge_stream(240, 3)
    cv = KFold(3, shuffle=True, random_state=0)
    grid = {"exploration": [0.0, 2.0]}
    with sklearn.config_context(enable_metadata_routing=True):
        router = EscalationRouter().set_fit_request(costs=True)
        search = GridSearchCV(router, grid, cv=cv).fit(X, rewards, costs=costs)
    for j, exploration in enumerate(grid["exploration"]):
        by_hand = []
        for train, test in cv.split(X):
            fitted = EscalationRouter(exploration=exploration).fit(
                X[train], rewards[train], costs[train]
            )
            prio = fitted.priority(X[test])
            by_hand.append(_reference_auc_fast(prio, rewards[test]))
        assert search.cv_results_["mean_test_score"][j] == pytest.approx(
            np.mean(by_hand), abs=1e-12
        )


# ------------------------------------------------------------------ routers with arm values
def test_all_cheap_score_is_the_cheapest_arms_mean_reward():
    data = make_judge_data(300, random_state=0)
    router = AllCheapRouter().fit(data.X[:200], data.rewards[:200], data.costs[:200])
    cheap = int(np.argmin(data.costs[:200].mean(axis=0)))
    expected = sum(data.rewards[200:, cheap]) / 100
    assert router.score(data.X[200:], data.rewards[200:]) == pytest.approx(
        expected, abs=1e-12
    )


def test_random_router_score_is_its_expected_reward_held_to_the_budget():
    data = make_judge_data(400, random_state=1)
    train, test = slice(0, 300), slice(300, 400)
    # a budget the test rows' expected cost exceeds: mixed with the cheapest arms
    router = RandomJudgeRouter(budget=3.0).fit(
        data.X[train], data.rewards[train], data.costs[train]
    )

    def mix(table):  # the test rows' mean of the random router's mix of two arms
        return (
            sum(
                (1 - router.rate_) * row[router.cheap_arm_]
                + router.rate_ * row[router.expensive_arm_]
                for row in table
            )
            / 100
        )

    R, C = mix(data.rewards[test]), mix(data.costs[test])
    cheapest = [
        min(range(2), key=lambda a, c=c, r=r: (c[a], -r[a]))
        for c, r in zip(data.costs[test], data.rewards[test])
    ]
    R0 = sum(r[a] for r, a in zip(data.rewards[test], cheapest)) / 100
    C0 = sum(c[a] for c, a in zip(data.costs[test], cheapest)) / 100
    for budget in (C + 1.0, 0.5 * (C + C0)):  # slack, then binding
        router.set_params(
            budget=budget
        )  # the score reads the budget; the rate is fitted
        expected = R if C <= budget else R0 + (budget - C0) / (C - C0) * (R - R0)
        got = router.score(data.X[test], data.rewards[test], data.costs[test])
        assert got == pytest.approx(expected, abs=1e-12)


def test_knn_score_without_a_budget_is_reward_net_of_its_cost_weight():
    data = make_judge_data(300, random_state=2)
    router = KNNRouter(10, cost_weight=0.05).fit(
        data.X[:200], data.rewards[:200], data.costs[:200]
    )
    choice = router.predict(data.X[200:])
    rows = range(100)
    expected = (
        sum(
            data.rewards[200 + i, choice[i]] - 0.05 * data.costs[200 + i, choice[i]]
            for i in rows
        )
        / 100
    )
    got = router.score(data.X[200:], data.rewards[200:], data.costs[200:])
    assert got == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "router", [KNNRouter(10, budget=3.0), KNNRouter(10, cost_weight=0.05)]
)
def test_score_without_the_costs_it_needs_names_them(router):
    data = make_judge_data(120, random_state=3)
    router.fit(data.X, data.rewards, data.costs)
    with pytest.raises(ValueError, match="needs `costs`.*set_score_request"):
        router.score(data.X, data.rewards)


def test_policy_reward_at_budget_rejects_a_policy_of_other_arms():
    with pytest.raises(ValueError, match="3 arms; the router's policy .* has 2"):
        policy_reward_at_budget(
            np.full((2, 2), 0.5), np.ones((2, 3)), np.ones((2, 3)), 1.0
        )
    assert math.isfinite(
        policy_reward_at_budget(
            np.full((2, 2), 0.5), np.ones((2, 2)), np.ones((2, 2)), 1.0
        )
    )
