"""Statistics across Monte Carlo rounds: paired comparisons, bootstrap intervals, grid regressions.

Rounds are the unit of replication: within a setting, every router is evaluated
on the same data in round ``k``, so comparisons between routers are *paired*
across rounds. Many settings and routers mean many comparisons; p-values are
adjusted across the whole table (Holm by default, via
``statsmodels.stats.multitest.multipletests``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

__all__ = [
    "bootstrap_ci",
    "grid_regression",
    "paired_comparison",
    "paired_test",
    "summary_table",
]

_STATS = {"median": np.median, "mean": np.mean}


def _as_by(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    return list(by)


def _check_columns(df: pd.DataFrame, columns: Sequence[str], role: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"`df` must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{role}: columns {missing} are not in `df` (it has {list(df.columns)})"
        )


def _check_alpha(alpha: float) -> float:
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"`alpha` must be in (0, 1), got {alpha!r}")
    return float(alpha)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    stat: Callable[..., float] = np.median,
    n_boot: int = 2000,
    alpha: float = 0.05,
    random_state: int | np.random.Generator | None = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat(values)``.

    Missing values are dropped. Deterministic for a given ``random_state``.

    Parameters
    ----------
    values : array-like of float
        The sample (e.g. one metric across rounds).
    stat : callable, default=numpy.median
        The statistic; called as ``stat(samples, axis=1)`` when it accepts ``axis``
        (numpy reductions do), else once per resample.
    n_boot : int, default=2000
        Number of bootstrap resamples.
    alpha : float, default=0.05
        The interval covers ``1 - alpha``.
    random_state : int, Generator or None, default=0
        Seed of the resampling.

    Returns
    -------
    (low, high) : tuple of float
        NaN for an empty sample; ``(v, v)`` for a single value.

    Examples
    --------
    >>> low, high = bootstrap_ci([1.0, 2.0, 3.0, 4.0, 5.0], stat=np.mean, random_state=0)
    >>> bool(1.0 <= low <= 3.0 <= high <= 5.0)
    True
    """
    alpha = _check_alpha(alpha)
    if (
        isinstance(n_boot, bool)
        or not isinstance(n_boot, (int, np.integer))
        or n_boot < 1
    ):
        raise ValueError(f"`n_boot` must be a positive integer, got {n_boot!r}")
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    if x.size == 0:
        return (np.nan, np.nan)
    if x.size == 1:
        return (float(x[0]), float(x[0]))
    rng = np.random.default_rng(random_state)
    samples = x[rng.integers(0, x.size, size=(n_boot, x.size))]
    try:
        boot = np.asarray(stat(samples, axis=1), dtype=float)
        if boot.shape != (n_boot,):
            raise TypeError
    except TypeError:
        boot = np.array([stat(s) for s in samples], dtype=float)
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return (float(low), float(high))


