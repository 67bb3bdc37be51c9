"""A convex combination of meta-routers, weighted by held-out gold-standard error.

``MetaRouter(cate_learner="auto")`` picks one step-1 learner by its held-out
GS error. With about a hundred GS rows the candidates' errors are often
within a standard error of one another, and the pick is then partly noise.
The super learner (van der Laan, Polley and Hubbard 2007; Breiman's stacked
regressions, 1996) instead combines them: the weights ``a`` on the simplex
minimise the held-out GS squared error of ``sum_j a_j m_hat_j`` (the same
cross-fitted predictions ``auto`` scores, :func:`~metarouter.selection.
held_out_gs_predictions`), and the router predicts that combination of the
candidates refitted on all rows. GS rows are unbiased for ``m``, so the
held-out error estimates the combination's MSE of ``m`` plus the noise
variance, as it does for a single candidate; its oracle inequality bounds the
combination's risk by the best convex combination's, which is at most the best
candidate's, up to a term of order ``log(candidates) / n_gs``.

Measured against ``auto`` on 11 GS/PB processes with forests and boosting (0.81x
its test error of ``m`` in geometric mean over 22 cells, worse in 2, by at most
1.11x): see :class:`StackedMetaRouter`.
"""

from __future__ import annotations

import itertools
import numbers

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from metarouter._crossfit import ROLE_SELECT, _base_entropy, child_seed
from metarouter._scaling import outcome_unit
from metarouter._validation import check_vector
from metarouter.routers import MetaRouter, _RouteMixin, _validate_fit
from metarouter.selection import (
    CANDIDATES,
    _choose,
    held_out_gs_predictions,
    selection_weights,
)

__all__ = ["DEFAULT_CANDIDATES", "StackedMetaRouter", "simplex_least_squares"]

#: the candidates :class:`StackedMetaRouter` combines by default: ``auto``'s without
#: the two DR learners. At the meta-router's GS shares (a few percent) a DR
#: pseudo-outcome divides a GS residual by the propensity (about 30 times the
#: noise at 3%), and with forests the DR learners were 2-13x the best fixed
#: learner's error on 22 process-learner cells; weight on them cost the
#: combination more than it ever gained (``python -m
#: simulations.studies.metarouter_selection_rules``: mean 1.10x -> 1.04x the best
#: fixed learner, at most 1.1x in 10 -> 15 of 22 cells). ``candidates=CANDIDATES``
#: restores them.
DEFAULT_CANDIDATES = ("r", "offset", "gs-only", "pooled")

#: largest number of candidates :func:`simplex_least_squares` enumerates supports of
MAX_CANDIDATES = 12


