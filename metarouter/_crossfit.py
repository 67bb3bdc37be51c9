"""Cross-fitting machinery: folds, deterministic child seeds, out-of-fold fits.

All randomness is drawn *before* any parallel work starts, so results are
identical for every ``n_jobs``.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import numpy as np
from joblib import Parallel, cpu_count, delayed, effective_n_jobs, parallel_config
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from metarouter._boosting import BoostingClassifier, BoostingRegressor

__all__ = [
    "ROLE_FINAL",
    "ROLE_FOLDS",
    "ROLE_LEARNER",
    "ROLE_MODEL",
    "ROLE_MU0",
    "ROLE_MU1",
    "ROLE_OUTCOME",
    "ROLE_OVERLAP",
    "ROLE_PROPENSITY",
    "ROLE_SELECT",
    "ROLE_TEMPLATE",
    "child_seed",
    "child_seeds",
    "default_cate_regressor",
    "default_classifier",
    "default_overlap_classifier",
    "default_regressor",
    "final_stage",
    "fit_out_of_fold",
    "make_folds",
    "ordered_predictions",
    "resolve_folds",
    "seeded_clone",
]

# The one numbering of seed roles: each role gets its own seed stream from a
# ``random_state``. Learner roles (0-5): R and DR learners fitted with the same
# ``random_state`` draw identical folds and identical propensity models. Router roles
# (20-23) seed the meta-router's own steps; 30 seeds the K-model router's template.
ROLE_FOLDS, ROLE_PROPENSITY, ROLE_OUTCOME, ROLE_MU0, ROLE_MU1, ROLE_FINAL = range(6)
ROLE_LEARNER, ROLE_MODEL, ROLE_OVERLAP, ROLE_SELECT = 20, 21, 22, 23
ROLE_TEMPLATE = 30
_MAX_SEED = np.iinfo(np.int32).max
# Shallow trees and an l2 penalty: deeper defaults (15 leaves, min 10 per leaf)
# gave overconfident propensities and DR pseudo-outcomes 50x noisier in a quick
# study (n = 2000, d = 5); these settings are also 4x faster.
_HGB_DEFAULTS = {
    "max_iter": 50,
    "learning_rate": 0.1,
    "max_depth": 3,
    "min_samples_leaf": 20,
    "l2_regularization": 1.0,
}
_HGB_PROPENSITY_DEFAULTS = {
    "max_iter": 50,
    "learning_rate": 0.05,
    "max_depth": 2,
    "min_samples_leaf": 20,
    "l2_regularization": 10.0,
}
_HGB_CATE_DEFAULTS = {
    "max_iter": 50,
    "learning_rate": 0.05,
    "max_depth": 1,
    "min_samples_leaf": 20,
    "l2_regularization": 10.0,
}


def default_regressor() -> BoostingRegressor:
    """The default regressor: shallow, regularised histogram gradient boosting."""
    return BoostingRegressor(**_HGB_DEFAULTS)


def default_cate_regressor() -> BoostingRegressor:
    """The default final (CATE) model: boosted stumps with strong shrinkage.

    A CATE is usually a simpler function than the nuisances, and its
    pseudo-outcomes are far noisier than the outcomes, above all with few rows
    of one treatment level. On make_routing_data (n_gs = 100, n_pb = 2000,
    3 seeds) the nuisance defaults as final model gave a shift MSE of 0.15 (R)
    and 1.05 (DR) against a shift variance of 0.009; these settings gave 0.017
    and 0.086.
    """
    return BoostingRegressor(**_HGB_CATE_DEFAULTS)


def default_classifier() -> BoostingClassifier:
    """The default propensity classifier: shallow boosting with strong shrinkage.

    Over-confident propensities explode the inverse weights ``1 / p`` of the
    DR pseudo-outcome, above all when one source is rare. On make_routing_data
    (n_gs = 100, n_pb = 1000, 6 seeds) replacing the nuisance-regressor settings
    by these cut the DR meta-router's test MSE of ``m`` from 0.078 to 0.062
    (true propensities: 0.069) and the R meta-router's from 0.057 to 0.054.
    """
    return BoostingClassifier(**_HGB_PROPENSITY_DEFAULTS)


def default_overlap_classifier() -> BoostingClassifier:
    """Propensity model for finding the overlap region (``MetaRouter(overlap=)``).

    Less shrunk than :func:`default_classifier`: the shrinkage that steadies
    inverse weights also pulls propensities of queries outside the common
    support towards the base rate, hiding exactly what truncation must find.
    """
    return BoostingClassifier(**_HGB_DEFAULTS)


def gs_density_ratio(propensity, source, sample_weight=None) -> np.ndarray:
    """``f_GS(q) / f_PB(q)`` from the propensity ``p(q) = P(GS | q)``.

    By Bayes' rule (Meta-Router paper, Lemma 1) ``p / (1 - p) = kappa /
    (1 - kappa) * f_GS / f_PB`` with ``kappa`` the (weighted) GS share, so the
    ratio is ``p / (1 - p) * (1 - kappa) / kappa``; ``p`` is clipped to
    ``[1e-12, 1 - 1e-12]``. Behind the overlap region and the GS rows'
    importance weights to the PB queries.

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter._crossfit import gs_density_ratio
    >>> gs_density_ratio(np.array([0.5, 0.2]), np.array([1, 0])).tolist()
    [1.0, 0.25]
    """
    source = np.asarray(source)
    w = np.ones(source.shape[0]) if sample_weight is None else sample_weight
    kappa = np.sum(w[source == 1]) / np.sum(w)
    p = np.clip(propensity, 1e-12, 1 - 1e-12)
    return p / (1 - p) * (1 - kappa) / kappa


def _base_entropy(random_state) -> int:
    """One integer drawn from ``random_state`` (int, RandomState or None)."""
    return int(check_random_state(random_state).randint(_MAX_SEED))


def child_seeds(base: int, role: int, n: int) -> list[int]:
    """``n`` integer seeds for a nuisance role, derived from ``base``."""
    state = np.random.SeedSequence([base, role]).generate_state(n)
    return [int(s % _MAX_SEED) for s in state]


def child_seed(base: int, role: int) -> int:
    """A single integer seed for ``role``."""
    return child_seeds(base, role, 1)[0]


def seeded_clone(estimator, seed: int):
    """Clone ``estimator`` and seed every ``random_state`` left at None.

    Parameters set to an explicit integer by the user are kept (their choice);
    ``None`` and ``RandomState`` instances are replaced by ``seed`` so that the
    fit is reproducible and independent of ``n_jobs``.
    """
    est = clone(estimator)
    params = est.get_params(deep=True)
    to_set = {
        key: seed
        for key, value in params.items()
        if (key == "random_state" or key.endswith("__random_state"))
        and (value is None or isinstance(value, np.random.RandomState))
    }
    if to_set:
        est.set_params(**to_set)
    return est


def make_folds(treatment: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold index (0..n_folds-1) of each row, stratified by treatment."""
    fold_ids = np.empty(treatment.shape[0], dtype=np.int64)
    skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(skf.split(np.zeros_like(treatment), treatment)):
        fold_ids[test] = k
    return fold_ids


