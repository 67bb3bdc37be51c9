"""Plain judge-routing baselines with a common interface.

Every router follows the scikit-learn contract and shares the judge-routing
interface of :class:`racer_dro.RacerRouter`:

* ``fit(X, rewards, costs, arm_names=None)`` -- ``rewards`` and ``costs`` of
  shape (n, K), ``K >= 2`` arms (models or judges), arm 0 conventionally the
  cheapest; optional for the routers that do not use them (all-cheap,
  all-expensive, random at a given rate: then ``K`` comes from ``arm_names``,
  or is 2); names kept as ``arm_names_`` (by default the column labels of
  ``rewards`` / ``costs`` given as DataFrames, which must agree);
* ``predict(X)`` -- the arm index per row;
* ``predict_proba(X)`` -- shape (n, K);
* ``predict_arm_values(X)`` -- ``(reward, cost)``, each (n, K): the router's
  estimate of each arm's reward and cost at each query (what a budget pacer
  trades off).

Routers: :class:`AllCheapRouter`, :class:`AllExpensiveRouter`,
:class:`RandomJudgeRouter` (random at a fixed or budget-matched rate) and
:class:`KNNRouter` (RouterBench's k-nearest-neighbour router).
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from racer_dro._dot import dot
from racer_dro._validation import (
    check_arm_names,
    check_rewards_costs,
    check_weights,
    resolve_arm_names,
)
from racer_dro.judge_evaluation import policy_reward_at_budget

__all__ = [
    "AllCheapRouter",
    "AllExpensiveRouter",
    "KNNRouter",
    "RandomJudgeRouter",
]


# ---------------------------------------------------------------------- validation
def _check_real(value, name: str, *, low=None, high=None, low_open=False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(
            f"`{name}` must be {'>' if low_open else '>='} {low}, got {value!r}"
        )
    if high is not None and value > high:
        raise ValueError(f"`{name}` must be <= {high}, got {value!r}")
    return value


def _infeasible(budget: float, minimum: float):
    return ValueError(
        f"`budget` = {budget!r} is infeasible: the minimum achievable mean cost on "
        f"the training data is {minimum!r}"
    )


class _RouterBase(BaseEstimator):
    """Shared plumbing: validation of the training data and of X at predict."""

    def _validate_fit(self, X, rewards, costs, arm_names=None, *, required=True):
        X = validate_data(self, X, reset=True, dtype=float, ensure_all_finite=True)
        if not required and rewards is None and costs is None:
            n_arms = 2 if arm_names is None else len(list(arm_names))
            self.arm_names_ = check_arm_names(arm_names, n_arms)
            self.classes_ = np.arange(n_arms)
            self.arm_rewards_ = self.arm_costs_ = None
            return X, None, None
        if rewards is None or costs is None:
            missing = " and ".join(
                f"`{name}`"
                for name, v in (("rewards", rewards), ("costs", costs))
                if v is None
            )
            raise ValueError(
                f"{missing} required: {type(self).__name__}.fit needs both `rewards` and "
                "`costs` here"
            )
        tables = rewards, costs  # their column labels name the arms
        rewards, costs = check_rewards_costs(rewards, costs, X.shape[0])
        names = resolve_arm_names(arm_names, *tables, rewards.shape[1])
        self.arm_names_ = names
        self.classes_ = np.arange(rewards.shape[1])
        self.arm_rewards_ = rewards.mean(axis=0)
        self.arm_costs_ = costs.mean(axis=0)
        return X, rewards, costs

    def _validate_predict(self, X):
        check_is_fitted(self, "n_features_in_")
        return validate_data(self, X, reset=False, dtype=float, ensure_all_finite=True)

    def predict(self, X) -> np.ndarray:
        """The most probable arm per row (index into ``classes_``)."""
        return np.argmax(self.predict_proba(X), axis=1)

    def predict_arm_values(self, X) -> tuple[np.ndarray, np.ndarray]:
        """``(reward, cost)``, each (n, K): the training means of each arm, every row.

        Raises ``ValueError`` when the router was fitted without rewards and costs.
        """
        X = self._validate_predict(X)
        if self.arm_rewards_ is None:
            raise ValueError(
                f"{type(self).__name__} was fitted without `rewards` and `costs`: "
                "it has no arm values"
            )
        n = X.shape[0]
        return np.tile(self.arm_rewards_, (n, 1)), np.tile(self.arm_costs_, (n, 1))

    def score(self, X, rewards, costs=None, sample_weight=None) -> float:
        """Held-out value of the routing: reward at the budget, or reward net of cost.

        With a ``budget``: the reward of :meth:`predict_proba`'s policy held to
        it (:func:`racer_dro.judge_evaluation.policy_reward_at_budget`, as
        :meth:`racer_dro.RacerRouter.score`), so routers of one budget compare
        in ``GridSearchCV``. Without one: the policy's mean reward minus its
        fitted ``cost_weight_`` (where it has one; else 0) times its mean cost,
        the objective its rule maximises. ``costs`` (n, K) is needed unless
        that weight is 0; pass it through metadata routing
        (``set_score_request(costs=True)``).

        Examples
        --------
        >>> from racer_dro.baselines import AllCheapRouter
        >>> from racer_dro.datasets import make_judge_data
        >>> data = make_judge_data(200, random_state=0)
        >>> router = AllCheapRouter().fit(data.X, data.rewards, data.costs)
        >>> bool(router.score(data.X, data.rewards) == data.rewards[:, 0].mean())
        True
        """
        proba = self.predict_proba(X)
        budget = getattr(self, "budget", None)
        weight = (
            0.0 if budget is not None else float(getattr(self, "cost_weight_", 0.0))
        )
        if costs is None and (budget is not None or weight != 0.0):
            raise ValueError(
                f"{type(self).__name__}.score needs `costs`, the rows' cost of each "
                "arm (for its budget or cost weight). With GridSearchCV or "
                "cross_val_score, enable metadata routing and request it: "
                "router.set_score_request(costs=True)"
            )
        if costs is None:  # the cost does not enter the score
            costs = np.zeros(np.shape(rewards))
        value = policy_reward_at_budget(
            proba, rewards, costs, math.inf if budget is None else budget, sample_weight
        )
        if weight != 0.0:
            w = check_weights(sample_weight, proba.shape[0], "sample_weight")
            value -= weight * dot(w, np.sum(proba * np.asarray(costs, float), axis=1))
        return float(value)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


class _ConstantRouter(_RouterBase):
    """Always one arm: the cheapest (``_cheapest = True``) or the dearest on average."""

    _cheapest: bool

    def fit(self, X, rewards=None, costs=None, arm_names=None):
        """Validate the data and choose the arm; returns self.

        ``rewards`` and ``costs`` are optional: with them the arm is the one with
        the smallest (largest) mean training cost (ties: the first (last) arm),
        without them arm 0 (arm K - 1).

        Attributes set: ``arm_`` (the arm), ``classes_``, ``arm_names_``.
        """
        self._validate_fit(X, rewards, costs, arm_names, required=False)
        if self.arm_costs_ is None:
            self.arm_ = 0 if self._cheapest else len(self.classes_) - 1
        elif self._cheapest:
            self.arm_ = int(np.argmin(self.arm_costs_))
        else:
            self.arm_ = _dearest(self.arm_costs_)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Probability one on ``arm_`` for every row, shape (n, K)."""
        X = self._validate_predict(X)
        proba = np.zeros((X.shape[0], len(self.classes_)))
        proba[:, self.arm_] = 1.0
        return proba


