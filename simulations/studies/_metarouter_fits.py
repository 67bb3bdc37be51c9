"""The meta-router variants every ``metarouter-shift`` round fits, simulated or on real judges.

:data:`ROUTERS` names them; :func:`fit_routers` fits them all on one training set
(``auto`` read from the stacked router's held-out errors, the same choice and numbers as
``MetaRouter("auto")``).
"""

from __future__ import annotations

import warnings

ROUTERS = (
    "r", "dr-split", "dr-joint", "offset", "gs-only", "pooled", "auto", "stacked",
)  # fmt: skip


def _model(name: str):
    """The base learner of a configuration (None: the library's defaults)."""
    if name == "default":
        return None
    from sklearn.ensemble import RandomForestRegressor

    trees = 40 if name == "rf_small" else 200
    return RandomForestRegressor(trees, min_samples_leaf=5, n_jobs=1)


def fit_router(name: str, config: dict, data, seed: int):
    """One router of :data:`ROUTERS` (not ``auto``) fitted on ``data.X, data.y, data.source``."""
    import metarouter as mr

    model = _model(config["learner"])
    if name == "pooled":
        return mr.PooledRouter(model, scale=None, random_state=seed).fit(
            data.X, data.y, data.source
        )
    if name == "stacked":  # its template's learner is replaced by each candidate's
        template = mr.MetaRouter(
            outcome_model=model, scale=None, n_folds=config["n_folds"]
        )
        router = mr.StackedMetaRouter(template, random_state=seed)
    else:
        router = mr.MetaRouter(
            name, model, scale=None, n_folds=config["n_folds"], random_state=seed
        )
    return router.fit(data.X, data.y, data.source)


def fit_routers(config: dict, data, seed: int) -> tuple[dict, str]:
    """Every router of :data:`ROUTERS`, fitted (``auto``: the learner it chooses), and
    ``auto``'s choice."""
    routers = {}
    for name in ROUTERS:
        if name == "auto":
            continue
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*propensities were clipped")
            routers[name] = fit_router(name, config, data, seed)
    res = routers["stacked"].cv_results_
    chosen = str(res["learner"][res["rank"] == 1][0])
    routers["auto"] = routers[chosen]
    return routers, chosen
