"""Cross-fitted CATE learners: the R-learner (eq. 9) and the DR-learner (eq. 10).

In the meta-router the treatment is the label source (1 = gold-standard,
0 = preference-based) and the CATE is the GS-PB shift ``Delta(q) = m(q) - eta(q)``
(Meta-Router paper, Lemma 1). Both learners also work as general binary-treatment CATE
estimators.

Sharing nuisance fits
---------------------
``fit`` takes two keyword-only extras: ``folds`` (a length-n array of fold
labels, or a list of ``(train, test)`` index pairs as econml's ``cv=``) and
``propensity`` (pre-computed out-of-fold propensities ``P(t = 1 | x)``; the
propensity model is then not fitted). Fitting a DR-learner after an R-learner
on the same rows therefore costs no second propensity fit::

    r = RLearner(random_state=0).fit(X, y, t)
    dr = DRLearner(random_state=0).fit(X, y, t, folds=r.folds_, propensity=r.propensity_)

With the same ``random_state`` and no extras the two learners also draw the
same folds and the same propensity models (each nuisance role has its own seed
stream), so sharing changes speed, not results.
"""

from __future__ import annotations

import copy
import numbers
import warnings
from abc import ABCMeta, abstractmethod

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from metarouter._crossfit import (
    ROLE_FINAL,
    ROLE_FOLDS,
    ROLE_MU0,
    ROLE_MU1,
    ROLE_OUTCOME,
    ROLE_PROPENSITY,
    _base_entropy,
    child_seed,
    child_seeds,
    default_cate_regressor,
    default_classifier,
    default_regressor,
    final_stage,
    fit_out_of_fold,
    make_folds,
    ordered_predictions,
    resolve_folds,
    seeded_clone,
)
from metarouter._validation import (
    check_binary,
    check_lengths,
    check_level_weights,
    check_n_folds,
    check_open_interval,
    check_sample_weight,
    check_supports_sample_weight,
    check_vector,
)

__all__ = [
    "DRLearner",
    "EconMLAdapter",
    "RLearner",
    "SplitByTreatment",
    "clip_propensity",
]


#: ``RLearner(min_final_weight="auto")`` with a user's ``cate_model``: rows with
#: R-loss weight ``(t - p_hat)^2`` below it leave the final regression.
#: Measured (test MSE of m_hat, MetaRouter(scale=None), forests of 100 trees,
#: min_samples_leaf=5, 3 seeds): make_shift_data 0.288 (no floor), 0.076
#: (0.001), 0.046 (0.01), 0.046 (0.05); make_routing_data(n_gs=100, n_pb=2000,
#: d=10) 0.350, 0.249, 0.065, 0.062. With the default final model (boosted
#: stumps, l2_regularization=10 on the hessian, i.e. on the weight mass, which
#: already shrinks weight-poor leaves to zero) the floor cost 0.032 -> 0.039 and
#: 0.047 -> 0.051, so "auto" applies it only to a user's final model.
MIN_FINAL_WEIGHT = 0.01


def clip_propensity(propensity: np.ndarray, clip: float) -> tuple[np.ndarray, int]:
    """Clip to ``[clip, 1 - clip]``; return the clipped values and how many moved.

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter.cate import clip_propensity
    >>> clip_propensity(np.array([0.001, 0.5, 0.999]), 0.01)
    (array([0.01, 0.5 , 0.99]), 2)
    """
    low, high = clip, 1.0 - clip
    n_clipped = int(np.sum((propensity < low) | (propensity > high)))
    return np.clip(propensity, low, high), n_clipped


