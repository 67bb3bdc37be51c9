"""Routers: the two-step meta-router and the baselines of the Meta-Router paper, section 4.

Every router is fitted on query embeddings ``X``, outcomes ``y`` and the label
source ``source`` (1 = gold-standard, GS; 0 = preference-based, PB). With
``source`` omitted every row is GS and the router is a plain regressor. They
predict the GS quality gain ``m_hat(q)`` on the GS scale and route with eq. (4):
premium iff ``m_hat(q) - w (C_p(q) - C_a(q)) > 0``.

The oracle router of the paper (GS outcomes for every training query) is
``GSOnlyRouter().fit(X, y_oracle)``.
"""

from __future__ import annotations

import copy
import numbers
from contextlib import contextmanager
from time import perf_counter

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from metarouter._crossfit import (
    ROLE_FOLDS,
    ROLE_LEARNER,
    ROLE_MODEL,
    ROLE_OVERLAP,
    ROLE_PROPENSITY,
    ROLE_SELECT,
    _base_entropy,
    child_seed,
    child_seeds,
    default_overlap_classifier,
    default_regressor,
    final_stage,
    fit_out_of_fold,
    gs_density_ratio,
    make_folds,
    ordered_predictions,
    resolve_folds,
    seeded_clone,
)
from metarouter._scaling import SCALE_METHODS, outcome_unit, scale_constant
from metarouter._validation import (
    check_binary,
    check_cate_learner_fit,
    check_lengths,
    check_n_folds,
    check_open_interval,
    check_sample_weight,
    check_supports_sample_weight,
    check_vector,
)
from metarouter.cate import DRLearner, EconMLAdapter, RLearner
from metarouter.costs import cost_difference
from metarouter.offset import OffsetLearner
from metarouter.regressors import default_gain_model
from metarouter.selection import SELECTION_RULES, select_learner

__all__ = ["GSOnlyRouter", "MetaRouter", "PooledRouter", "RandomRouter"]

# the string values of ``MetaRouter(cate_learner=...)`` that build a learner
LEARNER_NAMES = ("r", "dr", "dr-split", "dr-joint", "offset", "gs-only", "pooled")
#: the names that fit no step-1 learner (no correction of the PB labels)
_NO_CORRECTION = ("gs-only", "pooled")


def _validate_fit(est, X, y, source, sample_weight, need_pb_weight=True):
    """Common validation: returns X, y, source (ones when None), weights or None.

    ``need_pb_weight``: PB rows, when present, must not all weigh 0 (False for a
    router that ignores them).
    """
    check_lengths(
        X=X,
        y=y,
        source=source,
        sample_weight=None if np.isscalar(sample_weight) else sample_weight,
    )
    # one row gives a constant without a word: at least 2 (sklearn's message)
    X, y = validate_data(est, X, y, y_numeric=True, ensure_min_samples=2)
    y = np.asarray(y, dtype=float)
    n = X.shape[0]
    if source is None:
        s = np.ones(n, dtype=np.int64)
    else:
        s = check_binary(source, "source", n, require_both=False)
        if not np.any(s == 1):
            raise ValueError(
                "`source` has no gold-standard rows (1): the GS quality gain cannot "
                "be learned from preference-based rows alone."
            )
        if np.sum(s == 1) < 2:
            raise ValueError(
                "`source` has a single gold-standard row (1): at least 2 are needed "
                "to learn the GS quality gain."
            )
    sw = None if sample_weight is None else check_sample_weight(sample_weight, n)
    if sw is not None:
        # a source whose rows all weigh 0 is absent from every weighted fit
        if not np.any(sw[s == 1] > 0):
            raise ValueError(
                "`sample_weight` is zero on every gold-standard row (`source` == 1): "
                "the GS quality gain cannot be learned."
            )
        if need_pb_weight and np.any(s == 0) and not np.any(sw[s == 0] > 0):
            raise ValueError(
                "`sample_weight` is zero on every preference-based row (`source` "
                "== 0): drop those rows (or give them positive weight)."
            )
    return X, y, s, sw


