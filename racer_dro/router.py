"""RacerRouter: a parametric RACER policy over K arms for unseen queries (Algorithm 1 of RACER).

The policy ``pi_theta(a | z)`` over arms ``a = 0, ..., K - 1`` (models or judges;
the binary reasoning/instruct judge is ``K = 2``) is trained by primal-dual on the training rows
for the regularised saddle problem (user guide, "RACER")::

    max_theta min_{lambda >= 0} R(pi_theta) - lambda (C(pi_theta) - B)
                                + beta H(pi_theta) + (beta / 2) lambda^2,

with ``R`` the worst-case reward and ``C`` the worst-case cost over KL
neighbourhoods of the empirical distribution (one per side, or none).

Primal step. The gradient of the Lagrangian with respect to ``theta`` is
``sum_i rho_n(i) sum_a (s_i(a) - beta log pi_i(a)) d pi_i(a) / d theta`` with the
per-row, per-arm score ``s_i(a) = w_r(i) r_i(a) - lambda w_c(i) c_i(a)``
(:func:`racer_dro.formulas.arm_scores`; worst-case weight ratios
``w = rho_worst / rho_n`` at the current policy, by the envelope theorem). For a
flexible enough policy class the maximiser is therefore
``pi(a | x) ∝ exp(E[s(a) | x] / beta)``: the closed-form primal step of the tabular
problem applied to the score *averaged over queries with the same features*. Only
differences between arms matter, so by linearity
``E[s(a) - s(0) | x] = a_a(x) - lambda b_a(x)`` with
``a_a(x) = E[w_r (r(a) - r(0)) | x]`` and ``b_a(x) = E[w_c (c(a) - c(0)) | x]``
(``a_0 = b_0 = 0``); each of these ``2 (K - 1)`` functions is estimated by a
clone of ``policy_model``: values ``v_i`` in ``[lo, hi]`` become soft targets
``q_i = (v_i - lo) / (hi - lo)``, each row is duplicated as class 1 with
weight ``q_i n rho_n(i)`` and class 0 with weight ``(1 - q_i) n rho_n(i)``,
and the fitted probability ``p(x)``, an estimate of ``E[q | x]`` (the
minimiser of the expected log-loss), maps back to ``lo + (hi - lo) p(x)``.
The policy is ``pi(. | x) = softmax((a_hat(x) - lambda b_hat(x)) / beta)``.

(For K = 2, fitting a classifier to the tabular soft targets ``expit(s_i / beta)``
instead estimates ``E[expit(s / beta) | x]``, the probability that reasoning
helps a query like ``x`` rather than whether it helps on average; with 0/1
judge-correctness rewards and small ``beta`` that routes many queries of
domains where reasoning gains nothing. Measured on
``racer_dro.datasets.make_judge_data`` at budget 3: 0.001-0.004 above random
routing at equal cost, against 0.011-0.015 for the conditional mean.)

Dual step. Given ``a_hat`` and ``b_hat`` the multiplier is exact: the root of
``beta lambda = (C(pi_lambda) - B)_+`` on the training rows
(``scipy.optimize.brentq``; ``C`` is recomputed exactly for every trial
``lambda``, so no classifier is refitted).

Worst-case weights. They depend on the policy; re-evaluating them at the
newest policy (the undamped iteration) cycles when the worst case is
concentrated (small temperature or radius against a wide spread of costs),
so each iteration uses the running average of the weights at all iterates
so far (fictitious play), whose fixed points are those of the undamped
iteration. Iterations stop when the policy on the training rows stops moving
(weighted mean total-variation change below 1e-4), or after ``max_iter``; with
neither side robust one iteration is exact.

Cost. Each iterate refits ``2 (K - 1)`` models on targets that moved little,
so every refit starts from a copy of the previous iterate's fit (``warm_start``);
the default logistic model is refitted by L-BFGS (O(n d) per step, where a
Newton step forms a d x d Hessian in O(n d^2)) on the soft targets of the ``n``
rows directly (the same objective as the duplicated rows at half the work,
:mod:`racer_dro._soft_logistic`). With ``n_iter_no_change`` the
iterations also stop once the kept iterate (below) has not changed for that
many iterations (``benchmarks/racer_fit.py`` times it at the RACER paper's scale).

Selection (Algorithm 1, step e). Every iterate is scored on the validation
split. The kept iterate has the highest validation worst-case reward among
those whose validation worst-case cost is within the budget up to twice its
standard error (sd of the per-row costs over the square root of the
effective number of validation rows: the mean cost's, smaller than the worst
case's own, :func:`racer_dro.formulas.worst_case_standard_error`, so the test
is strict where a budget should be; with the worst case's standard error, a
three-arm instance of ``benchmarks/racer_fit.py --quick`` kept an iterate at
1.5 times the budget): every iterate meets the budget on the
training rows by construction (up to the regulariser's ``beta lambda``), and a
strict test on a few hundred validation
rows would reject the converged policy half of the time. When no iterate
passes, the one with the smallest validation worst-case cost is kept, with a
warning.

Regularisation of the default policy model. Its ``C`` is chosen from
``policy_Cs`` by the same rule, on each candidate's first iterate (nominal
weights); the iterations then continue with the chosen one. The per-query
reward differences are noisy (``-1, 0, 1`` for correctness), and with
scikit-learn's default ``C = 1`` alone the policy followed that noise. Measured
on RouterBench (11 models, K-arm router, budgets 10% and 40% of the way from
the cheapest to GPT-4's cost, 6 random 70/30 splits, the data, features and
baseline of ``python -m simulations racer-models``): trained on
arc_challenge alone, ``C = 1`` was 0.90 +- 0.32 accuracy points below the best
mix of two single models at 10%, ``C = 0.1`` 0.17 +- 0.10 below; on
arc_challenge + winogrande, ``C = 1`` gave -0.07 +- 0.18 and +1.02 +- 0.12 points
against the mix, ``C = 0.1`` +0.13 +- 0.01 and +1.59 +- 0.10. The best ``C``
depends on the features' scale and the signal, hence the choice on validation.
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, has_fit_parameter, validate_data

from racer_dro import formulas
from racer_dro._soft_logistic import refit_soft_logistic
from racer_dro._validation import (
    check_nonnegative,
    check_positive,
    check_rewards_costs,
    resolve_arm_names,
)
from racer_dro.problem import RoutingProblem

__all__ = ["RacerPolicy", "RacerRouter"]

_ROBUST = ("none", "reward", "cost", "both")
_TOL = (
    1e-4  # stop when the weighted mean total-variation change of the policy is below it
)
_SE_FACTOR = 2.0
# Refits of the default model after the first iterate: the same objective, solved
# by L-BFGS from the previous iterate's coefficients. Its steps cost O(n d) where
# a Newton step forms the d x d Hessian in O(n d^2): at d = 1024 one Newton
# step costs as much as hundreds of L-BFGS steps.
_DEFAULT_REFIT = {"tol": 1e-6, "max_iter": 500}
_X_MAX = 1e50  # |X| beyond which the policy models fit constants (measured: 1e80 does)


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


class RacerRouter(ClassifierMixin, BaseEstimator):
    """Robust, cost-constrained routing of an LLM judge's reasoning mode (RACER).

    Parameters
    ----------
    budget : float
        Budget ``B`` on the (worst-case) mean cost per query, in the unit of
        ``costs``.
    robust : {"none", "reward", "cost", "both"}, default="both"
        Which sides are distributionally robust: ACER ("none"), RACER-R
        ("reward"), RACER-C ("cost") or RACER ("both"). A side that is not
        robust ignores its temperature and radius.
    beta : float, default=0.01
        Entropy (and dual) regulariser, ``beta > 0``.
    reward_temperature, cost_temperature : float, optional
        KL penalty temperature of a robust side (penalised worst case,
        Theorem 3.1); smaller is more robust. A robust side with neither a
        temperature nor a radius uses temperature 1; giving both raises. It acts on the scale of the
        rewards (costs): with costs in units of the mean instruct cost and
        reasoning several times dearer, ``cost_temperature=1`` is very
        conservative.
    reward_radius, cost_radius : float, optional
        KL ball radius of a robust side (at most one of radius and
        temperature per side, as in :class:`RoutingProblem`). A radius at least the KL
        divergence of a deployment shift from the training distribution
        bounds the deployment's expected cost (in the population).
    policy_model : classifier, optional
        Any scikit-learn classifier with ``predict_proba`` whose ``fit``
        accepts ``sample_weight``; cloned before use (twice per iteration).
        Default ``LogisticRegression(solver="newton-cholesky", tol=1e-8)``.
        ``2 (K - 1)`` clones are fitted per iteration.
    policy_Cs : float or sequence of float, default=(1.0, 0.1, 0.01, 0.001, 0.0001)
        Inverse regularisation strengths ``C`` of the default logistic policy
        model, chosen on the validation split (Selection in the module notes);
        one value fixes it. Ignored when ``policy_model`` is given. (With
        scikit-learn's default ``C = 1`` alone, on RouterBench's 11 models the
        router overfitted the noisy per-query reward differences: see the notes.)
    validation_fraction : float in (0, 1), default=0.2
        Share of rows held out to select the iterate.
    max_iter : int, default=200
        Maximum number of primal-dual iterations.
    n_iter_no_change : int or None, default=15
        Early stopping (Algorithm 1 selects the iterate on the validation
        split anyway): stop once the kept iterate (the best validated so far,
        see Selection in the module notes) has not changed for this many
        iterations. None runs to the tolerance or ``max_iter``. (With 5, a
        three-arm instance of ``benchmarks/racer_fit.py --quick`` stopped at
        iterate 5, 3.1 standard errors of validation reward below the fit run
        to 40 iterations; with 15 it keeps iterate 27, 0.9 below.)
    random_state : int, RandomState instance or None, default=None
        Seeds the train/validation split and the policy model.

    Attributes
    ----------
    policy_model_ : RacerPolicy
        The kept iterate: its fitted reward and cost classifiers, multiplier
        and ``beta``; ``policy_model_.predict_proba`` is the policy.
    arm_names_ : ndarray of object or None
        The arm names given to ``fit`` (e.g. model names), by default the
        column labels of ``rewards`` / ``costs`` DataFrames; ``None`` without either.
    multiplier_ : float
        The multiplier ``lambda`` of the kept iterate.
    best_iteration_ : int
        Index (into ``history_``) of the kept iterate.
    policy_C_ : float or None
        The default policy model's ``C`` chosen from ``policy_Cs`` (None when
        ``policy_model`` is given).
    policy_C_scores_ : pandas.DataFrame or None
        One row per candidate ``C`` (index ``C``): the validation scores of its
        first iterate (``validation_reward``, ``validation_cost``,
        ``validation_cost_se``, ``feasible``), by which ``policy_C_`` was chosen;
        None without a choice (one candidate or a given ``policy_model``).
    n_iter_ : int
        Iterations run.
    converged_ : bool
        Whether the iterations met their tolerance within ``max_iter``.
    stopped_early_ : bool
        Whether they stopped on ``n_iter_no_change`` (then without the
        non-convergence warning).
    history_ : pandas.DataFrame
        One row per iteration: ``multiplier``, ``train_reward``, ``train_cost``
        (worst case on the training rows), ``validation_reward``,
        ``validation_cost`` (worst case on the validation rows),
        ``validation_cost_se`` (the mean cost's standard error), ``feasible`` (validation cost within the
        budget up to two standard errors), ``policy_change`` (weighted mean
        total-variation change of the training policy).
    train_indices_, validation_indices_ : ndarray of int
        The split.
    problem_keywords_ : dict
        The :class:`RoutingProblem` keywords every iteration's problem was
        built with: ``beta`` and each robust side's ``<side>_radius`` or
        ``<side>_temperature`` (a side that is not robust has none).
    classes_ : ndarray
        ``[0, ..., K - 1]``: the arm indices ``predict`` returns.
    n_features_in_, feature_names_in_
        As in scikit-learn.

    See Also
    --------
    racer_dro.solve_primal_dual : the tabular problem on the same rows.

    Examples
    --------
    >>> from racer_dro import RacerRouter
    >>> from racer_dro.datasets import make_judge_data
    >>> train = make_judge_data(1000, random_state=0)
    >>> router = RacerRouter(3.0, robust="cost", cost_radius=0.2, random_state=0)
    >>> router = router.fit(train.X, train.rewards, train.costs)
    >>> test = make_judge_data(1000, random_state=1)
    >>> pi = router.predict_proba(test.X)  # (n, K): here K = 2
    >>> bool((pi * test.costs).sum(axis=1).mean() < 3.0)
    True
    >>> reward, cost = router.predict_arm_values(test.X[:2])  # a(x), b(x) per arm
    >>> reward.shape
    (2, 2)
    """

    def __init__(
        self,
        budget,
        *,
        robust="both",
        beta=0.01,
        reward_temperature=None,
        cost_temperature=None,
        reward_radius=None,
        cost_radius=None,
        policy_model=None,
        policy_Cs=(1.0, 0.1, 0.01, 0.001, 0.0001),
        validation_fraction=0.2,
        max_iter=200,
        n_iter_no_change=15,
        random_state=None,
    ):
        self.budget = budget
        self.robust = robust
        self.beta = beta
        self.reward_temperature = reward_temperature
        self.cost_temperature = cost_temperature
        self.reward_radius = reward_radius
        self.cost_radius = cost_radius
        self.policy_model = policy_model
        self.policy_Cs = policy_Cs
        self.validation_fraction = validation_fraction
        self.max_iter = max_iter
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state

    # ------------------------------------------------------------------ set-up
    def _side(self, robust_side: bool, radius, temperature, side: str) -> dict:
        """Problem keywords of one side (temperature 1 when neither is given)."""
        rname, tname = f"{side}_radius", f"{side}_temperature"
        if radius is not None and temperature is not None:
            raise ValueError(
                f"give at most one of `{rname}` and `{tname}` (a KL ball or a KL "
                "penalty), got both"
            )
        if radius is not None:
            radius = check_nonnegative(radius, rname, allow_inf=True)
        if temperature is not None:
            temperature = check_positive(temperature, tname, allow_inf=True)
        if not robust_side:
            return {}
        if radius is not None:
            return {rname: radius}
        return {tname: 1.0 if temperature is None else temperature}

    def _problem_keywords(self) -> dict:
        if not isinstance(self.robust, str) or self.robust not in _ROBUST:
            raise ValueError(f"`robust` must be one of {_ROBUST}, got {self.robust!r}")
        kw = {"beta": check_positive(self.beta, "beta")}
        kw.update(
            self._side(
                self.robust in ("reward", "both"),
                self.reward_radius,
                self.reward_temperature,
                "reward",
            )
        )
        kw.update(
            self._side(
                self.robust in ("cost", "both"),
                self.cost_radius,
                self.cost_temperature,
                "cost",
            )
        )
        return kw

    def _check_policy_model(self):
        model = self.policy_model
        if model is None:
            return LogisticRegression(solver="newton-cholesky", tol=1e-8)
        if not (hasattr(model, "fit") and hasattr(model, "predict_proba")):
            raise TypeError(
                "`policy_model` must be a scikit-learn classifier with fit and "
                f"predict_proba, got {type(model).__name__}"
            )
        if not has_fit_parameter(model, "sample_weight"):
            raise TypeError(
                "`policy_model` must accept `sample_weight` in fit; "
                f"{type(model).__name__}.fit does not"
            )
        return model

    def _policy_Cs(self) -> tuple:
        """The candidate ``C`` of the default policy model (``(None,)``: no choice)."""
        if self.policy_model is not None:
            return (None,)
        value = self.policy_Cs
        if isinstance(value, (numbers.Real, str)) or value is None:
            values = (value,)
        else:
            try:
                values = tuple(value)
            except TypeError:
                raise TypeError(
                    "`policy_Cs` must be a positive number or a sequence of them, "
                    f"got {value!r}"
                ) from None
        if not values:
            raise ValueError("`policy_Cs` must hold at least one value, got none")
        return tuple(check_positive(v, "policy_Cs") for v in values)

    def _check_scalars(self):
        frac = self.validation_fraction
        if isinstance(frac, bool) or not isinstance(frac, numbers.Real):
            raise TypeError(f"`validation_fraction` must be a number, got {frac!r}")
        if not 0.0 < frac < 1.0:
            raise ValueError(f"`validation_fraction` must be in (0, 1), got {frac!r}")
        if isinstance(self.max_iter, bool) or not isinstance(
            self.max_iter, numbers.Integral
        ):
            raise TypeError(f"`max_iter` must be an integer, got {self.max_iter!r}")
        if self.max_iter < 1:
            raise ValueError(f"`max_iter` must be >= 1, got {self.max_iter}")
        patience = self.n_iter_no_change
        if patience is not None:
            if isinstance(patience, bool) or not isinstance(patience, numbers.Integral):
                raise TypeError(
                    f"`n_iter_no_change` must be an integer or None, got {patience!r}"
                )
            if patience < 1:
                raise ValueError(f"`n_iter_no_change` must be >= 1, got {patience}")
            patience = int(patience)
        return float(frac), int(self.max_iter), patience

    # ------------------------------------------------------------------ fitting
    def fit(self, X, rewards, costs, sample_weight=None, arm_names=None):
        """Train the parametric policy by primal-dual, keeping the best validated iterate.

        Parameters
        ----------
        X : array-like of shape (n, d)
            Query features (pandas accepted; column names are kept).
        rewards : array-like of shape (n, K)
            Rewards of each arm, ``K >= 2`` (arm 0 conventionally the cheapest).
        costs : array-like of shape (n, K)
            Non-negative costs, same shape.
        sample_weight : array-like of shape (n,), optional
            Nominal weights ``rho_n`` (renormalised within each split).
        arm_names : sequence of K distinct names, optional
            Kept as ``arm_names_``; by default the column labels of ``rewards``
            (or ``costs``) when they are DataFrames, which must then agree.

        Returns
        -------
        self
        """
        kw = self._problem_keywords()
        base = clone(self._check_policy_model())
        Cs = self._policy_Cs()
        frac, max_iter, patience = self._check_scalars()
        X = validate_data(self, X, reset=True, dtype=float, ensure_all_finite=True)
        top = float(np.max(np.abs(X))) if X.size else 0.0
        if top > _X_MAX:
            # squares and inner products of such features overflow float64: every
            # classifier then fits a constant and the "converged" policy would be
            # meaningless (issue 12)
            raise ValueError(
                f"`X` has entries up to {top:.3g}; features beyond {_X_MAX:g} overflow "
                "the policy model's arithmetic: rescale them (e.g. StandardScaler)"
            )
        tables = rewards, costs  # their column labels name the arms
        rewards, costs = check_rewards_costs(rewards, costs, X.shape[0])
        names = resolve_arm_names(arm_names, *tables, rewards.shape[1])
        n = X.shape[0]
        # Validates budget, weights, beta and the sides; an infeasible budget
        # raises here, naming `budget` and the minimum achievable cost.
        full = RoutingProblem(
            rewards, costs, self.budget, sample_weight=sample_weight, **kw
        )
        n_val = math.floor(frac * n + 0.5)
        if n_val < 1 or n - n_val < 2:
            raise ValueError(
                f"`validation_fraction` = {frac!r} leaves {n - n_val} training and "
                f"{n_val} validation rows out of {n}; need at least 2 and 1"
            )
        rng = check_random_state(self.random_state)
        split_seed, model_seed = (
            int(s) for s in rng.randint(np.iinfo(np.int32).max, size=2)
        )
        train_idx, val_idx = train_test_split(
            np.arange(n), test_size=n_val, random_state=split_seed
        )
        train_idx, val_idx = np.sort(train_idx), np.sort(val_idx)
        try:
            problem = _subproblem(full, train_idx, kw)
        except ValueError as exc:
            raise ValueError(
                f"on the training split: {exc} (raise `budget` or change the split)"
            ) from exc
        val_problem = _subproblem(full, val_idx, kw, check_budget=False)
        budget = problem.budget
        if "random_state" in base.get_params():
            base.set_params(random_state=model_seed)

        X_tr, X_val = X[train_idx], X[val_idx]

        def score(item):  # an iterate (policy_k, policy, change) on validation
            return self._score(problem, val_problem, item[1], item[0], X_val, budget)

        refit = _DEFAULT_REFIT if self.policy_model is None else None
        chosen_C, iterates, stream, C_scores = _choose_policy_C(
            problem, X_tr, base, Cs, max_iter, refit, score
        )
        records: list[dict] = []
        best: dict = {}
        stopped_early, unchanged = False, 0
        for k, (policy_k, policy, change, record) in enumerate(stream):
            record.update(
                iteration=k, multiplier=policy_k.multiplier, policy_change=change
            )
            records.append(record)
            if _better(record, best):
                best, unchanged = dict(record, model=policy_k), 0
            else:
                unchanged += 1
            if patience is not None and unchanged >= patience:
                stopped_early = True
                break
        converged = iterates.converged

        if not (converged or stopped_early):
            warnings.warn(
                f"RacerRouter did not converge in `max_iter` = {max_iter} iterations "
                f"(last policy change {iterates.last_change:.3g}); the best validated "
                "iterate is kept",
                stacklevel=2,
            )
        if not best["feasible"]:
            hint = ""
            if problem.cost_mode == "temperature":
                hint = (
                    "; the cost side's temperature acts on the scale of the costs "
                    f"(`cost_temperature` = {problem.cost_temperature!r}): a KL radius "
                    "(`cost_radius`, e.g. 0.2) does not depend on it"
                )
            warnings.warn(
                "no iterate met the budget on the validation split; keeping the one "
                f"with the smallest validation worst-case cost ({best['validation_cost']!r}"
                f" > budget {budget!r}){hint}",
                stacklevel=2,
            )
        self.policy_model_ = best["model"]
        self.multiplier_ = best["multiplier"]
        self.best_iteration_ = best["iteration"]
        self.policy_C_ = chosen_C
        self.policy_C_scores_ = C_scores
        self.history_ = pd.DataFrame.from_records(records, index="iteration")[
            [
                "multiplier",
                "train_reward",
                "train_cost",
                "validation_reward",
                "validation_cost",
                "validation_cost_se",
                "feasible",
                "policy_change",
            ]
        ]
        self.n_iter_ = len(records)
        self.converged_ = converged
        self.stopped_early_ = stopped_early
        self.train_indices_ = train_idx
        self.validation_indices_ = val_idx
        self.problem_keywords_ = dict(kw)
        self.classes_ = np.arange(rewards.shape[1])
        self.arm_names_ = names
        return self

    @staticmethod
    def _score(problem, val_problem, policy, policy_k, X_val, budget) -> dict:
        val_pi = policy_k.predict_proba(X_val)
        val_c = val_problem.worst_case_cost(val_pi).value
        values = val_problem.cost_values(val_pi)
        rho = val_problem.weights
        mean = float(rho @ values)
        n_eff = 1.0 / float(rho @ rho)
        se = math.sqrt(max(float(rho @ (values - mean) ** 2), 0.0) / n_eff)
        return {
            "train_reward": problem.worst_case_reward(policy).value,
            "train_cost": problem.worst_case_cost(policy).value,
            "validation_reward": val_problem.worst_case_reward(val_pi).value,
            "validation_cost": val_c,
            "validation_cost_se": se,
            "feasible": bool(
                val_c <= budget + _SE_FACTOR * se + 1e-12 * (1 + abs(budget))
            ),
        }

    # ------------------------------------------------------------------ prediction
    def predict_proba(self, X) -> np.ndarray:
        """``pi(a | x)`` of the kept policy, shape (n, K)."""
        check_is_fitted(self, "policy_model_")
        X = validate_data(self, X, reset=False, dtype=float, ensure_all_finite=True)
        return self.policy_model_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        """The most probable arm per row (index into ``classes_``)."""
        return np.argmax(self.predict_proba(X), axis=1)

    def predict_arm_values(self, X) -> tuple[np.ndarray, np.ndarray]:
        """``(reward, cost)``, each (n, K): RACER's ``a(x)`` and ``b(x)`` per arm.

        The estimated worst-case-weighted reward and cost of each arm relative to
        arm 0 (only differences between arms matter); the policy is
        ``softmax((reward - multiplier_ * cost) / beta)``.
        """
        check_is_fitted(self, "policy_model_")
        X = validate_data(self, X, reset=False, dtype=float, ensure_all_finite=True)
        return self.policy_model_.arm_values(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


# ---------------------------------------------------------------------- internals
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
            fits_r = [
                _fit_mean(
                    self.base,
                    X2,
                    y2,
                    row_weight,
                    w_r * dr[:, j],
                    fits_r[j],
                    self.refit_params,
                )
                for j in range(dr.shape[1])
            ]
            fits_c = [
                _fit_mean(
                    self.base,
                    X2,
                    y2,
                    row_weight,
                    w_c * dc[:, j],
                    fits_c[j],
                    self.refit_params,
                )
                for j in range(dc.shape[1])
            ]
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
