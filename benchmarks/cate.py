"""Benchmark ``cate``: our R/DR-learners and the meta-router against econml.

``python -m benchmarks cate [--quick]``.

1. CATE learners. ``metarouter.RLearner`` against ``econml.dml.NonParamDML`` and
   ``metarouter.DRLearner`` against ``econml.dr.DRLearner``, with the same base
   learners (random forest or XGBoost, single-threaded, the same settings and
   seeds on both sides), the same explicit cross-fitting folds and the same
   training data from Nie & Wager's (2021) setups (known ``tau``, held-out test
   set). econml's DR-learner fits one ``model_regression`` on ``[X, T]``; to
   compare like with like it gets :class:`~metarouter.cate.SplitByTreatment`,
   which fits ``mu_0`` and ``mu_1`` separately as ours does, and its
   ``min_propensity`` is our clip (0.01). A small extra table measures
   econml's own joint design. Our side runs its folds on 2 worker processes
   (``n_jobs=2``, joblib's default loky backend, which is the library's); its
   CPU time adds the workers' (read from ``/proc``) to this process's. econml
   runs its folds in sequence. A last table compares our learner on threads,
   whose CPU ``time.process_time`` sees but whose Python parts contend for
   the GIL.
2. The meta-router's fit, whole and by step (its public ``step_times_``), and
   shared nuisance fits (:mod:`benchmarks.cate_router`).

The plan and the like-for-like fits are in :mod:`benchmarks.cate_fits`; this
module measures, summarises the measurements into tables and computes the
verdicts (:func:`verdicts`); :mod:`benchmarks.cate_report` only renders them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from joblib import parallel_config
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from benchmarks import cate_report
from benchmarks._core import (
    Cache,
    Section,
    cache_key,
    spread,
    time_call,
    time_pair,
    time_rotating,
)
from benchmarks.cate_fits import (
    CLIP,
    FULL,
    N_JOBS,
    QUICK,
    SETUPS,
    TOLERANCE,
    Plan,
    base_learners,
    cate,
    cell_data,
    counting,
    learner_fits,
    make_folds,
    on_cores,
    paired_ratio,
    plus,
)
from benchmarks.cate_router import (
    router_cell,
    router_tables,
    step1_ratio,
    steps_within_whole,
)
from metarouter._crossfit import final_stage
from metarouter.datasets import make_nie_wager_data as nie_wager

__all__ = [
    "CLIP",
    "FULL",
    "QUICK",
    "SETUPS",
    "Plan",
    "base_learners",
    "cate",
    "cells_table",
    "learner_fits",
    "nie_wager",
    "run",
    "verdicts",
]

_folds = make_folds  # the name benchmarks.profile uses


# --------------------------------------------------------------------------- cells
def _warm_up(plan: Plan) -> None:
    """Start joblib's worker processes and import everything, untimed."""
    X, y, t, _, _ = cell_data("A", 200, plan)
    for learner in plan.learners:
        for base in plan.bases:
            reg, clf = base_learners(base, {"n_estimators": 2}, seed=0)
            for fit in learner_fits(learner, reg, clf, X, y, t, make_folds(t, 2, 0)):
                fit()


def _learners(plan: Plan, base: str):
    return base_learners(base, getattr(plan, base), seed=0, n_jobs=plan.forest_jobs)


