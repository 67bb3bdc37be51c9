"""Evaluating a judge routing: accuracy and realised cost at equal calls and at equal cost.

A routing sends each pair to the cheap judge (arm 0) or the strong judge
(arm 1); it is *hard* (a boolean or 0/1 per pair) or *soft* (the probability
of the strong judge per pair, scored in expectation). With per-pair rewards
``r`` of shape (n, 2) (e.g. :meth:`racer_dro.judge_data.JudgeTable.rewards`:
1 when the judge's verdict is right) and costs ``c`` of the same shape::

    accuracy(pi) = mean(r0 + pi (r1 - r0)),   cost(pi) = mean(c0 + pi (c1 - c0)).

Comparisons are fair at *equal calls* (the same number of strong-judge calls,
:func:`route_top`) or at *equal cost* (the largest prefix of a ranking whose
mean cost is within a budget, :func:`route_within_budget`). Baselines:
exact-k random routing (:func:`random_route`, k calls exactly, not Bernoulli)
and the oracle (:func:`oracle_route`, which knows the rewards).

The routers' ``score`` methods use two summaries: :func:`escalation_auc` (a
ranking's mean accuracy over every number of calls, RouteLLM's AUC) for the
escalation routers, and :func:`policy_reward_at_budget` (a K-arm policy's
reward held to a budget) for routers with a budget.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.utils import check_random_state

from metarouter.metrics import routellm_auc, routellm_curve
from racer_dro import formulas
from racer_dro._dot import dot
from racer_dro._validation import check_rewards_costs, check_values, check_weights

__all__ = [
    "call_count",
    "escalation_auc",
    "oracle_route",
    "policy_reward_at_budget",
    "random_route",
    "realised_cost",
    "route_top",
    "route_within_budget",
    "routed_accuracy",
]


def call_count(calls, n: int) -> int:
    """The number of strong-judge calls that ``calls`` means for ``n`` pairs.

    An int is a count (0 to ``n``; above ``n`` is an error); a float in
    (0, 1] a fraction of the pairs, rounded to the nearest count (halves up).

    Examples
    --------
    >>> call_count(0.25, 10), call_count(3, 10)
    (3, 3)
    """
    if isinstance(calls, bool) or not isinstance(calls, numbers.Real):
        raise TypeError(f"`calls` must be an int or a float, got {calls!r}")
    if isinstance(calls, numbers.Integral):
        if not 0 <= calls <= n:
            raise ValueError(
                f"`calls` must be between 0 and the number of pairs ({n}), got {calls}"
            )
        return int(calls)
    if not (0.0 < calls <= 1.0):
        raise ValueError(
            f"`calls` as a fraction must be in (0, 1], got {calls!r} "
            "(pass an int for a number of pairs)"
        )
    # halves up as written in decimal: 0.145 is stored just below it (14.4999... of
    # 100), so a rounding-sized nudge keeps "0.145 of 100" at 15
    return min(n, math.floor(calls * n + 0.5 + 1e-9))


def _routing(route, n: int) -> np.ndarray:
    pi = check_values(route, "route")
    if pi.shape[0] != n:
        raise ValueError(
            f"`route` must have one entry per pair ({n}), got {pi.shape[0]}"
        )
    if ((pi < 0) | (pi > 1)).any():
        raise ValueError("`route` must be 0/1 or probabilities in [0, 1]")
    return pi


def _arms(values, name: str) -> np.ndarray:
    return check_values(values, name, ndim=2, ncols=2)


def routed_accuracy(rewards, route) -> float:
    """Mean reward of a hard or soft routing, ``mean(r0 + pi (r1 - r0))``.

    Examples
    --------
    >>> r = [[1, 1], [0, 1], [1, 0]]
    >>> routed_accuracy(r, [False, True, False]), routed_accuracy(r, [0.5, 0.5, 0.5])
    (1.0, 0.6666666666666666)
    """
    r = _arms(rewards, "rewards")
    pi = _routing(route, r.shape[0])
    return float(np.mean(r[:, 0] + pi * (r[:, 1] - r[:, 0])))


def realised_cost(costs, route) -> float:
    """Mean cost of a hard or soft routing, ``mean(c0 + pi (c1 - c0))``.

    Examples
    --------
    >>> realised_cost([[0, 1], [0, 1]], [True, False])
    0.5
    """
    c = _arms(costs, "costs")
    pi = _routing(route, c.shape[0])
    return float(np.mean(c[:, 0] + pi * (c[:, 1] - c[:, 0])))


def route_top(scores, calls) -> np.ndarray:
    """Route the ``calls`` pairs with the largest scores (ties: earlier rows first).

    Examples
    --------
    >>> route_top([0.1, 0.9, 0.5, 0.9], calls=2).tolist()
    [False, True, False, True]
    """
    s = check_values(scores, "scores")
    k = call_count(calls, s.shape[0])
    ask = np.zeros(s.shape[0], dtype=bool)
    ask[np.argsort(-s, kind="stable")[:k]] = True
    return ask


def route_within_budget(scores, costs, budget) -> np.ndarray:
    """Route the longest prefix of the score ranking whose mean cost is within ``budget``.

    Pairs are taken in decreasing score; a pair is routed when the mean cost
    with it stays at most ``budget`` (pairs that do not fit are skipped, later
    cheaper ones may still fit; "at most" to a relative 1e-9, so a budget equal
    to the mean cost of a routing admits as many calls): the equal-cost
    comparison of rankings.

    Examples
    --------
    >>> route_within_budget([3, 2, 1], [[0, 1], [0, 2], [0, 1]], budget=2 / 3).tolist()
    [True, False, True]
    """
    s = check_values(scores, "scores")
    c = _arms(costs, "costs")
    if c.shape[0] != s.shape[0]:
        raise ValueError(
            f"`costs` must have one row per score ({s.shape[0]}), got {c.shape[0]}"
        )
    if isinstance(budget, bool) or not isinstance(budget, numbers.Real):
        raise TypeError(f"`budget` must be a real number, got {budget!r}")
    if math.isnan(budget):
        raise ValueError("`budget` must be a number, got NaN")
    n = s.shape[0]
    base = float(c[:, 0].sum())
    allowed = budget * n
    # rounding of budget * n and of the running total: a budget equal to the mean
    # cost of k calls (e.g. another routing's realised_cost) must admit all k
    tol = 1e-9 * abs(allowed) + 1e-12 if math.isfinite(allowed) else 0.0
    if base > allowed + tol:
        raise ValueError(
            f"`budget` = {budget!r} is below the all-cheap mean cost {base / n!r}"
        )
    total = base
    extra = c[:, 1] - c[:, 0]
    ask = np.zeros(n, dtype=bool)
    for i in np.argsort(-s, kind="stable"):
        if total + extra[i] <= allowed + tol:
            ask[i] = True
            total += extra[i]
    return ask


def random_route(n: int, calls, random_state=None) -> np.ndarray:
    """Exact-k random routing: ``calls`` pairs drawn without replacement (not Bernoulli).

    Examples
    --------
    >>> int(random_route(10, 0.3, random_state=0).sum())
    3
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"`n` must be a positive integer, got {n!r}")
    k = call_count(calls, int(n))
    ask = np.zeros(int(n), dtype=bool)
    ask[check_random_state(random_state).permutation(int(n))[:k]] = True
    return ask


