"""The ``cate`` benchmark's meta-router measurements, through its public API.

One ``MetaRouter("r", ...)`` fit timed as a whole, with the wall time of each
of its steps read from the fitted router's ``step_times_`` (align, the step-1
CATE learner, the shift predicted on the PB rows, the step-2 regression); and
an R and a DR meta-router fitted separately or sharing their nuisance fits
(the DR router reusing the R router's folds and propensities).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks._core import spread, time_pair, time_rotating
from benchmarks.cate_fits import (
    N_JOBS,
    Plan,
    base_learners,
    counting,
    fold_pairs,
    learner_fits,
    paired_ratio,
    plus,
)

__all__ = ["STEPS", "router_cell", "router_tables", "step1_ratio", "steps_within_whole"]

#: The steps of ``MetaRouter.fit`` (keys of ``step_times_``) in the order they run.
STEPS = ("select", "align", "shift", "correct", "gain")


#: econml's counterpart of a built-in step-1 learner: (learner_fits name, DR design).
ECONML = {
    "r": ("R", "split"),
    "dr": ("DR", "split"),
    "dr-split": ("DR", "split"),
    "dr-joint": ("DR", "joint"),
}
#: Timed fits of ``cate_learner="auto"`` (each runs every candidate on every
#: selection fold: about 5 x n_folds router fits).
AUTO_REPEATS = 3


def _econml_fit(router, name: str, reg, clf, X, y, src):
    """econml's fit of the learner ``router`` used, on its aligned outcomes and folds."""
    learner, design = ECONML[name]
    o = np.where(src == 1, router.scale_ * y, y) / router.outcome_unit_
    folds = fold_pairs(router.cate_learner_.folds_)
    _, econ = learner_fits(
        learner, reg, clf, X, o, src, folds, econml_regression=design
    )
    return econ


def router_cell(plan: Plan, base: str, repeats: int) -> dict:
    """Time the meta-router's fits (whole, by step, ``auto``) and shared nuisances.

    Rotated together: ``MetaRouter("r")``, ``MetaRouter("auto")`` (at most
    :data:`AUTO_REPEATS` times), a router with the learner ``auto`` chose, and
    econml's fit of the R-learner and of the chosen learner on the routers'
    aligned outcomes and folds (where econml has one).
    """
    from metarouter import MetaRouter
    from metarouter.datasets import make_routing_data

    n_gs, n_pb = plan.router_sizes
    data = make_routing_data(n_gs, n_pb, plan.n_test, plan.d, random_state=0)
    reg, clf = base_learners(base, getattr(plan, base), 0, n_jobs=plan.forest_jobs)
    X, y, src = data.X, data.y, data.source

    def make(kind):
        return MetaRouter(
            kind,
            reg,
            propensity_model=clf,
            n_folds=plan.router_folds,
            n_jobs=N_JOBS,
            random_state=0,
        )

    steps = {}

    def whole(kind):
        def call():
            router = make(kind).fit(X, y, src)
            steps.setdefault(kind, []).append(dict(router.step_times_))
            return router

        return call

    chosen = make("auto").fit(X, y, src).selected_learner_  # untimed
    kinds = ["r", "auto"] + ([chosen] if chosen not in ("r", "auto") else [])
    workers = {kind: [] for kind in kinds}
    fns = {kind: counting(whole(kind), workers[kind]) for kind in kinds}
    for name in dict.fromkeys(["r", chosen]):
        if name in ECONML:
            fitted = make(name).fit(X, y, src)
            fns[f"econml {name}"] = _econml_fit(fitted, name, reg, clf, X, y, src)
    # rotated together for AUTO_REPEATS rounds, the rest without auto
    first = min(repeats, AUTO_REPEATS)
    timing = time_rotating(fns, first, warmup=False)
    if repeats > first:
        rest = time_rotating(
            {k: f for k, f in fns.items() if k != "auto"}, repeats - first, warmup=False
        )
        for kind, rec in rest.items():
            for field in ("wall", "cpu"):
                timing[kind][field] += rec[field]
    walls = {kind: timing[kind]["wall"] for kind in timing}
    cpu = {kind: plus(timing[kind]["cpu"], workers[kind]) for kind in kinds}

    # shared nuisance fits: R and DR routers, separately or DR reusing R's
    def separate():
        return make("r").fit(X, y, src), make("dr").fit(X, y, src)

    def shared():
        r = make("r").fit(X, y, src)
        learner = r.cate_learner_
        dr = make("dr").fit(
            X, y, src, folds=learner.folds_, propensity=learner.propensity_
        )
        return r, dr

    sep_workers, shared_workers = [], []
    sharing = time_pair(
        counting(separate, sep_workers),
        counting(shared, shared_workers),
        repeats,
        warmup=False,
    )
    (_, dr_sep), (_, dr_shared) = sharing["a_result"], sharing["b_result"]
    shared_gap = float(
        np.max(np.abs(dr_sep.predict(data.X_test) - dr_shared.predict(data.X_test)))
    )
    return {
        "whole_wall": walls["r"],
        "whole_cpu": cpu["r"],
        "steps": steps["r"],
        "chosen": chosen,
        "walls": walls,
        "cpu": cpu,
        "all_steps": steps,
        "separate_wall": sharing["a_wall"],
        "separate_cpu": plus(sharing["a_cpu"], sep_workers),
        "shared_wall": sharing["b_wall"],
        "shared_cpu": plus(sharing["b_cpu"], shared_workers),
        "shared_gap": shared_gap,
    }