def _cell(plan: Plan, learner: str, base: str, k: int, n: int, repeats: int) -> dict:
    """Time ours and econml in rotation; repeat ``r`` uses setup ``setups[r % len]``.

    econml runs twice: as it runs the given models (its forests on one thread
    unless configured), and, for forests, under
    ``parallel_config(backend="threading", n_jobs=2)``
    (every forest fit on the two cores our learner uses).
    """
    setups = [plan.setups[r % len(plan.setups)] for r in range(repeats)]
    data = {s: cell_data(s, n, plan) for s in dict.fromkeys(setups)}
    reg, clf = _learners(plan, base)
    pairs = {}
    for s, (X, y, t, _, _) in data.items():
        pairs[s] = learner_fits(learner, reg, clf, X, y, t, make_folds(t, k, seed=0))
    sides = {"ours": 0, "econ": 1}
    if base == "rf" and plan.forest_jobs is None:
        sides["econ2"] = 1
    fitted = {key: [] for key in sides}

    def side(key: str):
        def call():
            est = pairs[setups[len(fitted[key])]][sides[key]]()
            fitted[key].append(est)

        return call

    workers = []
    fns = {key: side(key) for key in sides}
    fns["ours"] = counting(fns["ours"], workers)
    if "econ2" in fns:
        fns["econ2"] = on_cores(fns["econ2"], N_JOBS)
    timing = time_rotating(fns, repeats, warmup=False)
    mse = {key: [] for key in sides}
    for key in sides:
        for s, est in zip(setups, fitted[key]):
            X_test, tau = data[s][3], data[s][4]
            mse[key].append(float(np.mean((cate(est, X_test) - tau) ** 2)))
    # our final (CATE) fit alone, single-threaded, on the first repeat's data
    first = fitted["ours"][0]
    final = clone(first.cate_model_)
    weights = {} if first.weights_ is None else {"sample_weight": first.weights_}

    def fit_final():
        return final.fit(data[setups[0]][0], first.pseudo_outcome_, **weights)

    with parallel_config(n_jobs=1):
        final_wall, _, _ = time_call(fit_final)
    # as our learner's final stage runs it (metarouter._crossfit.final_stage)
    with final_stage(final, N_JOBS):
        final_wall_2, _, _ = time_call(fit_final)
    rec = {
        "setups": setups,
        "final_wall": final_wall,
        "final_wall_2": final_wall_2,
        "ours_wall": timing["ours"]["wall"],
        "ours_cpu": plus(timing["ours"]["cpu"], workers),
        "econ_wall": timing["econ"]["wall"],
        "econ_cpu": timing["econ"]["cpu"],
        "mse_ours": mse["ours"],
        "mse_econ": mse["econ"],
    }
    if "econ2" in sides:
        rec["econ2_wall"] = timing["econ2"]["wall"]
        rec["mse_econ2"] = mse["econ2"]
    return rec


def _joint(plan: Plan, base: str, k: int) -> dict:
    """econml's own DR design (joint regression on [X, T]) next to ours, once per setup."""
    n = plan.joint_n
    reg, clf = _learners(plan, base)
    rows = {}
    for s in plan.setups:
        X, y, t, X_test, tau = cell_data(s, n, plan)
        folds = make_folds(t, k, seed=0)
        record = {}
        for design in ("split", "joint"):
            ours, econ = learner_fits(
                "DR", reg, clf, X, y, t, folds, econml_regression=design
            )
            wall, _, est = time_call(econ)
            record[f"econ_{design}_wall"] = wall
            record[f"mse_econ_{design}"] = float(
                np.mean((cate(est, X_test) - tau) ** 2)
            )
        est = ours()
        record["mse_ours"] = float(np.mean((cate(est, X_test) - tau) ** 2))
        rows[s] = record
    return rows


def _backend_cell(plan: Plan, base: str, n: int, repeats: int) -> dict:
    """Our R-learner on joblib threads against processes (loky, joblib's default)."""
    from metarouter import RLearner

    X, y, t, _, _ = cell_data("A", n, plan)
    if base == "default":
        reg = clf = None  # the library's histogram gradient boosting
    else:
        reg, clf = _learners(plan, base)
    k = max(plan.fold_counts)

    def fit(backend):
        def call():
            est = RLearner(reg, clf, reg, n_folds=k, n_jobs=N_JOBS, random_state=0)
            with parallel_config(backend=backend):
                return est.fit(X, y, t)

        return call

    # warm-up: loky starts its worker processes once
    timing = time_pair(fit("threading"), fit("loky"), repeats)
    gap = float(
        np.max(np.abs(timing["a_result"].predict(X) - timing["b_result"].predict(X)))
    )
    return {
        "threads_wall": timing["a_wall"],
        "loky_wall": timing["b_wall"],
        "threads_cpu": timing["a_cpu"],
        "gap": gap,
    }


