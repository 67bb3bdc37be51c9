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

import math
import numbers
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, has_fit_parameter, validate_data

from racer_dro._validation import (
    check_nonnegative,
    check_positive,
    check_rewards_costs,
    resolve_arm_names,
)
from racer_dro.fictitious_play import (
    RacerPolicy,
    _better,
    _choose_policy_C,
    _subproblem,
)
from racer_dro.formulas import worst_case_standard_error
from racer_dro.judge_evaluation import policy_reward_at_budget
from racer_dro.problem import RoutingProblem

__all__ = ["RacerPolicy", "RacerRouter"]

_ROBUST = ("none", "reward", "cost", "both")
# KL radius of a robust side given neither a radius nor a temperature: a ball
# does not depend on the unit of the costs (temperature 1 did: at the paper's
# scale, costs up to 35x the cheap judge's, no iterate met the budget)
DEFAULT_RADIUS = 0.2
_SE_FACTOR = 2.0
# Refits of the default model after the first iterate: the same objective, solved
# by L-BFGS from the previous iterate's coefficients. Its steps cost O(n d) where
# a Newton step forms the d x d Hessian in O(n d^2): at d = 1024 one Newton
# step costs as much as hundreds of L-BFGS steps.
_DEFAULT_REFIT = {"tol": 1e-6, "max_iter": 500}
_X_MAX = 1e50  # |X| beyond which the policy models fit constants (measured: 1e80 does)


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
        Theorem 3.1); smaller is more robust. Giving both a temperature and a
        radius raises. A temperature acts on the scale of the rewards (costs):
        with costs in units of the mean instruct cost and reasoning several
        times dearer, ``cost_temperature=1`` is very conservative (at the
        RACER paper's scale, two arms and budget 3, no iterate met the budget
        in 200 iterations: see ``n_iter_no_change``); with costs in dollars
        per call it is barely robust at all.
    reward_radius, cost_radius : float, optional
        KL ball radius of a robust side (at most one of radius and
        temperature per side, as in :class:`RoutingProblem`). A radius at least the KL
        divergence of a deployment shift from the training distribution
        bounds the deployment's expected cost (in the population). A robust
        side with neither a temperature nor a radius uses the KL ball of
        radius ``DEFAULT_RADIUS = 0.2`` (the paper's ball ``U(rho_n, delta)``;
        the radius does not depend on the unit of the rewards or costs, which
        a temperature does). Until 2026-12-02 the default was temperature 1.
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
        to 40 iterations; with 15 it keeps iterate 27, 0.9 below.) It counts
        only once an iterate meets the budget on validation: at the RACER
        paper's scale with temperature 1 on costs (two arms, budget 3), no
        iterate did, and stopping after 15 kept iterate 1, whose worst-case
        cost on fresh rows was 9.7 against 5.8 for the iterate 71 that the
        run to 200 iterations keeps (``python -m benchmarks.racer_fit
        --reference``).
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
        ``validation_cost_se`` (the validation worst case's delta-method
        standard error, :func:`racer_dro.formulas.worst_case_standard_error`;
        without a robust cost side, the mean cost's), ``feasible`` (validation
        cost within the budget up to two standard errors), ``policy_change`` (weighted mean
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
        """Problem keywords of one side (radius ``DEFAULT_RADIUS`` when neither is given)."""
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
        if temperature is None:
            return {rname: DEFAULT_RADIUS}
        return {tname: temperature}

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
        for part, idx in (("training", train_idx), ("validation", val_idx)):
            # else the split's renormalisation reported "`sample_weight` must have a
            # positive sum" of weights that have one
            if not full.weights[idx].sum() > 0:
                raise ValueError(
                    f"`sample_weight` is zero on all {idx.size} rows of the {part} "
                    f"split ({int(np.count_nonzero(full.weights))} of {n} rows have "
                    "weight): give weight to more rows, or change `random_state` or "
                    "`validation_fraction`"
                )
        try:
            problem = _subproblem(full, train_idx, kw)
        except ValueError as exc:
            raise ValueError(
                f"on the training split: {exc} (raise `budget` or change the split)"
            ) from exc
        val_problem = _subproblem(full, val_idx, kw, check_budget=False)
        budget = problem.budget
        # the policy model and every estimator nested in it (e.g. a calibrated
        # classifier's base model) whose random_state is left to chance
        seeds = {
            key: model_seed
            for key, value in base.get_params(deep=True).items()
            if key == "random_state"
            or (
                key.endswith("__random_state")
                and (value is None or isinstance(value, np.random.RandomState))
            )
        }
        if seeds:
            base.set_params(**seeds)

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
            # the patience counts only once an iterate meets the budget: while
            # none does, the kept (least over-budget) iterate is no answer yet
            if patience is not None and unchanged >= patience and best["feasible"]:
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
        worst = val_problem.worst_case_cost(val_pi)
        val_c = worst.value
        # the worst case's own (delta-method) standard error: a worst case
        # tilted onto the few dearest rows varies far more than the mean, and
        # a policy fitted to meet the budget exactly on the training rows
        # meets it on fresh rows only up to that noise
        se = worst_case_standard_error(
            val_problem.cost_values(val_pi), val_problem.weights,
            worst.temperature, "max",
        )  # fmt: skip
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

    def score(self, X, rewards, costs=None, sample_weight=None) -> float:
        """Held-out reward at the budget (:func:`racer_dro.judge_evaluation.policy_reward_at_budget`).

        The policy's nominal mean reward and cost on these rows, ``R = mean
        sum_a pi(a|x) r(a)`` and ``C`` (weighted by ``sample_weight``); if ``C``
        exceeds ``budget``, the reward of its mix with each row's cheapest arm
        that spends exactly the budget. Higher is better, in the unit of the
        rewards, and it does not depend on ``beta`` or the radii, so
        ``GridSearchCV`` and ``cross_val_score`` can compare them (with
        metadata routing, as in the example). It replaces ``ClassifierMixin``'s
        accuracy, which has no meaning for (n, K) rewards.

        Parameters
        ----------
        X : array-like of shape (n, d)
        rewards, costs : array-like of shape (n, K)
            The rows' reward and cost of each arm. ``costs`` is required: the
            budget cannot be checked without them.
        sample_weight : array-like of shape (n,), optional

        Returns
        -------
        float

        Examples
        --------
        >>> import sklearn
        >>> from sklearn.model_selection import GridSearchCV
        >>> from racer_dro import RacerRouter
        >>> from racer_dro.datasets import make_judge_data
        >>> data = make_judge_data(600, d=5, random_state=0)
        >>> with sklearn.config_context(enable_metadata_routing=True):
        ...     router = RacerRouter(3.0, robust="none", random_state=0)
        ...     router = router.set_fit_request(costs=True).set_score_request(costs=True)
        ...     search = GridSearchCV(router, {"beta": [0.03, 0.3]}, cv=3)
        ...     search = search.fit(data.X, data.rewards, costs=data.costs)
        >>> bool(np.isfinite(search.cv_results_["mean_test_score"]).all())
        True
        """
        if costs is None:
            raise ValueError(
                "RacerRouter.score needs `costs`, the rows' cost of each arm, to hold "
                "the policy to its budget. With GridSearchCV or cross_val_score, enable "
                "metadata routing (sklearn.set_config(enable_metadata_routing=True)) "
                "and request it: router.set_fit_request(costs=True)"
                ".set_score_request(costs=True)"
            )
        return policy_reward_at_budget(
            self.predict_proba(X), rewards, costs, self.budget, sample_weight
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


# ---------------------------------------------------------------------- internals