class AllCheapRouter(_ConstantRouter):
    """Always use the cheapest arm (the cheap judge, instruct mode).

    Examples
    --------
    >>> from racer_dro.baselines import AllCheapRouter
    >>> from racer_dro.datasets import make_judge_data
    >>> data = make_judge_data(100, random_state=0)
    >>> AllCheapRouter().fit(data.X, data.rewards, data.costs).predict(data.X[:3]).tolist()
    [0, 0, 0]
    """

    _cheapest = True


class AllExpensiveRouter(_ConstantRouter):
    """Always use the dearest arm on average (reasoning mode / strong judge / premium model).

    Examples
    --------
    >>> from racer_dro.baselines import AllExpensiveRouter
    >>> from racer_dro.datasets import make_judge_data
    >>> data = make_judge_data(100, random_state=0)
    >>> AllExpensiveRouter().fit(data.X, data.rewards, data.costs).predict(data.X[:3]).tolist()
    [1, 1, 1]
    """

    _cheapest = False


class RandomJudgeRouter(_RouterBase):
    """Route at random between the cheapest and the dearest arm, at a fixed or budget-matched rate.

    The two arms are those with the smallest and largest mean training cost
    (arm 0 and arm K - 1 when fitted without costs); with K = 2 they are the
    cheap and the expensive judge.

    Parameters
    ----------
    rate : float in [0, 1], optional
        Probability of the expensive arm.
    budget : float, optional
        Mean cost per query to meet instead: the rate is
        ``(budget - mean c(cheap)) / mean(c(dear) - c(cheap))`` on the training
        data, clipped to [0, 1]. Give exactly one of ``rate`` and ``budget``.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws. ``predict`` is deterministic given the fitted
        router: the same X gives the same routing.

    Attributes
    ----------
    rate_ : float
        The routing probability used.
    cheap_arm_, expensive_arm_ : int
    seed_ : int
        The seed of the draws at predict.

    Examples
    --------
    >>> from racer_dro.baselines import RandomJudgeRouter
    >>> from racer_dro.datasets import make_judge_data
    >>> data = make_judge_data(2000, random_state=0)
    >>> router = RandomJudgeRouter(budget=3.0, random_state=0).fit(data.X, data.rewards, data.costs)
    >>> bool(0.3 < router.rate_ < 0.5)
    True
    """

    def __init__(self, rate=None, budget=None, random_state=None):
        self.rate = rate
        self.budget = budget
        self.random_state = random_state

    def fit(self, X, rewards=None, costs=None, arm_names=None):
        """Set ``rate_`` (from ``rate`` or from ``budget`` on the training costs).

        ``rewards`` and ``costs`` may be omitted with ``rate`` (for routing
        preference pairs, say); ``budget`` needs ``costs``.
        """
        X, rewards, costs = self._validate_fit(
            X, rewards, costs, arm_names, required=self.budget is not None
        )
        if costs is None:
            cheap_arm, dear_arm = 0, len(self.classes_) - 1
        else:
            cheap_arm = int(np.argmin(self.arm_costs_))
            dear_arm = _dearest(self.arm_costs_)
        if (self.rate is None) == (self.budget is None):
            raise ValueError(
                "give exactly one of `rate` and `budget`, got "
                f"rate={self.rate!r}, budget={self.budget!r}"
            )
        if self.rate is not None:
            rate = _check_real(self.rate, "rate", low=0.0, high=1.0)
        else:
            budget = _check_real(self.budget, "budget")
            cheap = float(self.arm_costs_[cheap_arm])
            extra = float(self.arm_costs_[dear_arm]) - cheap
            if budget < cheap:
                raise _infeasible(budget, cheap)
            if extra <= 0:
                rate = 1.0
            else:
                rate = float(np.clip((budget - cheap) / extra, 0.0, 1.0))
        self.rate_ = rate
        self.cheap_arm_, self.expensive_arm_ = cheap_arm, dear_arm
        self.seed_ = int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        return self

    def predict_proba(self, X) -> np.ndarray:
        """``1 - rate_`` on the cheap arm and ``rate_`` on the expensive one, shape (n, K)."""
        X = self._validate_predict(X)
        proba = np.zeros((X.shape[0], len(self.classes_)))
        proba[:, self.cheap_arm_] += 1.0 - self.rate_
        proba[:, self.expensive_arm_] += self.rate_
        return proba

    def predict(self, X) -> np.ndarray:
        """Independent Bernoulli(``rate_``) draws of the expensive arm, seeded by ``seed_``."""
        X = self._validate_predict(X)
        rng = np.random.default_rng(self.seed_)
        dear = rng.random(X.shape[0]) < self.rate_
        return np.where(dear, self.expensive_arm_, self.cheap_arm_)