def summary_table(
    df: pd.DataFrame,
    *,
    metric: str,
    router_col: str = "router",
    by: str | Sequence[str] | None = (),
    stat: str = "median",
    alpha: float = 0.05,
    n_boot: int = 2000,
    random_state: int = 0,
) -> pd.DataFrame:
    """Per setting and router: ``stat`` of ``metric`` across rounds with a bootstrap interval.

    Each row of ``df`` is one observation (one round); give ``by`` all the
    setting columns (including any level such as PMUR) so that a group holds one
    value per round.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, router, n_rounds, <stat>, ci_low, ci_high`` (a ``1 - alpha``
        percentile bootstrap interval, seeded by ``random_state``).

    Examples
    --------
    >>> df = pd.DataFrame({"router": ["a"] * 4 + ["b"] * 4, "te": [1, 2, 3, 4, 5, 6, 7, 8.0]})
    >>> summary_table(df, metric="te")[["router", "n_rounds", "median"]].values.tolist()
    [['a', 4, 2.5], ['b', 4, 6.5]]
    """
    by = _as_by(by)
    _check_columns(df, [*by, router_col, metric], "summary_table")
    if stat not in _STATS:
        raise ValueError(f"`stat` must be one of {sorted(_STATS)}, got {stat!r}")
    fn = _STATS[stat]
    records = []
    for key, group in df.groupby([*by, router_col], sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        x = group[metric].to_numpy(dtype=float)
        x = x[~np.isnan(x)]
        low, high = bootstrap_ci(
            x, stat=fn, n_boot=n_boot, alpha=alpha, random_state=random_state
        )
        records.append(
            (*key, int(x.size), float(fn(x)) if x.size else np.nan, low, high)
        )
    return pd.DataFrame.from_records(
        records, columns=[*by, router_col, "n_rounds", stat, "ci_low", "ci_high"]
    )


def paired_test(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    alpha: float = 0.05,
    test: str = "t",
) -> dict[str, float]:
    """Paired comparison of ``a`` and ``b`` (same rounds): mean of ``a - b``, its CI and p-value.

    The interval is the paired t-interval ``mean(d) +- t_{1-alpha/2, n-1} sd(d)/sqrt(n)``.
    The p-value is the two-sided paired t-test (``test="t"``) or the Wilcoxon
    signed-rank test (``test="wilcoxon"``). Pairs with a missing value are
    dropped. Constant differences give a zero-width interval and p = 1 (all
    zero) or p = 0 (non-zero); fewer than two pairs give NaN.

    Examples
    --------
    >>> r = paired_test([1.0, 2.0, 3.0, 4.0], [0.5, 1.1, 2.4, 3.6])
    >>> round(r["diff"], 3), r["n"]
    (0.6, 4)
    """
    alpha = _check_alpha(alpha)
    if test not in ("t", "wilcoxon"):
        raise ValueError(f"`test` must be 't' or 'wilcoxon', got {test!r}")
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            f"`a` and `b` must be 1-D of equal length, got {a.shape} and {b.shape}"
        )
    keep = ~(np.isnan(a) | np.isnan(b))
    d = a[keep] - b[keep]
    n = int(d.size)
    out = {
        "n": n,
        "diff": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "p_value": np.nan,
    }
    if n == 0:
        return out
    mean = float(d.mean())
    out["diff"] = mean
    if n < 2:
        return out
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        out.update(ci_low=mean, ci_high=mean, p_value=1.0 if mean == 0.0 else 0.0)
        return out
    half = float(sps.t.ppf(1 - alpha / 2, n - 1)) * sd / np.sqrt(n)
    out.update(ci_low=mean - half, ci_high=mean + half)
    if test == "t":
        out["p_value"] = float(2 * sps.t.sf(abs(mean) / (sd / np.sqrt(n)), n - 1))
    else:
        out["p_value"] = float(sps.wilcoxon(d).pvalue)
    return out


