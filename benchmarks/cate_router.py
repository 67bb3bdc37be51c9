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
    paired_ratio,
    plus,
)

__all__ = ["STEPS", "router_cell", "router_tables"]

#: The steps of ``MetaRouter.fit`` (keys of ``step_times_``) in the order they run.
STEPS = ("select", "align", "shift", "correct", "gain")


def router_cell(plan: Plan, base: str, repeats: int) -> dict:
    """Time the meta-router's fit (whole and by step) and its shared nuisance fits."""
    from metarouter import MetaRouter
    from metarouter.datasets import make_routing_data

    n_gs, n_pb = plan.router_sizes
    data = make_routing_data(n_gs, n_pb, plan.n_test, plan.d, random_state=0)
    reg, clf = base_learners(base, getattr(plan, base), seed=0)
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

    steps = []

    def whole():
        router = make("r").fit(X, y, src)
        steps.append(dict(router.step_times_))
        return router

    workers = []
    timing = time_rotating({"r": counting(whole, workers)}, repeats, warmup=False)

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
        "whole_wall": timing["r"]["wall"],
        "whole_cpu": plus(timing["r"]["cpu"], workers),
        "steps": steps,
        "separate_wall": sharing["a_wall"],
        "separate_cpu": plus(sharing["a_cpu"], sep_workers),
        "shared_wall": sharing["b_wall"],
        "shared_cpu": plus(sharing["b_cpu"], shared_workers),
        "shared_gap": shared_gap,
    }


def steps_within_whole(rec: dict) -> bool:
    """Whether every fit's steps sum to at most its measured wall time.

    Examples
    --------
    >>> steps_within_whole({"whole_wall": [1.0], "steps": [{"align": 0.2, "gain": 0.7}]})
    True
    """
    return all(
        sum(steps.values()) <= wall
        for steps, wall in zip(rec["steps"], rec["whole_wall"])
    )


def router_tables(routers: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(fit by step, shared nuisance fits)``: one row per base learner."""
    rrows, srows = [], []
    for base, rec in routers.items():
        steps = pd.DataFrame(rec["steps"]).reindex(columns=list(STEPS)).fillna(0.0)
        rest = np.asarray(rec["whole_wall"]) - steps.sum(axis=1).to_numpy()
        rrows.append(
            {
                "base": base,
                "whole fit s": spread(rec["whole_wall"]),
                "align s": float(steps["align"].median()),
                "CATE learner s": float(steps["shift"].median()),
                "shift predict s": float(steps["correct"].median()),
                "step-2 fit s": float(steps["gain"].median()),
                "validation etc. s": float(np.median(rest)),
                "whole CPU s": spread(rec["whole_cpu"]),
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
    return pd.DataFrame(rrows), pd.DataFrame(srows)