class _CrossFitCATE(BaseEstimator, metaclass=ABCMeta):
    """Shared validation and nuisance cross-fitting of the R and DR learners."""

    def __init__(
        self,
        outcome_model=None,
        propensity_model=None,
        cate_model=None,
        *,
        n_folds=5,
        propensity_clip=0.01,
        n_jobs=None,
        random_state=None,
    ):
        self.outcome_model = outcome_model
        self.propensity_model = propensity_model
        self.cate_model = cate_model
        self.n_folds = n_folds
        self.propensity_clip = propensity_clip
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- the parts that differ between R and DR -------------------------------
    _final_needs_weights = False

    @abstractmethod
    def _outcome_jobs(self, outcome_model, X, y, t, splits, base):
        """The outcome-model fits of one learner, as cross-fitting jobs."""

    @abstractmethod
    def _pseudo_outcome(self, y, t, p, nuisance, sample_weight):
        """The final regression's target and weights from the nuisances."""

    # -- shared fit ------------------------------------------------------------
    def fit(self, X, y, treatment, sample_weight=None, *, folds=None, propensity=None):
        """Fit the nuisance models out of fold, then the CATE model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates (query embeddings).
        y : array-like of shape (n_samples,)
            Observed outcomes.
        treatment : array-like of shape (n_samples,)
            Binary treatment (0/1), e.g. the label source.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, passed to every nuisance fit and to the final fit.
        folds : array-like of shape (n_samples,) or list of (train, test), default=None
            Explicit cross-fitting folds; by default ``n_folds`` folds stratified
            by ``treatment`` are drawn from ``random_state``.
        propensity : array-like of shape (n_samples,), default=None
            Pre-computed out-of-fold propensities ``P(treatment = 1 | X)``
            (e.g. another learner's ``propensity_``); skips the propensity fit.
            They are clipped like fitted ones.

        Returns
        -------
        self : object
            The fitted learner.
        """
        check_lengths(
            X=X,
            y=y,
            treatment=treatment,
            sample_weight=sample_weight if not np.isscalar(sample_weight) else None,
            propensity=propensity,
        )
        n_folds = check_n_folds(self.n_folds)
        clip = check_open_interval(self.propensity_clip, "propensity_clip", 0.0, 0.5)
        X, y = validate_data(self, X, y, y_numeric=True, ensure_min_samples=2)
        y = np.asarray(y, dtype=float)
        n = X.shape[0]
        t = check_binary(
            treatment, "treatment", n, n_folds=None if folds is not None else n_folds
        )
        sw = None if sample_weight is None else check_sample_weight(sample_weight, n)

        outcome_model = (
            default_regressor() if self.outcome_model is None else self.outcome_model
        )
        propensity_model = (
            default_classifier()
            if self.propensity_model is None
            else self.propensity_model
        )
        cate_model = (
            default_cate_regressor() if self.cate_model is None else self.cate_model
        )
        if propensity is None and not hasattr(propensity_model, "predict_proba"):
            raise TypeError(
                f"`propensity_model` ({type(propensity_model).__name__}) must be a "
                "classifier with predict_proba."
            )
        if self._final_needs_weights or sw is not None:
            why = (
                "the R-learner weights its final regression by squared treatment "
                "residuals"
                if self._final_needs_weights
                else "`sample_weight` was given"
            )
            check_supports_sample_weight(cate_model, "cate_model", why)
        if sw is not None:
            check_supports_sample_weight(
                outcome_model, "outcome_model", "`sample_weight` was given"
            )
            if propensity is None:
                check_supports_sample_weight(
                    propensity_model, "propensity_model", "`sample_weight` was given"
                )

        base = _base_entropy(self.random_state)
        if folds is None:
            fold_ids = make_folds(t, n_folds, child_seed(base, ROLE_FOLDS))
            fold_ids, splits = resolve_folds(fold_ids, n, t)
        else:
            fold_ids, splits = resolve_folds(folds, n, t)
        check_level_weights(sw, t, splits)
        k = len(splits)

        jobs = self._outcome_jobs(outcome_model, X, y, t, splits, base)
        if propensity is None:
            jobs["propensity"] = (
                propensity_model,
                t,
                splits,
                child_seeds(base, ROLE_PROPENSITY, k),
                "proba",
                None,
            )
        fitted = fit_out_of_fold(jobs, X, sw, n_jobs=self.n_jobs)

        if propensity is None:
            p_raw, self.propensity_models_ = fitted.pop("propensity")
        else:
            p_raw = check_vector(propensity, "propensity", n)
            if np.any((p_raw < 0) | (p_raw > 1)):
                raise ValueError("`propensity` must lie in [0, 1].")
            self.propensity_models_ = None
        p, n_clipped = clip_propensity(p_raw, clip)
        self.n_propensity_clipped_ = n_clipped
        if n_clipped:
            warnings.warn(
                f"{n_clipped} of {n} propensities were clipped to "
                f"[{clip:g}, {1 - clip:g}] (`propensity_clip`): the treatment "
                "groups overlap poorly there.",
                UserWarning,
                stacklevel=2,
            )
        self.folds_ = fold_ids
        self.propensity_ = p

        pseudo, weights = self._pseudo_outcome(y, t, p, fitted, sw)
        self.pseudo_outcome_ = pseudo
        self.weights_ = weights
        rows = self._final_rows(t, p)
        self.final_rows_ = rows
        final = seeded_clone(cate_model, child_seed(base, ROLE_FINAL))
        # the nuisance fits are done: the final model may use the learner's n_jobs
        with final_stage(final, self.n_jobs):
            if weights is None:
                final.fit(X[rows], pseudo[rows])
            else:
                final.fit(X[rows], pseudo[rows], sample_weight=weights[rows])
        self.cate_model_ = final
        return self

    def _final_rows(self, t, p):
        """Rows of the final regression (all of them unless a learner says)."""
        return np.ones(t.shape[0], dtype=bool)

    def predict(self, X) -> np.ndarray:
        """Estimated CATE at the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates.

        Returns
        -------
        cate : ndarray of shape (n_samples,)
            ``E[y(1) - y(0) | X]`` estimates.
        """
        check_is_fitted(self, "cate_model_")
        X = validate_data(self, X, reset=False)
        return np.asarray(self.cate_model_.predict(X), dtype=float).ravel()