def oracle_route(rewards, calls) -> np.ndarray:
    """The oracle: route the ``calls`` pairs with the largest true gain ``r1 - r0``.

    It knows the rewards, so it upper-bounds every routing at equal calls.

    Examples
    --------
    >>> oracle_route([[1, 1], [0, 1], [1, 0]], calls=1).tolist()
    [False, True, False]
    """
    r = _arms(rewards, "rewards")
    return route_top(r[:, 1] - r[:, 0], calls)


def escalation_auc(scores, rewards) -> float:
    """Mean accuracy of escalating by ``scores`` over every number of calls (RouteLLM's AUC).

    The ``k`` pairs with the largest scores go to the strong judge (ties
    averaged), for ``k = 0, ..., n``; the accuracy at share ``k / n`` is
    ``mean(r0) + (sum of the top k gains r1 - r0) / n``, and the area under
    accuracy against share (trapezoid, :func:`metarouter.metrics.routellm_auc`)
    is the ranking's mean accuracy over call budgets. Between the weak
    judge's accuracy and the strong judge's, it is their mean for a random
    ranking (in expectation) and largest for the oracle. It needs no call
    budget, so it compares rankings (an escalation router's ``exploration``,
    say) in ``GridSearchCV``; a ranking good only at a few calls is better
    compared with :func:`route_top` at those calls.

    Parameters
    ----------
    scores : array-like of shape (n,)
        Higher means escalate first.
    rewards : array-like of shape (n, 2)
        Each pair's reward of the cheap (column 0) and the strong judge.

    Returns
    -------
    float

    References
    ----------
    Ong, Almahairi, Wu, et al. "RouteLLM: Learning to Route LLMs with
    Preference Data", 2024 (``auc_metric``).

    Examples
    --------
    >>> r = [[0, 1], [1, 1], [1, 0]]  # oracle first, then the worst ranking
    >>> round(escalation_auc([3, 2, 1], r), 4), round(escalation_auc([1, 2, 3], r), 4)
    (0.8889, 0.4444)
    >>> escalation_auc([0, 0, 0], r)  # all tied: a random ranking's mean accuracy
    0.6666666666666666
    """
    r = _arms(rewards, "rewards")
    s = check_values(scores, "scores")
    if s.shape[0] != r.shape[0]:
        raise ValueError(
            f"`scores` has {s.shape[0]} pairs but `rewards` has {r.shape[0]}"
        )
    share, accuracy = routellm_curve(s, r[:, 0], r[:, 1])
    return routellm_auc(share, accuracy)


