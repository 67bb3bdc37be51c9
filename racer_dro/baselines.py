"""Plain judge-routing baselines with a common interface.

Every router follows the scikit-learn contract and shares

* ``fit(X, rewards, costs)`` -- ``rewards`` and ``costs`` of shape (n, 2),
  column 0 the cheap judge (instruct), column 1 the expensive one
  (reasoning / strong judge); optional for the routers that do not use them
  (all-cheap, all-expensive, random at a given rate);
* ``predict(X)`` -- 0/1 per row, 1 = use the expensive judge;
* ``predict_proba(X)`` -- shape (n, 2), ``[P(cheap), P(expensive)]``.

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

from racer_dro._validation import check_rewards_costs

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

    def _validate_fit(self, X, rewards, costs, *, required=True):
        X = validate_data(self, X, reset=True, dtype=float, ensure_all_finite=True)
        if not required and rewards is None and costs is None:
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
        rewards, costs = check_rewards_costs(rewards, costs, X.shape[0])
        return X, rewards, costs

    def _validate_predict(self, X):
        check_is_fitted(self, "n_features_in_")
        return validate_data(self, X, reset=False, dtype=float, ensure_all_finite=True)

    def predict(self, X) -> np.ndarray:
        """0 (cheap judge) or 1 (expensive judge) per row."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


class _ConstantRouter(_RouterBase):
    """Always the judge ``_judge`` (0 cheap, 1 expensive)."""

    _judge: int

    def fit(self, X, rewards=None, costs=None):
        """Validate the data and remember the feature layout; returns self.

        ``rewards`` and ``costs`` are optional (unused; validated when given).
        """
        self._validate_fit(X, rewards, costs, required=False)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """``[1, 0]`` (cheap) or ``[0, 1]`` (expensive) for every row."""
        X = self._validate_predict(X)
        proba = np.zeros((X.shape[0], 2))
        proba[:, self._judge] = 1.0
        return proba


class AllCheapRouter(_ConstantRouter):
    """Always use the cheap judge (instruct mode).

    Examples
    --------
    >>> from racer_dro.baselines import AllCheapRouter
    >>> from racer_dro.datasets import make_judge_data
    >>> data = make_judge_data(100, random_state=0)
    >>> AllCheapRouter().fit(data.X, data.rewards, data.costs).predict(data.X[:3]).tolist()
    [0, 0, 0]
    """

    _judge = 0


class AllExpensiveRouter(_ConstantRouter):
    """Always use the expensive judge (reasoning mode / strong judge).

    Examples
    --------
    >>> from racer_dro.baselines import AllExpensiveRouter
    >>> from racer_dro.datasets import make_judge_data
    >>> data = make_judge_data(100, random_state=0)
    >>> AllExpensiveRouter().fit(data.X, data.rewards, data.costs).predict(data.X[:3]).tolist()
    [1, 1, 1]
    """

    _judge = 1


