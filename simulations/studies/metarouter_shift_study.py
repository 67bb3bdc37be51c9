"""Study ``metarouter-shift``: which step-1 learner wins where GS rows are scarce and shifted.

The process is :func:`metarouter.datasets.make_shift_data`: GS queries centred ``shift``
standard deviations to one side of the PB (and test) queries on one feature, a judge bias
on a feature the quality gain does not use, outcome noise sd 0.5. Per round every
meta-router variant (R, DR with split and joint outcome models, offset, GS-only, pooled,
``auto``, which chooses among the first six by held-out GS error, and ``stacked``, their
convex combination by the same held-out errors, :class:`metarouter.StackedMetaRouter`) is
fitted with the same base learner and scored by its test MSE of the true ``m``. ``auto``
refits its choice with the router's own seeds, so its row is the chosen learner's (the
same numbers, tested in ``tests/metarouter/test_stacking.py``): the study reads the choice
from the stacked router's held-out errors instead of running the selection twice. Each round also draws
fresh held-out GS rows and reports, for every router, the 95% interval of its efficiency
gain over random routing at PMUR 0.3 on the test queries (classical and PPI++, with the
known importance weights), so the summary shows the intervals' coverage and widths.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from simulations.errors import DataError
from simulations.studies import _common, escalation_realdata, metarouter_judges
from simulations.studies._metarouter_fits import ROUTERS, fit_routers

SETTING = ("process", "shift", "n_gs", "learner")
PMUR = 0.3


def make_configs(quick: bool = False, data_dir: str | None = None) -> list[dict]:
    """The grid: GS share and covariate shift, forests (the paper's recipe) and boosting.

    Full: ``n_gs`` in {50, 100, 300} against 3000 PB rows (1.6% to 9% GS), ``shift`` in
    {0, 0.5, 1}, learner in {random forest (200 trees, min leaf 5), boosting (the
    library's default)}, 5 cross-fitting folds. Quick: ``n_gs = 50`` against 1000 PB
    rows, the three shifts, a 40-tree forest, 2 folds (3 rounds: about 1 minute on 2
    cores).
    """
    if data_dir is not None:
        if not escalation_realdata.is_judge_directory(data_dir):
            raise DataError(
                f"--data {data_dir!r}: the metarouter-shift study runs on simulated "
                "data, or on a judge directory (human and LLM-judge labels of the same "
                "response pairs, e.g. ../shared/data/judge-escalation); drop --data or "
                "point it at one."
            )
        return metarouter_judges.make_configs(quick, data_dir)
    if quick:
        return [
            {
                "n_gs": 50,
                "n_pb": 1000,
                "n_test": 1000,
                "shift": s,
                "learner": "rf_small",
                "n_folds": 2,
                "n_holdout": 200,
            }
            for s in (0.0, 0.5, 1.0)
        ]
    return [
        {
            "n_gs": n,
            "n_pb": 3000,
            "n_test": 2000,
            "shift": s,
            "learner": lr,
            "n_folds": 5,
            "n_holdout": 300,
        }
        for lr in ("rf", "default")
        for s in (0.0, 0.5, 1.0)
        for n in (50, 100, 300)
    ]


def run_round(config: dict, seed: np.random.SeedSequence) -> pd.DataFrame:
    """One round: per router, the test MSE of ``m`` and its EG intervals at PMUR 0.3."""
    if config.get("dataset") == "judge-escalation":
        return metarouter_judges.run_round(config, seed)
    from metarouter.datasets import make_shift_data

    s_data, s_hold, s_fit = _common.child_ints(seed, 3)
    data = make_shift_data(
        config["n_gs"],
        config["n_pb"],
        config["n_test"],
        shift=config["shift"],
        random_state=s_data,
    )
    # fresh GS rows from the same GS distribution, never seen by the routers
    hold = make_shift_data(
        config["n_holdout"], 0, 1, shift=config["shift"], random_state=s_hold
    )
    return score_routers(config, data, hold, s_fit)


def score_routers(config: dict, data, hold, seed: int) -> pd.DataFrame:
    """Every router of :data:`ROUTERS` fitted on ``data``: its test MSE of ``m`` and the
    95% intervals of its EG over random routing at PMUR 0.3 from the fresh GS rows
    ``hold`` (classical and PPI++, with ``hold.target_weight`` as importance weights)."""
    from metarouter.inference import functional_interval, top_share_rule

    rows = []
    routers, chosen = fit_routers(config, data, seed)
    for name in ROUTERS:
        router = routers[name]
        m_test = router.predict(data.X_test)
        m_hold = router.predict(hold.X)
        thr = top_share_rule(m_test, PMUR)
        g_test = (m_test > thr) - PMUR
        g_hold = (m_hold > thr) - PMUR
        truth = float(np.mean(g_test * data.m_test))
        row = {
            "router": name,
            "m_mse": float(np.mean((m_test - data.m_test) ** 2)),
            "chosen": chosen if name == "auto" else name,
            "eg_true": truth,
        }
        for method in ("classical", "ppi"):
            ci = functional_interval(
                g_hold,
                hold.y,
                m_hat_gs=m_hold,
                g_target=g_test,
                m_hat_target=m_test,
                weights=hold.target_weight,
                method=method,
            )
            row[f"eg_{method}"] = ci.estimate
            row[f"width_{method}"] = ci.width
            row[f"covered_{method}"] = bool(ci.lower <= truth <= ci.upper)
        rows.append(row)
    return pd.DataFrame(rows)


_MSE = "test MSE of m_hat, mean over rounds, of the meta-router with step 1 by "

#: What each headline column holds (printed under the table by the CLI).
HEADLINE_LEGEND = {
    "process": "the GS/PB process (metarouter-processes: its PROCESSES)",
    "shift": "GS queries' centre, in sd of the PB queries, on one feature",
    "r": _MSE + "the R-learner",
    "dr-split": _MSE + "the DR-learner with one outcome model per source",
    "dr-joint": _MSE + "the DR-learner with one outcome model on [X, source]",
    "offset": _MSE + "the offset learner",
    "gs-only": "test MSE of m_hat, mean over rounds, fitted on the GS rows alone",
    "pooled": "test MSE of m_hat, mean over rounds, GS and PB labels pooled uncorrected",
    "auto": "test MSE of m_hat, mean over rounds, cate_learner='auto'",
    "stacked": "test MSE of m_hat, mean over rounds, StackedMetaRouter",
    "best": "the fixed router (not auto or stacked) with the smallest mean MSE",
    "auto/best": "auto's MSE over the best fixed router's",
    "auto/gs-only": "auto's MSE over GS-only's",
    "stacked/best": "the stacked router's MSE over the best fixed router's",
    "stacked/gs-only": "the stacked router's MSE over GS-only's",
}

_ADAPTIVE = ("auto", "stacked")  # routers built from the fixed ones


def summarise(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Headline (MSE of ``m`` per router with its SE, and the winner), auto's choices, intervals.

    ``headline``: per setting, the mean test MSE of ``m_hat`` of every router over rounds
    (``se`` its standard error) and ``best``, the router with the smallest mean.
    ``auto_choices``: how often ``auto`` chose each learner. ``intervals``: coverage of the
    95% intervals of the EG over random at PMUR 0.3, the PPI / classical width ratio and
    ``mc_sd``, the binomial sd of a coverage estimate at the nominal 95% over the rounds.
    """
    if "held_out_error" in rows.columns:  # real judges (--data)
        return metarouter_judges.summarise(rows)
    by = [c for c in SETTING if c in rows.columns]
    g = rows.groupby(by + ["router"], sort=True)["m_mse"]
    table = g.mean().unstack("router")
    se = (g.std(ddof=1) / np.sqrt(g.count())).unstack("router")
    order = [r for r in ROUTERS if r in table.columns]
    head = table[order].copy()
    fixed = [r for r in order if r not in _ADAPTIVE]
    head["best"] = table[fixed].idxmin(axis=1)
    best_mse = table[fixed].min(axis=1)
    for name in _ADAPTIVE:
        ok = name in table
        head[f"{name}/best"] = table[name] / best_mse if ok else np.nan
        head[f"{name}/gs-only"] = table[name] / table["gs-only"] if ok else np.nan
    head["rounds"] = g.count().unstack("router").iloc[:, 0]
    head = head.reset_index()
    head.attrs["legend"] = HEADLINE_LEGEND
    se = se[order].add_prefix("se_").reset_index()
    auto = rows[rows["router"] == "auto"]
    choices = (
        auto.groupby(by)["chosen"].value_counts().unstack(fill_value=0).reset_index()
    )
    iv = rows.groupby(by + ["router"], as_index=False).agg(
        coverage_classical=("covered_classical", "mean"),
        coverage_ppi=("covered_ppi", "mean"),
        width_classical=("width_classical", "mean"),
        width_ppi=("width_ppi", "mean"),
        rounds=("covered_ppi", "size"),
    )
    iv["width_ratio"] = iv["width_ppi"] / iv["width_classical"]
    # binomial sd of a coverage estimate over `rounds` rounds at the nominal 95%
    iv["mc_sd"] = np.sqrt(0.95 * 0.05 / iv["rounds"])
    return {"headline": head, "se": se, "auto_choices": choices, "intervals": iv}


def figures(rows: pd.DataFrame) -> dict:
    """Test MSE of ``m`` against the shift, one panel per GS size, one figure per learner."""
    from simulations import plotting

    if "held_out_error" in rows.columns:  # real judges (--data)
        return metarouter_judges.figures(rows)

    stats = _common.mean_band(rows, ["shift", "n_gs", "learner", "router"], "m_mse")
    figs = {}
    for learner, sub in stats.groupby("learner"):
        figs[f"shift_mse_{learner}.png"] = plotting.line_panels(
            sub,
            x="shift",
            y="m_mse",
            low="low",
            high="high",
            hue="router",
            panel="n_gs",
            panel_label="GS rows",
            hue_order=[r for r in ROUTERS if r in set(sub["router"])],
            xlabel="covariate shift of GS queries (sd)",
            ylabel="test MSE of m_hat (95% band over rounds)",
            title=f"Step-1 learners under covariate shift - {learner}",
        )
    return figs


def plot(rows: pd.DataFrame, directory: Path) -> list[Path]:
    """Write :func:`figures` as PNG files into ``directory``."""
    return _common.save_all(figures(rows), directory)


# --------------------------------------------------------------------------- coverage
def coverage_table(
    reps: int = 1000,
    *,
    shifts=(0.0, 0.5, 1.0, 1.5),
    sizes=(50, 100, 300),
    n_target: int = 2000,
    pmur: float = PMUR,
    seed: int = 0,
    chunk: int = 100,
    progress=None,
) -> pd.DataFrame:
    """Monte Carlo coverage of the 95% intervals of :mod:`metarouter.inference`.

    Two routers are fitted once per shift on a training draw of :func:`make_shift_data`:
    A, the offset meta-router, and B, the GS-only router. Their rules (top ``pmur`` share
    by ``m_hat``) are fixed with thresholds from 200,000 target queries, which also give
    the true values ``E_target[g m]`` of A's per-query efficiency, A's gain over random
    routing and A's paired difference to B. Each replication draws ``n`` fresh GS rows
    (from the shifted GS distribution, with the known importance weights
    ``exp(-shift x_0 + shift^2 / 2)``: log-normal with sd ``shift``) and ``n_target``
    fresh target queries; replications are drawn and predicted ``chunk`` at a time (one
    ``predict`` call per chunk; the rows are independent, so this only saves time).

    Returns one row per setting (shift, ``n_gs``), quantity and ``intervals``
    (``"small-sample"``, the default of :func:`~metarouter.inference.functional_interval`,
    or ``"asymptotic"``, ``small_sample=False``): the share of replications whose
    interval covers the truth (``coverage_*``), mean widths and ``width_ratio`` (PPI /
    classical), ``warned_*`` (share of replications whose interval raised
    :class:`~metarouter.inference.SmallSampleWarning`: fewer than
    :data:`~metarouter.inference.MIN_NONZERO_ROWS` effective GS rows with a non-zero
    contribution) and ``coverage_unwarned_*`` (coverage among the others; nan if
    none), ``mc_sd`` (binomial sd of a coverage estimate at the nominal 95%,
    ``sqrt(0.95 * 0.05 / reps)``), ``n_eff`` (mean Kish effective sample size of the
    weights) and ``nonzero_g`` (mean share of GS rows with ``g != 0``). ``progress``,
    if given, is called as ``progress(shift, n_gs)`` after every chunk.
    """
    import metarouter as mr
    from metarouter.datasets import make_shift_data
    from metarouter.inference import effective_sample_size

    if reps % chunk:
        raise ValueError(f"`reps` must be a multiple of `chunk`={chunk}, got {reps}.")
    rows = []
    for shift in shifts:
        train = make_shift_data(shift=shift, random_state=seed)
        a = mr.MetaRouter("offset", scale=None, random_state=seed)
        a.fit(train.X, train.y, train.source)
        b = mr.GSOnlyRouter(random_state=seed).fit(train.X, train.y, train.source)
        big = make_shift_data(1, 0, 200_000, shift=shift, random_state=seed + 1)
        ma, mb = a.predict(big.X_test), b.predict(big.X_test)
        ta, tb = np.quantile(ma, 1 - pmur), np.quantile(mb, 1 - pmur)
        rules = {
            "efficiency": lambda pa, pb, ta=ta: (pa > ta).astype(float),
            "gain_vs_random": lambda pa, pb, ta=ta: (pa > ta) - pmur,
            "a_minus_b": lambda pa, pb, ta=ta, tb=tb: (
                (pa > ta).astype(float) - (pb > tb)
            ),
        }
        truth = {k: float(np.mean(g(ma, mb) * big.m_test)) for k, g in rules.items()}
        for n in sizes:
            rng = np.random.default_rng([seed, n, int(10 * shift)])
            stats, n_eff, nonzero = {}, [], {k: [] for k in rules}
            for _ in range(reps // chunk):
                draw = make_shift_data(
                    n * chunk,
                    0,
                    n_target * chunk,
                    shift=shift,
                    random_state=int(rng.integers(2**31)),
                )
                pa_gs, pb_gs = a.predict(draw.X), b.predict(draw.X)
                pa_t, pb_t = a.predict(draw.X_test), b.predict(draw.X_test)
                for j in range(chunk):
                    gs, tg = (
                        slice(j * n, (j + 1) * n),
                        slice(j * n_target, (j + 1) * n_target),
                    )
                    w = draw.target_weight[gs] if shift else None
                    n_eff.append(n if w is None else effective_sample_size(w))
                    for k, g in rules.items():
                        g_gs = g(pa_gs[gs], pb_gs[gs])
                        nonzero[k].append(np.mean(g_gs != 0))
                        for small in (True, False):
                            for method in ("classical", "ppi"):
                                outcome = interval_outcome(
                                    truth[k],
                                    g_gs,
                                    draw.y[gs],
                                    m_hat_gs=pa_gs[gs],
                                    g_target=g(pa_t[tg], pb_t[tg]),
                                    m_hat_target=pa_t[tg],
                                    weights=w,
                                    method=method,
                                    small_sample=small,
                                )
                                stats.setdefault((k, small, method), []).append(
                                    outcome[:3]
                                )
                if progress is not None:
                    progress(shift, n)
            for k in rules:
                for small in (True, False):
                    cl = np.array(stats[k, small, "classical"])
                    pp = np.array(stats[k, small, "ppi"])
                    rows.append(
                        {
                            "intervals": "small-sample" if small else "asymptotic",
                            "shift": shift,
                            "n_gs": n,
                            "quantity": k,
                            "truth": truth[k],
                            "coverage_classical": cl[:, 0].mean(),
                            "coverage_ppi": pp[:, 0].mean(),
                            "width_classical": cl[:, 1].mean(),
                            "width_ppi": pp[:, 1].mean(),
                            "width_ratio": pp[:, 1].mean() / cl[:, 1].mean(),
                            "warned_classical": cl[:, 2].mean(),
                            "warned_ppi": pp[:, 2].mean(),
                            "coverage_unwarned_classical": mean_where_unwarned(cl, 0),
                            "coverage_unwarned_ppi": mean_where_unwarned(pp, 0),
                            "mc_sd": float(np.sqrt(0.95 * 0.05 / reps)),
                            "n_eff": float(np.mean(n_eff)),
                            "nonzero_g": float(np.mean(nonzero[k])),
                            "reps": reps,
                        }
                    )
    return pd.DataFrame(rows)


def interval_outcome(truth, *args, **kwargs) -> tuple:
    """One Monte Carlo replication of an interval: ``(hit, width, warned, n_nonzero)``.

    ``functional_interval(*args, **kwargs)`` with its
    :class:`~metarouter.inference.SmallSampleWarning` silenced (the coverage tables
    count it as ``warned``: fewer than
    :data:`~metarouter.inference.MIN_NONZERO_ROWS` effective GS rows with ``g != 0``);
    ``hit`` says whether the interval covers ``truth``.

    Examples
    --------
    >>> import numpy as np
    >>> g = np.r_[np.ones(3), np.zeros(7)]
    >>> y = np.linspace(0, 1, 10)
    >>> hit, width, warned, n_nonzero = interval_outcome(0.2, g, y, method="classical")
    >>> bool(warned), n_nonzero
    (True, 3.0)
    """
    from metarouter.inference import (
        MIN_NONZERO_ROWS,
        SmallSampleWarning,
        functional_interval,
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        ci = functional_interval(*args, **kwargs)
    warned = ci.n_nonzero < MIN_NONZERO_ROWS
    return ci.lower <= truth <= ci.upper, ci.width, warned, ci.n_nonzero


def mean_where_unwarned(stats: np.ndarray, col: int) -> float:
    """Mean of ``stats[:, col]`` over the rows whose interval did not warn (column 2)."""
    keep = stats[:, 2] == 0
    return float(stats[keep, col].mean()) if keep.any() else float("nan")
