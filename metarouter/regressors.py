"""A regressor that chooses its own method by cross-validated error.

:class:`SelectedRegressor` fits each candidate regressor on K - 1 folds of the
rows, scores it by the (weighted) squared error on the held-out fold, keeps the
candidate with the smallest mean error and refits it on every row. It is the
default model of the meta-router's step 2 (the quality gain ``m(q)``), of the
GS-only and of the pooled router: one fixed method did not hold on data it was
not tuned on (see :class:`SelectedRegressor`'s notes).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    has_fit_parameter,
    validate_data,
)

from metarouter._crossfit import (
    default_regressor,
    ordered_predictions,
    seeded_clone,
)
from metarouter._scaling import outcome_unit

__all__ = ["SelectedRegressor", "default_candidates", "default_gain_model"]

#: The ridge penalties the default linear candidate chooses among (efficient
#: leave-one-out cross-validation, :class:`sklearn.linear_model.RidgeCV`).
RIDGE_ALPHAS = tuple(np.logspace(-2, 4, 13))


def default_candidates() -> list:
    """The default candidates: the library's booster and a ridge regression.

    The shallow, regularised gradient boosting of
    :func:`metarouter._crossfit.default_regressor` (non-linear gains) and
    :class:`~sklearn.linear_model.RidgeCV` over :data:`RIDGE_ALPHAS` (gains
    close to linear in the embedding, and few noisy rows, where the booster
    overfits).
    """
    return [default_regressor(), RidgeCV(alphas=RIDGE_ALPHAS)]


def default_gain_model() -> SelectedRegressor:
    """The default model of the quality gain ``m(q)`` (the meta-router's step 2,
    the GS-only and the pooled router): :class:`SelectedRegressor` among
    :func:`default_candidates`, 3 folds."""
    return SelectedRegressor()


class SelectedRegressor(RegressorMixin, BaseEstimator):
    """The candidate regressor with the smallest cross-validated squared error.

    Each candidate is fitted on ``n_folds - 1`` folds and scored on the fold
    left out (mean squared error, weighted by ``sample_weight`` when given);
    the candidate with the smallest error over all rows is refitted on every
    row and predicts. Every candidate sees the same folds.

    Why it is the default of the meta-router's step 2: the gain ``m(q)`` is
    regressed on a few hundred noisy labels (GS rows, 0/1 correctness
    differences), and which method generalises depends on the data. On
    RouterBench (eleven models, 300 GS queries with real correctness, 50 text
    components; 3 random splits, the ``multimodel`` study's in-distribution
    setting) the library's booster alone left the GS-only router at AIQ 0.761
    and the R meta-router at 0.778, below random mixing of the single models
    (0.793) and a 25-nearest-neighbour router (0.807); with this selection they
    reach 0.810 and 0.792. On ``make_routing_data`` (100 GS rows) the GS-only
    router's test MSE of ``m`` fell from 0.078 to 0.050 (10 seeds), and on
    ``make_shift_data``, where ``m`` is far from linear, the selection keeps the
    booster.

    Parameters
    ----------
    candidates : list of regressors, default=None
        The methods to choose among; :func:`default_candidates` when None.
        Each is cloned; with ``sample_weight`` each must accept it.
    n_folds : int, default=3
        Folds of the selection (shuffled, seeded by ``random_state``).
    random_state : int, RandomState or None, default=None
        Seeds the folds and every candidate whose ``random_state`` is None.

    Attributes
    ----------
    cv_results_ : dict
        ``"candidate"`` (class names), ``"mean_error"`` (cross-validated mean
        squared error) and ``"std_error"`` (its standard error over rows) of
        each candidate, in the order given.
    best_index_ : int
        Index of the chosen candidate.
    best_estimator_ : regressor
        The chosen candidate refitted on every row (on ``y / outcome_unit_``).
    outcome_unit_ : float
        1, or a power of two near ``max |y|`` when that lies outside
        ``2^(+-100)``: the candidates are fitted and scored in that unit (so
        that squared errors neither overflow nor underflow) and predictions
        scaled back. ``cv_results_`` errors are in that unit squared.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features, when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter.regressors import SelectedRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 5))
    >>> y = X @ np.array([1.0, -0.5, 0.0, 0.0, 0.2]) + rng.normal(size=300)
    >>> reg = SelectedRegressor(random_state=0).fit(X, y)
    >>> type(reg.best_estimator_).__name__  # a linear truth: ridge wins
    'RidgeCV'
    """

    def __init__(self, candidates=None, *, n_folds=3, random_state=None):
        self.candidates = candidates
        self.n_folds = n_folds
        self.random_state = random_state

    def _candidates(self) -> list:
        cands = default_candidates() if self.candidates is None else self.candidates
        if isinstance(cands, (str, bytes)) or not hasattr(cands, "__len__"):
            raise TypeError(
                f"`candidates` must be a list of regressors, got {type(cands).__name__}"
            )
        if len(cands) == 0:
            raise ValueError("`candidates` must hold at least one regressor")
        for i, cand in enumerate(cands):
            if not (hasattr(cand, "fit") and hasattr(cand, "predict")):
                raise TypeError(
                    f"`candidates[{i}]` must be a regressor with fit and predict, "
                    f"got {type(cand).__name__}"
                )
        return list(cands)

    def _seed(self) -> int:
        """The seed of the folds and the candidates: ``random_state`` itself when
        an integer, else drawn from it (None: numpy's global random state)."""
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            return int(rs)
        return int(check_random_state(rs).randint(2**31 - 1))

    def fit(self, X, y, sample_weight=None):
        """Choose the candidate by cross-validated error and refit it on all rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights: of every candidate's fits and of the held-out errors.

        Returns
        -------
        self : object
        """
        cands = self._candidates()
        if not isinstance(self.n_folds, (int, np.integer)) or self.n_folds < 2:
            raise ValueError(f"`n_folds` must be an integer >= 2, got {self.n_folds!r}")
        X, y = validate_data(self, X, y, y_numeric=True)
        # extreme outcomes (1e160) overflow squared errors and least squares:
        # fit in a power-of-two unit (exact), predict scaled back
        self.outcome_unit_ = outcome_unit(y)
        y = y / self.outcome_unit_
        n = X.shape[0]
        if n < self.n_folds:
            raise ValueError(
                f"`X` has {n} sample(s): at least `n_folds` ({self.n_folds}) are needed"
            )
        weighted = sample_weight is not None
        # negative weights gave NaN predictions without a word (all-zero weights
        # are refused here too)
        w = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        if weighted:
            for i, cand in enumerate(cands):
                if not has_fit_parameter(cand, "sample_weight"):
                    raise ValueError(
                        f"`candidates[{i}]` ({type(cand).__name__}) does not accept "
                        "`sample_weight`, which was given"
                    )
        seed = self._seed()
        folds = list(KFold(self.n_folds, shuffle=True, random_state=seed).split(X))
        for k, (train, _) in enumerate(folds):
            if not np.any(w[train] > 0):
                raise ValueError(
                    f"`sample_weight` is zero on every training row of selection "
                    f"fold {k} (of `n_folds`={self.n_folds}): give more rows "
                    "positive weight."
                )
        errors = np.empty((len(cands), n))
        for i, cand in enumerate(cands):
            for train, test in folds:
                est = _fit(
                    seeded_clone(cand, seed), X[train], y[train], w, train, weighted
                )
                with ordered_predictions():  # bit for bit under any n_jobs
                    errors[i, test] = (y[test] - est.predict(X[test])) ** 2
        share = w / w.sum()
        mean = errors @ share
        # standard error of a weighted mean of the rows' errors (delta method)
        std = np.sqrt(((errors - mean[:, None]) ** 2 * share**2).sum(axis=1))
        self.best_index_ = int(np.argmin(mean))
        self.cv_results_ = {
            "candidate": [type(c).__name__ for c in cands],
            "mean_error": mean,
            "std_error": std,
        }
        best = seeded_clone(cands[self.best_index_], seed)
        self.best_estimator_ = _fit(best, X, y, w, slice(None), weighted)
        return self

    def predict(self, X):
        """Predict with the chosen candidate.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        pred = np.asarray(self.best_estimator_.predict(X), dtype=float).reshape(-1)
        return pred * self.outcome_unit_


def _fit(est, X, y, w, rows, weighted):
    if weighted:
        return est.fit(X, y, sample_weight=w[rows])
    return est.fit(X, y)