def paired_comparison(
    df: pd.DataFrame,
    *,
    metric: str,
    router_col: str = "router",
    round_col: str = "round",
    by: str | Sequence[str] | None = (),
    reference: str = "random",
    higher_is_better: bool = True,
    alpha: float = 0.05,
    method: str = "holm",
    test: str = "t",
    family: str = "all_pairs",
) -> pd.DataFrame:
    """Every router against ``reference`` and against the best other router, paired across rounds.

    In each setting (a group of ``by``), the metric is laid out as rounds x
    routers; each comparison uses the rounds where both routers have a value.
    Rows:

    - ``vs reference``: every router other than ``reference`` against it;
    - ``vs best other``: every router other than ``reference`` against the best
      of the *other* routers (highest mean metric, or lowest when
      ``higher_is_better`` is False) unless that pair is already in the table.

    p-values are adjusted with ``multipletests(method=method)`` across the whole
    table. Because the "best other" router is chosen on the same rounds, the
    default ``family="all_pairs"`` adjusts over *every* pair of routers in every
    setting (a pre-specified family, so the reported subset keeps its error
    control whatever was selected); ``family="reported"`` adjusts over the
    reported rows only (less conservative, ignores the selection).

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy rows, one per (setting, round, router).
    metric : str
        The column compared.
    router_col, round_col : str
        Columns naming the router and the round (the pairing).
    by : str or sequence of str
        Setting columns (all of them, including any level such as PMUR).
    reference : str, default="random"
        The baseline router. It must appear in every setting.
    higher_is_better : bool, default=True
        Direction of the metric (used to choose the best router and the verdict).
    alpha : float, default=0.05
        Level of the (marginal) intervals and of the adjusted tests.
    method : str, default="holm"
        Any ``multipletests`` method ("holm", "bonferroni", "fdr_bh", ...).
    test : {"t", "wilcoxon"}, default="t"
        Paired t-test or Wilcoxon signed-rank test.
    family : {"all_pairs", "reported"}, default="all_pairs"
        Which comparisons the adjustment runs over (see above).

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, router, baseline, comparison, n_pairs, mean_router,
        mean_baseline, diff, ci_low, ci_high, p_value, p_adjusted, significant,
        verdict``; ``diff`` is the mean over rounds of ``router - baseline``,
        ``verdict`` is "better", "worse" or "not significant" (for the router).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> base = rng.normal(size=30)
    >>> df = pd.DataFrame({"round": np.tile(np.arange(30), 2),
    ...                    "router": ["random"] * 30 + ["smart"] * 30,
    ...                    "te": np.r_[base, base + 1 + rng.normal(0, 0.1, 30)]})
    >>> paired_comparison(df, metric="te")[["router", "baseline", "verdict"]].values.tolist()
    [['smart', 'random', 'better']]
    """
    by = _as_by(by)
    _check_columns(df, [*by, router_col, round_col, metric], "paired_comparison")
    alpha = _check_alpha(alpha)
    if family not in ("all_pairs", "reported"):
        raise ValueError(f"`family` must be 'all_pairs' or 'reported', got {family!r}")
    dup = df.duplicated([*by, router_col, round_col])
    if dup.any():
        example = df.loc[dup, [*by, router_col, round_col]].iloc[0].to_dict()
        raise ValueError(
            f"paired_comparison: several rows per (setting, router, round), e.g. {example}; "
            "add the missing setting/level columns to `by`"
        )
    groups = df.groupby(by, sort=False, dropna=False) if by else [((), df)]
    rows = []
    family_p = []  # p-values of the adjustment family, and the index of the reported row
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        wide = group.pivot(index=round_col, columns=router_col, values=metric).astype(
            float
        )
        routers = list(pd.unique(group[router_col]))
        if reference not in routers:
            raise ValueError(
                f"paired_comparison: the reference router {reference!r} is missing from "
                f"setting {dict(zip(by, key))} (routers: {routers})"
            )
        means = wide.mean()
        sign = 1.0 if higher_is_better else -1.0

        def best_other(router, routers=routers, means=means, sign=sign):
            others = [r for r in routers if r != router and not np.isnan(means[r])]
            if not others:
                return None
            return max(others, key=lambda r: sign * means[r])

        pairs = [(r, reference, "vs reference") for r in routers if r != reference]
        seen = {frozenset(p[:2]) for p in pairs}
        for r in routers:
            if r == reference:
                continue
            b = best_other(r)
            if b is not None and frozenset((r, b)) not in seen:
                pairs.append((r, b, "vs best other"))
                seen.add(frozenset((r, b)))
        tested = {}
        for r, b, kind in pairs:
            res = paired_test(
                wide[r].to_numpy(), wide[b].to_numpy(), alpha=alpha, test=test
            )
            tested[frozenset((r, b))] = res["p_value"]
            rows.append(
                {
                    **dict(zip(by, key)),
                    router_col: r,
                    "baseline": b,
                    "comparison": kind,
                    "n_pairs": res["n"],
                    "mean_router": float(means[r]),
                    "mean_baseline": float(means[b]),
                    "diff": res["diff"],
                    "ci_low": res["ci_low"],
                    "ci_high": res["ci_high"],
                    "p_value": res["p_value"],
                }
            )
            family_p.append((res["p_value"], len(rows) - 1))
        if family == "all_pairs":
            for i, r in enumerate(routers):
                for b in routers[i + 1 :]:
                    if frozenset((r, b)) not in tested:
                        res = paired_test(
                            wide[r].to_numpy(), wide[b].to_numpy(), test=test
                        )
                        family_p.append((res["p_value"], None))
    out = pd.DataFrame(
        rows,
        columns=[
            *by,
            router_col,
            "baseline",
            "comparison",
            "n_pairs",
            "mean_router",
            "mean_baseline",
            "diff",
            "ci_low",
            "ci_high",
            "p_value",
        ],
    )
    adjusted = np.full(len(out), np.nan)
    finite = [(p, i) for p, i in family_p if not np.isnan(p)]
    if finite:
        _, p_adj, _, _ = multipletests(
            [p for p, _ in finite], alpha=alpha, method=method
        )
        for (_, i), q in zip(finite, p_adj):
            if i is not None:
                adjusted[i] = q
    out["p_adjusted"] = adjusted
    out["significant"] = out["p_adjusted"] < alpha
    good = out["diff"] * (1.0 if higher_is_better else -1.0) > 0
    out["verdict"] = np.where(
        out["significant"], np.where(good, "better", "worse"), "not significant"
    )
    return out