class RLearner(_CrossFitCATE):
    """R-learner of Nie & Wager (2021), cross-fitted (Meta-Router paper, eq. 9).

    Out of fold, ``gamma(x) = E[y | x]`` and ``p(x) = P(t = 1 | x)`` are fitted;
    with residuals ``y~ = y - gamma_hat`` and ``t~ = t - p_hat`` the CATE model
    minimises ``sum w_i (y~_i - t~_i h(x_i))^2``, i.e. regresses the pseudo-outcome
    ``y~ / t~`` on ``x`` with sample weights ``w_i t~_i^2``.

    Parameters
    ----------
    outcome_model : regressor, default=None
        Model of ``gamma(x) = E[y | x]``; histogram gradient boosting when None.
    propensity_model : classifier, default=None
        Model of ``p(x)`` (needs ``predict_proba``); histogram gradient boosting
        when None.
    cate_model : regressor, default=None
        Final model of the CATE; must accept ``sample_weight``. When None,
        boosted stumps with strong shrinkage (a CATE is usually simpler than
        the nuisances and its pseudo-outcomes are noisier).
    min_final_weight : "auto" or float in [0, 1), default="auto"
        Rows whose R-loss weight ``(t - p_hat)^2`` is below it are left out of
        the final regression (``final_rows_``). Where one treatment level is
        rare (a few percent GS rows), the other level's rows carry weights
        near ``p^2`` and pseudo-outcomes near ``noise / p``; a final model
        without shrinkage (a forest) averages them in leaves of their own and
        its predictions blow up. Leaving them out keeps the R-loss's
        estimating equation unbiased (``E[y~ - t~ tau | x, t] = 0`` holds for
        every ``t``, so selecting rows on ``(x, t)`` adds no bias) at a small
        loss of efficiency. ``"auto"``: 0.01 for a user's ``cate_model``, 0
        for the default (whose l2 penalty on the weight mass already shrinks
        such leaves); the measurement is in ``metarouter.cate.MIN_FINAL_WEIGHT``'s
        comment: forests on the shift regime 0.288 -> 0.046 test MSE of ``m``.
        Set 0 for the paper's (and econml's ``NonParamDML``) estimator.
    n_folds : int, default=5
        Cross-fitting folds, stratified by treatment.
    propensity_clip : float, default=0.01
        Propensities are clipped to ``[propensity_clip, 1 - propensity_clip]``;
        the number clipped is ``n_propensity_clipped_`` and a warning.
    n_jobs : int, default=None
        Folds and nuisance models run in parallel (joblib; choose threads or
        processes with ``joblib.parallel_config``), then the final model fits
        on ``n_jobs`` threads (its ``n_jobs`` raised from 1 for that fit;
        ``metarouter._crossfit.final_stage``); results do not depend on it
        for models whose fit does not (forests, XGBoost's ``hist``).
    random_state : int, RandomState or None, default=None
        Seeds the folds and every model whose ``random_state`` is None.

    Attributes
    ----------
    folds_ : ndarray of shape (n_samples,)
        Fold label of each training row.
    propensity_ : ndarray of shape (n_samples,)
        Out-of-fold propensities after clipping.
    n_propensity_clipped_ : int
        How many propensities were clipped.
    outcome_ : ndarray of shape (n_samples,)
        Out-of-fold ``gamma_hat(x)``.
    pseudo_outcome_, weights_ : ndarray of shape (n_samples,)
        ``y~ / t~`` and ``sample_weight * t~^2``, the final regression's data.
    final_rows_ : ndarray of bool of shape (n_samples,)
        Rows used by the final regression (see ``min_final_weight``).
    outcome_models_, propensity_models_ : list of estimators
        The fitted fold models (``propensity_models_`` is None when
        ``propensity`` was passed to ``fit``).
    cate_model_ : estimator
        The fitted final model.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Feature names seen in fit (pandas input only).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression, LogisticRegression
    >>> from metarouter import RLearner
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 3))
    >>> t = rng.binomial(1, 0.5, size=400)
    >>> y = X[:, 0] + t * (1 + X[:, 1]) + rng.normal(scale=0.1, size=400)
    >>> est = RLearner(LinearRegression(), LogisticRegression(), LinearRegression(),
    ...                random_state=0).fit(X, y, t)
    >>> bool(abs(est.predict(np.array([[0.0, 1.0, 0.0]]))[0] - 2.0) < 0.2)
    True
    """

    _final_needs_weights = True

    def __init__(
        self,
        outcome_model=None,
        propensity_model=None,
        cate_model=None,
        *,
        min_final_weight="auto",
        n_folds=5,
        propensity_clip=0.01,
        n_jobs=None,
        random_state=None,
    ):
        super().__init__(
            outcome_model,
            propensity_model,
            cate_model,
            n_folds=n_folds,
            propensity_clip=propensity_clip,
            n_jobs=n_jobs,
            random_state=random_state,
        )
        self.min_final_weight = min_final_weight

    def _final_rows(self, t, p):
        floor = self.min_final_weight
        if isinstance(floor, str) and floor == "auto":
            floor = 0.0 if self.cate_model is None else MIN_FINAL_WEIGHT
        if (
            isinstance(floor, bool)
            or not isinstance(floor, numbers.Real)
            or not np.isfinite(floor)
            or not 0 <= floor < 1
        ):
            raise ValueError(
                f"`min_final_weight` must be 'auto' or lie in [0, 1), got {floor!r}."
            )
        rows = (t - p) ** 2 >= floor
        if rows.sum() < 2:
            raise ValueError(
                f"Only {int(rows.sum())} rows have an R-loss weight (t - p)^2 >= "
                f"`min_final_weight` ({floor:g}): the propensities separate the "
                "treatment levels; lower `min_final_weight`."
            )
        return rows

    def _outcome_jobs(self, outcome_model, X, y, t, splits, base):
        seeds = child_seeds(base, ROLE_OUTCOME, len(splits))
        return {"outcome": (outcome_model, y, splits, seeds, "predict", None)}

    def _pseudo_outcome(self, y, t, p, fitted, sample_weight):
        gamma, self.outcome_models_ = fitted["outcome"]
        self.outcome_ = gamma
        y_res = y - gamma
        t_res = t - p  # |t_res| >= propensity_clip > 0 after clipping
        pseudo = y_res / t_res
        weights = t_res**2
        if sample_weight is not None:
            weights = weights * sample_weight
        return pseudo, weights