# --------------------------------------------------------------------------- summaries
def two_core_bound(rec) -> float:
    """Best 2-core wall ratio with the final fit as our final stage runs it.

    With econml's median wall time ``E``, its final fit on one thread ``F``
    (the time of ours alone) and ours on two (``metarouter._crossfit.final_stage``)
    ``F2``, perfectly halved nuisance work gives ``((E - F) / 2 + F2) / E``.

    Examples
    --------
    >>> two_core_bound({"econ_wall": [10.0], "final_wall": 2.0, "final_wall_2": 2.0})
    0.6
    >>> two_core_bound({"econ_wall": [10.0], "final_wall": 2.0, "final_wall_2": 1.0})
    0.5
    """
    e = float(np.median(rec["econ_wall"]))
    f = min(rec["final_wall"], e)
    f2 = min(rec["final_wall_2"], e)
    return ((e - f) / 2 + f2) / e


def worst_setup_ratio(rec, *, deviation: bool = False) -> tuple[float, str]:
    """The largest MSE ratio ours / econml over a cell's setups, and its setup.

    With ``deviation``, the ratio furthest from 1.

    Examples
    --------
    >>> rec = {"setups": ["A", "B"], "mse_ours": [1.0, 0.9], "mse_econ": [1.0, 1.0]}
    >>> worst_setup_ratio(rec), worst_setup_ratio(rec, deviation=True)
    ((1.0, 'A'), (0.9, 'B'))
    """
    ratios = {
        s: mo / me for s, mo, me in zip(rec["setups"], rec["mse_ours"], rec["mse_econ"])
    }
    key = (lambda s: abs(ratios[s] - 1)) if deviation else ratios.get
    worst = max(ratios, key=key)
    return ratios[worst], worst


def _setup_means(rec, key) -> float:
    per = {}
    for s, v in zip(rec["setups"], rec[key]):
        per.setdefault(s, v)
    return float(np.mean(list(per.values())))


def cells_table(cells) -> pd.DataFrame:
    """One row per ``((learner, base, folds, n), record)`` cell: times, ratios, MSE."""
    rows = []
    for (learner, base, k, n), rec in cells:
        ratio, worst = worst_setup_ratio(rec)
        rows.append(
            {
                "learner": learner,
                "base": base,
                "folds": k,
                "n": n,
                "setups": ",".join(dict.fromkeys(rec["setups"])),
                "ours wall s": spread(rec["ours_wall"]),
                "econml wall s": spread(rec["econ_wall"]),
                "wall ratio": paired_ratio(rec["ours_wall"], rec["econ_wall"]),
                "econml 2 threads wall s": spread(rec["econ2_wall"])
                if "econ2_wall" in rec
                else "-",
                "wall ratio vs 2 threads": paired_ratio(
                    rec["ours_wall"], rec["econ2_wall"]
                )
                if "econ2_wall" in rec
                else float("nan"),
                "2-core bound": two_core_bound(rec),
                "final fit s, 1 / 2 threads": f"{rec['final_wall']:.3g} / "
                f"{rec['final_wall_2']:.3g}",
                "ours CPU s": spread(rec["ours_cpu"]),
                "econml CPU s": spread(rec["econ_cpu"]),
                "MSE ours": _setup_means(rec, "mse_ours"),
                "MSE econml": _setup_means(rec, "mse_econ"),
                "MSE ratio (worst setup)": f"{ratio:.4f} ({worst})",
            }
        )
    return pd.DataFrame(rows)


def _joint_table(plan: Plan, joints: dict) -> pd.DataFrame:
    rows = []
    for (base, k), rec in joints.items():
        for s, r in rec.items():
            rows.append(
                {
                    "base": base,
                    "folds": k,
                    "n": plan.joint_n,
                    "setup": s,
                    "econml joint wall s": r["econ_joint_wall"],
                    "econml split wall s": r["econ_split_wall"],
                    "MSE ours": r["mse_ours"],
                    "MSE econml joint": r["mse_econ_joint"],
                    "MSE econml split": r["mse_econ_split"],
                    "ours / joint": r["mse_ours"] / r["mse_econ_joint"],
                }
            )
    return pd.DataFrame(rows)