def resolve_folds(folds, n: int, treatment: np.ndarray | None = None):
    """Normalise user folds to ``(fold_ids, splits)``.

    ``folds`` is either a length-``n`` integer array of fold labels or a list of
    ``(train, test)`` index pairs (as econml's ``cv=``) whose test sets
    partition the rows. Every training split must contain both treatment
    levels when ``treatment`` is given.
    """
    if isinstance(folds, (list, tuple)) and len(folds) > 0 and _is_pair(folds[0]):
        fold_ids = np.full(n, -1, dtype=np.int64)
        splits = []
        for k, pair in enumerate(folds):
            if not _is_pair(pair):
                raise ValueError("`folds` must be a list of (train, test) index pairs.")
            train = np.asarray(pair[0], dtype=np.int64).ravel()
            test = np.asarray(pair[1], dtype=np.int64).ravel()
            if test.size == 0 or train.size == 0:
                raise ValueError(f"`folds` pair {k} has an empty train or test set.")
            if test.min() < 0 or test.max() >= n or train.min() < 0 or train.max() >= n:
                raise ValueError(f"`folds` pair {k} has indices outside [0, {n}).")
            if np.any(fold_ids[test] >= 0):
                raise ValueError("`folds` test sets must not overlap.")
            if np.intersect1d(train, test).size:
                raise ValueError(
                    f"`folds` pair {k} shares rows between train and test."
                )
            fold_ids[test] = k
            splits.append((train, test))
        if np.any(fold_ids < 0):
            raise ValueError(
                f"`folds` test sets must cover every row; {int(np.sum(fold_ids < 0))} "
                "rows are in no test set."
            )
    else:
        arr = np.asarray(folds)
        if arr.ndim != 1 or arr.shape[0] != n:
            raise ValueError(
                f"`folds` must be a length-{n} array of fold labels or a list of "
                f"(train, test) pairs, got shape {arr.shape}."
            )
        if not np.issubdtype(arr.dtype, np.integer) and (
            not np.all(np.isfinite(arr.astype(float))) or np.any(arr != np.round(arr))
        ):
            raise ValueError("`folds` labels must be integers.")
        labels, fold_ids = np.unique(arr.astype(np.int64), return_inverse=True)
        if labels.size < 2:
            raise ValueError("`folds` must define at least 2 folds.")
        splits = [
            (np.flatnonzero(fold_ids != k), np.flatnonzero(fold_ids == k))
            for k in range(labels.size)
        ]
    if treatment is not None:
        for k, (train, _) in enumerate(splits):
            levels = np.unique(treatment[train])
            if levels.size < 2:
                raise ValueError(
                    f"`folds` training split {k} contains only treatment level "
                    f"{levels.tolist()}; each training split needs both levels."
                )
    return fold_ids, splits


