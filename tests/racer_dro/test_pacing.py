"""BudgetPacer: the budget holds on every stream order, and spending is used where it helps."""

import doctest

import numpy as np
import pytest

from racer_dro import pacing
from racer_dro.pacing import BudgetPacer, arm_values

T = 4000
SLACK = 1.02  # the guarantee: running mean cost after 10% <= 1.02 B
USE = 0.90  # ... and >= 90% of the budget used where spending helps


class Estimates:
    """A fitted router stub: column 0 of X is each arm's reward estimate (K arms), etc.

    ``X`` has 2K columns: estimated rewards of the K arms, then estimated costs.
    """

    def predict_arm_values(self, X):
        X = np.asarray(X, float)
        K = X.shape[1] // 2
        return X[:, :K], X[:, K:]


def _stream(gain, est_cost, true_cost):
    """Two arms: arm 0 reward 0 cost 0; arm 1 reward ``gain``, estimated/true cost."""
    zeros = np.zeros_like(gain)
    X = np.column_stack([zeros, gain, zeros, est_cost])
    costs = np.column_stack([zeros, true_cost])
    return X, costs


def _max_running_mean_after_warmup(pacer):
    t0 = T // 10
    return float(np.max(pacer.spend_[t0:] / np.arange(t0 + 1, T + 1)))


