"""The offset learner: the GS-PB shift from GS residuals of a PB outcome model.

Where gold-standard rows are a few percent of the data, the R- and DR-learners
divide by propensities near zero and their pseudo-outcomes explode. The offset
learner needs no propensity: ``eta(q) = E[y | q, PB]`` is fitted on the PB rows,
and the shift ``Delta(q) = m(q) - eta(q)`` is the regression of the GS residuals
``r - eta_hat(q)`` on ``q`` (each GS row's ``eta_hat`` from a fold model that did
not see it). Its price: ``eta_hat`` is fitted on the PB query distribution and
evaluated on the GS queries, so its error there enters the shift directly
(there is no double robustness).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from metarouter._crossfit import (
    ROLE_FINAL,
    ROLE_FOLDS,
    ROLE_OUTCOME,
    _base_entropy,
    child_seed,
    child_seeds,
    default_cate_regressor,
    default_regressor,
    final_stage,
    fit_out_of_fold,
    make_folds,
    resolve_folds,
    seeded_clone,
)
from metarouter._validation import (
    check_binary,
    check_lengths,
    check_level_weights,
    check_n_folds,
    check_sample_weight,
    check_supports_sample_weight,
)

__all__ = ["OffsetLearner"]


class OffsetLearner(BaseEstimator):
    """Shift ``m - eta`` as a regression of GS residuals on the queries.

    Out of fold (folds stratified by the source), ``eta(q) = E[y | q, t = 0]``
    is fitted on the PB rows (``t = 0``); the CATE model then regresses
    ``r_i - eta_hat(q_i)`` on ``q_i`` over the GS rows (``t = 1``). It has the
    ``fit(X, y, treatment)`` / ``predict(X)`` interface of
    :class:`~metarouter.RLearner`, so ``MetaRouter(cate_learner="offset")``
    uses it as step 1.

    Parameters
    ----------
    outcome_model : regressor, default=None
        Model of ``eta``; histogram gradient boosting when None.
    cate_model : regressor, default=None
        Model of the shift, fitted on the GS rows; boosted stumps with strong
        shrinkage when None.
    n_folds : int, default=5
        Cross-fitting folds, stratified by treatment.
    n_jobs : int, default=None
        Folds run in parallel (joblib), then the shift model fits on ``n_jobs``
        threads (``metarouter._crossfit.final_stage``); results do not depend
        on it for models whose fit does not (forests, XGBoost's ``hist``).
    random_state : int, RandomState or None, default=None
        Seeds the folds and every model whose ``random_state`` is None.

    Attributes
    ----------
    folds_ : ndarray of shape (n_samples,)
        Fold label of each training row.
    eta_ : ndarray of shape (n_samples,)
        Out-of-fold ``eta_hat(x)``.
    pseudo_outcome_ : ndarray of shape (n_samples,)
        ``y - eta_hat(x)`` on treated (GS) rows, NaN on the others.
    eta_models_ : list of estimators
        The fitted fold models of ``eta``.
    cate_model_ : estimator
        The fitted shift model.
    n_features_in_ : int
        Number of features seen in fit.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from metarouter.offset import OffsetLearner
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(600, 2))
    >>> t = (rng.uniform(size=600) < 0.1).astype(int)
    >>> y = X[:, 0] + t * (0.5 + X[:, 1]) + rng.normal(scale=0.1, size=600)
    >>> est = OffsetLearner(LinearRegression(), LinearRegression(),
    ...                     random_state=0).fit(X, y, t)
    >>> bool(abs(est.predict(np.array([[0.0, 1.0]]))[0] - 1.5) < 0.1)
    True
    """

    def __init__(
        self,
        outcome_model=None,
        cate_model=None,
        *,
        n_folds=5,
        n_jobs=None,
        random_state=None,
    ):
        self.outcome_model = outcome_model
        self.cate_model = cate_model
        self.n_folds = n_folds
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y, treatment, sample_weight=None, *, folds=None, propensity=None):
        """Fit ``eta`` out of fold on the PB rows, then the shift on the GS rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates (query embeddings).
        y : array-like of shape (n_samples,)
            Observed outcomes.
        treatment : array-like of shape (n_samples,)
            1 for GS rows, 0 for PB rows.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, passed to every fit.
        folds : array-like of shape (n_samples,) or list of (train, test), default=None
            Explicit cross-fitting folds; by default ``n_folds`` folds stratified
            by ``treatment``.
        propensity : None
            Accepted for the interface of the R- and DR-learners and not used:
            the offset learner needs no propensity.

        Returns
        -------
        self : object
            The fitted learner.
        """
        check_lengths(X=X, y=y, treatment=treatment, sample_weight=sample_weight)
        n_folds = check_n_folds(self.n_folds)
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
        cate_model = (
            default_cate_regressor() if self.cate_model is None else self.cate_model
        )
        if sw is not None:
            for model, name in (
                (outcome_model, "outcome_model"),
                (cate_model, "cate_model"),
            ):
                check_supports_sample_weight(model, name, "`sample_weight` was given")
        base = _base_entropy(self.random_state)
        if folds is None:
            folds = make_folds(t, n_folds, child_seed(base, ROLE_FOLDS))
        fold_ids, splits = resolve_folds(folds, n, t)
        check_level_weights(sw, t, splits, split_levels=(0,))  # eta: PB rows
        seeds = child_seeds(base, ROLE_OUTCOME, len(splits))
        jobs = {"eta": (outcome_model, y, splits, seeds, "predict", t == 0)}
        eta, self.eta_models_ = fit_out_of_fold(jobs, X, sw, n_jobs=self.n_jobs)["eta"]
        gs = t == 1
        pseudo = np.full(n, np.nan)
        pseudo[gs] = y[gs] - eta[gs]
        final = seeded_clone(cate_model, child_seed(base, ROLE_FINAL))
        with final_stage(final, self.n_jobs):  # after the fold fits
            if sw is None:
                final.fit(X[gs], pseudo[gs])
            else:
                final.fit(X[gs], pseudo[gs], sample_weight=sw[gs])
        self.folds_ = fold_ids
        self.eta_ = eta
        self.pseudo_outcome_ = pseudo
        self.cate_model_ = final
        return self

    def predict(self, X) -> np.ndarray:
        """Estimated shift at the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates.

        Returns
        -------
        shift : ndarray of shape (n_samples,)
            ``E[y | X, t = 1] - E[y | X, t = 0]`` estimates.
        """
        check_is_fitted(self, "cate_model_")
        X = validate_data(self, X, reset=False)
        return np.asarray(self.cate_model_.predict(X), dtype=float).ravel()
