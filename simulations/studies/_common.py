"""Pieces shared by the studies: seeds, TE at PMUR levels, cached real data, statistics glue."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd


def child_ints(seed: np.random.SeedSequence, n: int) -> list[int]:
    """``n`` independent integer seeds (for scikit-learn ``random_state``) derived from ``seed``."""
    return [int(s.generate_state(1)[0]) for s in seed.spawn(n)]


def te_at_pmur(scores, r, levels) -> tuple[np.ndarray, np.ndarray]:
    """Total efficiency of a score-based router at each PMUR level.

    The unit-cost rule "premium iff score > w" swept over ``w`` sends the top
    ``k = round(p n)`` scores to the premium model at level ``p``. Delegates to
    :func:`metarouter.efficiency_curve` so that the definition is one piece of code.
    Returns (TE, realised PMUR ``k / n``).
    """
    from metarouter import efficiency_curve

    r = np.asarray(r, float)
    curve = efficiency_curve(
        np.asarray(scores, float), r, pmur=np.asarray(levels, float)
    )
    return curve["te"].to_numpy(float), curve["n_premium"].to_numpy(float) / r.shape[0]


def random_te_at_pmur(r, levels) -> tuple[np.ndarray, np.ndarray]:
    """Random routing at each PMUR level: the expected TE ``k / n * sum(r)``.

    This is :func:`metarouter.efficiency_gain`'s default random router (the paper's
    random router with the coin-flip noise integrated out), computed by the same code:
    constant scores tie everywhere, and ties are broken at random in expectation.
    """
    r = np.asarray(r, float)
    return te_at_pmur(np.zeros_like(r), r, levels)


@functools.lru_cache(maxsize=4)
def _routerbench(data_dir: str, premium: str, alternative: str):
    from simulations import realdata

    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # the count is kept in `n_dropped` and reported in rows
        return realdata.load_routerbench(
            data_dir, premium=premium, alternative=alternative
        )


def routerbench_frame(
    data_dir: str,
    premium: str = "gpt-4-1106-preview",
    alternative: str = "mixtral-8x7b",
) -> pd.DataFrame:
    """All RouterBench rows (every task found, train and test), cached per worker process."""
    return _routerbench(str(data_dir), premium, alternative).frame


def routerbench_shift(data_dir: str) -> tuple[list[str], str, str]:
    """``(source tasks, costlier task, cheaper task)`` of the directory's RouterBench files.

    :func:`simulations.realdata.shift_tasks` on the GPT-4 / Mixtral pair's costs
    (on the shared files: arc_challenge + winogrande, mbpp, winogrande).
    """
    from simulations import realdata
    from simulations.errors import DataError

    frame = routerbench_frame(data_dir)  # its errors name the file at fault
    try:
        return realdata.shift_tasks(frame)
    except DataError as err:  # name the user's directory
        raise DataError(f"--data {str(data_dir)!r}: {err}") from None


def routerbench_dropped(
    data_dir: str,
    premium: str = "gpt-4-1106-preview",
    alternative: str = "mixtral-8x7b",
) -> int:
    """Rows the loader dropped for missing correctness of the two models."""
    return _routerbench(str(data_dir), premium, alternative).n_dropped


def save_all(figs: dict, directory) -> list:
    """Save ``{file name: Figure}`` as PNGs in ``directory``; return the paths."""
    from pathlib import Path

    from simulations.plotting import save_figure

    return [save_figure(fig, Path(directory) / name) for name, fig in figs.items()]


def paired(
    per_round: pd.DataFrame,
    *,
    metric: str,
    by: list[str],
    higher_is_better: bool = True,
) -> pd.DataFrame:
    """Every router vs random and vs the best other router, paired across rounds (D's stats)."""
    from simulations.stats import paired_comparison

    return paired_comparison(
        per_round,
        metric=metric,
        router_col="router",
        round_col="round",
        by=tuple(by),
        reference="random",
        higher_is_better=higher_is_better,
    )


def bootstrap_mean_ci(
    per_round: pd.DataFrame,
    *,
    metric: str,
    by: list[str],
    n_boot: int = 2000,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Per group: the mean of ``metric`` across rounds with a percentile bootstrap interval."""
    from simulations.stats import bootstrap_ci

    out = []
    for key, sub in per_round.groupby(by, sort=False):
        vals = sub[metric].to_numpy(float)
        lo, hi = bootstrap_ci(
            vals, stat=np.mean, n_boot=n_boot, alpha=alpha, random_state=0
        )
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        row.update({f"{metric}_round_mean": vals.mean(), "ci_low": lo, "ci_high": hi})
        out.append(row)
    return pd.DataFrame(out)


def attach_significance(
    head: pd.DataFrame, paired_table: pd.DataFrame, *, by: list[str]
) -> pd.DataFrame:
    """Add each router's comparison with random and with the best other router.

    Columns added: ``p_adj_vs_random``, ``vs_random`` (better / worse / not significant),
    ``best_other``, ``diff_vs_best``, ``p_adj_vs_best``, ``vs_best``; p-values are
    adjusted across the whole paired table (Holm, see ``simulations.stats``).
    """
    keep = [c for c in by + ["router"] if c in paired_table.columns]
    rnd = paired_table[paired_table["baseline"] == "random"][
        keep + ["p_adjusted", "verdict"]
    ].rename(columns={"p_adjusted": "p_adj_vs_random", "verdict": "vs_random"})
    best = paired_table[paired_table["comparison"] == "vs best other"][
        keep + ["baseline", "diff", "p_adjusted", "verdict"]
    ].rename(
        columns={
            "baseline": "best_other",
            "diff": "diff_vs_best",
            "p_adjusted": "p_adj_vs_best",
            "verdict": "vs_best",
        }
    )
    # The best router's own "vs best other" row is absent from the table (the pair is
    # already there the other way round): take that row and flip it.
    flip = {"better": "worse", "worse": "better", "not significant": "not significant"}
    setting = [c for c in keep if c != "router"]
    extra = []
    for key, sub in best.groupby(setting, sort=False) if setting else [((), best)]:
        top = set(sub["best_other"]) - set(sub["router"])
        for router in top:
            rows = paired_table[
                (paired_table["baseline"] == router)
                & (paired_table["comparison"] == "vs best other")
            ]
            for col, val in zip(setting, key if isinstance(key, tuple) else (key,)):
                rows = rows[rows[col] == val]
            if rows.empty:
                continue
            r = rows.sort_values("mean_router", ascending=False).iloc[0]
            rec = dict(zip(setting, key if isinstance(key, tuple) else (key,)))
            rec.update(
                {
                    "router": router,
                    "best_other": r["router"],
                    "diff_vs_best": -r["diff"],
                    "p_adj_vs_best": r["p_adjusted"],
                    "vs_best": flip[r["verdict"]],
                }
            )
            extra.append(rec)
    if extra:
        best = pd.concat([best, pd.DataFrame(extra)], ignore_index=True)
    out = head.merge(rnd, on=keep, how="left")
    return out.merge(best, on=keep, how="left")


def budget_verdict(verdict, router_over, baseline_over):
    """A router's verdict against a baseline when both must keep a cost budget.

    Accuracy decides only between routers that keep the budget: a router over budget
    is ``"breaks budget"`` whatever its accuracy (spending more buys accuracy), a
    router within budget against a baseline over it is ``"baseline breaks budget"``
    (never "worse": the baseline is not a feasible alternative); between two routers
    within budget the accuracy ``verdict`` stands. A missing verdict stays missing.

    Parameters
    ----------
    verdict : array-like of str
        The accuracy verdicts ("better", "worse", "not significant").
    router_over, baseline_over : array-like of bool
        Whether the router / the baseline exceeds the budget.

    Returns
    -------
    numpy.ndarray of object

    Examples
    --------
    >>> budget_verdict(["worse", "better", "worse", "better"],
    ...                [False, True, False, False], [True, False, False, True]).tolist()
    ['baseline breaks budget', 'breaks budget', 'worse', 'baseline breaks budget']
    """
    verdict = pd.Series(np.asarray(verdict, dtype=object))
    router_over = pd.Series(router_over, dtype="boolean").fillna(False).to_numpy(bool)
    baseline_over = (
        pd.Series(baseline_over, dtype="boolean").fillna(False).to_numpy(bool)
    )
    out = verdict.to_numpy(dtype=object).copy()
    known = verdict.notna().to_numpy()
    out[known & ~router_over & baseline_over] = "baseline breaks budget"
    out[known & router_over] = "breaks budget"
    return out


def mean_band(rows: pd.DataFrame, by: list[str], metric: str) -> pd.DataFrame:
    """Per group of ``by``: the mean of ``metric`` over rounds and its 95% band
    (``low``, ``high``: the mean -+ 1.96 standard errors; 0 with a single round).

    Examples
    --------
    >>> rows = pd.DataFrame({"g": ["a"] * 4, "x": [1.0, 2.0, 3.0, 4.0]})
    >>> mean_band(rows, ["g"], "x").round(3).to_dict("records")
    [{'g': 'a', 'x': 2.5, 'low': 1.235, 'high': 3.765}]
    """
    g = rows.groupby(by, as_index=False)[metric]
    stats = g.mean()
    se = g.std(ddof=1)[metric].fillna(0) / np.sqrt(g.count()[metric])
    stats["low"] = stats[metric] - 1.96 * se
    stats["high"] = stats[metric] + 1.96 * se
    return stats


def paired_split_differences(
    rows: pd.DataFrame, metric: str, reference: str, by: list[str]
) -> pd.DataFrame:
    """Per group of ``by`` and router: mean of ``metric`` minus ``reference``'s, paired by round.

    For studies whose rounds are repeated random train/test splits of one data
    set (``rows`` holds ``round``, ``router``, ``n_train`` and ``n_test``).
    Such splits overlap, so the naive standard error ``se_naive = sd / sqrt(J)``
    over ``J`` splits is too small; ``se_corrected`` is Nadeau and Bengio's
    ``sd * sqrt(1 / J + n_test / n_train)``. ``share_of_splits_better``: the
    share of splits where the difference is positive.

    References
    ----------
    Nadeau and Bengio, "Inference for the Generalization Error", 2003.

    Examples
    --------
    >>> rows = pd.DataFrame({"g": 1, "round": [0, 0, 1, 1], "router": ["a", "b"] * 2,
    ...     "err": [1.0, 0.8, 1.0, 0.6], "n_test": 2, "n_train": 3})
    >>> out = paired_split_differences(rows, "err", "a", ["g"])
    >>> out[["router", "diff_vs_a", "share_of_splits_better", "splits"]].to_dict("records")
    [{'router': 'b', 'diff_vs_a': -0.3, 'share_of_splits_better': 0.0, 'splits': 2}]
    """
    by = list(by)
    ratio = float((rows["n_test"] / rows["n_train"]).iloc[0])
    out = []
    for key, sub in rows.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        wide = sub.pivot_table(index="round", columns="router", values=metric)
        J = wide.shape[0]
        for name in wide.columns:
            if name == reference:
                continue
            d = (wide[name] - wide[reference]).to_numpy(float)
            sd = d.std(ddof=1) if J > 1 else np.nan
            out.append(
                {
                    **dict(zip(by, key)),
                    "router": name,
                    f"diff_vs_{reference}": round(float(d.mean()), 12),
                    "se_naive": sd / np.sqrt(J),
                    "se_corrected": sd * np.sqrt(1.0 / J + ratio),
                    "share_of_splits_better": float((d > 0).mean()),
                    "splits": J,
                }
            )
    return pd.DataFrame(out)