class RandomJudgeRouter(_RouterBase):
    """Route to the expensive judge at random, at a fixed or a budget-matched rate.

    Parameters
    ----------
    rate : float in [0, 1], optional
        Probability of the expensive judge.
    budget : float, optional
        Mean cost per query to meet instead: the rate is
        ``(budget - mean c(0)) / mean(c(1) - c(0))`` on the training data,
        clipped to [0, 1] (1 when the expensive judge is not dearer on
        average). Give exactly one of ``rate`` and ``budget``.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws. ``predict`` is deterministic given the fitted
        router: the same X gives the same routing.

    Attributes
    ----------
    rate_ : float
        The routing probability used.
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

    def fit(self, X, rewards=None, costs=None):
        """Set ``rate_`` (from ``rate`` or from ``budget`` on the training costs).

        ``rewards`` and ``costs`` may be omitted with ``rate`` (for routing
        preference pairs, say); ``budget`` needs ``costs``.
        """
        X, rewards, costs = self._validate_fit(
            X, rewards, costs, required=self.budget is not None
        )
        if (self.rate is None) == (self.budget is None):
            raise ValueError(
                "give exactly one of `rate` and `budget`, got "
                f"rate={self.rate!r}, budget={self.budget!r}"
            )
        if self.rate is not None:
            rate = _check_real(self.rate, "rate", low=0.0, high=1.0)
        else:
            budget = _check_real(self.budget, "budget")
            cheap = float(costs[:, 0].mean())
            extra = float(costs[:, 1].mean()) - cheap
            minimum = min(cheap, cheap + extra)
            if budget < minimum:
                raise _infeasible(budget, minimum)
            if extra <= 0:
                rate = 1.0
            else:
                rate = float(np.clip((budget - cheap) / extra, 0.0, 1.0))
        self.rate_ = rate
        self.seed_ = int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        return self

    def predict_proba(self, X) -> np.ndarray:
        """``[1 - rate_, rate_]`` for every row (the routing probability)."""
        X = self._validate_predict(X)
        n = X.shape[0]
        return np.column_stack([np.full(n, 1.0 - self.rate_), np.full(n, self.rate_)])

    def predict(self, X) -> np.ndarray:
        """Independent Bernoulli(``rate_``) draws, seeded by ``seed_``."""
        X = self._validate_predict(X)
        rng = np.random.default_rng(self.seed_)
        return (rng.random(X.shape[0]) < self.rate_).astype(int)


class KNNRouter(_RouterBase):
    """RouterBench's k-nearest-neighbour router with a cost trade-off.

    Each arm's reward and cost at a query are predicted by the mean over its
    ``n_neighbors`` nearest training queries (Euclidean distance); the query
    goes to the expensive judge when

    ``predicted reward gain - cost_weight * predicted extra cost > 0``.

    With ``budget``, the cost weight is the smallest ``lambda >= 0`` at which
    the rule, applied to the training queries with leave-one-out neighbour
    predictions (each query's own outcome excluded), keeps the realised mean
    training cost within the budget.

    Parameters
    ----------
    n_neighbors : int, default=10
    budget : float, optional
        Mean cost per query to meet on the training data.
    cost_weight : float >= 0, optional
        A fixed trade-off ``lambda`` instead of ``budget`` (at most one of the
        two; neither means ``lambda = 0``: route wherever the predicted gain
        is positive).

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

    def fit(self, X, rewards, costs):
        """Index the training queries and calibrate the cost weight."""
        X, rewards, costs = self._validate_fit(X, rewards, costs)
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
        if self.budget is None:
            lam = 0.0
            if self.cost_weight is not None:
                lam = _check_real(self.cost_weight, "cost_weight", low=0.0)
            gain, extra = self._loo_predictions(X)
            routed = gain - lam * extra > 0
            self.cost_weight_ = lam
            self.training_cost_ = float(
                np.where(routed, costs[:, 1], costs[:, 0]).mean()
            )
            return self
        budget = _check_real(self.budget, "budget")
        minimum = float(costs.min(axis=1).mean())
        if budget < minimum:
            raise _infeasible(budget, minimum)
        gain, extra = self._loo_predictions(X)
        self.cost_weight_, self.training_cost_ = _calibrate(gain, extra, costs, budget)
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
        return self._gain_extra(idx)

    def _gain_extra(self, idx):
        r = self._rewards[idx].mean(axis=1)  # (n, 2)
        c = self._costs[idx].mean(axis=1)
        return r[:, 1] - r[:, 0], c[:, 1] - c[:, 0]

    def predicted_gain(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Predicted reward gain and extra cost of the expensive judge, each (n,)."""
        X = self._validate_predict(X)
        idx = self.nn_.kneighbors(X, return_distance=False)
        return self._gain_extra(idx)

    def predict_proba(self, X) -> np.ndarray:
        """``[1, 0]`` or ``[0, 1]`` per row (the rule is deterministic)."""
        gain, extra = self.predicted_gain(X)
        routed = (gain - self.cost_weight_ * extra > 0).astype(float)
        return np.column_stack([1.0 - routed, routed])


def _calibrate(gain, extra, costs, budget) -> tuple[float, float]:
    """Smallest lambda >= 0 whose rule keeps the mean training cost within budget.

    The rule ``gain - lambda * extra > 0`` changes only where lambda crosses a
    breakpoint ``gain_i / extra_i >= 0``; the mean cost is tracked across the
    sorted breakpoints with cumulative sums (O(n log n)). Returns the midpoint
    of the first feasible interval and the training cost there.
    """
    n = gain.shape[0]
    c0, c1 = costs[:, 0], costs[:, 1]
    routed0 = gain > 0
    cost0 = float(np.where(routed0, c1, c0).sum() / n)
    if cost0 <= budget:
        return 0.0, cost0
    nonzero = extra != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        brk = np.where(nonzero, gain / np.where(nonzero, extra, 1.0), -1.0)
    # Rows whose status flips for some lambda > 0 (gain = 0 and extra < 0
    # flip just above 0: breakpoint 0).
    flips = nonzero & (brk >= 0) & ~((brk == 0) & (extra > 0))
    order = np.argsort(brk[flips], kind="stable")
    b = brk[flips][order]
    rows = np.flatnonzero(flips)[order]
    # Flipping a routed row (extra > 0) saves c1 - c0; an unrouted one adds it.
    delta = np.where(routed0[rows], c0[rows] - c1[rows], c1[rows] - c0[rows]) / n
    cum = cost0 + np.cumsum(delta)
    # Only the last row of a group of equal breakpoints gives a reachable state.
    last = np.append(b[1:] != b[:-1], True)
    ok = np.flatnonzero(last & (cum <= budget))
    if ok.size == 0:
        top = float(b[-1]) if b.size else 0.0
        lam = 2.0 * top + 1.0
        warnings.warn(
            f"`budget` = {budget!r} cannot be met by the KNN rule on the training "
            f"data for any cost weight; using cost_weight_ = {lam!r} (training cost "
            f"{float(cum[-1]) if b.size else cost0!r})",
            stacklevel=3,
        )
        return lam, float(cum[-1]) if b.size else cost0
    j = ok[0]
    upper = b[j + 1] if j + 1 < b.size else 2.0 * b[j] + 1.0
    return float((b[j] + upper) / 2.0), float(cum[j])
