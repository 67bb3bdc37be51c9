"""The primal-dual iterations beneath :class:`racer_dro.RacerRouter`'s fit (fictitious play).

:class:`RacerPolicy` is the fitted policy ``softmax((a(x) - lambda b(x)) / beta)``;
:func:`_fit_mean` fits one of its ``a_k`` / ``b_k`` (a clone of the policy model on
soft targets); :class:`_PrimalDual` iterates the primal step (those fits, on the
worst-case-weighted reward and cost differences), the exact dual step
(:func:`_dual_root`) and the running average of the worst-case weights; and
:func:`_choose_policy_C` starts it once per candidate ``C`` and continues the
best-validated run. :mod:`racer_dro.router` holds the estimator and the notes on
each step (module docstring).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from racer_dro import formulas
from racer_dro._soft_logistic import refit_soft_logistic
from racer_dro.problem import RoutingProblem

__all__ = ["RacerPolicy"]

_TOL = (
    1e-4  # stop when the weighted mean total-variation change of the policy is below it
)


class _ConstantModel:
    """Stand-in for a classifier when every target is equal."""

    classes_ = np.array([0, 1])

    def __init__(self, prob: float):
        self.prob = prob

    def predict_proba(self, X):
        n = X.shape[0]
        return np.column_stack([np.full(n, 1.0 - self.prob), np.full(n, self.prob)])


def _fit_mean(base, X2, y2, row_weight, values, previous=None, refit_params=None):
    """Estimate ``E[values | x]`` with a weighted classifier on soft targets.

    Returns ``(model, lo, hi)``; the estimate is ``lo + (hi - lo) p(x)``.
    ``previous``, the same function's fit at the previous iterate, is the warm
    start when the classifier has a ``warm_start`` parameter: a copy of it is
    refitted (its targets moved little), so the iterate kept earlier is untouched.
    With ``refit_params`` (the default logistic model) a previous
    ``LogisticRegression`` is refitted on the soft targets of the ``n`` rows
    directly (:func:`racer_dro._soft_logistic.refit_soft_logistic`: the same
    objective as the duplicated rows, half the work).
    """
    active = row_weight > 0
    lo, hi = float(values[active].min()), float(values[active].max())
    if hi == lo:
        return _ConstantModel(0.5), lo - 0.5, lo + 0.5
    q = (values - lo) / (hi - lo)
    n = q.shape[0]
    w1, w0 = q * row_weight, (1.0 - q) * row_weight  # the two copies' weights
    both_classes = bool((w1 > 0).any() and (w0 > 0).any())
    warm = (
        previous is not None
        and not isinstance(previous[0], _ConstantModel)
        and "warm_start" in base.get_params()
        and both_classes
    )
    if (
        warm
        and refit_params is not None
        and isinstance(previous[0], LogisticRegression)
    ):
        rows = slice(None) if active.all() else active  # a view, not a copy, of X
        model = refit_soft_logistic(
            previous[0], X2[:n][rows], q[rows], row_weight[rows], **refit_params
        )
        return model, lo, hi
    if warm:
        model = copy.deepcopy(previous[0])
        model.set_params(warm_start=True)
    else:
        model = clone(base)
    w2 = np.concatenate([w1, w0])
    keep = w2 > 0
    model.fit(X2[keep], y2[keep], sample_weight=w2[keep])
    return model, lo, hi


def _predict_mean(model, lo, hi, X) -> np.ndarray:
    proba = model.predict_proba(X)
    col = int(np.flatnonzero(np.asarray(model.classes_) == 1)[0])
    return lo + (hi - lo) * proba[:, col]


class RacerPolicy:
    """A fitted RACER policy ``pi(. | x) = softmax((a(x) - lambda b(x)) / beta)`` over K arms.

    ``a_k`` estimates the worst-case-weighted reward difference
    ``E[w_r (r(k) - r(0)) | x]``, ``b_k`` the worst-case-weighted cost difference
    ``E[w_c (c(k) - c(0)) | x]`` (``a_0 = b_0 = 0``); each is a fitted clone of the
    router's ``policy_model`` (see the module notes).

    Attributes
    ----------
    reward_fits, cost_fits : list of (classifier, lo, hi)
        One per arm ``k >= 1``: the fitted clone and the range mapping its
        probability ``p`` to ``lo + (hi - lo) p``.
    multiplier : float
    beta : float

    Examples
    --------
    >>> import numpy as np
    >>> from racer_dro import RacerRouter
    >>> from racer_dro.datasets import make_judge_data
    >>> train = make_judge_data(500, random_state=0)
    >>> router = RacerRouter(3.0, robust="none", random_state=0)
    >>> policy = router.fit(train.X, train.rewards, train.costs).policy_model_
    >>> a, b = policy.arm_values(train.X[:3])  # arm 0 is the reference: a_0 = b_0 = 0
    >>> a.shape, float(np.abs(a[:, 0]).max())
    ((3, 2), 0.0)
    >>> bool(np.allclose(policy.predict_proba(train.X[:3]), router.predict_proba(train.X[:3])))
    True
    """

    def __init__(self, reward_fits, cost_fits, multiplier: float, beta: float):
        self.reward_fits = list(reward_fits)
        self.cost_fits = list(cost_fits)
        self.multiplier = float(multiplier)
        self.beta = float(beta)
        self.classes_ = np.arange(len(self.reward_fits) + 1)

    def arm_values(self, X) -> tuple[np.ndarray, np.ndarray]:
        """``(a(x), b(x))``, each (n, K): weighted reward and cost relative to arm 0."""
        n = X.shape[0]
        a = np.zeros((n, len(self.classes_)))
        b = np.zeros_like(a)
        for k, (fit_r, fit_c) in enumerate(zip(self.reward_fits, self.cost_fits), 1):
            a[:, k] = _predict_mean(*fit_r, X)
            b[:, k] = _predict_mean(*fit_c, X)
        return a, b

    def predict_proba(self, X) -> np.ndarray:
        """``pi(a | x)``, shape (n, K)."""
        a, b = self.arm_values(X)
        return formulas.softmax_policy(a - self.multiplier * b, self.beta)


class _PrimalDual:
    """The primal-dual iterations on the training rows (an iterable of iterates).

    Yields ``(policy_k, policy, change)``: the fitted :class:`RacerPolicy`, its
    policy on the training rows and the weighted mean absolute change from
    the previous iterate. ``converged`` is set once the iterations stop on
    their tolerance.
    """

    def __init__(
        self,
        problem: RoutingProblem,
        X,
        base,
        max_iter: int,
        refit_params=None,
        warm_fits=None,
        stacked=None,
    ):
        self.problem, self.X, self.base, self.max_iter = problem, X, base, max_iter
        self.refit_params = refit_params
        # (reward fits, cost fits) to start the first refits from
        self.warm_fits = warm_fits
        # (X2, y2) of _stacked_rows(X), when several runs share one copy
        self.stacked = stacked
        self.converged = False

    def __iter__(self):
        problem, X = self.problem, self.X
        n = X.shape[0]
        rho = problem.weights
        row_weight = rho * n
        X2, y2 = _stacked_rows(X) if self.stacked is None else self.stacked
        robust = problem.reward_mode != "none" or problem.cost_mode != "none"
        dr = problem.rewards[:, 1:] - problem.rewards[:, :1]  # relative to arm 0
        dc = problem.costs[:, 1:] - problem.costs[:, :1]
        w_r = np.ones(n)
        w_c = np.ones(n)
        policy = None
        lam = None
        fits_r = [None] * dr.shape[1]
        fits_c = [None] * dc.shape[1]
        if self.warm_fits is not None:
            fits_r, fits_c = (list(fits) for fits in self.warm_fits)
        self.converged = False
        for k in range(self.max_iter):
            # a_j on the weighted reward differences, b_j on the cost differences
            fits_r, fits_c = (
                [
                    _fit_mean(
                        self.base,
                        X2,
                        y2,
                        row_weight,
                        w * diff[:, j],
                        fits[j],
                        self.refit_params,
                    )
                    for j in range(diff.shape[1])
                ]
                for w, diff, fits in ((w_r, dr, fits_r), (w_c, dc, fits_c))
            )
            policy_k = RacerPolicy(fits_r, fits_c, 0.0, problem.beta)
            a, b = policy_k.arm_values(X)
            lam = _dual_root(problem, a, b, guess=lam)
            policy_k.multiplier = lam
            new = formulas.softmax_policy(a - lam * b, problem.beta)
            change = (
                math.inf
                if policy is None
                else 0.5 * float(rho @ np.abs(new - policy).sum(axis=1))
            )
            policy = new
            self.last_change = change
            yield policy_k, policy, change
            if not robust or change <= _TOL:
                self.converged = True
                return
            # Fictitious play: average the worst-case weights over the iterates.
            n_r = formulas.worst_case_ratios(
                problem.worst_case_reward(policy).weights, rho
            )
            n_c = formulas.worst_case_ratios(
                problem.worst_case_cost(policy).weights, rho
            )
            step = 1.0 / (k + 2)
            w_r = w_r + step * (n_r - w_r)
            w_c = w_c + step * (n_c - w_c)


def _choose_policy_C(problem, X, base, Cs, max_iter, refit_params, score):
    """Start the primal-dual once per candidate ``C``; continue the best-validated run.

    Each candidate's first iterate (nominal weights) is scored on the validation
    split by ``score`` and compared as iterates are (:func:`_better`: the highest
    validation reward among those within the budget); ties keep the earlier
    candidate. Returns ``(C, iterates, stream, scores)``: the chosen ``C``
    (``None`` when ``Cs`` is ``(None,)``: ``base`` as given), its
    :class:`_PrimalDual`, a stream of ``(policy_k, policy, change, record)``
    whose first item is the scored first iterate, and the candidates' scores
    (a DataFrame indexed by ``C``, or ``None`` for a single candidate).

    With the default model (``refit_params``) every candidate after the first
    starts its logistic fits from the previous candidate's (warm L-BFGS refits,
    :func:`racer_dro._soft_logistic.refit_soft_logistic`, at its own ``C``): a
    cold fit at d = 1,024 forms d x d Hessians, and one per candidate made the
    fit at the RACER paper's scale several times slower.
    """
    runs, previous = [], None
    stacked = _stacked_rows(X)  # one copy for every candidate's run
    for C in Cs:
        model = base if C is None else clone(base).set_params(C=C)
        warm = None
        if previous is not None:  # the previous candidate's fits, at this C
            warm = tuple(
                [(_with_C(fit[0], C), *fit[1:]) for fit in fits] for fits in previous
            )
        iterates = _PrimalDual(problem, X, model, max_iter, refit_params, warm, stacked)
        gen = iter(iterates)
        first = next(gen)
        runs.append((C, iterates, gen, first, score(first)))
        if refit_params is not None:
            previous = (first[0].reward_fits, first[0].cost_fits)
    chosen = runs[0]
    for run in runs[1:]:
        if _better(run[4], chosen[4]):
            chosen = run
    for run in runs:
        if run is not chosen:
            run[2].close()  # the other candidates' runs end here, and free their fits
    C, iterates, gen, first, record = chosen

    def stream():
        yield (*first, record)
        for item in gen:
            yield (*item, score(item))

    scores = None
    if len(runs) > 1:
        keys = (
            "validation_reward",
            "validation_cost",
            "validation_cost_se",
            "feasible",
        )
        scores = pd.DataFrame(
            [{"C": run[0], **{key: run[4][key] for key in keys}} for run in runs]
        ).set_index("C")
    return C, iterates, stream(), scores


def _stacked_rows(X):
    """``(X2, y2)``: every row twice, as class 1 and as class 0 (the soft targets' fit)."""
    n = X.shape[0]
    return np.vstack([X, X]), np.concatenate([np.ones(n), np.zeros(n)])


def _with_C(model, C):
    """A copy of a fitted logistic ``model`` with inverse regularisation ``C`` (the
    warm start of the next candidate's refit); any other model as it is."""
    if not isinstance(model, LogisticRegression):
        return model
    model = copy.deepcopy(model)
    model.C = C
    return model


def _primal_dual(
    problem: RoutingProblem, X, base, max_iter: int, refit_params=None
) -> _PrimalDual:
    """Iterates of the primal-dual on ``problem``'s rows with features ``X``."""
    return _PrimalDual(problem, X, base, max_iter, refit_params)


def _subproblem(full: RoutingProblem, idx, kw, check_budget=True) -> RoutingProblem:
    """The problem restricted to rows ``idx`` (weights renormalised)."""
    budget = full.budget
    if not check_budget:
        # The validation split only scores iterates (its budget is unused):
        # any budget above its largest cost is feasible there.
        budget = max(budget, float(full.costs[idx].max()) + 1.0)
    return RoutingProblem(
        full.rewards[idx],
        full.costs[idx],
        budget,
        sample_weight=full.weights[idx],
        **kw,
    )


def _dual_root(
    problem: RoutingProblem, a: np.ndarray, b: np.ndarray, guess=None
) -> float:
    """The multiplier with ``beta lambda = (C(pi_lambda) - B)_+`` on the training rows.

    ``excess(lambda) = C(pi_lambda) - B - beta lambda`` is decreasing; its root
    is bracketed (from ``guess``, the previous multiplier, when given) and
    found by ``scipy.optimize.brentq``.
    """
    beta, budget = problem.beta, problem.budget

    def excess(lam: float) -> float:
        pi = formulas.softmax_policy(a - lam * b, beta)
        return problem.worst_case_cost(pi).value - budget - beta * lam

    if excess(0.0) <= 0:
        return 0.0
    if guess is not None and guess > 0:
        lo, hi, factor = guess, guess, 1.25
        if excess(guess) > 0:
            hi = guess * factor
            while excess(hi) > 0:
                lo, hi = hi, hi * factor
                factor *= factor
        else:
            lo = guess / factor
            while lo > 0 and excess(lo) <= 0:
                hi, lo = lo, lo / factor
                factor *= factor
                if lo < 1e-300:
                    lo = 0.0
        return float(brentq(excess, lo, hi, xtol=1e-14, rtol=1e-10, maxiter=500))
    scale = float(np.max(np.abs(a))) / max(float(np.mean(np.abs(b))), 1e-300)
    scale = scale if math.isfinite(scale) else 1.0
    lo, hi = 0.0, scale if scale > 0 else 1.0
    for _ in range(200):
        if excess(hi) < 0:
            break
        lo, hi = hi, 2.0 * hi
    return float(brentq(excess, lo, hi, xtol=1e-14, rtol=1e-10, maxiter=500))


def _better(record: dict, best: dict) -> bool:
    if not best:
        return True
    if record["feasible"] != best["feasible"]:
        return record["feasible"]
    if record["feasible"]:
        return record["validation_reward"] > best["validation_reward"]
    return record["validation_cost"] < best["validation_cost"]