class DRLearner(_CrossFitCATE):
    """DR-learner of Kennedy (2023), cross-fitted (Meta-Router paper, eq. 10).

    Out of fold, ``mu_0(x) = E[y | x, t = 0]`` and ``mu_1(x) = E[y | x, t = 1]``
    (two separate models, each fitted on its own treatment group, or one model
    of ``y`` on ``[x, t]`` as econml's default ``DRLearner``: see
    ``outcome_design``) and ``p(x)`` are fitted; the pseudo-outcome
    ``phi = (t - p) / (p (1 - p)) (y - mu_t) + mu_1 - mu_0`` is regressed on ``x``.

    Parameters
    ----------
    outcome_model : regressor, default=None
        Model of ``mu_0`` and ``mu_1`` (cloned for each); histogram gradient
        boosting when None.
    propensity_model : classifier, default=None
        Model of ``p(x)`` (needs ``predict_proba``); histogram gradient boosting
        when None.
    cate_model : regressor, default=None
        Final model of the CATE. When None, boosted stumps with strong
        shrinkage (a CATE is usually simpler than the nuisances and DR
        pseudo-outcomes are heavy-tailed).
    outcome_design : {"joint", "split"}, default="joint"
        ``"joint"``: one fit of ``y`` on ``[x, t]`` predicted at ``t = 0`` and
        ``t = 1`` (econml's default), which lends the abundant level's rows to
        the rare level's outcome model. ``"split"``: ``mu_0`` and ``mu_1`` are
        separate fits on the rows of each treatment level (the paper's eq. 10;
        ``MetaRouter(cate_learner="dr")`` keeps it). Measured with random
        forests (100 trees, 2 folds, Nie & Wager setups,
        ``python -m benchmarks.dr_designs``): test MSE of ``tau`` relative to
        econml's default DRLearner 1.00 for "joint" in every cell (the same
        computation), and up to 1.09 for "split" (setup A, d = 50, n = 1000),
        so "joint" is the default.
    n_folds : int, default=5
        Cross-fitting folds, stratified by treatment.
    propensity_clip : float, default=0.01
        Propensities are clipped to ``[propensity_clip, 1 - propensity_clip]``;
        the number clipped is ``n_propensity_clipped_`` and a warning.
    n_jobs : int, default=None
        Folds and nuisance models run in parallel (joblib; choose threads or
        processes with ``joblib.parallel_config``), then the final model fits
        on ``n_jobs`` threads (its ``n_jobs`` raised from 1 for that fit;
        ``metarouter._crossfit.final_stage``); results do not depend on it
        for models whose fit does not (forests, XGBoost's ``hist``).
    random_state : int, RandomState or None, default=None
        Seeds the folds and every model whose ``random_state`` is None.

    Attributes
    ----------
    folds_ : ndarray of shape (n_samples,)
        Fold label of each training row.
    propensity_ : ndarray of shape (n_samples,)
        Out-of-fold propensities after clipping.
    n_propensity_clipped_ : int
        How many propensities were clipped.
    mu0_, mu1_ : ndarray of shape (n_samples,)
        Out-of-fold outcome predictions under ``t = 0`` and ``t = 1``.
    pseudo_outcome_ : ndarray of shape (n_samples,)
        ``phi``, the final regression's target.
    weights_ : ndarray of shape (n_samples,) or None
        Final-fit weights (``sample_weight``; None when not given).
    mu0_models_, mu1_models_, propensity_models_ : list of estimators
        The fitted fold models (with ``outcome_design="joint"``,
        ``mu0_models_`` and ``mu1_models_`` are the same list of joint models).
    cate_model_ : estimator
        The fitted final model.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Feature names seen in fit (pandas input only).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression, LogisticRegression
    >>> from metarouter import DRLearner
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 3))
    >>> t = rng.binomial(1, 0.5, size=400)
    >>> y = X[:, 0] + t * (1 + X[:, 1]) + rng.normal(scale=0.1, size=400)
    >>> est = DRLearner(LinearRegression(), LogisticRegression(), LinearRegression(),
    ...                 random_state=0).fit(X, y, t)
    >>> bool(abs(est.predict(np.array([[0.0, 1.0, 0.0]]))[0] - 2.0) < 0.2)
    True
    """

    def __init__(
        self,
        outcome_model=None,
        propensity_model=None,
        cate_model=None,
        *,
        outcome_design="joint",
        n_folds=5,
        propensity_clip=0.01,
        n_jobs=None,
        random_state=None,
    ):
        super().__init__(
            outcome_model,
            propensity_model,
            cate_model,
            n_folds=n_folds,
            propensity_clip=propensity_clip,
            n_jobs=n_jobs,
            random_state=random_state,
        )
        self.outcome_design = outcome_design

    def _outcome_jobs(self, outcome_model, X, y, t, splits, base):
        k = len(splits)
        if self.outcome_design not in ("split", "joint"):
            raise ValueError(
                "`outcome_design` must be 'split' or 'joint', got "
                f"{self.outcome_design!r}."
            )
        if self.outcome_design == "joint":
            return {
                "mu": (
                    outcome_model,
                    y,
                    splits,
                    child_seeds(base, ROLE_OUTCOME, k),
                    "joint",
                    None,
                    np.column_stack([X, t.astype(float)]),
                )
            }
        return {
            "mu0": (
                outcome_model,
                y,
                splits,
                child_seeds(base, ROLE_MU0, k),
                "predict",
                t == 0,
            ),
            "mu1": (
                outcome_model,
                y,
                splits,
                child_seeds(base, ROLE_MU1, k),
                "predict",
                t == 1,
            ),
        }

    def _pseudo_outcome(self, y, t, p, fitted, sample_weight):
        if "mu" in fitted:  # joint design: one model of y on [x, t]
            mu, models = fitted["mu"]
            mu0, mu1 = mu[:, 0], mu[:, 1]
            self.mu0_models_ = self.mu1_models_ = models
        else:
            mu0, self.mu0_models_ = fitted["mu0"]
            mu1, self.mu1_models_ = fitted["mu1"]
        self.mu0_, self.mu1_ = mu0, mu1
        mu_t = np.where(t == 1, mu1, mu0)
        pseudo = (t - p) / (p * (1.0 - p)) * (y - mu_t) + mu1 - mu0
        return pseudo, sample_weight