def _is_pair(obj) -> bool:
    return isinstance(obj, (list, tuple)) and len(obj) == 2


def _positive_class_proba(model, X) -> np.ndarray:
    proba = model.predict_proba(X)
    classes = np.asarray(model.classes_)
    col = np.flatnonzero(classes == 1)
    if col.size == 0:
        return np.zeros(X.shape[0])
    return proba[:, col[0]]


def ordered_predictions():
    """Context for the predictions a fit makes: joblib runs them on one thread.

    A forest sums its trees' predictions in the order its threads finish, so
    under a caller's ``joblib.parallel_config(n_jobs=2)`` (or
    :func:`final_stage`'s) the out-of-fold predictions of a fit with
    ``n_jobs=1`` differed in their last bits from fit to fit, and so did
    everything fitted on them. Fits keep their threads (a forest's fit does
    not depend on them), but for an econml estimator's, which predicts inside
    (:class:`~metarouter.cate.EconMLAdapter`); a model whose own ``n_jobs`` is
    set keeps it.
    """
    return parallel_config(n_jobs=1)


def _fit_predict(
    model, X, y, train, test, sample_weight, method, fit_weighted, omp_threads
):
    if omp_threads is None:
        return _fit_predict_unlimited(
            model, X, y, train, test, sample_weight, method, fit_weighted
        )
    # OpenMP thread counts are per calling thread: this caps the pools of
    # this worker thread only (e.g. histogram gradient boosting)
    with threadpool_limits(limits=omp_threads, user_api="openmp"):
        return _fit_predict_unlimited(
            model, X, y, train, test, sample_weight, method, fit_weighted
        )


def _fit_predict_unlimited(
    model, X, y, train, test, sample_weight, method, fit_weighted
):
    if fit_weighted:
        model.fit(X[train], y[train], sample_weight=sample_weight[train])
    else:
        model.fit(X[train], y[train])
    with ordered_predictions():
        return model, _predict(model, X[test], method)


def _predict(model, X, method):
    if method == "proba":
        return _positive_class_proba(model, X)
    if method == "joint":
        # X's last column is the treatment: predict each test row at t = 0 and 1
        at = X.copy()
        pred = np.empty((X.shape[0], 2))
        for level in (0, 1):
            at[:, -1] = level
            pred[:, level] = np.asarray(model.predict(at), dtype=float).ravel()
        return pred
    return np.asarray(model.predict(X), dtype=float).ravel()


def _single_thread_params(model) -> list[str]:
    """The (deep) ``n_jobs`` parameters of ``model`` set to exactly 1."""
    if not hasattr(model, "get_params"):
        return []
    return [
        key
        for key, value in model.get_params(deep=True).items()
        if (key == "n_jobs" or key.endswith("__n_jobs"))
        and isinstance(value, (int, np.integer))
        and not isinstance(value, bool)
        and value == 1
    ]