def test_docstring_examples():
    result = doctest.testmod(pacing, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def _orders(rng):
    g = rng.uniform(size=T)
    return {
        "iid": g,
        "best_last": np.sort(g),
        "best_first": np.sort(g)[::-1],
        "alternating_blocks": np.concatenate(
            [np.sort(b) if i % 2 else b for i, b in enumerate(np.split(g, 8))]
        ),
    }


@pytest.mark.parametrize("target", ["remaining", "budget"])
@pytest.mark.parametrize("budget", [0.1, 0.25, 0.5])
@pytest.mark.parametrize(
    "order", ["iid", "best_last", "best_first", "alternating_blocks"]
)
def test_budget_holds_and_is_used_on_adversarial_orders(order, budget, target):
    gain = _orders(np.random.default_rng(0))[order]
    X, costs = _stream(gain, np.ones(T), np.ones(T))
    pacer = BudgetPacer(Estimates(), budget, target=target)
    arms = pacer.run(X, costs)
    assert _max_running_mean_after_warmup(pacer) <= SLACK * budget
    assert pacer.mean_cost_ >= USE * budget  # every strong call helps here
    np.testing.assert_allclose(pacer.spend_[-1], costs[np.arange(T), arms].sum())


@pytest.mark.parametrize("budget", [0.1, 0.3])
def test_mid_stream_shift_to_costs_outside_the_training_support(budget):
    # The router believes every strong call costs 1; from the middle of the stream it
    # costs 3 (a shift no training data covered). A static rule tuned to the estimates
    # overspends 2x in the second half; the pacer holds the running mean.
    rng = np.random.default_rng(1)
    gain = rng.uniform(size=T)
    true = np.where(np.arange(T) < T // 2, 1.0, 3.0)
    X, costs = _stream(gain, np.ones(T), true)
    pacer = BudgetPacer(Estimates(), budget)
    pacer.run(X, costs)
    assert _max_running_mean_after_warmup(pacer) <= SLACK * budget
    assert pacer.mean_cost_ >= USE * budget
    static = gain > np.quantile(gain, 1 - budget)  # meets B on the estimates
    assert costs[:, 1][static].sum() / T > 1.5 * budget


def test_three_arms_and_noisy_costs():
    rng = np.random.default_rng(2)
    rewards = np.column_stack(
        [np.zeros(T), rng.uniform(size=T), 0.5 + rng.uniform(size=T)]
    )
    est = np.tile([0.2, 1.0, 3.0], (T, 1))
    true = est * rng.lognormal(0.0, 0.3, size=(T, 3))  # realised costs scatter
    X = np.column_stack([rewards, est])
    budget = 0.9
    pacer = BudgetPacer(Estimates(), budget)
    arms = pacer.run(X, true)
    assert _max_running_mean_after_warmup(pacer) <= SLACK * budget
    assert pacer.mean_cost_ >= USE * budget
    assert set(np.unique(arms)) == {0, 1, 2}


def test_never_binding_budget_routes_by_reward():
    rng = np.random.default_rng(3)
    gain = rng.normal(size=T)  # strong arm worse on about half the queries
    X, costs = _stream(gain, np.ones(T), np.ones(T))
    pacer = BudgetPacer(Estimates(), 2.0)
    arms = pacer.run(X, costs)
    np.testing.assert_array_equal(arms, (gain > 0).astype(int))
    assert pacer.multiplier_ == 0.0


def test_budget_that_cannot_be_used_is_not_forced():
    # Spending does not help on 95% of the stream: the pacer spends only where it does.
    rng = np.random.default_rng(4)
    gain = np.where(rng.uniform(size=T) < 0.05, 1.0, -1.0)
    X, costs = _stream(gain, np.ones(T), np.ones(T))
    pacer = BudgetPacer(Estimates(), 0.5)
    arms = pacer.run(X, costs)
    np.testing.assert_array_equal(arms, (gain > 0).astype(int))


def test_budget_below_the_cheapest_arm_warns_and_routes_all_cheapest():
    X = np.column_stack([np.zeros(10), np.ones(10), np.ones(10), np.full(10, 2.0)])
    costs = np.tile([1.0, 2.0], (10, 1))
    pacer = BudgetPacer(Estimates(), 0.5)
    with pytest.warns(UserWarning, match="below the cheapest arm"):
        arms = pacer.run(X, costs)
    assert (arms == 0).all() and pacer.mean_cost_ == 1.0


def test_nan_costs_allowed_only_in_unchosen_arms():
    gain = np.array([1.0, -1.0, 1.0, -1.0])
    X, costs = _stream(gain, np.ones(4), np.ones(4))
    costs[[1, 3], 1] = np.nan  # strong arm not chosen there (it loses reward)
    pacer = BudgetPacer(Estimates(), 2.0)  # never binding: the cost bound 2 fits
    np.testing.assert_array_equal(pacer.run(X, costs), [1, 0, 1, 0])
    costs[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"`costs`\[2, 1\].*chosen arm"):
        pacer.run(X, costs)


def test_bad_arguments_are_named():
    X, costs = _stream(np.ones(5), np.ones(5), np.ones(5))
    with pytest.raises(ValueError, match="budget"):
        BudgetPacer(Estimates(), -1.0).run(X, costs)
    with pytest.raises(ValueError, match="costs"):
        BudgetPacer(Estimates(), 1.0).run(X, costs[:3])
    with pytest.raises(ValueError, match="step_size"):
        BudgetPacer(Estimates(), 1.0, step_size=0).run(X, costs)
    with pytest.raises(ValueError, match="target"):
        BudgetPacer(Estimates(), 1.0, target="later").run(X, costs)
    with pytest.raises(ValueError, match="temperature"):
        BudgetPacer(Estimates(), 1.0, temperature=-1.0).run(X, costs)
    with pytest.raises(TypeError, match="predict_arm_values"):
        arm_values(object(), X)


@pytest.mark.filterwarnings("ignore:no iterate met the budget")
def test_paces_todays_racer_router_through_the_adapter():
    from racer_dro import RacerRouter
    from racer_dro.datasets import make_judge_data

    train = make_judge_data(1500, random_state=0)
    router = RacerRouter(3.0, robust="none", random_state=0).fit(
        train.X, train.rewards, train.costs
    )
    test = make_judge_data(T, random_state=1)
    costs = test.costs * np.array([1.0, 3.0])  # reasoning 3x dearer than in training
    pi = router.predict(test.X)
    static = costs[np.arange(T), pi].mean()
    pacer = BudgetPacer(router, 3.0)
    pacer.run(test.X, costs)
    assert static > 3.3  # the static policy overspends under the shift
    assert _max_running_mean_after_warmup(pacer) <= SLACK * 3.0
    assert pacer.mean_cost_ >= USE * 3.0


def test_known_cost_bound_makes_the_cap_exact_on_heavy_tailed_costs():
    # Short stream, heavy-tailed costs far outside the estimates: without a bound one
    # query above all earlier ones can overshoot; with BLM's c_bar the running mean after
    # the warm-up never exceeds B (up to rounding).
    rng = np.random.default_rng(5)
    n = 300
    gain = rng.uniform(size=n)
    true = np.minimum(rng.pareto(1.5, size=n) + 0.2, 20.0)
    zeros = np.zeros(n)
    X = np.column_stack([zeros, gain, zeros, np.ones(n)])
    costs = np.column_stack([zeros, true])
    pacer = BudgetPacer(Estimates(), 0.5, cost_bound=[0.0, 20.0])
    pacer.run(X, costs)
    t0 = n // 10
    running = pacer.spend_[t0:] / np.arange(t0 + 1, n + 1)
    assert running.max() <= 0.5 * (1 + 1e-12)
    with pytest.raises(ValueError, match="exceeds `cost_bound`"):
        BudgetPacer(Estimates(), 0.5, cost_bound=1.0).run(X, costs)