def _fit_model(model, X, y, sw, seed, n_jobs=None):
    """A seeded clone of ``model`` fitted alone (:func:`final_stage`, ``n_jobs``)."""
    est = seeded_clone(model, seed)
    if sw is not None:
        check_supports_sample_weight(
            model, "outcome_model", "`sample_weight` was given"
        )
    with final_stage(est, n_jobs):
        if sw is None:
            est.fit(X, y)
        else:
            est.fit(X, y, sample_weight=sw)
    return est


def _align(y, s, sw, scale):
    """``(c, o, u)``: scale constant, and outcomes (GS rows times ``c``) divided by ``u``.

    Each source is brought to its own unit before the scale constant is
    computed (every constant is homogeneous: ``c(a r, b y) = (b / a) c(r, y)``),
    so GS outcomes 1e160 times the PB ones give the right ``c`` and no overflow.
    """
    if not (scale is None or (isinstance(scale, str) and scale in SCALE_METHODS)):
        # checked here too: without PB rows no constant is computed
        raise ValueError(
            "`scale` must be one of None, 'max', 'variance', 'wasserstein', got "
            f"{scale!r}."
        )
    gs = s == 1
    if np.all(gs):
        u = outcome_unit(y)
        return 1.0, y / u, u
    w = np.ones_like(y) if sw is None else sw
    u_gs, u_pb = outcome_unit(y[gs]), outcome_unit(y[~gs])
    c = scale_constant(scale, y[gs] / u_gs, y[~gs] / u_pb, w[gs], w[~gs])
    c = c * u_pb / u_gs if scale is not None else c
    o = np.where(gs, c * y, y)
    u = outcome_unit(o)
    return c, o / u, u


@contextmanager
def _timed(times: dict, step: str):
    """Add the wall seconds of the block to ``times[step]``."""
    start = perf_counter()
    try:
        yield
    finally:
        times[step] = times.get(step, 0.0) + perf_counter() - start


def overlap_region(propensity, source, sample_weight, overlap) -> np.ndarray:
    """Rows inside the estimated overlap region of the truncation meta-router.

    The propensity ``p`` is re-balanced to equal source sizes,
    ``p_bal = r / (1 + r)`` with ``r = p / (1 - p) (1 - kappa) / kappa`` and
    ``kappa`` the (weighted) GS share, i.e. ``r`` estimates the density ratio
    ``f_GS(q) / f_PB(q)``; a row is inside when ``p_bal`` lies in
    ``[overlap, 1 - overlap]`` (section 5 of the Meta-Router paper).

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter.routers import overlap_region
    >>> overlap_region(np.array([0.5, 0.01, 0.99, 0.5]), np.array([1, 0, 0, 0]),
    ...                None, 0.1).tolist()
    [True, False, False, True]
    """
    ratio = gs_density_ratio(propensity, source, sample_weight)
    p_bal = ratio / (1 + ratio)
    return (p_bal >= overlap) & (p_bal <= 1 - overlap)


class _RouteMixin:
    """``routing_score`` and ``route`` from ``predict`` (eq. 4)."""

    def routing_score(self, X, w=0.0, cost=None) -> np.ndarray:
        """``m_hat(q) - w (C_p(q) - C_a(q))``: positive means premium.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query embeddings.
        w : float, default=0.0
            Conversion factor between quality gain and cost.
        cost : None, UnitCost, array-like, float or callable, default=None
            Per-query cost difference (see :mod:`metarouter.costs`); None is
            ``UnitCost()``. A ``TokenCost`` must be evaluated on token counts:
            ``cost=token_cost.difference(...)``.

        Returns
        -------
        score : ndarray of shape (n_queries,)
        """
        m_hat = self.predict(X)
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not np.isfinite(w):
            raise ValueError(f"`w` must be a finite scalar, got {w!r}.")
        return m_hat - float(w) * cost_difference(cost, X, m_hat.shape[0])

    def route(self, X, w=0.0, cost=None) -> np.ndarray:
        """Routing decisions: True sends the query to the premium model."""
        return self.routing_score(X, w=w, cost=cost) > 0