def steps_within_whole(rec: dict) -> bool:
    """Whether every timed fit's steps sum to at most its measured wall time.

    Examples
    --------
    >>> rec = {"walls": {"r": [1.0]}, "all_steps": {"r": [{"align": 0.2, "gain": 0.7}]}}
    >>> steps_within_whole(rec)
    True
    """
    return all(
        sum(steps.values()) <= wall
        for kind, fits in rec["all_steps"].items()
        for steps, wall in zip(fits, rec["walls"][kind])
    )


def _step(rec: dict, kind: str, step: str) -> np.ndarray:
    return np.array([fit.get(step, 0.0) for fit in rec["all_steps"][kind]])


def step1_ratio(rec: dict, kind: str) -> float:
    """Median over rounds of our step-1 (CATE learner) wall / econml's same learner.

    ``kind`` ``"auto"`` counts auto as the learner it chose (its selection
    folds are reported apart); NaN where econml has no such learner.

    Examples
    --------
    >>> rec = {"chosen": "r", "walls": {"econml r": [2.0, 4.0]},
    ...        "all_steps": {"auto": [{"select": 9.0, "shift": 1.0}, {"shift": 1.0}]}}
    >>> step1_ratio(rec, "auto")
    0.375
    """
    name = rec["chosen"] if kind == "auto" else kind
    econ = rec["walls"].get(f"econml {name}")
    if econ is None:
        return float("nan")
    ours = _step(rec, kind, "shift")
    return paired_ratio(ours, econ[: len(ours)])


def router_tables(routers: dict) -> dict:
    """Frames ``"router"`` (fit by step), ``"auto"`` and ``"shared"``: rows per base."""
    rrows, arows, srows = [], [], []
    for base, rec in routers.items():
        chosen, walls = rec["chosen"], rec["walls"]
        for kind in dict.fromkeys(["r", chosen]):
            steps = pd.DataFrame(rec["all_steps"][kind])
            steps = steps.reindex(columns=list(STEPS)).fillna(0.0)
            rest = np.asarray(walls[kind]) - steps.sum(axis=1).to_numpy()
            econ = walls.get(f"econml {kind}")
            rrows.append(
                {
                    "base": base,
                    "router": kind,
                    "whole fit s": spread(walls[kind]),
                    "align s": float(steps["align"].median()),
                    "CATE learner s": float(steps["shift"].median()),
                    "shift predict s": float(steps["correct"].median()),
                    "step-2 fit s": float(steps["gain"].median()),
                    "validation etc. s": float(np.median(rest)),
                    "whole CPU s": spread(rec["cpu"][kind]),
                    "econml learner s": "-" if econ is None else spread(econ),
                    "CATE learner / econml": step1_ratio(rec, kind),
                }
            )
        auto, select = np.asarray(walls["auto"]), _step(rec, "auto", "select")
        alone = np.asarray(walls[chosen][: len(auto)])
        arows.append(
            {
                "base": base,
                "chosen": chosen,
                "auto fit s": spread(auto),
                "selection folds s": spread(select),
                "auto less selection s": spread(auto - select),
                "chosen alone s": spread(alone),
                "overhead auto / chosen": paired_ratio(auto, alone),
                "selection share": float(np.median(select / auto)),
                "CATE learner / econml": step1_ratio(rec, "auto"),
            }
        )
        srows.append(
            {
                "base": base,
                "R + DR separately s": spread(rec["separate_wall"]),
                "R + DR shared s": spread(rec["shared_wall"]),
                "shared / separate": paired_ratio(
                    rec["shared_wall"], rec["separate_wall"]
                ),
                "separately CPU s": spread(rec["separate_cpu"]),
                "shared CPU s": spread(rec["shared_cpu"]),
                "max |DR separate - shared| prediction": rec["shared_gap"],
            }
        )
    return {
        "router": pd.DataFrame(rrows),
        "auto": pd.DataFrame(arows),
        "shared": pd.DataFrame(srows),
    }