@contextmanager
def final_stage(model, n_jobs):
    """Context for ``model``'s fit after the fold fits: it may use ``n_jobs`` threads.

    The fold fits ran ``n_jobs`` at a time; the final (CATE) fit and step 2 run
    alone, so the cores are theirs:

    * a model that parallelises through joblib with its own ``n_jobs`` None
      (e.g. a random forest) fits on ``n_jobs`` threads of this process. The
      backend is named: scikit-learn's forests ask joblib for threads
      (``prefer="threads"``), and joblib (1.6) then ignores an ``n_jobs`` set by
      ``parallel_config`` without a backend (measured: a forest of 80 trees on
      20,000 rows, 5.3 s alone, 5.4 s under ``parallel_config(n_jobs=2)``, 2.4 s
      under this context);
    * a model whose ``n_jobs`` parameter is 1 (at any depth, e.g. XGBoost
      pinned to one thread so that two fold fits share two cores) fits with it
      set to ``effective_n_jobs(n_jobs)``, and OpenMP's thread limit set to the
      same number for that fit, and gets its 1 back after the fit (measured:
      XGBoost, 100 trees of depth 4 on 20,000 x 50 rows, 0.70 s on one thread,
      0.41 s on two; under a caller's ``threadpool_limits(1)`` two threads ran
      as one until the limit was lifted here).

    With ``n_jobs=None`` nothing changes (an outer ``joblib.parallel_config`` of
    the caller still applies). Forests and XGBoost's ``hist`` trees give the
    same fit bit for bit whatever the number of threads (tested); a model whose
    fit depends on its thread count would make the learner's result depend on
    ``n_jobs``.

    Examples
    --------
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> forest = RandomForestRegressor(n_jobs=1)
    >>> with final_stage(forest, 2):
    ...     forest.n_jobs
    2
    >>> forest.n_jobs  # the user's value, back after the fit
    1
    """
    if n_jobs is None:
        yield model
        return
    k = effective_n_jobs(n_jobs)
    keys = _single_thread_params(model) if k > 1 else []
    if keys:
        model.set_params(**dict.fromkeys(keys, k))
    try:
        # the raised model's threads are OpenMP's (XGBoost): an OpenMP limit of
        # the caller (threadpoolctl's, as the cross-fitting sets in its workers)
        # would hold them at one. threadpool_limits applies its limit when it is
        # built, so it is built here, inside the block that undoes everything.
        with (
            parallel_config(backend="threading", n_jobs=n_jobs),
            threadpool_limits(k, user_api="openmp") if keys else nullcontext(),
        ):
            yield model
    finally:
        if keys:
            model.set_params(**dict.fromkeys(keys, 1))


def fit_out_of_fold(jobs, X, sample_weight, *, n_jobs=None):
    """Run cross-fitting jobs in one parallel batch.

    ``jobs`` maps a name to ``(estimator, target, splits, seeds, method,
    train_mask)`` or the same with a seventh entry, the job's own feature
    matrix (else ``X``): for every fold ``k`` a seeded clone is fitted on the
    training rows (restricted to ``train_mask`` when given) and predicts the
    test rows. ``method`` is ``"predict"``, ``"proba"`` (probability of class
    1) or ``"joint"`` (the features' last column is a binary treatment; the
    prediction has two columns, the test rows at treatment 0 and at 1).
    ``sample_weight`` is passed to ``fit`` only when it is not None. The fits
    run on joblib's default backend or the one ``joblib.parallel_config``
    names; with several workers each caps its OpenMP pool at
    ``cpu_count // workers`` threads (loky's processes do so already; worker
    threads would otherwise each start a pool as large as the machine).

    Returns ``{name: (out_of_fold_predictions, fitted_models)}``.
    """
    n = X.shape[0]
    weighted = sample_weight is not None
    tasks, keys = [], []
    for name, job in jobs.items():
        estimator, target, splits, seeds, method, train_mask = job[:6]
        features = job[6] if len(job) > 6 else X
        for k, (train, test) in enumerate(splits):
            if train_mask is not None:
                train = train[train_mask[train]]
            model = seeded_clone(estimator, seeds[k])
            tasks.append(
                (model, features, target, train, test, sample_weight, method, weighted)
            )
            keys.append((name, test))
    # joblib's default backend (processes, loky) unless joblib.parallel_config
    # chooses another: threads were slower with the GIL-bound Python parts of
    # forests and histogram boosting at n <= 5000 (benchmarks/cate.py).
    parallel = Parallel(n_jobs=n_jobs)
    workers = effective_n_jobs(n_jobs)
    # OpenMP pools are per thread: like loky's processes, each worker thread
    # (threading backend) gets its share of the cores, not all of them
    omp = None if workers <= 1 else max(1, cpu_count() // workers)
    results = parallel(delayed(_fit_predict)(*task, omp) for task in tasks)
    out = {
        name: (np.full((n, 2) if job[4] == "joint" else n, np.nan), [])
        for name, job in jobs.items()
    }
    for (name, test), (model, pred) in zip(keys, results):
        out[name][0][test] = pred
        out[name][1].append(model)
    return out