class MetaRouter(_RouteMixin, RegressorMixin, BaseEstimator):
    """Two-step meta-router (Meta-Router paper, section 3.3).

    Step 1 estimates the GS-PB shift ``Delta(q) = m(q) - eta(q)`` as a CATE
    with the source as treatment, after GS outcomes are rescaled to the PB
    scale (``r -> c r``, Remark 1). Step 2 regresses on the enriched data
    ``D+``: GS rows with ``c r`` and PB rows with corrected labels
    ``y + Delta_hat(q)`` (eq. 6). Predictions are divided by ``c``, i.e.
    reported on the GS scale. With ``source`` omitted (or all ones) there is
    nothing to correct and the router is a plain regression of ``y`` on ``X``.

    Parameters
    ----------
    cate_learner : {"r", "dr", "dr-split", "dr-joint", "offset", "gs-only", \
            "pooled", "auto"} or estimator, default="r"
        The step-1 learner of the shift. ``"r"``: :class:`~metarouter.RLearner`;
        ``"dr"`` / ``"dr-split"``: :class:`~metarouter.DRLearner` with separate
        ``mu_0``, ``mu_1`` (the paper's eq. 10); ``"dr-joint"``: the DR-learner
        with one outcome model on ``[x, source]`` (econml's default);
        ``"offset"``: :class:`~metarouter.offset.OffsetLearner` (no propensity:
        for scarce or shifted GS rows); ``"gs-only"``: no correction, step 2 on
        the GS rows alone; ``"pooled"``: no correction, step 2 on all rows with
        the PB labels as they are (:class:`PooledRouter`'s fit); ``"auto"``:
        one of these six chosen by cross-fitted held-out GS error (``selection``;
        :func:`~metarouter.selection.select_learner`; ``cv_results_``,
        ``selected_learner_``). The built-in learners' outcome and CATE models
        are clones of ``outcome_model`` (the learners' own defaults when it is
        None: the CATE model is then a more strongly regularised booster). Any
        estimator with ``fit(X, y, treatment)`` and ``predict(X)`` works;
        econml CATE estimators are wrapped in
        :class:`~metarouter.cate.EconMLAdapter`.
    outcome_model : regressor, default=None
        The regression method ``H`` used for every regression (nuisances, CATE
        and step 2). When None: the learners' histogram gradient boosting for
        the nuisances and the shift, and for step 2 a
        :class:`~metarouter.regressors.SelectedRegressor` (that booster or a
        ridge regression, whichever has the smaller 3-fold cross-validated
        error; one fixed method did not hold on real data, see its notes).
    scale : {None, "max", "variance", "wasserstein"}, default="variance"
        How GS outcomes are aligned to the PB scale; the constant is ``scale_``.
    propensity_model : classifier, default=None
        Propensity model for the built-in learners and for ``overlap``. When
        None the learners use strongly shrunk boosting (steady inverse
        weights) and the overlap step a less shrunk booster (which can find
        regions without overlap).
    selection : {"min", "one-se"}, default="min"
        How ``cate_learner="auto"`` chooses: ``"min"``, the smallest cross-fitted
        held-out GS error; ``"one-se"``, pooling (no correction) unless another
        candidate's paired held-out GS error is smaller by more than one standard
        error, then the smallest
        (:func:`~metarouter.selection.one_standard_error_choice`). ``"one-se"``
        helps where the judge's bias is small (three real LLM judges: mean error
        0.956 -> 0.940) and can cost much where a real bias hides in noisy GS
        outcomes (a process with outcomes in {-1, 0, 1}: 2.2x the error); see
        the function's notes. Ignored by other learners.
    selection_target : {"gs", "pb"}, default="gs"
        The query distribution on which ``cate_learner="auto"`` (and
        :class:`~metarouter.stacking.StackedMetaRouter`) compares the
        candidates: ``"gs"``, the GS rows' own (unweighted held-out errors);
        ``"pb"``, the PB rows' (the traffic the router serves), by weighting
        each held-out GS error with the estimated density ratio
        ``f_PB / f_GS`` (:func:`~metarouter.selection.gs_to_pb_weights`).
        Where the sources share one query distribution the weights are about
        1. Where GS queries are shifted on a feature the judge's bias depends
        on, the GS rows see another bias than the traffic, and the unweighted
        choice favoured the uncorrected pooled router: on such a process
        (forests, 100 GS rows, shift 0.7 sd; 4 seeds) ``"pb"`` cut ``auto``'s
        error from 1.45x to 1.21x the best fixed learner's. Elsewhere it
        changed nothing or added the weights' noise (60 or 50 GS rows under a
        1 sd shift: ``auto`` 1.30 -> 1.31x, the stacked router 0.99 -> 1.10x and
        1.15 -> 1.21x; 300 GS rows under a 0.3 sd shift: ``auto`` 1.14 ->
        1.18x), so it is not the default; see the user guide.
    n_folds : int, default=5
        Cross-fitting folds of the built-in learners.
    propensity_clip : float, default=0.01
        Propensity clipping of the built-in learners.
    overlap : float in (0, 0.5) or None, default=None
        Truncation meta-router (section 5): PB rows whose estimated density
        ratio ``f_GS(q) / f_PB(q)`` lies outside ``[a / (1 - a), (1 - a) / a]``
        (equivalently, whose propensity re-balanced to equal source sizes lies
        outside ``[a, 1 - a]``) are dropped from both steps; step 1 uses only
        rows inside that region, step 2 keeps every GS row.
    n_jobs : int, default=None
        Parallel cross-fitting, then ``n_jobs`` threads for step 2's fit (the
        outcome model's ``n_jobs`` raised from 1 for that fit;
        ``metarouter._crossfit.final_stage``); results do not depend on it for
        models whose fit does not (forests, XGBoost's ``hist``).
    random_state : int, RandomState or None, default=None
        Seeds folds and every model.

    Attributes
    ----------
    scale_ : float
        The constant ``c`` (1 when there are no PB rows or ``scale=None``).
    cate_learner_ : estimator or None
        The fitted step-1 learner (None when there are no PB rows). For the
        built-in learners ``cate_learner_.folds_`` and ``.propensity_`` can be
        passed to another router's ``fit`` (see ``fit``).
    model_ : estimator
        The fitted step-2 regression (on the PB scale).
    in_overlap_ : ndarray of bool of shape (n_samples,)
        Rows used in step 1 (all True without ``overlap``).
    n_pb_dropped_ : int
        PB rows dropped by ``overlap``.
    outcome_unit_ : float
        Power of two the aligned outcomes were divided by before fitting (1
        unless they are beyond ``2^(+-100)``, where squares overflow).
    selected_learner_ : str
        With ``cate_learner="auto"``: the chosen candidate.
    cv_results_ : dict of ndarray or None
        With ``cate_learner="auto"``: every candidate's held-out GS mean
        squared error, its standard error and rank (see
        :func:`~metarouter.selection.select_learner`); None without PB rows.
    step_times_ : dict of str to float
        Wall seconds of each step of the last ``fit`` (as scikit-learn's
        searches keep their fit times): ``"select"`` (``"auto"`` only: the
        candidates' selection folds), ``"align"``, ``"shift"`` (step 1: the
        CATE learner, and the overlap propensities with ``overlap``),
        ``"correct"`` (the shift predicted on the PB rows) and ``"gain"``
        (step 2); steps that did not run are absent. Input validation is the
        rest of the fit's time.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Feature names seen in fit (pandas input only).

    Examples
    --------
    >>> from metarouter import MetaRouter
    >>> from metarouter.datasets import make_routing_data
    >>> data = make_routing_data(n_gs=100, n_pb=600, n_test=200, d=10, random_state=0)
    >>> router = MetaRouter("r", random_state=0).fit(data.X, data.y, data.source)
    >>> router.route(data.X_test, w=0.1).shape
    (200,)
    """

    def __init__(
        self,
        cate_learner="r",
        outcome_model=None,
        *,
        scale="variance",
        propensity_model=None,
        selection="min",
        selection_target="gs",
        n_folds=5,
        propensity_clip=0.01,
        overlap=None,
        n_jobs=None,
        random_state=None,
    ):
        self.cate_learner = cate_learner
        self.outcome_model = outcome_model
        self.scale = scale
        self.propensity_model = propensity_model
        self.selection = selection
        self.selection_target = selection_target
        self.n_folds = n_folds
        self.propensity_clip = propensity_clip
        self.overlap = overlap
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _check_params(self):
        """Errors for a bad ``cate_learner`` or ``overlap`` (also without PB rows)."""
        learner = self.cate_learner
        if isinstance(learner, str):
            if learner != "auto" and learner not in LEARNER_NAMES:
                raise ValueError(
                    f"`cate_learner` must be one of {LEARNER_NAMES + ('auto',)} or "
                    f"an estimator, got {learner!r}."
                )
        elif not (
            (hasattr(learner, "fit") and hasattr(learner, "predict"))
            or (
                hasattr(learner, "effect") and hasattr(learner, "const_marginal_effect")
            )
        ):
            raise TypeError(
                "`cate_learner` must be 'r', 'dr' or an estimator with "
                f"fit(X, y, treatment) and predict(X), got {type(learner).__name__}."
            )
        elif not hasattr(learner, "effect"):  # econml's are wrapped, not called
            check_cate_learner_fit(learner)
        if self.overlap is not None:
            check_open_interval(self.overlap, "overlap", 0.0, 0.5)

    def _make_learner(self, seed, name=None):
        learner = self.cate_learner if name is None else name
        if isinstance(learner, str):
            if learner not in LEARNER_NAMES:
                raise ValueError(
                    f"`cate_learner` must be one of {LEARNER_NAMES} or an estimator, "
                    f"got {learner!r}."
                )
            if learner in _NO_CORRECTION:
                return None
            model = (
                default_regressor()
                if self.outcome_model is None
                else self.outcome_model
            )
            common = {
                "outcome_model": self.outcome_model,
                "cate_model": self.outcome_model,
                "n_folds": self.n_folds,
                "n_jobs": self.n_jobs,
                "random_state": seed,
            }
            if learner == "offset":
                return OffsetLearner(**common)
            common.update(
                propensity_model=self.propensity_model,
                propensity_clip=self.propensity_clip,
            )
            if learner == "r":
                check_supports_sample_weight(
                    model,
                    "outcome_model",
                    "the R-learner's final regression (of the shift) is weighted",
                )
                return RLearner(**common)
            # "dr" is the paper's eq. 10 (separate mu_0, mu_1), as before
            common["outcome_design"] = "joint" if learner == "dr-joint" else "split"
            return DRLearner(**common)
        if hasattr(learner, "effect") and hasattr(learner, "const_marginal_effect"):
            return EconMLAdapter(_seeded_econml(learner, seed))
        if not (hasattr(learner, "fit") and hasattr(learner, "predict")):
            raise TypeError(
                "`cate_learner` must be 'r', 'dr' or an estimator with "
                f"fit(X, y, treatment) and predict(X), got {type(learner).__name__}."
            )
        est = clone(learner)
        params = est.get_params(deep=False)
        if "random_state" in params and params["random_state"] is None:
            est.set_params(random_state=seed)
        return est

    def fit(
        self, X, y, source=None, sample_weight=None, *, folds=None, propensity=None
    ):
        """Fit step 1 (the shift) and step 2 (the GS quality gain).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query embeddings of GS and PB rows.
        y : array-like of shape (n_samples,)
            GS outcome ``r`` on GS rows, PB outcome on PB rows.
        source : array-like of shape (n_samples,), default=None
            1 for gold-standard rows, 0 for preference-based rows; None means
            every row is gold-standard.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, used in every fit and in the scale constant.
        folds : array-like or list of (train, test), default=None
            Cross-fitting folds for the built-in learners (see
            :meth:`RLearner.fit`).
        propensity : array-like of shape (n_samples,), default=None
            Pre-computed out-of-fold propensities ``P(source = 1 | X)``. To fit
            an R and a DR meta-router on the same data with one propensity fit::

                r = MetaRouter("r", random_state=0).fit(X, y, s)
                dr = MetaRouter("dr", random_state=0).fit(
                    X, y, s, folds=r.cate_learner_.folds_,
                    propensity=r.cate_learner_.propensity_)

        Returns
        -------
        self : object
            The fitted router.
        """
        if propensity is not None:
            check_lengths(X=X, propensity=propensity)
        X, y, s, sw = _validate_fit(self, X, y, source, sample_weight)
        self._check_params()
        base = _base_entropy(self.random_state)
        times = self.step_times_ = {}
        name = self.cate_learner
        if isinstance(name, str) and name == "auto":
            if self.selection not in SELECTION_RULES:
                raise ValueError(
                    f"`selection` must be one of {SELECTION_RULES}, got "
                    f"{self.selection!r}."
                )
            with _timed(times, "select"):
                if np.any(s == 0):
                    name, self.cv_results_ = select_learner(
                        self, X, y, s, sw, random_state=child_seed(base, ROLE_SELECT)
                    )
                else:  # no PB rows: nothing to correct, nothing to choose
                    name, self.cv_results_ = "gs-only", None
            self.selected_learner_ = name
        else:  # an earlier "auto" fit's choice does not describe this fit
            for attr in ("selected_learner_", "cv_results_"):
                self.__dict__.pop(attr, None)
        with _timed(times, "align"):  # 1. align the GS scale to PB's
            c, o, u = _align(y, s, sw, self.scale)
        self.scale_, self.outcome_unit_ = c, u
        learner = None
        if np.any(s == 0):
            learner = self._make_learner(child_seed(base, ROLE_LEARNER), name)
        # 2. estimate the shift (on the overlap region) and 3. correct PB labels
        keep, target = self._estimate_and_correct(
            learner, X, o, s, sw, folds, propensity, base, pooled=name == "pooled"
        )
        self.cate_learner_ = learner
        model = (
            default_gain_model() if self.outcome_model is None else self.outcome_model
        )
        # step 1's folds are done: step 2 may use the learner's workers
        with _timed(times, "gain"):
            self.model_ = _fit_model(  # 4. fit the gain on D+ (eq. 6)
                model,
                X[keep],
                target[keep],
                None if sw is None else sw[keep],
                child_seed(base, ROLE_MODEL),
                self.n_jobs,
            )
        return self

    def _estimate_and_correct(
        self, learner, X, o, s, sw, folds, propensity, base, pooled=False
    ):
        """Fit step 1 and return (rows of step 2, outcomes with PB rows corrected)."""
        n = X.shape[0]
        self.in_overlap_ = np.ones(n, dtype=bool)
        self.n_pb_dropped_ = 0
        if learner is None:  # no PB rows, "gs-only" or "pooled": nothing to correct
            return (np.ones(n, dtype=bool) if pooled else s == 1), o
        builtin = isinstance(learner, (RLearner, DRLearner, OffsetLearner))
        if not builtin and (folds is not None or propensity is not None):
            raise ValueError(
                "`folds` and `propensity` only apply to the built-in learners "
                f"{tuple(n for n in LEARNER_NAMES if n not in _NO_CORRECTION)}."
            )
        if builtin and folds is None:
            # name the user's argument when a source is too rare for the folds
            check_binary(s, "source", n, n_folds=learner.n_folds)
        rows = np.ones(n, dtype=bool)
        kwargs = {}
        times = self.step_times_
        if self.overlap is not None:
            a = check_open_interval(self.overlap, "overlap", 0.0, 0.5)
            with _timed(times, "shift"):
                fold_ids, p_raw = self._overlap_propensity(
                    X, s, sw, folds, propensity, base
                )
            rows = overlap_region(p_raw, s, sw, a)
            self.in_overlap_ = rows
            self.n_pb_dropped_ = int(np.sum(~rows & (s == 0)))
            if builtin:
                # the learner refits its (shrunk) propensity model on the
                # region unless the caller supplied propensities
                kwargs["folds"] = fold_ids[rows]
                if propensity is not None:
                    kwargs["propensity"] = p_raw[rows]
        elif builtin:
            kwargs.update(folds=folds, propensity=propensity)
        if sw is not None:
            kwargs["sample_weight"] = sw[rows]
        with _timed(times, "shift"):
            learner.fit(X[rows], o[rows], s[rows], **kwargs)
        keep = rows | (s == 1)
        pb = (s == 0) & keep
        target = o.copy()
        with _timed(times, "correct"), ordered_predictions():
            if np.any(pb):
                shift = np.asarray(learner.predict(X[pb]), float).ravel()
                target[pb] = o[pb] + shift
        return keep, target

    def _overlap_propensity(self, X, s, sw, folds, propensity, base):
        n = X.shape[0]
        n_folds = check_n_folds(self.n_folds)
        if folds is None:
            check_binary(s, "source", n, n_folds=n_folds)
            fold_ids = make_folds(s, n_folds, child_seed(base, ROLE_FOLDS))
        fold_ids, splits = resolve_folds(fold_ids if folds is None else folds, n, s)
        if propensity is not None:
            p = check_vector(propensity, "propensity", n)
            if np.any((p < 0) | (p > 1)):
                raise ValueError("`propensity` must lie in [0, 1].")
            return fold_ids, p
        model = (
            default_overlap_classifier()
            if self.propensity_model is None
            else self.propensity_model
        )
        seeds = child_seeds(
            child_seed(base, ROLE_OVERLAP), ROLE_PROPENSITY, len(splits)
        )
        out = fit_out_of_fold(
            {"p": (model, s, splits, seeds, "proba", None)}, X, sw, n_jobs=self.n_jobs
        )
        return fold_ids, out["p"][0]

    def predict(self, X) -> np.ndarray:
        """Estimated GS quality gain ``m_hat(q)`` on the GS scale.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query embeddings.

        Returns
        -------
        m_hat : ndarray of shape (n_queries,)
        """
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False)
        pred = np.asarray(self.model_.predict(X), dtype=float).ravel()
        return pred / self.scale_ * self.outcome_unit_

    def predict_shift(self, X) -> np.ndarray:
        """Step-1 estimate of the shift on the aligned scale, ``c m(q) - eta(q)``."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False)
        if self.cate_learner_ is None:
            return np.zeros(X.shape[0])
        pred = np.asarray(self.cate_learner_.predict(X), dtype=float).ravel()
        return pred * self.outcome_unit_


def _seeded_econml(learner, seed):
    """A copy of an econml estimator seeded like :func:`seeded_clone`.

    econml estimators have no ``get_params``: their ``random_state`` (folds)
    and every scikit-learn model they hold (``model_regression``, ...) whose
    ``random_state`` is None or a ``RandomState`` get ``seed``.
    """
    est = copy.deepcopy(learner)
    for name, value in list(vars(est).items()):
        if name == "random_state":
            if value is None or isinstance(value, np.random.RandomState):
                est.random_state = seed
        elif hasattr(value, "get_params") and hasattr(value, "fit"):
            setattr(est, name, seeded_clone(value, seed))
    return est


class PooledRouter(_RouteMixin, RegressorMixin, BaseEstimator):
    """Predictive router on pooled GS and PB data, without bias correction.

    GS outcomes are rescaled to the PB scale as in :class:`MetaRouter`
    (``scale``), GS and PB rows are pooled and ``outcome_model`` regresses the
    outcome on ``X``; predictions are divided by ``scale_`` (GS scale).

    Parameters
    ----------
    outcome_model : regressor, default=None
        When None, a :class:`~metarouter.regressors.SelectedRegressor`
        (histogram gradient boosting or ridge regression, whichever has the
        smaller 3-fold cross-validated error).
    scale : {None, "max", "variance", "wasserstein"}, default="variance"
        Scale alignment of GS outcomes.
    random_state : int, RandomState or None, default=None
        Seeds the model when its ``random_state`` is None.

    Attributes
    ----------
    scale_ : float
        The scale constant.
    model_ : estimator
        The fitted regression.
    n_features_in_ : int
        Number of features seen in fit.

    Examples
    --------
    >>> from metarouter import PooledRouter
    >>> from metarouter.datasets import make_routing_data
    >>> data = make_routing_data(n_gs=100, n_pb=600, n_test=200, d=10, random_state=0)
    >>> router = PooledRouter(random_state=0).fit(data.X, data.y, data.source)
    >>> router.predict(data.X_test).shape
    (200,)
    """

    def __init__(self, outcome_model=None, *, scale="variance", random_state=None):
        self.outcome_model = outcome_model
        self.scale = scale
        self.random_state = random_state

    def fit(self, X, y, source=None, sample_weight=None):
        """Fit the pooled regression (see the class docstring)."""
        X, y, s, sw = _validate_fit(self, X, y, source, sample_weight)
        c, o, u = _align(y, s, sw, self.scale)
        self.scale_, self.outcome_unit_ = c, u
        model = (
            default_gain_model() if self.outcome_model is None else self.outcome_model
        )
        self.model_ = _fit_model(
            model, X, o, sw, child_seed(_base_entropy(self.random_state), ROLE_MODEL)
        )
        return self

    def predict(self, X) -> np.ndarray:
        """Estimated GS quality gain on the GS scale."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False)
        pred = np.asarray(self.model_.predict(X), dtype=float).ravel()
        return pred / self.scale_ * self.outcome_unit_


