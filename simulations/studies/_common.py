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

    return realdata.shift_tasks(routerbench_frame(data_dir))


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