def _backend_table(backends: dict) -> pd.DataFrame:
    rows = []
    for (base, n), rec in backends.items():
        rows.append(
            {
                "base learners": "histogram boosting (library default)"
                if base == "default"
                else base,
                "n": n,
                "threads wall s": spread(rec["threads_wall"]),
                "processes (loky) wall s": spread(rec["loky_wall"]),
                "threads / loky": paired_ratio(rec["threads_wall"], rec["loky_wall"]),
                "threads CPU s": spread(rec["threads_cpu"]),
                "max |threads - loky| prediction": rec["gap"],
            }
        )
    return pd.DataFrame(rows)


def _miss_medians(plan: Plan, cells) -> pd.DataFrame:
    """Median wall ratio, 2-core bound and CPU ratio per learner and fold count."""
    rows = []
    for learner in plan.learners:
        for k in plan.fold_counts:
            recs = [r for spec, r in cells if spec[0] == learner and spec[2] == k]
            if recs:
                rows.append(
                    {
                        "learner": learner,
                        "folds": k,
                        "wall": np.median(
                            [paired_ratio(r["ours_wall"], r["econ_wall"]) for r in recs]
                        ),
                        "bound": np.median([two_core_bound(r) for r in recs]),
                        "cpu": np.median(
                            [paired_ratio(r["ours_cpu"], r["econ_cpu"]) for r in recs]
                        ),
                    }
                )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- verdicts
def verdicts(plan: Plan, cells, routers: dict, backends: dict) -> pd.DataFrame:
    """Every target and accuracy check, with what was measured and whether it held.

    Returns a frame with columns ``kind`` (``"target"``, ``"check"`` or
    ``"finding"``, a measured fact the report's text depends on),
    ``what``, ``measured`` (text) and ``met`` (bool); the report renders it.
    """
    rows = []

    def add(kind, what, measured, met):
        rows.append(
            {"kind": kind, "what": what, "measured": measured, "met": bool(met)}
        )

    for learner, tol in TOLERANCE.items():
        mine = [(spec, rec) for spec, rec in cells if spec[0] == learner]
        if not mine:
            continue
        worst_spec, worst_rec = max(mine, key=lambda c: worst_setup_ratio(c[1])[0])
        worst_ratio, worst_setup = worst_setup_ratio(worst_rec)
        label = (
            f"{worst_spec[1]}, {worst_spec[2]} folds, n={worst_spec[3]}, "
            f"setup {worst_setup}"
        )
        add(
            "target",
            f"{learner}: MSE ratio ours / econml at most 1.05 (worst cell and setup)",
            f"{worst_ratio:.4f} ({label})",
            worst_ratio <= 1.05,
        )
        deviations = [abs(worst_setup_ratio(r, deviation=True)[0] - 1) for _, r in mine]
        add(
            "check",
            f"{learner} MSE ratio within 1 +- {tol}",
            f"{max(deviations):.4f}",
            max(deviations) <= tol,
        )
        walls = [
            (spec, paired_ratio(rec["ours_wall"], rec["econ_wall"]))
            for spec, rec in mine
        ]
        w_spec, w_max = max(walls, key=lambda c: c[1])
        median = float(np.median([w for _, w in walls]))
        by_k = ", ".join(
            f"{k} folds {np.median([w for spec, w in walls if spec[2] == k]):.2f}"
            for k in plan.fold_counts
        )
        add(
            "target",
            f"{learner}: wall-time ratio ours / econml at most 0.6 on 2 cores (every cell)",
            f"worst {w_max:.2f} ({w_spec[1]}, {w_spec[2]} folds, n={w_spec[3]}); "
            f"median over cells {median:.2f} ({by_k})",
            w_max <= 0.6,
        )
        threads = [
            (spec, paired_ratio(rec["ours_wall"], rec["econ2_wall"]))
            for spec, rec in mine
            if "econ2_wall" in rec
        ]
        if threads:
            add(
                "check",
                f"{learner}: econml on 2 threads fits the same estimate",
                "MSE equal to 1e-9 in every fit",
                # the same forests; threaded predictions add the trees' outputs in
                # thread order, so only rounding differs (seen: 4e-16 relative)
                all(
                    np.allclose(r["mse_econ2"], r["mse_econ"], rtol=1e-9, atol=0)
                    for _, r in mine
                    if "mse_econ2" in r
                ),
            )
            t_spec, t_max = max(threads, key=lambda c: c[1])
            add(
                "target",
                f"{learner}: wall-time ratio ours / econml with its forests on 2 "
                "threads at most 0.6 (every forest cell)",
                f"worst {t_max:.2f} ({t_spec[2]} folds, n={t_spec[3]}); median "
                f"{np.median([w for _, w in threads]):.2f}",
                t_max <= 0.6,
            )
    for base, rec in routers.items():
        for kind in ("r", "auto"):
            ratio = step1_ratio(rec, kind)
            if np.isnan(ratio):
                continue
            what = (
                f"auto, counted as the learner it chose ({rec['chosen']})"
                if kind == "auto"
                else "MetaRouter('r')"
            )
            add(
                "target",
                f"{base}, {what}: step-1 wall / econml's same learner at most 0.6 "
                "(selection folds apart)",
                f"{ratio:.2f}",
                ratio <= 0.6,
            )
        add(
            "check",
            f"{base}: router steps within the whole fit",
            f"{sum(len(v) for v in rec['all_steps'].values())} fits",
            steps_within_whole(rec),
        )
        add(
            "check",
            f"{base}: shared fits equal separate fits",
            f"{rec['shared_gap']:.3g}",
            rec["shared_gap"] <= 1e-12,
        )
    for (base, n), rec in backends.items():
        add(
            "check",
            f"{base}, n={n}: threads and processes give the same fit",
            f"{rec['gap']:.3g}",
            rec["gap"] == 0,
        )
    if backends:
        slowest = max(
            paired_ratio(r["threads_wall"], r["loky_wall"]) for r in backends.values()
        )
        add(
            "finding",
            "threads slower than processes (some base learner)",
            f"{slowest:.2f}",
            slowest > 1,
        )
    return pd.DataFrame(rows, columns=["kind", "what", "measured", "met"])