def simplex_least_squares(predictions, y, sample_weight=None) -> np.ndarray:
    """Weights on the simplex minimising the weighted squared error of a combination.

    ``argmin_a sum_i w_i (y_i - sum_j a_j P_ij)^2`` subject to ``a_j >= 0`` and
    ``sum_j a_j = 1``: the super learner's convex combination (van der Laan,
    Polley and Hubbard 2007, the "NNLS" metalearner with the sum-to-one
    constraint kept exact). Solved exactly: the optimum is the
    equality-constrained least squares solution on its own support, so each
    support's KKT system is solved and the best non-negative solution kept
    (smaller supports first: among equal errors, the sparser combination).

    Parameters
    ----------
    predictions : array-like of shape (n_samples, n_candidates)
        Column ``j``: candidate ``j``'s predictions (at most
        :data:`MAX_CANDIDATES` candidates).
    y : array-like of shape (n_samples,)
        Outcomes.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative row weights.

    Returns
    -------
    weights : ndarray of shape (n_candidates,)
        Non-negative, summing to one.

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter.stacking import simplex_least_squares
    >>> y = np.array([0.0, 1.0, 2.0, 3.0])
    >>> P = np.column_stack([y + 1.0, y - 1.0, np.zeros(4)])  # biased both ways
    >>> simplex_least_squares(P, y).round(6).tolist()
    [0.5, 0.5, 0.0]
    """
    y = check_vector(y, "y")
    P = np.asarray(predictions, dtype=float)
    if P.ndim != 2 or P.shape[0] != y.shape[0] or P.shape[1] < 1:
        raise ValueError(
            "`predictions` must be a 2-d array with one row per outcome in `y` "
            f"and at least one column, got shape {P.shape} for {y.shape[0]} outcomes."
        )
    if not np.all(np.isfinite(P)):
        raise ValueError("`predictions` must be finite.")
    k = P.shape[1]
    if k > MAX_CANDIDATES:
        raise ValueError(
            f"`predictions` has {k} candidates; at most {MAX_CANDIDATES} are "
            "combined (each support of the simplex is enumerated)."
        )
    w = np.ones(y.shape[0]) if sample_weight is None else sample_weight
    w = check_vector(w, "sample_weight", y.shape[0])
    if np.any(w < 0) or not np.sum(w) > 0:
        raise ValueError("`sample_weight` must be non-negative with a positive sum.")
    w = w / np.sum(w)
    # in a power-of-two unit, so that squares cannot overflow (exact rescaling)
    unit = outcome_unit(np.concatenate([y, P.ravel()]))
    y, P = y / unit, P / unit
    root = np.sqrt(w)
    A, b = P * root[:, None], y * root
    gram, corr = A.T @ A, A.T @ b
    # the weights do not change when gram and corr are scaled together; at unit
    # scale the KKT systems' blocks are comparable (else the least squares
    # solve truncates the constraint's singular value)
    size = float(np.max(np.diag(gram)))
    if size > 0:
        gram, corr = gram / size, corr / size
    best, best_err = None, np.inf
    for size in range(1, k + 1):
        for support in itertools.combinations(range(k), size):
            a = _support_solution(gram, corr, support)
            if a is None:
                continue
            full = np.zeros(k)
            full[list(support)] = a
            err = float(np.sum((b - A @ full) ** 2))
            # a strictly smaller error, beyond rounding, replaces a sparser one
            if best is None or err < best_err * (1.0 - 1e-12):
                best, best_err = full, err
    return best


def _support_solution(gram, corr, support):
    """The sum-to-one least squares weights on ``support``, or None if one is negative."""
    s = list(support)
    m = len(s)
    kkt = np.zeros((m + 1, m + 1))
    kkt[:m, :m] = 2.0 * gram[np.ix_(s, s)]
    kkt[:m, m] = kkt[m, :m] = 1.0
    rhs = np.concatenate([2.0 * corr[s], [1.0]])
    sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
    a = sol[:m]
    if not np.all(np.isfinite(a)) or np.any(a < -1e-10):
        return None
    a = np.clip(a, 0.0, None)
    return a / a.sum() if a.sum() > 0 else None


