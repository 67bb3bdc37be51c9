"""The meta-router with K models: one binary meta-router per model, against a reference.

Data format
-----------
``X`` holds the embeddings of every training query. The two label sources are
per query, as in the binary meta-router:

- **GS** (gold standard): ``quality`` is an array (or DataFrame with one column
  per model) of shape ``(n_queries, n_models)`` with the realised quality of
  every model on the query; a query no model was scored on is a row of NaN.
  A GS query must score the reference model; another model left NaN on it is
  simply not part of that model's GS rows.
- **PB** (preference based): ``comparisons`` is a DataFrame (or a mapping of
  equal-length columns) with one row per verdict: ``query`` (row index into
  ``X``), ``model`` (a model name, or its column index when the models are
  unnamed) and ``verdict`` (the judge's or a user's preference of that model
  over the reference, on the PB scale: e.g. +1 win, 0 tie, -1 loss, or a
  probability of winning). Several verdicts on one (query, model) pair are
  averaged. PB queries carry no GS quality (a query is GS or PB).

For each model ``k`` other than the reference the quality gain is
``m_k(q) = E[Q_k - Q_ref | q]`` on GS queries; PB verdicts have mean
``eta_k(q)`` with a model-specific shift ``Delta_k(q) = m_k(q) - eta_k(q)``
(e.g. a judge that favours one model family or longer answers). Each ``m_k``
is fitted by its own binary :class:`~metarouter.MetaRouter` (or any router
template given as ``estimator``) on GS rows ``(q, Q_k - Q_ref)`` and PB rows
``(q, verdict_k)`` with the source as treatment (Meta-Router paper, Lemma 1 and eq. 6).
Since the GS/PB assignment is per query, cross-fitting folds (stratified by
source) are drawn once for all queries and shared by every model, and so is one
out-of-fold propensity ``P(GS | q)`` when a model's rows are all GS and PB
queries. Routing: ``argmax_k m_hat_k(q) - w (C_k(q) - C_ref(q))`` with the
reference's gain 0; with two models this is the binary rule (eq. 4).

A hook for K-arm RACER (judge routing with a worst-case reweighting over K
arms, built elsewhere) would take the same ``quality`` / ``cost`` arrays; it is
not part of this module.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from metarouter._crossfit import (
    ROLE_FOLDS,
    ROLE_PROPENSITY,
    ROLE_TEMPLATE,
    _base_entropy,
    child_seed,
    child_seeds,
    default_classifier,
    fit_out_of_fold,
    make_folds,
    resolve_folds,
    seeded_clone,
)
from metarouter._validation import check_column_order, check_n_folds
from metarouter.routers import MetaRouter

__all__ = ["MultiModelRouter", "routing_scores", "trade_off_grid"]

# cate_learner values whose MetaRouter.fit takes shared `folds` and `propensity`
# (the built-in R, DR and offset learners); any other learner (an estimator, or
# "auto", whose selection folds are its own) is fitted per model with its own
# cross-fitting, seeded identically for every model.
_SHARES_NUISANCES = ("r", "dr", "dr-split", "dr-joint", "offset")


def _models_and_quality(quality, models):
    """Quality as a float (n, K) array and the model names."""
    if isinstance(quality, pd.DataFrame):
        names = list(quality.columns) if models is None else list(models)
        q = quality.to_numpy(dtype=float)
        check_column_order(quality, names, "quality", "models")
    else:
        try:
            q = np.asarray(quality, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError("`quality` must be numeric (NaN where unscored).") from exc
        names = None if models is None else list(models)
    if q.ndim != 2:
        raise ValueError(
            f"`quality` must be 2-D (queries x models), got shape {q.shape}."
        )
    if names is None:
        names = list(range(q.shape[1]))
    if len(names) != q.shape[1]:
        raise ValueError(
            f"`models` names {len(names)} models but `quality` has {q.shape[1]} "
            "columns."
        )
    if len(set(names)) != len(names):
        raise ValueError("`models` (or the columns of `quality`) must be unique.")
    if q.shape[1] < 2:
        raise ValueError("`quality` must have at least 2 models (columns).")
    if np.any(np.isinf(q)):
        raise ValueError("`quality` contains infinite values (use NaN for unscored).")
    return q, names


def _model_index(name, names, arg: str) -> int:
    if name in names:
        return names.index(name)
    if (
        isinstance(name, numbers.Integral)
        and not isinstance(name, bool)
        and not any(isinstance(m, numbers.Integral) for m in names)
        and 0 <= name < len(names)
    ):
        return int(name)
    raise ValueError(f"`{arg}` {name!r} is not among the models {names}.")


def _comparison_table(comparisons, names, n: int) -> pd.DataFrame:
    """PB verdicts as (query, model index, mean verdict), one row per pair."""
    if isinstance(comparisons, Mapping):
        comparisons = pd.DataFrame(dict(comparisons))
    if not isinstance(comparisons, pd.DataFrame):
        raise TypeError(
            "`comparisons` must be a DataFrame or mapping with columns 'query', "
            f"'model' and 'verdict', got {type(comparisons).__name__}."
        )
    missing = {"query", "model", "verdict"} - set(comparisons.columns)
    if missing:
        raise ValueError(f"`comparisons` lacks the column(s) {sorted(missing)}.")
    query = np.asarray(comparisons["query"])
    if query.size and (
        not np.issubdtype(query.dtype, np.integer)
        or query.min() < 0
        or query.max() >= n
    ):
        raise ValueError(
            f"`comparisons['query']` must be row indices of `X` in [0, {n})."
        )
    verdict = pd.to_numeric(comparisons["verdict"], errors="coerce").to_numpy(float)
    if not np.all(np.isfinite(verdict)):
        raise ValueError("`comparisons['verdict']` must be finite numbers.")
    lookup = {m: i for i, m in enumerate(names)}
    positional = not any(isinstance(m, numbers.Integral) for m in names)
    idx = []
    unknown = set()
    for m in comparisons["model"]:
        if m in lookup:
            idx.append(lookup[m])
        elif (
            positional
            and isinstance(m, numbers.Integral)
            and not isinstance(m, bool)
            and 0 <= m < len(names)
        ):
            idx.append(int(m))
        else:
            unknown.add(m)
            idx.append(-1)
    if unknown:
        raise ValueError(
            f"`comparisons` names unknown model(s) {sorted(map(str, unknown))}; "
            f"the models are {names}."
        )
    table = pd.DataFrame({"query": query, "model": idx, "verdict": verdict})
    return table.groupby(["query", "model"], as_index=False)["verdict"].mean()


class MultiModelRouter(BaseEstimator):
    """Meta-router over K models: one binary router per model against a reference.

    See the module docstring for the data format. For every model ``k`` other
    than the reference, a clone of ``estimator`` is fitted on that model's GS
    rows (``Q_k - Q_ref``, source 1) and PB rows (its verdicts against the
    reference, source 0); its prediction is ``m_hat_k(q)``, the gain over the
    reference on the GS scale. Parameters of the template (``cate_learner``,
    ``outcome_model``, ``scale``, ...) pass through untouched, so every CATE
    learner of :class:`~metarouter.MetaRouter` works per model.

    Parameters
    ----------
    estimator : router, default=None
        Template for the per-model routers: anything with
        ``fit(X, y, source)`` and ``predict(X)`` (e.g. ``MetaRouter``,
        ``PooledRouter``, ``GSOnlyRouter``); ``MetaRouter()`` when None.
    reference : model name or column index, default=None
        The reference model (gain 0), e.g. the cheapest; the first model when
        None.
    random_state : int, RandomState or None, default=None
        Seeds the shared folds and propensities and, when the template's
        ``random_state`` is None, every per-model router (the same seed for
        each, so their own cross-fitting draws the same folds on the same rows).

    Attributes
    ----------
    models_ : list
        Model names (columns of ``quality``).
    reference_index_ : int
        Column of the reference model.
    estimators_ : dict of int -> estimator
        The fitted router of each non-reference model (keyed by column).
    folds_ : ndarray of shape (n_queries,)
        Fold of each training query (-1 for a query with no label).
    propensity_ : ndarray of shape (n_queries,) or None
        Shared out-of-fold ``P(GS | q)`` (NaN for unlabelled queries); None when
        the template's learner does not take shared propensities.
    shared_propensity_ : dict of int -> bool
        Whether each model's router was given the shared propensity (its rows
        are every GS and every PB query).
    n_gs_, n_pb_ : dict of int -> int
        GS rows and PB queries of each model.
    n_unlabelled_ : int
        Rows of ``X`` with neither GS quality nor a comparison (not used).
    n_features_in_ : int
        Number of features seen in fit.

    Examples
    --------
    >>> from metarouter import MetaRouter
    >>> from metarouter.multimodel import MultiModelRouter
    >>> from metarouter.multimodel_data import make_multimodel_data
    >>> data = make_multimodel_data(n_gs=150, n_pb=600, n_test=100, random_state=0)
    >>> router = MultiModelRouter(MetaRouter("r", scale=None), random_state=0)
    >>> router = router.fit(data.X, data.quality, data.comparisons, models=data.models)
    >>> router.predict(data.X_test).shape
    (100, 4)
    >>> router.route(data.X_test, w=0.5, cost=data.cost).shape
    (100,)
    """

    def __init__(self, estimator=None, *, reference=None, random_state=None):
        self.estimator = estimator
        self.reference = reference
        self.random_state = random_state

    def _template(self, seed):
        est = MetaRouter() if self.estimator is None else clone(self.estimator)
        if not (hasattr(est, "fit") and hasattr(est, "predict")):
            raise TypeError(
                "`estimator` must be a router with fit(X, y, source) and "
                f"predict(X), got {type(est).__name__}."
            )
        return seeded_clone(est, seed)

    def fit(self, X, quality, comparisons=None, *, models=None):
        """Fit one router per non-reference model.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Embeddings of every training query.
        quality : array-like or DataFrame of shape (n_queries, n_models)
            GS quality of every model (NaN where not scored; all NaN on PB
            queries).
        comparisons : DataFrame or mapping, default=None
            PB verdicts with columns ``query``, ``model``, ``verdict`` (see the
            module docstring); None fits on GS rows only.
        models : sequence, default=None
            Model names for the columns of an array ``quality`` (a DataFrame's
            columns otherwise; column indices when neither).

        Returns
        -------
        self : object
        """
        X = validate_data(self, X)
        n = X.shape[0]
        q, names = _models_and_quality(quality, models)
        if q.shape[0] != n:
            raise ValueError(
                f"`quality` has {q.shape[0]} rows but `X` has {n}; they must "
                "describe the same queries."
            )
        ref = (
            0
            if self.reference is None
            else _model_index(self.reference, names, "reference")
        )
        table = (
            None if comparisons is None else _comparison_table(comparisons, names, n)
        )
        is_gs = np.any(np.isfinite(q), axis=1)
        if not np.any(is_gs):
            raise ValueError("`quality` has no gold-standard rows (all NaN).")
        if np.any(is_gs & ~np.isfinite(q[:, ref])):
            raise ValueError(
                f"`quality` leaves the reference model {names[ref]!r} unscored on "
                f"{int(np.sum(is_gs & ~np.isfinite(q[:, ref])))} GS queries; every "
                "GS query must score the reference."
            )
        is_pb = np.zeros(n, dtype=bool)
        if table is not None:
            if np.any(table["model"].to_numpy() == ref):
                raise ValueError(
                    f"`comparisons` compares the reference model {names[ref]!r} "
                    "with itself; verdicts are of other models against it."
                )
            is_pb[table["query"].to_numpy()] = True
            both = is_pb & is_gs
            if np.any(both):
                raise ValueError(
                    f"`comparisons` has verdicts on {int(both.sum())} queries that "
                    "also have GS quality; a query is either GS or PB."
                )
        used = is_gs | is_pb
        source = is_gs.astype(np.int64)
        base = _base_entropy(self.random_state)
        template = self._template(child_seed(base, ROLE_TEMPLATE))
        params = template.get_params(deep=False)
        shares = (
            table is not None
            and isinstance(template, MetaRouter)
            and params.get("cate_learner") in _SHARES_NUISANCES
            and params.get("overlap") is None
        )
        self.folds_ = np.full(n, -1, dtype=np.int64)
        self.propensity_ = None
        if shares:
            fold_ids, p = self._shared_nuisances(X[used], source[used], params, base)
            self.folds_[used] = fold_ids
            self.propensity_ = np.full(n, np.nan)
            self.propensity_[used] = p

        self.estimators_, self.shared_propensity_ = {}, {}
        self.n_gs_, self.n_pb_ = {}, {}
        for k in range(len(names)):
            if k == ref:
                continue
            gs_rows = np.flatnonzero(np.isfinite(q[:, k]) & is_gs)
            if gs_rows.size == 0:
                raise ValueError(
                    f"model {names[k]!r} has no gold-standard rows in `quality` "
                    "(its column is NaN on every GS query)."
                )
            y_gs = q[gs_rows, k] - q[gs_rows, ref]
            if table is None:
                pb_rows, y_pb = np.empty(0, dtype=np.int64), np.empty(0)
            else:
                mine = table[table["model"] == k]
                if mine.empty:
                    raise ValueError(
                        f"model {names[k]!r} has no PB comparisons in `comparisons`."
                    )
                pb_rows = mine["query"].to_numpy()
                y_pb = mine["verdict"].to_numpy()
            rows = np.r_[gs_rows, pb_rows]
            y = np.r_[y_gs, y_pb]
            s = np.r_[np.ones(gs_rows.size), np.zeros(pb_rows.size)].astype(np.int64)
            est = clone(template)
            complete = gs_rows.size == int(is_gs.sum()) and pb_rows.size == int(
                is_pb.sum()
            )
            kwargs = {}
            if shares:
                kwargs["folds"] = self.folds_[rows]
                if complete:
                    kwargs["propensity"] = self.propensity_[rows]
            if table is None:
                est.fit(X[rows], y)
            else:
                est.fit(X[rows], y, s, **kwargs)
            self.estimators_[k] = est
            self.shared_propensity_[k] = bool(shares and complete)
            self.n_gs_[k], self.n_pb_[k] = int(gs_rows.size), int(pb_rows.size)
        self.models_ = names
        self.reference_index_ = ref
        self.n_unlabelled_ = int(np.sum(~used))
        return self

    def _shared_nuisances(self, X, s, params, base):
        """Query-level folds stratified by source and out-of-fold ``P(GS | q)``."""
        n_folds = check_n_folds(params.get("n_folds", 5))
        counts = np.bincount(s, minlength=2)
        if counts.min() < n_folds:
            raise ValueError(
                f"{counts[1]} GS and {counts[0]} PB queries: each source needs at "
                f"least n_folds={n_folds} queries (`quality`, `comparisons`)."
            )
        fold_ids = make_folds(s, n_folds, child_seed(base, ROLE_FOLDS))
        _, splits = resolve_folds(fold_ids, s.size, s)
        model = params.get("propensity_model")
        model = default_classifier() if model is None else model
        seeds = child_seeds(base, ROLE_PROPENSITY, len(splits))
        out = fit_out_of_fold(
            {"p": (model, s, splits, seeds, "proba", None)},
            X,
            None,
            n_jobs=params.get("n_jobs"),
        )
        return fold_ids, out["p"][0]

    def predict(self, X) -> np.ndarray:
        """Estimated gain of every model over the reference, ``m_hat_k(q)``.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)

        Returns
        -------
        gain : ndarray of shape (n_queries, n_models)
            Column ``reference_index_`` is 0.
        """
        check_is_fitted(self, "estimators_")
        X = validate_data(self, X, reset=False)
        out = np.zeros((X.shape[0], len(self.models_)))
        for k, est in self.estimators_.items():
            out[:, k] = np.asarray(est.predict(X), dtype=float).ravel()
        return out

    def routing_score(self, X, w=0.0, cost=None) -> np.ndarray:
        """Scores ``m_hat_k(q) - w (C_k(q) - C_ref(q))`` of every model.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
        w : float, default=0.0
            Conversion factor between quality gain and cost.
        cost : array-like of shape (n_models,) or (n_queries, n_models), default=None
            Cost of each model (per query or the same for every query); needed
            when ``w`` is not 0.

        Returns
        -------
        score : ndarray of shape (n_queries, n_models)
        """
        check_is_fitted(self, "estimators_")
        check_column_order(cost, self.models_, "cost", "models_")
        return routing_scores(self.predict(X), w, cost, self.reference_index_)

    def route(self, X, w=0.0, cost=None) -> np.ndarray:
        """Column index of the chosen model for each query (argmax of the scores).

        Ties go to the lower index; the reference wins a tie when it is listed
        first.
        """
        return np.argmax(self.routing_score(X, w=w, cost=cost), axis=1)


def routing_scores(gain, w, cost, reference=0) -> np.ndarray:
    """The K-model routing rule's scores ``gain_k(q) - w (C_k(q) - C_ref(q))``.

    The chosen model is the argmax; the reference's gain is 0, so with two
    models this is eq. (4) of the meta-router (premium iff
    ``m(q) - w (C_p - C_a) > 0``).

    Parameters
    ----------
    gain : ndarray of shape (n_queries, n_models)
        Estimated gain of each model over the reference (reference column 0).
    w : float
        Conversion factor between quality gain and cost.
    cost : array-like of shape (n_models,) or (n_queries, n_models), or None
        Model costs; None only with ``w = 0``.
    reference : int, default=0
        Reference column.

    Returns
    -------
    score : ndarray of shape (n_queries, n_models)

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter.multimodel import routing_scores
    >>> routing_scores(np.array([[0.0, 0.3, 0.5]]), 0.1, [1.0, 2.0, 5.0])
    array([[0. , 0.2, 0.1]])
    """
    gain = np.asarray(gain, dtype=float)
    if gain.ndim != 2:
        raise ValueError(f"`gain` must be 2-D (queries x models), got {gain.shape}.")
    if isinstance(w, bool) or not isinstance(w, numbers.Real) or not np.isfinite(w):
        raise ValueError(f"`w` must be a finite scalar, got {w!r}.")
    if cost is None:
        if w != 0:
            raise ValueError("`cost` is required when `w` is not 0.")
        return gain
    n, K = gain.shape
    try:
        c = np.asarray(cost, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "`cost` must be an array of model costs of shape "
            f"({K},) or ({n}, {K}), got {type(cost).__name__}."
        ) from exc
    if c.ndim == 1:
        c = np.broadcast_to(c, (n, c.shape[0]))
    if c.shape != (n, K):
        raise ValueError(
            f"`cost` must have shape ({K},) or ({n}, {K}), got {np.shape(cost)}."
        )
    if not np.all(np.isfinite(c)):
        raise ValueError("`cost` contains NaN or infinite values.")
    return gain - float(w) * (c - c[:, [reference]])


def trade_off_grid(gain, cost, reference=0, *, n_points=40) -> np.ndarray:
    """Values of ``w`` that sweep K-model routing from best gain to the cheapest.

    The routing decision changes only where ``w`` crosses a ratio
    ``(m_k - m_j) / (C_k - C_j)``; the grid is 0, the quantiles of the positive
    ratios against the reference, and a value above the largest (where every
    query goes to the cheapest model it can).

    Parameters
    ----------
    gain : ndarray of shape (n_queries, n_models)
        Estimated gains (``MultiModelRouter.predict``).
    cost : array-like of shape (n_models,) or (n_queries, n_models)
        Model costs.
    reference : int, default=0
        Reference column.
    n_points : int, default=40
        Number of quantiles.

    Returns
    -------
    w : ndarray, increasing

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter.multimodel import trade_off_grid
    >>> trade_off_grid(np.array([[0.0, 0.2], [0.0, 0.4]]), [1.0, 3.0], n_points=3).round(3).tolist()
    [0.0, 0.1, 0.15, 0.2, 0.4]
    """
    g = np.asarray(gain, dtype=float)
    c = np.broadcast_to(np.asarray(cost, dtype=float), g.shape)
    dc = c - c[:, [reference]]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = g / dc
    ratio = ratio[(dc > 0) & (g > 0) & np.isfinite(ratio)]
    if ratio.size == 0:
        return np.array([0.0, 1.0])
    qs = np.quantile(ratio, np.linspace(0, 1, n_points))
    return np.unique(np.r_[0.0, qs, 2 * ratio.max()])