# --------------------------------------------------------------------------- run
def _cached(cache: Cache, key: str, measure, *args):
    """``measure(*args)``, or its record cached under ``key``."""
    rec = cache.get(key)
    if rec is None:
        rec = measure(*args)
        cache.put(key, rec)
    return rec


def run(*, quick: bool, repeats: int, cache: Cache, progress: bool) -> Section:
    """Measure everything (cached per cell) and build the ``cate`` section."""
    from tqdm.auto import tqdm

    plan = QUICK if quick else FULL
    cells_spec = [
        (learner, base, k, n)
        for n in plan.ns
        for base in plan.bases
        for k in plan.fold_counts
        for learner in plan.learners
    ]
    joint_spec = [(base, max(plan.fold_counts)) for base in plan.bases]
    total = len(cells_spec) + len(joint_spec) + len(plan.bases) + len(plan.backends)
    cells, joints, routers, backends = [], {}, {}, {}
    bar = tqdm(total=total, desc="cate", disable=not progress)
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _warm_up(plan)
        for spec in cells_spec:
            key = cache_key("cell", plan, spec, repeats)
            cells.append((spec, _cached(cache, key, _cell, plan, *spec, repeats)))
            bar.update()
        for base, k in joint_spec:
            key = cache_key("joint", plan, base, k)
            joints[(base, k)] = _cached(cache, key, _joint, plan, base, k)
            bar.update()
        for base in plan.bases:
            key = cache_key("router", 3, plan, base, repeats)
            routers[base] = _cached(cache, key, router_cell, plan, base, repeats)
            bar.update()
        for base, n in plan.backends:
            key = cache_key("backend", plan, base, n, repeats)
            backends[(base, n)] = _cached(
                cache, key, _backend_cell, plan, base, n, repeats
            )
            bar.update()
    bar.close()
    return cate_report.section(
        plan,
        quick=quick,
        repeats=repeats,
        verdicts=verdicts(plan, cells, routers, backends),
        tables={
            "cells": cells_table(cells),
            "joint": _joint_table(plan, joints),
            **router_tables(routers),
            "backend": _backend_table(backends),
            "miss": _miss_medians(plan, cells),
        },
    )