def grid_regression(
    df: pd.DataFrame,
    formula: str,
    groups: str = "round",
    *,
    alpha: float = 0.05,
    method: str = "holm",
) -> pd.DataFrame:
    """OLS of a grid of results with standard errors clustered by round.

    Rows of one round share its data, so they are correlated; clustering by
    ``groups`` (statsmodels ``cov_type="cluster"``, with its small-sample
    correction) accounts for it. p-values are adjusted across the terms with
    ``multipletests(method=method)``.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy rows.
    formula : str
        A patsy formula, e.g. ``"eg ~ C(router, Treatment('random')) * C(n_gs)"``.
    groups : str, default="round"
        The clustering column.
    alpha : float, default=0.05
        Level of the intervals and of the adjusted tests.
    method : str, default="holm"
        The ``multipletests`` method.

    Returns
    -------
    pandas.DataFrame
        One row per term: ``term, coef, std_err, statistic, p_value, ci_low,
        ci_high, p_adjusted, significant``; ``attrs`` holds ``n_obs`` and
        ``n_clusters``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"round": np.repeat(np.arange(20), 2), "x": np.tile([0.0, 1.0], 20)})
    >>> df["y"] = 2 * df["x"] + rng.normal(size=20).repeat(2) + rng.normal(0, 0.1, 40)
    >>> table = grid_regression(df, "y ~ x")
    >>> bool(table.set_index("term").loc["x", "ci_low"] < 2 < table.set_index("term").loc["x", "ci_high"])
    True
    """
    import statsmodels.formula.api as smf

    _check_columns(df, [groups], "grid_regression")
    alpha = _check_alpha(alpha)
    model = smf.ols(formula, data=df)
    labels = model.data.row_labels
    codes = pd.factorize(df.loc[labels, groups])[0]
    if (codes < 0).any():
        raise ValueError(
            f"grid_regression: the cluster column `{groups}` has missing values"
        )
    if len(np.unique(codes)) < 2:
        raise ValueError(f"grid_regression: need at least two clusters in `{groups}`")
    # t reference distribution with G - 1 degrees of freedom (few rounds = few clusters).
    fit = model.fit(cov_type="cluster", cov_kwds={"groups": codes}, use_t=True)
    ci = fit.conf_int(alpha=alpha)
    table = pd.DataFrame(
        {
            "term": fit.params.index,
            "coef": fit.params.to_numpy(),
            "std_err": fit.bse.to_numpy(),
            "statistic": fit.tvalues.to_numpy(),
            "p_value": fit.pvalues.to_numpy(),
            "ci_low": ci.iloc[:, 0].to_numpy(),
            "ci_high": ci.iloc[:, 1].to_numpy(),
        }
    )
    p_adj = np.full(len(table), np.nan)
    ok = ~np.isnan(table["p_value"].to_numpy())
    if ok.any():
        p_adj[ok] = multipletests(
            table["p_value"].to_numpy()[ok], alpha=alpha, method=method
        )[1]
    table["p_adjusted"] = p_adj
    table["significant"] = table["p_adjusted"] < alpha
    table.attrs = {"n_obs": int(fit.nobs), "n_clusters": len(np.unique(codes))}
    return table