class StackedMetaRouter(_RouteMixin, RegressorMixin, BaseEstimator):
    """Meta-routers with different step-1 learners, combined by held-out GS error.

    The super learner over ``MetaRouter``'s step-1 learners: each candidate
    (by default R, offset, GS-only and pooled) predicts the GS rows it
    did not see (the folds and fits of ``cate_learner="auto"``), the weights on
    the simplex that minimise those predictions' squared error are found
    exactly (:func:`simplex_least_squares`), and the candidates with positive
    weight are refitted on all rows. ``predict`` is their weighted mean. Where
    one candidate is clearly best the weights put everything on it and the
    router is that ``MetaRouter`` (the same fit, bit for bit); where several
    are close, their combination averages out part of each one's error.

    Parameters
    ----------
    router : MetaRouter, default=None
        The template: its base models, folds, scale, overlap and ``n_jobs``
        are kept, its ``cate_learner`` is replaced by each candidate's (None:
        ``MetaRouter()`` with the library's defaults).
    candidates : sequence of str, default=None
        ``cate_learner`` names to combine, from
        :data:`~metarouter.selection.CANDIDATES` (None:
        :data:`DEFAULT_CANDIDATES`, R, offset, GS-only and pooled: ``auto``'s
        without the DR learners; see Notes).
    random_state : int, RandomState or None, default=None
        Seeds the selection folds and every candidate; with an integer the
        candidates are fitted as ``MetaRouter(..., random_state=random_state)``
        and the folds are those of ``MetaRouter("auto", random_state=...)``.

    Attributes
    ----------
    weights_ : pandas.Series
        The combination's weight of each candidate (index: learner names).
    estimators_ : dict of str to MetaRouter
        The candidates with positive weight, fitted on all rows.
    cv_results_ : dict of ndarray or None
        As ``MetaRouter(cate_learner="auto").cv_results_`` (each candidate's
        held-out GS mean squared error, its standard error, rank), plus
        ``weight``; None without PB rows (then the one estimator is GS-only).
    stack_gs_mse_ : float or None
        The combination's held-out GS mean squared error (noise included; the
        same rows and folds as ``cv_results_["mean_gs_mse"]``; in-sample in
        the weights, so slightly optimistic).
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Feature names seen in fit (pandas input only).

    Notes
    -----
    Measured against ``cate_learner="auto"`` (test MSE of ``m``, mean over
    seeds, paired; the ``metarouter-shift`` study of ``simulations`` reports
    both):

    - the library's default learners: ``make_routing_data`` 0.050 against 0.053
      (12 seeds; GS-only, 0.051, is the best single learner there and ``auto``
      picks it in only some seeds); ``make_shift_data`` 0.051 against 0.057 (12
      seeds; the R meta-router, 0.044, is best); within 2% of ``auto`` on four
      processes written apart from the library (a bias on features ``m`` does
      not use, a constant bias, none, binary outcomes; 4 seeds);
    - random forests for every regression (the paper's recipe):
      ``make_shift_data`` 0.051 against 0.045 (4 seeds: **worse**), the
      heterogeneous-bias process 0.131 against 0.116 (2 seeds: worse), binary
      outcomes 0.066 against 0.085 (2 seeds: better);
    - RouterBench, eleven models, as the template of
      :class:`~metarouter.MultiModelRouter` (3 splits): AIQ 0.809 against
      0.810 (GS-only 0.810).

    Combining against choosing, on 11 GS/PB processes (the six of the
    ``metarouter-processes`` study, ``make_shift_data`` at shifts 0.5 and 1,
    three written after the defaults were set), 100 GS rows against 3,000 PB,
    60-tree forests and the library's boosting, 5 seeds each (``python -m
    simulations.studies.metarouter_selection_rules``, 29 min on 2 cores): test
    MSE of ``m`` over the best fixed candidate's, mean over the 22 cells (largest;
    cells at most 1.1x): ``auto`` 1.32 (3.33; 9), this router over all six
    candidates 1.10 (1.49; 10), over the default four 1.04 (1.46; 15). With about
    a hundred GS rows a single pick is often a candidate whose held-out error was
    low by chance; the combination spreads that risk. An earlier measurement
    with forests on ``make_shift_data`` alone (4 seeds, all six candidates) had
    the combination worse than ``auto`` (0.051 against 0.045); on the 22 cells
    above the default combination lost to ``auto`` in 2, by at most 1.11x (the
    library's boosting under a constant bias), and beat it in 82 of 110 draws;
    over all six candidates it lost in 4, by at most 1.44x. The bullets above
    were measured over all six candidates, before the default changed.

    References
    ----------
    van der Laan, Polley and Hubbard, "Super learner", Statistical
    Applications in Genetics and Molecular Biology, 2007.
    Breiman, "Stacked regressions", Machine Learning, 1996.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression, Ridge
    >>> from metarouter import MetaRouter
    >>> from metarouter.stacking import StackedMetaRouter
    >>> from metarouter.datasets import make_shift_data
    >>> data = make_shift_data(n_gs=40, n_pb=400, n_test=10, random_state=0)
    >>> template = MetaRouter(outcome_model=Ridge(), propensity_model=LogisticRegression(),
    ...                       n_folds=2, scale=None)
    >>> stacked = StackedMetaRouter(template, random_state=0).fit(data.X, data.y, data.source)
    >>> bool(abs(stacked.weights_.sum() - 1.0) < 1e-12), stacked.predict(data.X_test).shape
    (True, (10,))
    """

    def __init__(self, router=None, *, candidates=None, random_state=None):
        self.router = router
        self.candidates = candidates
        self.random_state = random_state

    def _template(self):
        template = MetaRouter() if self.router is None else self.router
        if not isinstance(template, MetaRouter):
            raise TypeError(
                f"`router` must be a MetaRouter, got {type(template).__name__}."
            )
        return template

    def _candidate_names(self):
        if self.candidates is None:
            return DEFAULT_CANDIDATES
        names = (
            [self.candidates]
            if isinstance(self.candidates, str)
            else list(self.candidates)
        )
        if not names or any(n not in CANDIDATES for n in names):
            raise ValueError(
                f"`candidates` must name some of {CANDIDATES}, got {self.candidates!r}."
            )
        if len(set(names)) != len(names):
            raise ValueError(
                f"`candidates` names a learner twice: {self.candidates!r}."
            )
        return tuple(names)

    def fit(self, X, y, source=None, sample_weight=None):
        """Fit the candidates' held-out predictions, the weights, then the candidates.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query embeddings of GS and PB rows.
        y : array-like of shape (n_samples,)
            GS outcome ``r`` on GS rows, PB outcome on PB rows.
        source : array-like of shape (n_samples,), default=None
            1 for gold-standard rows, 0 for preference-based rows; None means
            every row is gold-standard (then one GS-only router is fitted).
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, used in every fit and in the held-out errors.

        Returns
        -------
        self : object
            The fitted router.
        """
        template, names = self._template(), self._candidate_names()
        X, y, s, sw = _validate_fit(self, X, y, source, sample_weight)
        rs = self.random_state
        seed = int(rs) if isinstance(rs, numbers.Integral) else _base_entropy(rs)
        if np.any(s == 0):
            select_seed = child_seed(_base_entropy(seed), ROLE_SELECT)
            predictions, gs = held_out_gs_predictions(
                template, X, y, s, sw, candidates=names, random_state=select_seed
            )
            w_gs = selection_weights(template, X, s, sw, random_state=select_seed)
            weights = simplex_least_squares(predictions.T, y[gs], w_gs)
            _, self.cv_results_ = _choose((y[gs] - predictions) ** 2, w_gs, names)
            self.cv_results_["weight"] = weights
            residual = (y[gs] - weights @ predictions) ** 2
            self.stack_gs_mse_ = float(np.average(residual, weights=w_gs))
        else:  # no PB rows: nothing to correct, nothing to combine
            names, weights = ("gs-only",), np.ones(1)
            self.cv_results_ = self.stack_gs_mse_ = None
        self.weights_ = pd.Series(weights, index=pd.Index(names, name="learner"))
        self.estimators_ = {
            name: clone(template)
            .set_params(cate_learner=name, random_state=seed)
            .fit(X, y, s, sw)
            for name, weight in zip(names, weights)
            if weight > 0
        }
        return self

    def predict(self, X) -> np.ndarray:
        """The combination's estimated GS quality gain ``m_hat(q)`` (GS scale).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query embeddings.

        Returns
        -------
        m_hat : ndarray of shape (n_queries,)
        """
        check_is_fitted(self, "estimators_")
        X = validate_data(self, X, reset=False)
        out = np.zeros(X.shape[0])
        for name, est in self.estimators_.items():
            out += self.weights_[name] * est.predict(X)
        return out
