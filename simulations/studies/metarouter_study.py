"""Study 1: efficiency gain of meta-routers against random routing (Meta-Router paper, section 4).

Per Monte Carlo round: draw GS and PB training data (simulated with known ``m``, ``eta``,
``Delta`` and propensity, or RouterBench queries with a length-biased PB judge), fit six
routers, and compute each router's total efficiency ``TE = sum_test 1{premium} r_i`` at a
grid of primary-model usage ratios (PMUR). Random routing is evaluated at the same PMUR
levels on the same test set. The summary reports median TE across rounds and the
efficiency gain ``EG = (median TE router - median TE random) / n_test`` with a paired
bootstrap interval across rounds, plus paired comparisons (each router against random
and against the best other router) of the per-round mean EG over the PMUR grid.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from simulations.errors import DataError
from simulations.studies import _common

ROUTERS = ("oracle", "meta_r", "meta_dr", "pooled", "gs_only", "random")
SETTING = ("data", "n_gs", "d", "learner")
PMUR_LEVELS = tuple(float(x) for x in np.round(np.arange(0.05, 0.951, 0.05), 2))


# --------------------------------------------------------------------------- configs
def make_configs(quick: bool = False, data_dir: str | None = None) -> list[dict]:
    """The grid: paper's grid in full, a reduced grid with ``quick``.

    Full (simulated): ``n_gs`` in {100, 500, 1000}, ``d`` in {50, 100}, learner in
    {random forest, XGBoost}, 500 test queries, ``n_pb = 4500 - n_gs`` as in HealthBench.
    Quick: ``n_gs`` in {100, 500}, ``d = 50``, a small XGBoost (60 trees), 2000 PB rows,
    3 cross-fitting folds (8 rounds by default; measured 32-49 s on 2 shared cores).
    With ``data_dir``: RouterBench queries (every task in the directory, train and test pooled and
    split at random each round like the paper), premium gpt-4-1106-preview, alternative
    mixtral-8x7b.
    """
    base = {"bias": "heterogeneous", "n_test": 500, "n_folds": 3}
    if data_dir is not None:
        # the PB judge prefers the longer response: label = clip(round(r + 1.0 z + noise))
        base = {
            **base,
            "data": "routerbench",
            "data_dir": str(data_dir),
            "n_pb": -1,
            "bias": "length",
            "length_bias": 1.0,
        }
        grid_n = (100, 500) if quick else (100, 500, 1000)
        grid_d = (50,) if quick else (50, 100)
        learners = ("xgb_small",) if quick else ("rf", "xgb")
    else:
        base = {**base, "data": "sim", "data_dir": None}
        grid_n = (100, 500) if quick else (100, 500, 1000)
        grid_d = (50,) if quick else (50, 100)
        learners = ("xgb_small",) if quick else ("rf", "xgb")
    configs = []
    for learner in learners:
        for d in grid_d:
            for n_gs in grid_n:
                cfg = {**base, "n_gs": n_gs, "d": d, "learner": learner}
                if cfg["data"] == "sim":
                    cfg["n_pb"] = 2000 if quick else 4500 - n_gs
                configs.append(cfg)
    return configs


# --------------------------------------------------------------------------- learners
def make_learner(name: str, random_state: int | None, *, classifier: bool = False):
    """Base learner ``H`` of the paper, single-threaded (the harness parallelises rounds)."""
    if name == "rf":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestClassifier if classifier else RandomForestRegressor
        # a lean forest (subsampled rows, a fifth of the features per split): the full
        # grid fits ~20 forests per round on up to 4500 rows
        return cls(
            n_estimators=100,
            min_samples_leaf=10,
            max_features=0.2 if not classifier else "sqrt",
            max_samples=0.5,
            n_jobs=1,
            random_state=random_state,
        )
    if name in ("xgb", "xgb_small"):
        from xgboost import XGBClassifier, XGBRegressor

        cls = XGBClassifier if classifier else XGBRegressor
        small = name == "xgb_small"
        return cls(
            n_estimators=60 if small else 200,
            max_depth=3,
            learning_rate=0.08 if small else 0.05,
            subsample=0.8,
            colsample_bytree=0.8,
            min_child_weight=5,
            n_jobs=1,
            tree_method="hist",
            random_state=random_state,
            verbosity=0,
        )
    if name == "hgb":
        from sklearn.ensemble import (
            HistGradientBoostingClassifier,
            HistGradientBoostingRegressor,
        )

        cls = (
            HistGradientBoostingClassifier
            if classifier
            else HistGradientBoostingRegressor
        )
        return cls(
            max_iter=100,
            learning_rate=0.1,
            max_leaf_nodes=15,
            min_samples_leaf=10,
            random_state=random_state,
        )
    raise ValueError(
        f"`learner` must be 'rf', 'xgb', 'xgb_small' or 'hgb', got {name!r}"
    )


# --------------------------------------------------------------------------- data
def _simulated_round(config: dict, seed: int) -> dict:
    from metarouter.datasets import make_routing_data

    data = make_routing_data(
        config["n_gs"],
        config["n_pb"],
        config["n_test"],
        config["d"],
        bias=config["bias"],
        random_state=seed,
    )
    return {
        "X": data.X,
        "y": data.y,
        "source": data.source,
        "y_oracle": data.y_oracle,
        "X_test": data.X_test,
        "r_test": data.r_test,
        "m_test": data.m_test,
    }


def _routerbench_round(config: dict, seed: int) -> dict:
    from simulations import realdata

    frame = _common.routerbench_frame(config["data_dir"])
    rng = np.random.default_rng(seed)
    n = len(frame)
    n_test, n_gs = config["n_test"], config["n_gs"]
    if n_test + n_gs >= n:
        raise DataError(
            f"--data {config['data_dir']!r}: {n} queries of the GPT-4/Mixtral pair; "
            f"the study needs more than {n_gs + n_test} ({n_gs} GS and {n_test} test "
            "queries): add RouterBench files"
        )
    perm = rng.permutation(n)
    test, gs, pb = perm[:n_test], perm[n_test : n_test + n_gs], perm[n_test + n_gs :]
    if config.get("n_pb", -1) > 0:
        pb = pb[: config["n_pb"]]
    train = np.concatenate([gs, pb])
    featuriser = realdata.make_featuriser(
        config["d"], random_state=int(rng.integers(2**31))
    )
    texts = frame["text"].to_numpy()
    X_train = featuriser.fit_transform(texts[train])  # fitted on training prompts only
    X_test = featuriser.transform(texts[test])
    r = frame["r"].to_numpy(float)
    labels, _ = realdata.length_biased_pb_labels(
        r[pb],
        frame["len_premium"].to_numpy()[pb],
        frame["len_alternative"].to_numpy()[pb],
        bias=config["length_bias"],
        rng=rng,
    )
    y = np.concatenate([r[gs], labels])
    source = np.concatenate([np.ones(len(gs), int), np.zeros(len(pb), int)])
    return {
        "X": X_train,
        "y": y,
        "source": source,
        "y_oracle": r[train],
        "X_test": X_test,
        "r_test": r[test],
        "m_test": None,
    }


# --------------------------------------------------------------------------- one round
def fit_routers(config: dict, data: dict, seeds: dict) -> dict[str, np.ndarray]:
    """Fit every learned router on one round's data; return its scores on the test queries.

    R and DR meta-routers share their folds and their propensity fit (the DR router is
    fitted with the R router's ``folds_`` and ``propensity_``), so their difference is
    the learner's, not the nuisance draw's.
    """
    import metarouter as mr

    learner = config["learner"]
    X, y, source, X_test = data["X"], data["y"], data["source"], data["X_test"]
    scores = {}

    def model():  # unseeded: each router seeds its clones from its own random_state
        return make_learner(learner, None)

    oracle = mr.GSOnlyRouter(outcome_model=model(), random_state=seeds["oracle"])
    scores["oracle"] = oracle.fit(X, data["y_oracle"]).predict(X_test)
    pooled = mr.PooledRouter(outcome_model=model(), random_state=seeds["pooled"])
    scores["pooled"] = pooled.fit(X, y, source).predict(X_test)
    gs_only = mr.GSOnlyRouter(outcome_model=model(), random_state=seeds["gs_only"])
    scores["gs_only"] = gs_only.fit(X, y, source).predict(X_test)

    common = {
        "outcome_model": model(),
        "propensity_model": make_learner(learner, None, classifier=True),
        "n_folds": config["n_folds"],
        "random_state": seeds["meta"],
    }
    with warnings.catch_warnings():
        # clipped propensities are counted in the rows instead of warned about per round
        warnings.filterwarnings("ignore", message=".*propensities were clipped")
        meta_r = mr.MetaRouter("r", **common).fit(X, y, source)
        meta_dr = mr.MetaRouter("dr", **common).fit(
            X,
            y,
            source,
            folds=meta_r.cate_learner_.folds_,
            propensity=meta_r.cate_learner_.propensity_,
        )
    scores["meta_r"] = meta_r.predict(X_test)
    scores["n_prop_clipped"] = int(meta_r.cate_learner_.n_propensity_clipped_)
    scores["meta_dr"] = meta_dr.predict(X_test)
    return scores


def run_round(config: dict, seed: np.random.SeedSequence) -> pd.DataFrame:
    """One Monte Carlo round: rows (router, pmur) with TE, realised PMUR and m-hat error."""
    names = ["data", "oracle", "pooled", "gs_only", "meta", "random"]
    ints = _common.child_ints(seed, len(names))
    seeds = dict(zip(names, ints))
    if config["data"] == "sim":
        data = _simulated_round(config, seeds["data"])
    else:
        data = _routerbench_round(config, seeds["data"])
    scores = fit_routers(config, data, seeds)
    r_test = np.asarray(data["r_test"], float)
    n_test = len(r_test)
    levels = np.asarray(PMUR_LEVELS)
    rows = []
    for name in ROUTERS[:-1]:
        te, realised = _common.te_at_pmur(scores[name], r_test, levels)
        mse = (
            float(np.mean((scores[name] - data["m_test"]) ** 2))
            if data["m_test"] is not None
            else np.nan
        )
        rows.append(
            pd.DataFrame(
                {
                    "router": name,
                    "pmur": levels,
                    "te": te,
                    "pmur_realised": realised,
                    "m_mse": mse,
                }
            )
        )
    te, realised = _common.random_te_at_pmur(r_test, levels)
    rows.append(
        pd.DataFrame(
            {
                "router": "random",
                "pmur": levels,
                "te": te,
                "pmur_realised": realised,
                "m_mse": np.nan,
            }
        )
    )
    out = pd.concat(rows, ignore_index=True)
    out["n_test_rows"] = n_test
    out["n_prop_clipped"] = scores["n_prop_clipped"]
    if config["data"] != "sim":
        out["n_rows_dropped"] = _common.routerbench_dropped(config["data_dir"])
    return out


# --------------------------------------------------------------------------- summary
def _settings(rows: pd.DataFrame) -> list[str]:
    return [c for c in SETTING if c in rows.columns]


def efficiency_gain_table(
    rows: pd.DataFrame,
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    random_state: int = 0,
) -> pd.DataFrame:
    """Median TE and EG per (setting, router, PMUR) with a paired bootstrap interval over rounds.

    ``EG = (median_k TE_router,k - median_k TE_random,k) / n_test``; the bootstrap resamples
    rounds (the same resampled rounds for the router and for random routing).
    """
    by = _settings(rows)
    out = []
    rng = np.random.default_rng(random_state)
    for key, sub in rows.groupby(by, sort=True):
        wide = sub.pivot_table(index="round", columns=["router", "pmur"], values="te")
        n_test = float(sub["n_test_rows"].iloc[0])
        rand = wide["random"]
        R = wide.shape[0]
        idx = rng.integers(0, R, size=(n_boot, R))
        rand_boot = np.median(rand.to_numpy()[idx], axis=1)  # (n_boot, n_pmur)
        rand_med = rand.median(axis=0)
        for router in [r for r in ROUTERS if r in wide.columns.get_level_values(0)]:
            te = wide[router]
            med = te.median(axis=0)
            boot = (np.median(te.to_numpy()[idx], axis=1) - rand_boot) / n_test
            lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
            frame = pd.DataFrame(
                {
                    "router": router,
                    "pmur": te.columns.to_numpy(float),
                    "median_te": med.to_numpy(),
                    "eg": ((med - rand_med[te.columns]) / n_test).to_numpy(),
                    "eg_low": lo,
                    "eg_high": hi,
                    "rounds": R,
                }
            )
            for k, v in zip(by, key if isinstance(key, tuple) else (key,)):
                frame.insert(0, k, v)
            out.append(frame)
    cols = by + ["router", "pmur", "median_te", "eg", "eg_low", "eg_high", "rounds"]
    return pd.concat(out, ignore_index=True)[cols]


def per_round_mean_eg(rows: pd.DataFrame) -> pd.DataFrame:
    """Per round and router: mean over the PMUR grid of (TE - TE_random) / n_test."""
    by = _settings(rows)
    rand = rows[rows["router"] == "random"][by + ["round", "pmur", "te"]].rename(
        columns={"te": "te_random"}
    )
    merged = rows.merge(rand, on=by + ["round", "pmur"])
    merged["eg_round"] = (merged["te"] - merged["te_random"]) / merged["n_test_rows"]
    return (
        merged.groupby(by + ["round", "router"], as_index=False)["eg_round"]
        .mean()
        .rename(columns={"eg_round": "mean_eg"})
    )


def summarise(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Headline per setting and router, EG curves, paired tests, per-round metric.

    Headline columns: ``mean_eg`` (per round, the mean over the PMUR grid of
    ``(TE - TE_random) / n_test``; averaged over rounds, with a bootstrap interval across
    rounds ``ci_low``/``ci_high``), ``paper_eg`` (the paper's median-based EG averaged over
    the PMUR grid) and ``paper_eg_at_0.3``, the median error of the router's estimate of
    the true quality gain ``m`` (simulated data only), then the paired comparisons with
    random routing and with the best other router (Holm-adjusted p-values, verdict).
    """
    by = _settings(rows)
    eg = efficiency_gain_table(rows)
    per_round = per_round_mean_eg(rows)
    # the oracle is a benchmark (it sees GS outcomes nobody has), not a competitor:
    # the paired family holds the deployable routers and random routing
    paired = _common.paired(
        per_round[per_round["router"] != "oracle"], metric="mean_eg", by=by
    )
    head = _common.bootstrap_mean_ci(per_round, metric="mean_eg", by=by + ["router"])
    head = head.rename(columns={"mean_eg_round_mean": "mean_eg"})
    curve = eg.groupby(by + ["router"], as_index=False, sort=False)["eg"].mean()
    head = head.merge(curve.rename(columns={"eg": "paper_eg"}), on=by + ["router"])
    at30 = eg[np.isclose(eg["pmur"], 0.3)][by + ["router", "eg"]]
    head = head.merge(
        at30.rename(columns={"eg": "paper_eg_at_0.3"}), on=by + ["router"]
    )
    mse = rows.groupby(by + ["router"], as_index=False)["m_mse"].median()
    head = head.merge(mse.rename(columns={"m_mse": "median_m_mse"}), on=by + ["router"])
    head = _common.attach_significance(head, paired, by=by)
    head = head[head["router"] != "random"]
    rank = head["router"].map({r: i for i, r in enumerate(ROUTERS)})
    head = head.assign(_rank=rank).sort_values([*by, "_rank"]).drop(columns="_rank")
    head = head.reset_index(drop=True)
    return {
        "headline": head,
        "efficiency_gain": eg,
        "paired": paired,
        "per_round": per_round,
    }


# --------------------------------------------------------------------------- figures
def figures(rows: pd.DataFrame) -> dict:
    """EG against PMUR: one figure per (data, d, learner), one panel per n_gs (Figure 1).

    Each panel is a :class:`metarouter.EfficiencyGainDisplay` of the routers' median
    EG over rounds with its 95% bootstrap band. Returns ``{file name: Figure}``.
    """
    import matplotlib.pyplot as plt

    from metarouter import EfficiencyGainDisplay
    from simulations.plotting import ROUTER_LABEL

    eg = efficiency_gain_table(rows, n_boot=400)
    figs = {}
    for (data, d, learner), sub in eg.groupby(["data", "d", "learner"], sort=True):
        learner_name = {
            "rf": "random forest",
            "xgb": "XGBoost",
            "xgb_small": "XGBoost (small)",
        }.get(learner, learner)
        panels = sorted(sub["n_gs"].unique())
        fig, axes = plt.subplots(
            1,
            len(panels),
            figsize=(max(6.0, 4.8 * len(panels)), 4.4),
            sharey=True,
            squeeze=False,
            layout="constrained",
        )
        for ax, n_gs in zip(axes[0], panels):
            gains, bands, pmur = {}, {}, None
            for router in [r for r in ROUTERS if r != "random"]:
                line = sub[(sub["n_gs"] == n_gs) & (sub["router"] == router)]
                if line.empty:
                    continue
                line = line.sort_values("pmur")
                label = ROUTER_LABEL.get(router, router)
                pmur = line["pmur"].to_numpy(float)
                gains[label] = line["eg"].to_numpy(float)
                bands[label] = (line["eg_low"].to_numpy(), line["eg_high"].to_numpy())
            EfficiencyGainDisplay(pmur, gains, intervals=bands).plot(ax=ax)
            ax.set_title(f"GS sample size n = {n_gs}")
            ax.set_xlabel("PMUR (share of queries sent to premium)")
            ax.set_ylabel("")
            if ax is not axes[0][0]:
                ax.get_legend().remove()  # one legend: the routers are the same
        axes[0][0].set_ylabel("EG vs random (quality gain per query)")
        fig.suptitle(
            f"Efficiency gain over random routing - {data} data, d = {d}, {learner_name}"
            f" (median over {int(sub['rounds'].iloc[0])} rounds, 95% bootstrap band)",
            fontsize=10,
        )
        figs[f"eg_vs_pmur_{data}_d{d}_{learner}.png"] = fig
    return figs


def plot(rows: pd.DataFrame, directory: Path) -> list[Path]:
    """Write :func:`figures` as PNG files into ``directory``."""
    return _common.save_all(figures(rows), directory)
