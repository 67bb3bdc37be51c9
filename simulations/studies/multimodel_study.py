"""Study: the K-model meta-router on the cost-quality plane (RouterBench's AIQ, RouteLLM's APGR).

Per Monte Carlo round: split the queries into a training pool (a few GS queries, the
rest PB) and test queries, fit every router, sweep each over its trade-off ``w`` and
record the test (mean cost, mean quality) points; pick, for each budget, the ``w``
whose routing of the training queries stays within the budget and record the test
accuracy and realised cost there.

Data:

- ``--data DIR`` (RouterBench, real per-call costs): GS queries carry every model's
  real 0/1 correctness. PB verdicts are **semi-synthetic**: a simulated judge sees the
  true difference ``correct_k - correct_ref`` and says better / comparable / worse
  (``simulations.realdata.length_biased_pb_labels``) with a bias that differs by model:
  it prefers the longer response (standardised log-length difference, weight
  ``length_bias``) and favours the claude family (``+favour`` for claude models). In
  distribution: every task pooled and split at random; shift: train on
  arc_challenge + winogrande, test on mbpp (on other files
  :func:`simulations.realdata.shift_tasks`' tasks).
- without data: :func:`metarouter.multimodel_data.make_multimodel_data` (known gains,
  a judge favouring family "a" and longer answers).

Routers (``MultiModelRouter`` of each binary router, reference = the cheapest model on
the training pool): ``meta_r`` (R-learner meta-router), ``pooled`` (GS and PB pooled,
no correction), ``gs_only``, ``knn`` (k nearest GS queries' mean correctness of each
model, RouterBench's KNN baseline on the GS rows), ``oracle`` (GS quality of every
training query: a benchmark nobody has), ``random_mixing`` (each query to a model
drawn at random; at a budget the mixture is chosen from the training pool's mean costs
and the GS rows' accuracies; its AIQ is that of the hull of the single models' test
points, as RouterBench's zero router), and ``best_single`` (the model most accurate on
the GS rows among those whose mean training cost is within the budget).

Budgets are ``C_min + f (C_max - C_min)`` for ``f`` in ``BUDGET_FRACTIONS`` of the
single models' mean training costs; a router's ``w`` is the smallest of its grid whose
routing of the training pool costs at most the budget (decision costs are each model's
mean training cost: a call's cost is unknown before it is made); reported are the test
accuracy and the realised test cost over the budget. Under the shift the test set is
every mbpp query (``n_test`` applies in distribution only). ``racer_k`` is K-arm
RACER (:func:`racer_points`), fitted on the GS rows once per budget: it takes the
budget itself, so its budget points are fits at that budget and its curve the fits at
``RACER_FRACTIONS``.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from simulations.errors import DataError
from simulations.studies import _common

ROUTERS = ("oracle", "meta_r", "pooled", "gs_only", "knn", "racer_k")
BASELINES = ("random_mixing", "best_single")
SETTING = ("data", "scenario", "models", "n_gs")
BUDGET_FRACTIONS = (0.1, 0.25, 0.5)
HEADLINE_LEGEND = {
    "models": "model set (five, pair, all on RouterBench; simK: K simulated models)",
    "n_gs": "gold-standard queries in the training pool (the rest carry judge verdicts)",
    "aiq": "RouterBench's AIQ: area under the non-decreasing convex hull of the "
    "router's (test cost, test accuracy) points over the largest cost, mean over rounds",
    "aiq_low": "95% bootstrap interval of the mean AIQ over rounds (lower)",
    "aiq_high": "95% bootstrap interval of the mean AIQ over rounds (upper)",
    "quality_at_b25": "test accuracy at the budget 25% of the way from the cheapest "
    "to the dearest model's mean training cost",
    "quality_low_at_b25": "95% bootstrap interval of that accuracy (lower)",
    "quality_high_at_b25": "95% bootstrap interval of that accuracy (upper)",
    "cost_over_budget_at_b25": "realised mean test cost over that budget",
    "gain_over_mixing_at_b25": "accuracy minus random mixing of single models at "
    "the same realised test cost",
}

#: K-arm RACER is fitted once per budget: these fractions trace its curve (and
#: include the reported budgets)
RACER_FRACTIONS = (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0)
MODEL_SETS = {
    "pair": ("mixtral-8x7b", "gpt-4-1106-preview"),
    "five": (
        "mistral-7b",
        "mixtral-8x7b",
        "claude-instant-v1",
        "gpt-3.5-turbo-1106",
        "gpt-4-1106-preview",
    ),
    "all": None,  # every model of the files
}
FAVOURED_FAMILY = "claude"
#: Every round's columns (the store keeps one schema): binary metrics are NaN for K > 2
COLUMNS = (
    "kind",
    "router",
    "w",
    "budget_frac",
    "budget",
    "train_cost",
    "cost",
    "quality",
    "cost_over_budget",
    "gain_over_mixing",
    "auc",
    "apgr",
    "cpt_20",
    "cpt_50",
    "cpt_80",
    "mean_eg",
    "aiq",
)


# --------------------------------------------------------------------------- configs
def make_configs(quick: bool = False, data_dir: str | None = None) -> list[dict]:
    """The grid.

    With ``data_dir``: scenarios in distribution and arc_challenge + winogrande ->
    mbpp; model sets "five" and "pair" (binary: gpt-4 vs mixtral, where APGR applies)
    with ``quick``, plus "all" (eleven models) in full. 300 GS queries, 50 features.
    Simulated: 4 models (and 2 for the binary metrics), 300 GS and 1500 PB queries.
    """
    configs = []
    if data_dir is not None:
        sets = ("five", "pair") if quick else ("all", "five", "pair")
        for scenario in ("in_distribution", "shift"):
            for models in sets:
                configs.append(
                    {
                        "data": "routerbench",
                        "data_dir": str(data_dir),
                        "scenario": scenario,
                        "models": models,
                        "n_gs": 300,
                        "n_test": 600,
                        "d": 50,
                        "n_folds": 3,
                        "length_bias": 1.0,
                        "favour": 0.5,
                    }
                )
        return configs
    for n_models in (4, 2):
        configs.append(
            {
                "data": "sim",
                "data_dir": None,
                "scenario": "in_distribution",
                "models": f"sim{n_models}",
                "n_gs": 300,
                "n_pb": 1500,
                "n_test": 1000,
                "n_folds": 3,
            }
        )
    return configs


# --------------------------------------------------------------------------- data
@functools.lru_cache(maxsize=4)
def _load(data_dir: str, models: str):
    from simulations import realdata

    names = MODEL_SETS[models]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the count is reported in n_rows_dropped
        if names is None:
            return realdata.load_routerbench_models(data_dir)
        return realdata.load_routerbench_models(data_dir, models=names)


def _routerbench_round(config: dict, seed: int) -> dict:
    from simulations import realdata

    data = _load(config["data_dir"], config["models"])
    rng = np.random.default_rng(seed)
    task = data.task
    if config["scenario"] == "shift":
        source, costlier, _ = _common.routerbench_shift(config["data_dir"])
        pool = rng.permutation(np.flatnonzero(np.isin(task, source)))
        test = np.flatnonzero(task == costlier)
    else:
        perm = rng.permutation(data.n_queries)
        test, pool = perm[: config["n_test"]], perm[config["n_test"] :]
    n_gs = config["n_gs"]
    if pool.size <= n_gs:
        raise DataError(
            f"--data {config['data_dir']!r}: {pool.size} training queries of model set "
            f"{config['models']!r} ({config['scenario']}); the study needs more than "
            f"{n_gs} GS queries: add RouterBench files"
        )
    gs, pb = pool[:n_gs], pool[n_gs:]
    train = np.r_[gs, pb]
    cost_train = data.cost[train]
    ref = int(np.argmin(cost_train.mean(axis=0)))  # the cheapest on the training pool
    texts = np.asarray(data.texts, dtype=object)
    featuriser = realdata.make_featuriser(
        config["d"], random_state=int(rng.integers(2**31))
    )
    X = featuriser.fit_transform(texts[train])
    X_test = featuriser.transform(texts[test])
    correct = data.correct
    quality = np.full((train.size, data.n_models), np.nan)
    quality[:n_gs] = correct[gs]
    records = []
    for k, name in enumerate(data.models):
        if k == ref:
            continue
        favour = config["favour"] if name.startswith(FAVOURED_FAMILY) else 0.0
        verdict, _ = realdata.length_biased_pb_labels(
            correct[pb, k] - correct[pb, ref] + favour,
            data.response_length[pb, k],
            data.response_length[pb, ref],
            bias=config["length_bias"],
            rng=rng,
        )
        records.append(
            pd.DataFrame(
                {"query": np.arange(n_gs, train.size), "model": k, "verdict": verdict}
            )
        )
    return {
        "X": X,
        "quality": quality,
        "comparisons": pd.concat(records, ignore_index=True),
        "quality_oracle": correct[train],
        "cost_train": cost_train,
        "X_test": X_test,
        "quality_test": correct[test],
        "cost_test": data.cost[test],
        "models": list(data.models),
        "reference": ref,
        "n_rows_dropped": data.n_dropped,
    }


def _simulated_round(config: dict, seed: int) -> dict:
    from metarouter.multimodel_data import make_multimodel_data

    n_models = int(config["models"].removeprefix("sim"))
    data = make_multimodel_data(
        config["n_gs"],
        config["n_pb"],
        config["n_test"],
        n_models=n_models,
        random_state=seed,
    )
    comp = data.comparisons.assign(
        model=data.comparisons["model"].map(data.models.index)
    )
    n = data.X.shape[0]
    return {
        "X": data.X,
        "quality": data.quality,
        "comparisons": comp,
        "quality_oracle": data.quality_oracle,
        "cost_train": np.tile(data.cost, (n, 1)),
        "X_test": data.X_test,
        "quality_test": data.quality_test,
        "cost_test": np.tile(data.cost, (data.X_test.shape[0], 1)),
        "models": list(data.models),
        "reference": 0,
        "n_rows_dropped": 0,
    }


# --------------------------------------------------------------------------- routers
def _reference_policy(n: int, n_models: int, reference: int) -> np.ndarray:
    """Every query to the reference (the cheapest model on the training pool)."""
    pi = np.zeros((n, n_models))
    pi[:, reference] = 1.0
    return pi


def racer_points(data: dict, fractions, seed: int) -> list[tuple]:
    """K-arm RACER (``racer_dro.RacerRouter``) at budgets between the cheapest and dearest model.

    Fitted on the GS rows only (each model's observed quality is its reward, its
    training cost per query its cost, in units of the reference model's mean cost),
    with the default robustness (KL balls on reward and cost). Unlike the meta-routers,
    RACER takes the budget itself rather than a trade-off ``w``: each budget is one
    fit, and its point is the stochastic policy's expected cost and quality.

    Returns ``(fraction, budget, train_cost, test_cost, test_quality)`` per fraction,
    costs in the data's units.
    """
    from racer_dro import RacerRouter

    gs = np.all(np.isfinite(data["quality"]), axis=1)
    X, quality, cost = data["X"][gs], data["quality"][gs], data["cost_train"][gs]
    unit = float(cost[:, data["reference"]].mean()) or 1.0
    c_tr = data["cost_train"].mean(axis=0)
    lo, hi = c_tr.min(), c_tr.max()
    out = []
    for frac in fractions:
        budget = lo + frac * (hi - lo)
        router = RacerRouter(budget / unit, random_state=seed)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # validation-split notes
                router.fit(X, quality, cost / unit)
            pi_tr = router.predict_proba(data["X"])
            pi_te = router.predict_proba(data["X_test"])
        except ValueError as err:
            if "infeasible" not in str(err):
                raise
            # below the worst-case cost of the cheapest arms (the KL ball on cost
            # weighs the dearer queries up): no policy meets it; the fallback sends every
            # query to the cheapest model
            k, ref = data["cost_train"].shape[1], data["reference"]
            pi_tr = _reference_policy(data["X"].shape[0], k, ref)
            pi_te = _reference_policy(data["X_test"].shape[0], k, ref)
        out.append(
            (
                frac,
                budget,
                float(np.mean(np.sum(pi_tr * data["cost_train"], axis=1))),
                float(np.mean(np.sum(pi_te * data["cost_test"], axis=1))),
                float(np.mean(np.sum(pi_te * data["quality_test"], axis=1))),
            )
        )
    return out


def fit_routers(config: dict, data: dict, seeds: dict) -> dict[str, tuple]:
    """Every learned router's gains over the reference on training and test queries."""
    from sklearn.neighbors import KNeighborsRegressor

    import metarouter as mr

    X, X_test, ref = data["X"], data["X_test"], data["reference"]
    quality, comp = data["quality"], data["comparisons"]
    out = {}

    def multi(template, seed):
        return mr.MultiModelRouter(template, reference=ref, random_state=seed)

    with warnings.catch_warnings():
        # clipped propensities and the like: counted by the learners, not per round
        warnings.simplefilter("ignore", UserWarning)
        routers = {
            "meta_r": multi(
                mr.MetaRouter("r", scale=None, n_folds=config["n_folds"]), seeds["meta"]
            ).fit(X, quality, comp),
            "pooled": multi(mr.PooledRouter(scale=None), seeds["pooled"]).fit(
                X, quality, comp
            ),
            "gs_only": multi(mr.GSOnlyRouter(), seeds["gs_only"]).fit(X, quality, comp),
            "oracle": multi(mr.GSOnlyRouter(), seeds["oracle"]).fit(
                X, data["quality_oracle"]
            ),
        }
    for name, router in routers.items():
        out[name] = (router.predict(X), router.predict(X_test))
    gs = np.all(np.isfinite(quality), axis=1)
    knn = KNeighborsRegressor(n_neighbors=min(25, int(gs.sum()))).fit(
        X[gs], quality[gs]
    )
    for name, Z in (("train", X), ("test", X_test)):
        pred = knn.predict(Z)
        out.setdefault("knn", []).append(pred - pred[:, [ref]])
    out["knn"] = tuple(out["knn"])
    return out


# --------------------------------------------------------------------------- one round
def _sweep(gain_train, gain_test, data):
    """(w, train cost, test cost, test quality) of the router at every w of its grid."""
    from metarouter.multimodel import routing_scores, trade_off_grid

    ref = data["reference"]
    c_decide = data["cost_train"].mean(axis=0)  # costs known before the call: means
    grid = trade_off_grid(gain_train, c_decide, ref, n_points=30)
    rows_tr = np.arange(gain_train.shape[0])
    rows_te = np.arange(gain_test.shape[0])
    out = []
    for w in grid:
        ch_tr = np.argmax(routing_scores(gain_train, w, c_decide, ref), axis=1)
        ch_te = np.argmax(routing_scores(gain_test, w, c_decide, ref), axis=1)
        out.append(
            (
                w,
                data["cost_train"][rows_tr, ch_tr].mean(),
                data["cost_test"][rows_te, ch_te].mean(),
                data["quality_test"][rows_te, ch_te].mean(),
            )
        )
    return np.array(out)


def _at_budget(sweep: np.ndarray, budget: float):
    """The sweep point with the smallest w whose training cost is within budget."""
    ok = np.flatnonzero(sweep[:, 1] <= budget)
    j = ok[0] if ok.size else int(np.argmin(sweep[:, 1]))
    return sweep[j]


def _mixing_at_budget(data, budget):
    """Random mixing of single models chosen on training means, evaluated on test."""
    from metarouter.metrics import nondecreasing_convex_hull

    c_tr = data["cost_train"].mean(axis=0)
    q_tr = np.nanmean(data["quality"], axis=0)  # observed: GS rows only
    c_te = data["cost_test"].mean(axis=0)
    q_te = data["quality_test"].mean(axis=0)
    hc, _ = nondecreasing_convex_hull(c_tr, q_tr)
    # hull points are single models' costs (lifted points are not vertices: use the
    # best model at each hull cost)
    idx = [int(np.flatnonzero(c_tr == c)[np.argmax(q_tr[c_tr == c])]) for c in hc]
    b = float(np.clip(budget, hc[0], hc[-1]))
    j = int(np.searchsorted(hc, b, side="left"))
    if j == 0 or hc[j] == b:
        mix = {idx[j]: 1.0}
    else:
        t = (b - hc[j - 1]) / (hc[j] - hc[j - 1])
        mix = {idx[j - 1]: 1.0 - t, idx[j]: t}
    cost = sum(p * c_te[k] for k, p in mix.items())
    qual = sum(p * q_te[k] for k, p in mix.items())
    return cost, qual


def run_round(config: dict, seed: np.random.SeedSequence) -> pd.DataFrame:
    """One round: curve points, single models, budget points and binary metrics."""
    from metarouter.metrics import binary_field_metrics, mixing_quality

    names = ["data", "meta", "pooled", "gs_only", "oracle", "racer"]
    seeds = dict(zip(names, _common.child_ints(seed, len(names))))
    if config["data"] == "sim":
        data = _simulated_round(config, seeds["data"])
    else:
        data = _routerbench_round(config, seeds["data"])
    gains = fit_routers(config, data, seeds)
    rows = []
    # single models: the points and the random-mixing hull
    c_tr = data["cost_train"].mean(axis=0)
    q_tr = np.nanmean(data["quality"], axis=0)  # observed: GS rows only
    c_te = data["cost_test"].mean(axis=0)
    q_te = data["quality_test"].mean(axis=0)
    for k, name in enumerate(data["models"]):
        rows.append(
            {
                "kind": "model",
                "router": name,
                "cost": c_te[k],
                "quality": q_te[k],
                "train_cost": c_tr[k],
            }
        )
    sweeps = {}
    for name, (g_tr, g_te) in gains.items():
        sweeps[name] = _sweep(g_tr, g_te, data)
        for w, tc, c, q in sweeps[name]:
            rows.append(
                {
                    "kind": "curve",
                    "router": name,
                    "w": w,
                    "train_cost": tc,
                    "cost": c,
                    "quality": q,
                }
            )
    racer = racer_points(data, RACER_FRACTIONS, seeds["racer"])
    for _, budget, tc, c, q in racer:
        rows.append(
            {
                "kind": "curve",
                "router": "racer_k",
                "w": budget,
                "train_cost": tc,
                "cost": c,
                "quality": q,
            }
        )
    lo, hi = c_tr.min(), c_tr.max()
    for frac in BUDGET_FRACTIONS:
        budget = lo + frac * (hi - lo)
        points = {n: _at_budget(s, budget)[1:] for n, s in sweeps.items()}
        points["random_mixing"] = (np.nan, *_mixing_at_budget(data, budget))
        within = np.flatnonzero(c_tr <= budget)
        best = within[np.argmax(q_tr[within])]
        points["best_single"] = (c_tr[best], c_te[best], q_te[best])
        at = [r for r in racer if np.isclose(r[0], frac)]
        points["racer_k"] = at[0][2:]
        for name, (tc, c, q) in points.items():
            rows.append(
                {
                    "kind": "budget",
                    "router": name,
                    "budget_frac": frac,
                    "budget": budget,
                    "train_cost": tc,
                    "cost": c,
                    "quality": q,
                    "cost_over_budget": c / budget,
                    "gain_over_mixing": q - float(mixing_quality(c_te, q_te, c))
                    if c >= c_te.min()
                    else np.nan,
                }
            )
    if len(data["models"]) == 2:
        ref = data["reference"]
        strong = 1 - ref
        qw, qs = data["quality_test"][:, ref], data["quality_test"][:, strong]
        cw, cs = data["cost_test"][:, ref], data["cost_test"][:, strong]
        for name, (_, g_te) in gains.items():
            m = binary_field_metrics(
                g_te[:, strong], qw, qs, cost_weak=cw, cost_strong=cs
            )
            rows.append({"kind": "binary", "router": name, **m})
    out = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    out["n_test_rows"] = data["X_test"].shape[0]
    out["n_rows_dropped"] = data["n_rows_dropped"]
    out["reference_model"] = data["models"][data["reference"]]
    return out


# --------------------------------------------------------------------------- summary
def _settings(rows: pd.DataFrame) -> list[str]:
    return [c for c in SETTING if c in rows.columns]


def per_round_aiq(rows: pd.DataFrame) -> pd.DataFrame:
    """AIQ of every router per round, RouterBench's shared largest cost per round.

    ``random_mixing``'s points are the single models (its hull is theirs).
    """
    from metarouter.metrics import aiq_scores

    by = _settings(rows)
    out = []
    for key, sub in rows.groupby(by + ["round"], sort=False):
        curves = {
            name: (g["cost"].to_numpy(), g["quality"].to_numpy())
            for name, g in sub[sub["kind"] == "curve"].groupby("router", sort=False)
        }
        models = sub[sub["kind"] == "model"]
        curves["random_mixing"] = (
            models["cost"].to_numpy(),
            models["quality"].to_numpy(),
        )
        for name, value in aiq_scores(curves).items():
            out.append({**dict(zip(by + ["round"], key)), "router": name, "aiq": value})
    return pd.DataFrame(out)


def summarise(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Headline (AIQ and the 25% budget), budgets, binary metrics, per-round AIQ.

    Every ``*_low`` / ``*_high`` pair is a 95% percentile bootstrap interval of the mean
    over rounds.
    """
    by = _settings(rows)
    aiq = per_round_aiq(rows)
    head = _common.bootstrap_mean_ci(aiq, metric="aiq", by=by + ["router"]).rename(
        columns={"aiq_round_mean": "aiq", "ci_low": "aiq_low", "ci_high": "aiq_high"}
    )
    budget = rows[rows["kind"] == "budget"]
    tables = []
    for metric in ("quality", "cost_over_budget", "gain_over_mixing"):
        t = _common.bootstrap_mean_ci(
            budget, metric=metric, by=by + ["budget_frac", "router"]
        ).rename(
            columns={
                f"{metric}_round_mean": metric,
                "ci_low": f"{metric}_low",
                "ci_high": f"{metric}_high",
            }
        )
        tables.append(t)
    budget_table = tables[0]
    for t in tables[1:]:
        budget_table = budget_table.merge(t, on=by + ["budget_frac", "router"])
    at25 = budget_table[np.isclose(budget_table["budget_frac"], 0.25)]
    keep = [
        "quality",
        "quality_low",
        "quality_high",
        "cost_over_budget",
        "gain_over_mixing",
    ]
    head = head.merge(
        at25[by + ["router"] + keep].rename(columns={c: f"{c}_at_b25" for c in keep}),
        on=by + ["router"],
        how="outer",
    )
    head["rounds"] = rows["round"].nunique()
    order = {r: i for i, r in enumerate(ROUTERS + BASELINES)}
    head = head.assign(_o=head["router"].map(order)).sort_values(by + ["_o"])
    head = head.drop(columns="_o").reset_index(drop=True)
    head.attrs["legend"] = HEADLINE_LEGEND
    tables_out = {"headline": head, "budget": budget_table, "per_round_aiq": aiq}
    binary = rows[rows["kind"] == "binary"]
    if not binary.empty:
        parts = []
        for metric in ("apgr", "auc", "cpt_50", "mean_eg"):
            parts.append(
                _common.bootstrap_mean_ci(
                    binary, metric=metric, by=by + ["router"]
                ).rename(
                    columns={
                        f"{metric}_round_mean": metric,
                        "ci_low": f"{metric}_low",
                        "ci_high": f"{metric}_high",
                    }
                )
            )
        bt = parts[0]
        for p in parts[1:]:
            bt = bt.merge(p, on=by + ["router"])
        tables_out["binary"] = bt
    return tables_out


# --------------------------------------------------------------------------- figures
def figures(rows: pd.DataFrame) -> dict:
    """The cost-quality plane of round 0 per setting (``CostQualityDisplay``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from metarouter.display import CostQualityDisplay

    by = _settings(rows)
    first = rows[rows["round"] == rows["round"].min()]
    figs = {}
    for key, sub in first.groupby(by, sort=True):
        curves = {
            name: (g["cost"].to_numpy(), g["quality"].to_numpy())
            for name, g in sub[sub["kind"] == "curve"].groupby("router", sort=False)
        }
        models = sub[sub["kind"] == "model"]
        points = dict(zip(models["router"], zip(models["cost"], models["quality"])))
        fig, ax = plt.subplots(figsize=(8, 5.5))
        CostQualityDisplay(curves, points).plot(ax=ax)
        label = dict(zip(by, key))
        ax.set_title(
            f"{label.get('data')} / {label.get('scenario')} / models {label.get('models')}"
            " - test cost vs accuracy (round 0)"
        )
        if label.get("data") == "routerbench":
            ax.set_xscale("log")
            ax.set_xlabel("mean cost per query (USD, log scale)")
        name = "_".join(str(label[c]) for c in by)
        figs[f"cost_quality_{name}.png"] = fig
    return figs


def plot(rows: pd.DataFrame, directory: Path) -> list[Path]:
    """Write :func:`figures` as PNG files into ``directory``."""
    return _common.save_all(figures(rows), directory)