def policy_reward_at_budget(proba, rewards, costs, budget, sample_weight=None) -> float:
    """A K-arm policy's held-out reward held to ``budget`` (:func:`racer_dro.formulas.reward_at_budget`).

    The policy's mean reward ``R = mean_i sum_a pi_i(a) r_i(a)`` and cost ``C``
    on these rows (weighted by ``sample_weight``); if ``C`` exceeds ``budget``,
    the reward of its mix with each row's cheapest arm (among equally cheap
    arms, the best rewarded) that spends exactly the budget. The score of the
    routers with a budget (:meth:`racer_dro.RacerRouter.score`, the baselines').

    Parameters
    ----------
    proba : array-like of shape (n, K)
        Each row's probability of each arm (a hard routing: one-hot rows).
    rewards, costs : array-like of shape (n, K)
    budget : float
    sample_weight : array-like of shape (n,), optional

    Returns
    -------
    float

    Examples
    --------
    >>> pi = [[0.0, 1.0], [0.0, 1.0]]  # always the strong arm: cost 2 > budget 1.5
    >>> policy_reward_at_budget(pi, [[0.5, 1.0], [0.5, 1.0]], [[1, 2], [1, 2]], 1.5)
    0.75
    """
    pi = check_values(proba, "proba", ndim=2)
    rewards, costs = check_rewards_costs(rewards, costs, pi.shape[0])
    if rewards.shape[1] != pi.shape[1]:
        raise ValueError(
            f"`rewards` and `costs` have {rewards.shape[1]} arms; the router's policy "
            f"(`proba`) has {pi.shape[1]}"
        )
    w = check_weights(sample_weight, pi.shape[0], "sample_weight")
    rows = np.arange(pi.shape[0])
    cheapest = np.lexsort((-rewards, costs), axis=1)[:, 0]
    return formulas.reward_at_budget(  # sums in an order BLAS cannot change
        dot(w, np.sum(pi * rewards, axis=1)),
        dot(w, np.sum(pi * costs, axis=1)),
        dot(w, rewards[rows, cheapest]),
        dot(w, costs[rows, cheapest]),
        budget,
    )