class GSOnlyRouter(_RouteMixin, RegressorMixin, BaseEstimator):
    """Predictive router on the gold-standard rows only (PB rows ignored).

    Fitted on all rows with ``y_oracle`` (the GS outcome of every training
    query) it is the paper's oracle router.

    Parameters
    ----------
    outcome_model : regressor, default=None
        When None, a :class:`~metarouter.regressors.SelectedRegressor`
        (histogram gradient boosting or ridge regression, whichever has the
        smaller 3-fold cross-validated error).
    random_state : int, RandomState or None, default=None
        Seeds the model when its ``random_state`` is None.

    Attributes
    ----------
    model_ : estimator
        The fitted regression.
    n_features_in_ : int
        Number of features seen in fit.

    Examples
    --------
    >>> from metarouter import GSOnlyRouter
    >>> from metarouter.datasets import make_routing_data
    >>> data = make_routing_data(n_gs=100, n_pb=600, n_test=200, d=10, random_state=0)
    >>> gs_only = GSOnlyRouter(random_state=0).fit(data.X, data.y, data.source)
    >>> oracle = GSOnlyRouter(random_state=0).fit(data.X, data.y_oracle)
    >>> oracle.route(data.X_test, w=0.0).dtype
    dtype('bool')
    """

    def __init__(self, outcome_model=None, *, random_state=None):
        self.outcome_model = outcome_model
        self.random_state = random_state

    def fit(self, X, y, source=None, sample_weight=None):
        """Fit the regression on the rows with ``source == 1``."""
        X, y, s, sw = _validate_fit(
            self, X, y, source, sample_weight, need_pb_weight=False
        )
        gs = s == 1
        model = (
            default_gain_model() if self.outcome_model is None else self.outcome_model
        )
        self.outcome_unit_ = outcome_unit(y[gs])
        self.model_ = _fit_model(
            model,
            X[gs],
            y[gs] / self.outcome_unit_,
            None if sw is None else sw[gs],
            child_seed(_base_entropy(self.random_state), ROLE_MODEL),
        )
        return self

    def predict(self, X) -> np.ndarray:
        """Estimated GS quality gain."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False)
        pred = np.asarray(self.model_.predict(X), dtype=float).ravel()
        return pred * self.outcome_unit_


class RandomRouter(BaseEstimator):
    """Random routing: each query goes to the premium model with ``premium_rate``.

    ``fit`` is optional (it only records the number of features); ``route`` and
    ``routing_score`` draw from ``random_state`` afresh on every call, so an
    integer seed gives the same decisions each time.

    Parameters
    ----------
    premium_rate : float in [0, 1], default=0.5
        Probability of the premium model.
    random_state : int, RandomState or None, default=None
        Source of the coin flips.

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter import RandomRouter
    >>> X = np.zeros((10000, 2))
    >>> share = RandomRouter(premium_rate=0.3, random_state=0).route(X).mean()
    >>> bool(abs(share - 0.3) < 0.02)
    True
    """

    def __init__(self, premium_rate=0.5, random_state=None):
        self.premium_rate = premium_rate
        self.random_state = random_state

    def fit(self, X, y=None, source=None, sample_weight=None):
        """Record ``n_features_in_``; nothing is learned."""
        validate_data(self, X)
        self._check_rate()
        return self

    def _check_rate(self) -> float:
        rate = self.premium_rate
        if (
            isinstance(rate, bool)
            or not isinstance(rate, numbers.Real)
            or not (0 <= rate <= 1)
        ):
            raise ValueError(f"`premium_rate` must lie in [0, 1], got {rate!r}.")
        return float(rate)

    def routing_score(self, X, w=0.0, cost=None) -> np.ndarray:
        """Scores ``u - (1 - premium_rate)`` with ``u ~ U(0, 1)``; ``w``, ``cost`` unused.

        Thresholding these scores at other values than 0 gives random routing
        at other rates, so they can be fed to ``efficiency_curve``.
        """
        rate = self._check_rate()
        n = _n_queries(X)
        return check_random_state(self.random_state).uniform(size=n) - (1.0 - rate)

    def route(self, X, w=0.0, cost=None) -> np.ndarray:
        """Random booleans, True (premium) with probability ``premium_rate``."""
        return self.routing_score(X) > 0


def _n_queries(X) -> int:
    if hasattr(X, "shape"):
        return int(X.shape[0])
    return len(X)
