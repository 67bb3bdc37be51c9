"""The ``cate`` benchmark's plan and its like-for-like fits of ours and econml's.

What one run measures (:class:`Plan`: :data:`FULL` or :data:`QUICK`), the base
learners both sides share (:func:`base_learners`), the two fits of one learner
on the same data and folds (:func:`learner_fits`), and the data of a cell
(Nie & Wager's setups from :mod:`metarouter.datasets`). The measurements are in
:mod:`benchmarks.cate` and :mod:`benchmarks.cate_router`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.model_selection import StratifiedKFold

from benchmarks._core import children_cpu
from metarouter.cate import SplitByTreatment
from metarouter.datasets import NIE_WAGER_SETUPS as SETUPS
from metarouter.datasets import make_nie_wager_data

__all__ = [
    "CLIP",
    "FULL",
    "N_JOBS",
    "QUICK",
    "SETUPS",
    "TOLERANCE",
    "Plan",
    "base_learners",
    "cate",
    "fold_pairs",
    "learner_fits",
    "make_folds",
    "on_cores",
]

N_JOBS = 2  # our fold-level parallelism (2 cores)
CLIP = 0.01  # our propensity clip; econml's DRLearner gets it as min_propensity
# Accuracy checks: |MSE ratio ours / econml - 1| in every cell and setup. R: the
# same computation as NonParamDML except our propensity clip (NonParamDML has
# none), which only moves rows whose fitted propensity leaves [0.01, 0.99]: 5%.
# DR: the same estimator on both sides (split mu_0/mu_1, same clip); only the
# rounding of the pseudo-outcome formula differs: 2%.
TOLERANCE = {"R": 0.05, "DR": 0.02}


@dataclass(frozen=True)
class Plan:
    """What one run measures (the full benchmark or its quick smoke)."""

    ns: tuple
    fold_counts: tuple
    bases: tuple
    learners: tuple
    setups: tuple  # cycled over the repeats of a cell
    d: int
    n_test: int
    rf: dict
    xgb: dict
    joint_n: int  # econml's joint DR design, one fit per setup at this n
    router_sizes: tuple  # (n_gs, n_pb) of make_routing_data
    router_folds: int
    backends: tuple  # (base, n): our learner on threads against processes
    # the forests' own n_jobs: None leaves it to joblib's configuration, so our
    # learners' final stage (after the fold fits) runs them on N_JOBS threads
    forest_jobs: int | None = None


FULL = Plan(
    ns=(1000, 5000, 20000),
    fold_counts=(2, 5),
    bases=("rf", "xgb"),
    learners=("R", "DR"),
    setups=SETUPS,
    d=50,
    n_test=2000,
    rf={
        "n_estimators": 80,
        "max_depth": 8,
        "min_samples_leaf": 10,
        "max_features": 0.2,
        "max_samples": 0.5,
    },
    xgb={
        "n_estimators": 100,
        "max_depth": 4,
        "learning_rate": 0.1,
        "min_child_weight": 5,
    },
    joint_n=5000,
    router_sizes=(500, 5000),
    router_folds=5,
    backends=(("rf", 1000), ("xgb", 1000), ("default", 2000)),
)
QUICK = Plan(
    ns=(400,),
    fold_counts=(2,),
    bases=("rf", "xgb"),
    learners=("R", "DR"),
    setups=("A",),
    d=50,
    n_test=500,
    rf={
        "n_estimators": 10,
        "max_depth": 5,
        "min_samples_leaf": 10,
        "max_features": 0.2,
        "max_samples": 0.5,
    },
    xgb={
        "n_estimators": 20,
        "max_depth": 3,
        "learning_rate": 0.2,
        "min_child_weight": 5,
    },
    joint_n=400,
    router_sizes=(100, 400),
    router_folds=2,
    backends=(("rf", 400),),
)


def base_learners(base: str, params: dict, seed: int, *, n_jobs: int | None = 1):
    """``(regressor, classifier)``: seeded, identical settings.

    A forest gets ``n_jobs`` (None: as many threads as an enclosing
    ``joblib.parallel_config`` says, one without); XGBoost is always
    single-threaded (its threads are OpenMP's, which joblib's configuration
    does not reach).

    Examples
    --------
    >>> reg, clf = base_learners("rf", {"n_estimators": 3}, seed=7)
    >>> reg.n_jobs, clf.random_state
    (1, 7)
    >>> base_learners("rf", {}, seed=0, n_jobs=None)[0].n_jobs is None
    True
    """
    if base == "rf":
        kw = {**params, "n_jobs": n_jobs, "random_state": seed}
        return RandomForestRegressor(**kw), RandomForestClassifier(**kw)
    if base == "xgb":
        from xgboost import XGBClassifier, XGBRegressor

        kw = {**params, "n_jobs": 1, "random_state": seed, "tree_method": "hist"}
        return XGBRegressor(**kw), XGBClassifier(**kw)
    raise ValueError(f"`base` must be 'rf' or 'xgb', got {base!r}.")


def learner_fits(
    learner: str,
    reg,
    clf,
    X,
    y,
    t,
    folds,
    *,
    seed: int = 0,
    n_jobs: int = N_JOBS,
    econml_regression: str = "split",
    outcome_design: str = "split",
) -> tuple[Callable[[], object], Callable[[], object]]:
    """Zero-argument fits ``(ours, econml)`` of one learner on the same inputs.

    ``learner`` is ``"R"`` (``RLearner`` / ``NonParamDML``) or ``"DR"``
    (``DRLearner`` / econml's ``DRLearner`` with ``min_propensity`` = our
    clip; ``econml_regression="split"`` wraps its regression in
    :class:`~metarouter.cate.SplitByTreatment`, ``"joint"`` keeps econml's one
    model on ``[X, T]``; ``outcome_design`` is our DR-learner's). Our
    R-learner keeps every row in its final regression (``min_final_weight=0``),
    as NonParamDML does. Ours runs ``n_jobs`` workers on joblib's current
    backend. Both return the fitted estimator; :func:`cate` predicts with
    either.

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression, LogisticRegression
    >>> X, y, t, _ = make_nie_wager_data("A", 200, d=6, random_state=0)
    >>> ours, econ = learner_fits(
    ...     "R", LinearRegression(), LogisticRegression(), X, y, t,
    ...     make_folds(t, 2, seed=0), n_jobs=1)
    >>> cate(ours(), X).shape
    (200,)
    """
    from econml.dml import NonParamDML
    from econml.dr import DRLearner as EconDRLearner

    from metarouter import DRLearner, RLearner

    if learner not in ("R", "DR"):
        raise ValueError(f"`learner` must be 'R' or 'DR', got {learner!r}.")
    if econml_regression not in ("split", "joint"):
        raise ValueError(
            f"`econml_regression` must be 'split' or 'joint', got {econml_regression!r}."
        )
    if learner == "R":
        cls, extra = RLearner, {"min_final_weight": 0.0}
    else:
        cls, extra = DRLearner, {"outcome_design": outcome_design}

    def ours():
        est = cls(
            reg,
            clf,
            reg,
            propensity_clip=CLIP,
            n_jobs=n_jobs,
            random_state=seed,
            **extra,
        )
        return est.fit(X, y, t, folds=folds)

    if learner == "R":

        def econ():
            return NonParamDML(
                model_y=reg,
                model_t=clf,
                model_final=reg,
                discrete_treatment=True,
                cv=folds,
                random_state=seed,
            ).fit(y, t, X=X)

    else:
        regression = SplitByTreatment(reg) if econml_regression == "split" else reg

        def econ():
            return EconDRLearner(
                model_regression=regression,
                model_propensity=clf,
                model_final=reg,
                min_propensity=CLIP,
                cv=folds,
                random_state=seed,
            ).fit(y, t, X=X)

    return ours, econ


def cate(estimator, X) -> np.ndarray:
    """CATE predictions of ours (``predict``) or econml's (``effect``).

    Examples
    --------
    >>> class Econ:
    ...     def effect(self, X):
    ...         return [[1.0], [2.0]]
    >>> cate(Econ(), None).tolist()
    [1.0, 2.0]
    """
    if hasattr(estimator, "effect"):
        return np.asarray(estimator.effect(X), dtype=float).ravel()
    return np.asarray(estimator.predict(X), dtype=float).ravel()


def make_folds(t, k: int, seed: int) -> list:
    """Stratified ``(train, test)`` index pairs of ``k`` shuffled folds.

    Examples
    --------
    >>> [len(test) for _, test in make_folds(np.array([0, 1] * 5), 2, seed=0)]
    [5, 5]
    """
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(train, test) for train, test in skf.split(np.zeros_like(t), t)]


def fold_pairs(fold_ids) -> list:
    """``(train, test)`` index pairs from per-row fold ids (a learner's ``folds_``).

    Examples
    --------
    >>> [test.tolist() for _, test in fold_pairs(np.array([0, 1, 0, 1]))]
    [[0, 2], [1, 3]]
    """
    ids = np.asarray(fold_ids)
    return [
        (np.flatnonzero(ids != f), np.flatnonzero(ids == f)) for f in np.unique(ids)
    ]


def on_cores(fn: Callable[[], object], n_jobs: int) -> Callable[[], object]:
    """``fn`` run under ``joblib.parallel_config(backend="threading", n_jobs=n_jobs)``.

    Every joblib-parallel model inside (a forest with ``n_jobs=None``) then
    uses ``n_jobs`` threads: econml's fits given the cores our learners use.

    Examples
    --------
    >>> from joblib.parallel import get_active_backend
    >>> from joblib import Parallel
    >>> on_cores(lambda: Parallel(prefer="threads").n_jobs, 2)()  # a forest's batch
    2
    """
    from joblib import parallel_config

    def call():
        # the backend named, as in metarouter's final stage: without it joblib
        # runs a forest's prefer="threads" batch on one thread
        with parallel_config(backend="threading", n_jobs=n_jobs):
            return fn()

    return call


def cell_data(setup: str, n: int, plan: Plan):
    """Training data, test set and truth of one setup (fixed seeds).

    Examples
    --------
    >>> X, y, t, X_test, tau = cell_data("A", 100, QUICK)
    >>> X.shape, X_test.shape == (QUICK.n_test, QUICK.d)
    ((100, 50), True)
    """
    code = SETUPS.index(setup)
    X, y, t, _ = make_nie_wager_data(setup, n, plan.d, random_state=[n, code, 0])
    X_test, _, _, tau = make_nie_wager_data(
        setup, plan.n_test, plan.d, random_state=[n, code, 1]
    )
    return X, y, t, X_test, tau


def counting(fn: Callable[[], object], sink: list) -> Callable[[], object]:
    """``fn`` that appends its worker processes' CPU seconds to ``sink`` per call.

    Examples
    --------
    >>> sink = []
    >>> counting(lambda: 3, sink)(), len(sink)
    (3, 1)
    """

    def call():
        before = children_cpu()
        out = fn()
        sink.append(max(0.0, children_cpu() - before))
        return out

    return call


def plus(cpu: list, children: list) -> list:
    """Elementwise sums: this process's CPU seconds plus its workers'.

    Examples
    --------
    >>> plus([1.0, 2.0], [0.5, 0.5])
    [1.5, 2.5]
    """
    return [a + b for a, b in zip(cpu, children)]


def paired_ratio(a, b) -> float:
    """Median of the paired per-repeat ratios ``a_i / b_i``.

    Examples
    --------
    >>> paired_ratio([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    1.0
    """
    return float(np.median(np.asarray(a) / np.asarray(b)))