class KNNRouter(_RouterBase):
    """RouterBench's k-nearest-neighbour router over K arms with a cost trade-off.

    Each arm's reward and cost at a query are predicted by the mean over its
    ``n_neighbors`` nearest training queries (Euclidean distance); the query
    goes to the arm maximising

    ``predicted reward - cost_weight * predicted cost``.

    With ``budget``, the cost weight is the smallest ``lambda >= 0`` (to a
    relative 1e-9, by bisection) at which the rule, applied to the training
    queries with leave-one-out neighbour predictions (each query's own outcome
    excluded), keeps the realised mean training cost within the budget.

    Parameters
    ----------
    n_neighbors : int, default=10
    budget : float, optional
        Mean cost per query to meet on the training data.
    cost_weight : float >= 0, optional
        A fixed trade-off ``lambda`` instead of ``budget`` (at most one of the
        two; neither means ``lambda = 0``).

    Attributes
    ----------
    cost_weight_ : float
        The trade-off used.
    training_cost_ : float
        Realised mean training cost of the (leave-one-out) rule at
        ``cost_weight_``.
    nn_ : sklearn.neighbors.NearestNeighbors

    Examples
    --------
    >>> from racer_dro.baselines import KNNRouter
    >>> from racer_dro.datasets import make_judge_data
    >>> data = make_judge_data(1000, random_state=0)
    >>> router = KNNRouter(n_neighbors=20, budget=3.0).fit(data.X, data.rewards, data.costs)
    >>> bool(router.training_cost_ <= 3.0)
    True
    """

    def __init__(self, n_neighbors=10, *, budget=None, cost_weight=None):
        self.n_neighbors = n_neighbors
        self.budget = budget
        self.cost_weight = cost_weight

    def fit(self, X, rewards, costs, arm_names=None):
        """Index the training queries and calibrate the cost weight."""
        X, rewards, costs = self._validate_fit(X, rewards, costs, arm_names)
        k = self.n_neighbors
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError(f"`n_neighbors` must be an integer, got {k!r}")
        n = X.shape[0]
        if not 1 <= k <= n - 1:
            raise ValueError(
                f"`n_neighbors` must be between 1 and n_samples - 1 = {n - 1}, got {k}"
            )
        if self.budget is not None and self.cost_weight is not None:
            raise ValueError("give at most one of `budget` and `cost_weight`, got both")
        self.nn_ = NearestNeighbors(n_neighbors=int(k)).fit(X)
        self._rewards, self._costs = rewards, costs
        r_hat, c_hat = self._loo_predictions(X)
        if self.budget is None:
            lam = 0.0
            if self.cost_weight is not None:
                lam = _check_real(self.cost_weight, "cost_weight", low=0.0)
            self.cost_weight_ = lam
            self.training_cost_ = _realised_cost(r_hat, c_hat, costs, lam)
            return self
        budget = _check_real(self.budget, "budget")
        minimum = float(costs.min(axis=1).mean())
        if budget < minimum:
            raise _infeasible(budget, minimum)
        self.cost_weight_, self.training_cost_ = _calibrate(r_hat, c_hat, costs, budget)
        return self

    def _loo_predictions(self, X):
        # k + 1 neighbours of each training query, itself dropped (ties with
        # duplicates: drop the row's own index if present, else the farthest).
        idx = self.nn_.kneighbors(
            X, n_neighbors=self.nn_.n_neighbors + 1, return_distance=False
        )
        own = idx == np.arange(X.shape[0])[:, None]
        drop = np.where(own.any(axis=1), own.argmax(axis=1), idx.shape[1] - 1)
        keep = np.ones_like(idx, dtype=bool)
        keep[np.arange(idx.shape[0]), drop] = False
        idx = idx[keep].reshape(idx.shape[0], -1)
        return self._rewards[idx].mean(axis=1), self._costs[idx].mean(axis=1)

    def predict_arm_values(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Neighbour-mean reward and cost of every arm, each (n, K)."""
        X = self._validate_predict(X)
        idx = self.nn_.kneighbors(X, return_distance=False)
        return self._rewards[idx].mean(axis=1), self._costs[idx].mean(axis=1)

    def predict_proba(self, X) -> np.ndarray:
        """Probability one on the chosen arm (the rule is deterministic), shape (n, K)."""
        r_hat, c_hat = self.predict_arm_values(X)
        choice = _choose(r_hat, c_hat, self.cost_weight_)
        proba = np.zeros_like(r_hat)
        proba[np.arange(choice.shape[0]), choice] = 1.0
        return proba


def _dearest(mean_costs) -> int:
    """The arm with the largest mean cost (ties: the last one, so equal costs give K - 1)."""
    return len(mean_costs) - 1 - int(np.argmax(mean_costs[::-1]))


def _choose(r_hat, c_hat, lam):
    """``argmax_a r_hat(a) - lambda c_hat(a)`` per row (ties: the first arm)."""
    return np.argmax(r_hat - lam * c_hat, axis=1)


def _realised_cost(r_hat, c_hat, costs, lam) -> float:
    choice = _choose(r_hat, c_hat, lam)
    return float(costs[np.arange(costs.shape[0]), choice].mean())


def _calibrate(r_hat, c_hat, costs, budget) -> tuple[float, float]:
    """Smallest lambda >= 0 whose rule keeps the realised mean training cost within budget.

    Bracketed by doubling, then bisection to a relative 1e-9. Above the
    largest ratio of predicted reward to predicted cost differences the rule
    picks each row's cheapest predicted arm; if even that misses the budget,
    a warning is given and that lambda is used.
    """
    cost0 = _realised_cost(r_hat, c_hat, costs, 0.0)
    if cost0 <= budget:
        return 0.0, cost0
    spread_r = float(np.ptp(r_hat, axis=1).max())
    gaps = np.diff(np.sort(c_hat, axis=1), axis=1)
    positive = gaps[gaps > 0]
    top = 2.0 * spread_r / float(positive.min()) + 1.0 if positive.size else 1.0
    cost_top = _realised_cost(r_hat, c_hat, costs, top)
    if cost_top > budget:
        warnings.warn(
            f"`budget` = {budget!r} cannot be met by the KNN rule on the training "
            f"data for any cost weight; using cost_weight_ = {top!r} (training cost "
            f"{cost_top!r})",
            stacklevel=3,
        )
        return top, cost_top
    lo, hi = 0.0, top
    while hi - lo > 1e-9 * hi:
        mid = 0.5 * (lo + hi)
        if _realised_cost(r_hat, c_hat, costs, mid) <= budget:
            hi = mid
        else:
            lo = mid
    return hi, _realised_cost(r_hat, c_hat, costs, hi)
