"""Budget pacing: online dual descent on the budget constraint of a stream of queries.

A static policy meets its budget on its training distribution; under a shift
(new queries, costs outside the training support) its realised cost is an
accident of extrapolation. :class:`BudgetPacer` wraps any fitted router that
estimates each arm's reward and cost per query and routes a stream in arrival
order (Balseiro, Lu and Mirrokni 2020, dual mirror descent with the Euclidean
mirror map): with ``lambda_t`` the current multiplier,

    ``k_t = argmax_k  r_hat_t(k) - lambda_t c_hat_t(k)``   (among the arms the cap allows),

then the cost ``c_t`` of the chosen arm is observed and

    ``lambda_{t+1} = max(0, lambda_t + eta (c_t - rho_t) / B * s)``,

with ``rho_t = B`` (BLM) or, by default, the budget left per query left (see
``target``), ``s`` the reward scale (the mean absolute reward difference between the
arms on the stream's estimates) so that ``eta`` is dimensionless; by default
``eta = 1 / sqrt(T)``. Only the chosen arm's cost is used: unchosen arms may
hold NaN.

The cap. Cumulative spend may never exceed ``B max(t, w T)`` after ``t``
queries, ``w`` the warm-up fraction (default 0.1): an arm is allowed only if
the spend so far plus its cost bound (the larger of its estimated cost and the
largest cost observed for it so far) fits; arm 0, the cheapest, is always
allowed. This turns the dual method's average-case guarantee into one that
holds on every order of arrivals, up to one query's cost beyond its bound.

Guarantees. Theory (Balseiro, Lu and Mirrokni 2020, Theorem 1; arrivals i.i.d.
or adversarial, costs bounded by ``c_bar``, with the stopping rule): total spend
at most ``B T`` and regret ``O(sqrt(T))`` against the best fixed multiplier
with ``eta ~ 1 / sqrt(T)``; without a cap the running overspend after ``t``
queries is at most ``(lambda_t - lambda_1) / (eta t)`` in normalised units,
which is ``O(sqrt(T) / t)``, so only the cap bounds it from ``t = 0.1 T`` on.
With the cap: the running mean cost after the warm-up is at most
``B + e / t``, ``e`` the largest excess of a query's cost over its bound
(``e = 0`` with a known ``cost_bound``). Measured on the streams of
``tests/racer_dro/test_pacing.py`` (T = 4000; four arrival orders including
best-first and best-last, budgets 0.1/0.25/0.5, a mid-stream shift to costs
3x the estimates, three arms with log-normal cost noise): the largest running
mean after 10% of the stream is 1.002 B (the test's bound: 1.02 B), and the
smallest share of the budget used is 98.6% (the test's bound: 90%). On the
real streams of the pacing study (250-1200 queries, costs up to 53x the
cheap arm) the running mean after 10% reached 1.08 B on the short
judge-escalation stream without a ``cost_bound``: there a single costlier
query than any before is a large share of ``0.1 B T``.

References
----------
Balseiro, Lu and Mirrokni, "Dual Mirror Descent for Online Allocation
Problems", ICML 2020.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["BudgetPacer", "arm_values"]


def arm_values(router, X) -> tuple[np.ndarray, np.ndarray]:
    """Per-query reward and cost estimates of each arm, ``(reward, cost)`` of shape (n, K).

    Reads ``router.predict_arm_values(X)``, the judge-routing interface that
    :class:`~racer_dro.RacerRouter`, the judge baselines and the escalation
    routers implement (only differences between arms matter), and checks it.

    Examples
    --------
    >>> import numpy as np
    >>> class Gain:  # arm 1 gains x and costs 1 more than arm 0
    ...     def predict_arm_values(self, X):
    ...         a = np.asarray(X)[:, 0]
    ...         return np.column_stack([0 * a, a]), np.column_stack([0 * a, 1 + 0 * a])
    >>> reward, cost = arm_values(Gain(), [[0.5], [0.2]])
    >>> reward.tolist(), cost.tolist()
    ([[0.0, 0.5], [0.0, 0.2]], [[0.0, 1.0], [0.0, 1.0]])
    """
    if not hasattr(router, "predict_arm_values"):
        raise TypeError(
            f"`router` ({type(router).__name__}) must expose predict_arm_values(X) "
            "returning (reward, cost) arrays of shape (n, K)"
        )
    reward, cost = router.predict_arm_values(X)
    reward = np.asarray(reward, dtype=float)
    cost = np.asarray(cost, dtype=float)
    if reward.ndim != 2 or reward.shape != cost.shape or reward.shape[1] < 2:
        raise ValueError(
            "the router's arm values must be two (n, K) arrays with K >= 2, got "
            f"{reward.shape} and {cost.shape}"
        )
    if not (np.all(np.isfinite(reward)) and np.all(np.isfinite(cost))):
        raise ValueError("the router's arm values must be finite")
    return reward, cost


def _check_real(value, name, *, positive=False, low=None, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"`{name}` must be positive, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"`{name}` must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"`{name}` must be <= {high}, got {value!r}")
    return value


class BudgetPacer:
    """Route a stream in arrival order under a mean-cost budget (online dual descent).

    Parameters
    ----------
    router : fitted router
        Anything :func:`arm_values` accepts (``predict_arm_values(X)``, or the
        binary RacerRouter / KNNRouter through the adapter). Arm 0 must be the
        cheapest (default) arm.
    budget : float
        Budget ``B`` on the mean cost per query, in the unit of ``costs``.
    step_size : float, optional
        Dimensionless ``eta``; default ``1 / sqrt(T)`` for a stream of ``T``.
    initial_multiplier : float, optional
        ``lambda_1`` in the unit of reward per cost. Default: the router's
        ``multiplier_`` when it has one (RacerRouter), else 0.
    warmup : float in [0, 1), default=0.1
        The cap allows a spend of ``B w T`` before the running average is
        held to ``B`` (see the module notes).
    temperature : float >= 0, default=0.0
        0: the arm maximising ``r_hat - lambda c_hat``. Positive: the arm is
        drawn from the entropy-regularised policy
        ``softmax((r_hat - lambda c_hat) / temperature)`` (RACER's policy has
        ``temperature = beta``).
    cost_bound : float or array-like of shape (K,), optional
        A known upper bound on each arm's cost per query (BLM's ``c_bar``, e.g.
        the judge's context length times its price). With it the cap uses the
        bound, and the running mean cost after the warm-up never exceeds ``B``.
        Default: the larger of the arm's estimated cost and the largest cost
        observed for it so far (one query above every earlier one can then
        overshoot by its excess).
    target : {"remaining", "budget"}, default="remaining"
        The rate the multiplier steers the spend to: ``"budget"`` is BLM's
        ``B``; ``"remaining"`` is the budget left per query left,
        ``(B T - spend) / (T - t)``, which hands unspent budget back later in the
        stream (measured on the judge-escalation length shift: 91-95% of the
        budget used against 88-90% with ``"budget"``, same value on the tests'
        synthetic streams). Both equal ``B`` while the spend is on track.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws when ``temperature > 0``.

    Attributes
    ----------
    arms_ : ndarray of int, shape (T,)
        The decisions of the last :meth:`run`.
    multipliers_ : ndarray of shape (T,)
        ``lambda_t`` used for each decision.
    spend_ : ndarray of shape (T,)
        Cumulative cost after each decision.
    capped_ : ndarray of bool, shape (T,)
        Where the cap forbade the arm the multiplier would have chosen.
    multiplier_ : float
        The multiplier after the last query.
    mean_cost_ : float
        Realised mean cost of the stream.

    Examples
    --------
    >>> import numpy as np
    >>> class Oracle:  # the strong arm gains x and costs 1
    ...     def predict_arm_values(self, X):
    ...         x = np.asarray(X)[:, 0]
    ...         return np.column_stack([0 * x, x]), np.column_stack([0 * x, 1 + 0 * x])
    >>> X = np.random.default_rng(0).uniform(size=(2000, 1))
    >>> costs = np.tile([0.0, 1.0], (2000, 1))
    >>> pacer = BudgetPacer(Oracle(), budget=0.25)
    >>> arms = pacer.run(X, costs)
    >>> bool(0.225 <= pacer.mean_cost_ <= 0.25)
    True
    """

    def __init__(
        self,
        router,
        budget,
        *,
        step_size=None,
        initial_multiplier=None,
        warmup=0.1,
        temperature=0.0,
        cost_bound=None,
        target="remaining",
        random_state=None,
    ):
        self.router = router
        self.budget = budget
        self.step_size = step_size
        self.initial_multiplier = initial_multiplier
        self.warmup = warmup
        self.temperature = temperature
        self.cost_bound = cost_bound
        self.target = target
        self.random_state = random_state

    def _check(self, T):
        budget = _check_real(self.budget, "budget", positive=True)
        eta = (
            1.0 / math.sqrt(T)
            if self.step_size is None
            else _check_real(self.step_size, "step_size", positive=True)
        )
        warmup = _check_real(self.warmup, "warmup", low=0.0, high=0.999)
        lam = self.initial_multiplier
        if lam is None:
            lam = getattr(self.router, "multiplier_", 0.0)
        lam = _check_real(lam, "initial_multiplier", low=0.0)
        return budget, eta, warmup, lam

    def run(self, X, costs) -> np.ndarray:
        """Route the rows of ``X`` in order; return the arm index of each.

        Parameters
        ----------
        X : array-like of shape (T, d)
            The stream's features, in arrival order.
        costs : array-like of shape (T, K)
            Each row's cost of each arm; only the chosen arm's cost is read
            (after its decision), so unchosen arms may be NaN. A NaN (or a
            negative or infinite value) in a chosen arm is an error. One
            exception: the finite entries of arm 0's column (the cheapest arm)
            are averaged up front to tell whether the budget can be met at all;
            they never steer a decision otherwise.

        Returns
        -------
        ndarray of int, shape (T,)
        """
        reward, cost_hat = arm_values(self.router, X)
        T, K = reward.shape
        costs = np.asarray(costs, dtype=float)
        if costs.shape != (T, K):
            raise ValueError(
                f"`costs` must have shape {(T, K)} (one row per query, one column "
                f"per arm), got {costs.shape}"
            )
        budget, eta, warmup, lam = self._check(T)
        temperature = _check_real(self.temperature, "temperature", low=0.0)
        if self.target not in ("remaining", "budget"):
            raise ValueError(
                f"`target` must be 'remaining' or 'budget', got {self.target!r}"
            )
        rng = check_random_state(self.random_state)
        min_cost = float(np.mean(cost_hat[:, 0]))
        observed0 = costs[:, 0][np.isfinite(costs[:, 0])]
        if observed0.size:
            min_cost = max(min_cost, float(observed0.mean()))
        if budget < min_cost - 1e-12 * max(1.0, abs(min_cost)):
            warnings.warn(
                f"`budget` = {budget!r} is below the cheapest arm's mean cost "
                f"{min_cost!r}: it cannot be met; every query goes to arm 0",
                stacklevel=2,
            )
            force_cheapest = True
        else:
            force_cheapest = False
        gaps = np.abs(reward - reward[:, :1])[:, 1:]
        scale = float(gaps.mean()) if gaps.size and gaps.mean() > 0 else 1.0
        grace = budget * warmup * T
        bound = np.full(K, -np.inf)  # largest observed cost per arm
        if self.cost_bound is not None:
            known = np.broadcast_to(np.asarray(self.cost_bound, dtype=float), (K,))
            if not np.all(np.isfinite(known)) or (known < 0).any():
                raise ValueError(
                    f"`cost_bound` must be finite and non-negative, got {self.cost_bound!r}"
                )
            bound = known.copy()
        arms = np.zeros(T, dtype=int)
        multipliers = np.empty(T)
        spend = np.empty(T)
        capped = np.zeros(T, dtype=bool)
        spent = 0.0
        for t in range(T):
            multipliers[t] = lam
            if force_cheapest:
                k = 0
            else:
                score = reward[t] - lam * cost_hat[t]
                if temperature > 0:
                    z = np.exp((score - score.max()) / temperature)
                    k = int(rng.choice(K, p=z / z.sum()))
                else:
                    k = int(np.argmax(score))
                limit = max(budget * (t + 1), grace)
                if k != 0:
                    allowed = spent + np.maximum(cost_hat[t], bound) <= limit
                    allowed[0] = True
                    if not allowed[k]:
                        capped[t] = True
                        wanted = max(cost_hat[t, k], bound[k])
                        k = int(np.argmax(np.where(allowed, score, -np.inf)))
            c = costs[t, k]
            if not (math.isfinite(c) and c >= 0):
                raise ValueError(
                    f"`costs`[{t}, {k}] = {c!r}: the chosen arm's cost must be a "
                    "finite non-negative number (only unchosen arms may be NaN)"
                )
            if self.cost_bound is None:
                bound[k] = max(bound[k], c)
            elif c > bound[k]:
                raise ValueError(
                    f"`costs`[{t}, {k}] = {c!r} exceeds `cost_bound` {bound[k]!r}"
                )
            spent += c
            arms[t] = k
            spend[t] = spent
            # The dual subgradient is the cost of the multiplier's choice: where the
            # cap overrode it, its cost bound (else the cap would drive lambda down).
            g = wanted if capped[t] else c
            # The target rate: the budget per query (BLM), or what is left per query left.
            rate = budget
            if self.target == "remaining" and t + 1 < T:
                rate = max(0.0, (budget * T - spent) / (T - t - 1))
            lam = max(0.0, lam + eta * (g - rate) / budget * scale / budget)
        self.arms_ = arms
        self.multipliers_ = multipliers
        self.spend_ = spend
        self.capped_ = capped
        self.multiplier_ = lam
        self.mean_cost_ = spent / T
        return arms