class EconMLAdapter(BaseEstimator):
    """Use an econml CATE estimator as a meta-router ``cate_learner``.

    econml estimators are fitted as ``est.fit(Y, T, X=X)`` and predict with
    ``est.effect(X)``; this adapter gives them the ``fit(X, y, treatment)`` /
    ``predict(X)`` interface. ``MetaRouter`` wraps econml estimators
    automatically.

    Parameters
    ----------
    estimator : econml estimator
        For instance ``econml.dml.NonParamDML`` or ``econml.dr.DRLearner``
        (with ``discrete_treatment=True`` where that applies). It is cloned.

    Attributes
    ----------
    estimator_ : econml estimator
        The fitted clone.
    n_features_in_ : int
        Number of features seen in fit.

    Examples
    --------
    >>> import numpy as np
    >>> from econml.dr import DRLearner as EconDR
    >>> from sklearn.linear_model import LinearRegression, LogisticRegression
    >>> from metarouter.cate import EconMLAdapter
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 2))
    >>> t = rng.binomial(1, 0.5, size=300)
    >>> y = t * 2.0 + X[:, 0] + rng.normal(scale=0.1, size=300)
    >>> est = EconMLAdapter(EconDR(model_regression=LinearRegression(),
    ...     model_propensity=LogisticRegression(), model_final=LinearRegression(),
    ...     cv=2, random_state=0)).fit(X, y, t)
    >>> bool(abs(est.predict(X[:5]).mean() - 2.0) < 0.2)
    True
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y, treatment, sample_weight=None):
        """Fit the wrapped estimator: ``estimator.fit(y, treatment, X=X)``."""
        check_lengths(X=X, y=y, treatment=treatment)
        X, y = validate_data(self, X, y, y_numeric=True)
        t = check_binary(treatment, "treatment", X.shape[0])
        try:
            est = clone(self.estimator)
        except TypeError:
            est = copy.deepcopy(self.estimator)
        kwargs = {}
        if sample_weight is not None:
            kwargs["sample_weight"] = check_sample_weight(sample_weight, X.shape[0])
        # econml predicts its nuisances inside fit: on one joblib thread, so
        # that a caller's parallel_config(n_jobs=2) cannot reorder a forest's sums
        with ordered_predictions():
            est.fit(y, t, X=X, **kwargs)
        self.estimator_ = est
        return self

    def predict(self, X) -> np.ndarray:
        """CATE estimates ``estimator.effect(X)`` as a 1-D array."""
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, reset=False)
        return np.asarray(self.estimator_.effect(X), dtype=float).ravel()


class SplitByTreatment(RegressorMixin, BaseEstimator):
    """econml ``model_regression`` that fits ``mu_0`` and ``mu_1`` separately.

    econml's DRLearner fits ``model_regression`` on ``[X, T]`` (binary ``T``
    one-hot encoded in the last column) and predicts it with ``T`` set to 0
    and to 1. This wrapper fits a clone of ``estimator`` on the rows with
    ``T = 0`` and another on the rows with ``T = 1`` (both without the ``T``
    column), as ``DRLearner(outcome_design="split")`` does: with it, econml's
    DRLearner computes the split design (used by the tests and the benchmarks
    to compare like with like).

    Parameters
    ----------
    estimator : regressor
        Cloned for each treatment level (its ``random_state`` is kept).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> XT = np.array([[0.0, 0], [1, 0], [2, 0], [0, 1], [1, 1], [2, 1]])
    >>> y = np.array([0.0, 1, 2, 5, 7, 9])
    >>> SplitByTreatment(LinearRegression()).fit(XT, y).predict(XT).round(6).tolist()
    [0.0, 1.0, 2.0, 5.0, 7.0, 9.0]
    """

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, XT, y, sample_weight=None):
        XT, y = np.asarray(XT, dtype=float), np.asarray(y, dtype=float).ravel()
        X, t = XT[:, :-1], XT[:, -1]
        self.models_ = []
        for level in (0, 1):
            rows = t == level
            model = clone(self.estimator)
            if sample_weight is None:
                model.fit(X[rows], y[rows])
            else:
                model.fit(
                    X[rows], y[rows], sample_weight=np.asarray(sample_weight)[rows]
                )
            self.models_.append(model)
        return self

    def predict(self, XT):
        XT = np.asarray(XT, dtype=float)
        X, t = XT[:, :-1], XT[:, -1]
        out = np.empty(XT.shape[0])
        for level in (0, 1):
            rows = t == level
            if np.any(rows):
                out[rows] = self.models_[level].predict(X[rows])
        return out
