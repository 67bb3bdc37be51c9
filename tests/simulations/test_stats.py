"""Statistics helpers against independent truths: scipy, statsmodels, known effects, a hand-written sandwich."""

import gc

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from simulations.stats import (
    bootstrap_ci,
    grid_regression,
    paired_comparison,
    paired_test,
    summary_table,
)


def _long(values: dict, settings_=None) -> pd.DataFrame:
    """Tidy rows from {router: array over rounds}."""
    frames = [
        pd.DataFrame(
            {"round": np.arange(len(v)), "router": r, "te": np.asarray(v, float)}
        )
        for r, v in values.items()
    ]
    out = pd.concat(frames, ignore_index=True)
    for key, value in (settings_ or {}).items():
        out[key] = value
    return out


# -- paired t: equal to scipy's independent computation --------------------------------------


def test_paired_t_interval_and_p_value_equal_scipy():
    rng = np.random.default_rng(1)
    a = rng.normal(1.0, 1.0, 25)
    b = a - 0.3 + rng.normal(0, 0.5, 25)
    got = paired_test(a, b, alpha=0.1)
    ref = sps.ttest_rel(a, b)
    low, high = ref.confidence_interval(confidence_level=0.9)
    # same formula evaluated two ways: agreement to rounding (1e-12 relative)
    assert got["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((low, high), rel=1e-12)
    assert got["diff"] == pytest.approx(np.mean(a - b), rel=1e-12)
    wil = paired_test(a, b, test="wilcoxon")
    assert wil["p_value"] == pytest.approx(sps.wilcoxon(a - b).pvalue, rel=1e-12)


def test_paired_test_edge_cases():
    assert paired_test([1.0, 2.0], [1.0, 2.0])["p_value"] == 1.0  # all differences zero
    const = paired_test([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    assert (const["p_value"], const["ci_low"], const["ci_high"]) == (0.0, 1.0, 1.0)
    one = paired_test([1.0, np.nan], [0.0, 1.0])  # one usable pair
    assert one["n"] == 1 and np.isnan(one["p_value"])
    with pytest.raises(ValueError, match="equal length"):
        paired_test([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="`alpha`"):
        paired_test([1.0, 2.0], [1.0, 3.0], alpha=1.5)


# -- known effects ---------------------------------------------------------------------------


def test_known_effect_is_covered_and_detected():
    rng = np.random.default_rng(2026)
    n, effect = 60, 1.0
    shared = rng.normal(
        0, 3, n
    )  # a round effect shared by both routers: pairing removes it
    df = _long({"random": shared + rng.normal(0, 0.5, n),
                "smart": shared + effect + rng.normal(0, 0.5, n)})  # fmt: skip
    row = paired_comparison(df, metric="te").iloc[0]
    # sd of the difference is sqrt(0.5), its standard error 0.09: the effect is ~11 standard
    # errors from 0, so p < 1e-6 barring a 1-in-10^20 sample; the 95% interval covering 1.0
    # is a 95% event for any seed (it holds for this one)
    assert row["router"] == "smart" and row["baseline"] == "random"
    assert row["ci_low"] < effect < row["ci_high"]
    assert row["p_value"] < 1e-6 and row["significant"] and row["verdict"] == "better"
    # the same data, lower is better: the verdict flips
    worse = paired_comparison(df, metric="te", higher_is_better=False).iloc[0]
    assert worse["verdict"] == "worse"


def test_null_rejection_rate_is_nominal():
    # 600 independent settings with no effect, one comparison each (so raw = adjusted within
    # a setting); the raw t-test rejects at 5%. Tolerance: 3 binomial standard errors,
    # sqrt(0.05 * 0.95 / 600) = 0.0089, so [0.023, 0.077].
    rng = np.random.default_rng(7)
    n_settings, n = 600, 15
    x = rng.normal(size=(n_settings, 2, n))
    df = pd.DataFrame(
        {
            "setting": np.repeat(np.arange(n_settings), 2 * n),
            "router": np.tile(np.repeat(["random", "other"], n), n_settings),
            "round": np.tile(np.arange(n), 2 * n_settings),
            "te": x.ravel(),
        }
    )
    table = paired_comparison(df, metric="te", by="setting")
    assert len(table) == n_settings
    rate = (table["p_value"] < 0.05).mean()
    assert 0.023 <= rate <= 0.077


def test_familywise_error_is_controlled_despite_choosing_the_best(monkeypatch):
    # statsmodels' Holm calls gc.collect() (0.1 s in this process); it changes no number
    monkeypatch.setattr(gc, "collect", lambda *args: 0)
    # 4 routers with no difference; the table holds "vs reference" and "vs best other" rows
    # (the best is chosen on the same rounds). With the default all-pairs Holm family, the
    # chance of any significant row is at most 5%. 200 replicates: tolerance 3 binomial
    # standard errors, sqrt(0.05 * 0.95 / 200) = 0.015, so the bound is 0.096.
    # (Without adjustment, some raw p < 0.05 in about 23% of replicates.)
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(200):
        x = rng.normal(size=(4, 12))
        df = _long(dict(zip(["random", "a", "b", "c"], x)))
        hits += paired_comparison(df, metric="te")["significant"].any()
    assert hits / 200 <= 0.096


# -- multiplicity: the adjusted p-values are multipletests' --------------------------------


def _grid(seed=3):
    rng = np.random.default_rng(seed)
    frames = []
    for n_gs in (100, 500):
        for d in (50, 100):
            base = rng.normal(size=10)
            routers = {
                "random": base,
                "pooled": base + 0.2,
                "meta": base + 0.6,
                "gs": base,
            }
            routers = {r: v + rng.normal(0, 0.4, 10) for r, v in routers.items()}
            frames.append(_long(routers, {"n_gs": n_gs, "d": d}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("method", ["holm", "fdr_bh", "bonferroni"])
def test_adjusted_p_values_are_multipletests_of_the_reported_ones(method):
    table = paired_comparison(_grid(), metric="te", by=["n_gs", "d"], method=method,
                              family="reported")  # fmt: skip
    expected = multipletests(table["p_value"], alpha=0.05, method=method)[1]
    np.testing.assert_allclose(table["p_adjusted"], expected, rtol=1e-12)
    assert (table["significant"] == (expected < 0.05)).all()


def test_all_pairs_family_adjusts_over_every_pair_of_every_setting():
    df = _grid()
    table = paired_comparison(df, metric="te", by=["n_gs", "d"])
    # independent: every pair of routers in every setting, scipy's paired t-test, one Holm
    raw = {}
    for (n_gs, d), g in df.groupby(["n_gs", "d"]):
        wide = g.pivot(index="round", columns="router", values="te")
        routers = list(wide.columns)
        for i, r in enumerate(routers):
            for b in routers[i + 1 :]:
                raw[(n_gs, d, frozenset((r, b)))] = sps.ttest_rel(
                    wide[r], wide[b]
                ).pvalue
    keys = list(raw)
    adjusted = dict(zip(keys, multipletests([raw[k] for k in keys], method="holm")[1]))
    assert len(keys) == 4 * 6
    for row in table.itertuples():
        key = (row.n_gs, row.d, frozenset((row.router, row.baseline)))
        assert row.p_value == pytest.approx(raw[key], rel=1e-12)
        assert row.p_adjusted == pytest.approx(adjusted[key], rel=1e-12)


def test_rows_are_every_router_vs_reference_and_vs_best_other():
    df = _grid()
    table = paired_comparison(df, metric="te", by=["n_gs", "d"])
    for (n_gs, d), g in df.groupby(["n_gs", "d"]):
        means = g.groupby("router")["te"].mean()
        rows = table[(table["n_gs"] == n_gs) & (table["d"] == d)]
        vs_ref = rows[rows["comparison"] == "vs reference"]
        assert sorted(vs_ref["router"]) == sorted(set(means.index) - {"random"})
        assert (vs_ref["baseline"] == "random").all()
        pairs = {frozenset(p) for p in zip(rows["router"], rows["baseline"])}
        assert len(pairs) == len(rows)  # no comparison twice
        for r in set(means.index) - {"random"}:
            best = means.drop(r).idxmax()
            assert frozenset((r, best)) in pairs
        got = rows.set_index(["router", "baseline"])
        for (r, b), row in got.iterrows():
            diff = (g[g.router == r].set_index("round")["te"]
                    - g[g.router == b].set_index("round")["te"]).mean()  # fmt: skip
            assert row["diff"] == pytest.approx(diff, rel=1e-12)


def test_paired_comparison_refuses_ambiguous_input():
    df = _grid()
    with pytest.raises(ValueError, match="add the missing setting"):
        paired_comparison(df, metric="te")  # n_gs, d not given: several rows per round
    with pytest.raises(ValueError, match="reference router 'uniform'"):
        paired_comparison(df, metric="te", by=["n_gs", "d"], reference="uniform")
    with pytest.raises(ValueError, match=r"\['eg'\]"):
        paired_comparison(df, metric="eg", by=["n_gs", "d"])


# -- bootstrap and summary table -----------------------------------------------------------


def test_bootstrap_ci_is_deterministic_and_covers_at_about_the_nominal_rate():
    rng = np.random.default_rng(5)
    x = rng.normal(size=30)
    assert bootstrap_ci(x, random_state=3) == bootstrap_ci(x, random_state=3)
    assert bootstrap_ci(x, random_state=3) != bootstrap_ci(x, random_state=4)
    # coverage of the true median (0) of N(0, 1) samples of 50 by the 90% percentile
    # interval over 300 samples: nominal 0.90, percentile intervals for a median run a bit
    # off; allow 0.90 +- 0.06 (3.5 binomial standard errors of 0.017)
    covered = 0
    for _ in range(300):
        low, high = bootstrap_ci(
            rng.normal(size=50), alpha=0.1, n_boot=500, random_state=rng
        )
        covered += low <= 0.0 <= high
    assert 0.84 <= covered / 300 <= 0.96


def test_bootstrap_ci_accepts_any_statistic_and_handles_tiny_samples():
    def trimmed(v):  # no `axis` argument: resampled one at a time
        return sps.trim_mean(v, 0.1)

    x = np.arange(20.0)
    low, high = bootstrap_ci(x, stat=trimmed, n_boot=300)
    assert low < trimmed(x) < high
    assert bootstrap_ci([2.5]) == (2.5, 2.5)
    assert all(np.isnan(bootstrap_ci([np.nan])))
    with pytest.raises(ValueError, match="`n_boot`"):
        bootstrap_ci(x, n_boot=0)


@pytest.mark.parametrize(
    ("stat", "scipy_stat"),
    [(np.mean, np.mean), (np.std, np.std)],
    ids=["mean", "std"],
)
def test_bootstrap_ci_is_the_percentile_interval_scipy_computes(stat, scipy_stat):
    # Independent reference: scipy.stats.bootstrap(method="percentile") on the same
    # sample. The two draw different resamples, so the ends differ by Monte Carlo error
    # only: with 20000 resamples the sd of a 2.5% quantile of the bootstrap
    # distribution of the mean of 40 N(0, 1) draws is about 0.003 (sqrt(p(1-p)/B) over
    # the density there); the tolerance 0.02 is over 6 such sds per end.
    x = np.random.default_rng(11).normal(size=40)
    ours = bootstrap_ci(x, stat=stat, n_boot=20_000, random_state=0)
    ref = sps.bootstrap(
        (x,),
        scipy_stat,
        method="percentile",
        n_resamples=20_000,
        confidence_level=0.95,
        random_state=1,
        vectorized=True,
    ).confidence_interval
    np.testing.assert_allclose(ours, (ref.low, ref.high), atol=0.02)


def test_bootstrap_ci_of_the_mean_has_the_normal_width():
    # The percentile interval of a mean is about mean +- 1.96 s / sqrt(n); an interval
    # such as (min, max) is ten times wider. n = 400: the bootstrap sd of the mean is
    # s / sqrt(n) up to a factor 1 - O(1/n), and 4000 resamples pin its quantiles within
    # about 2%; the tolerance is 8% of the width.
    x = np.random.default_rng(3).exponential(size=400)  # skewed: not a normal sample
    low, high = bootstrap_ci(x, stat=np.mean, n_boot=4000, random_state=0)
    half = 1.96 * x.std() / np.sqrt(x.size)
    assert low < x.mean() < high
    np.testing.assert_allclose(
        [low, high], [x.mean() - half, x.mean() + half], atol=0.08 * half
    )


def test_summary_table_is_the_median_with_the_bootstrap_of_its_group():
    df = _grid()
    table = summary_table(df, metric="te", by=["n_gs", "d"], n_boot=400, random_state=9)
    assert len(table) == 4 * 4
    for row in table.itertuples():
        values = df[
            (df.n_gs == row.n_gs) & (df.d == row.d) & (df.router == row.router)
        ]["te"]
        assert row.n_rounds == 10
        assert row.median == np.median(values)
        assert (row.ci_low, row.ci_high) == bootstrap_ci(
            values, n_boot=400, random_state=9
        )
    mean = summary_table(df, metric="te", by=["n_gs", "d"], stat="mean")
    assert mean["mean"].iloc[0] == pytest.approx(
        df[(df.n_gs == 100) & (df.d == 50) & (df.router == "random")]["te"].mean(),
        rel=1e-12,
    )
    with pytest.raises(ValueError, match="`stat`"):
        summary_table(df, metric="te", stat="mode")


# -- grid regression with clustered standard errors -----------------------------------------


def _cluster_reference(x: np.ndarray, y: np.ndarray, groups: np.ndarray):
    """Hand-written cluster-robust OLS: sandwich with the G/(G-1) (N-1)/(N-K) correction, t(G-1)."""
    n, k = x.shape
    bread = np.linalg.inv(x.T @ x)
    beta = bread @ x.T @ y
    resid = y - x @ beta
    labels = np.unique(groups)
    meat = np.zeros((k, k))
    for g in labels:
        s = x[groups == g].T @ resid[groups == g]
        meat += np.outer(s, s)
    n_g = len(labels)
    cov = n_g / (n_g - 1) * (n - 1) / (n - k) * bread @ meat @ bread
    se = np.sqrt(np.diag(cov))
    p = 2 * sps.t.sf(np.abs(beta / se), n_g - 1)
    return beta, se, p


def test_grid_regression_equals_a_hand_written_cluster_sandwich():
    rng = np.random.default_rng(8)
    n_rounds, per_round = 12, 6
    rounds = np.repeat(np.arange(n_rounds), per_round)
    treat = np.tile([0, 0, 1, 1, 2, 2], n_rounds)
    y = 0.5 * (treat == 1) + 1.5 * (treat == 2) + rng.normal(size=n_rounds)[rounds]
    y = y + rng.normal(0, 0.3, rounds.size)
    df = pd.DataFrame({"round": rounds, "router": np.array(["random", "pooled", "meta"])[treat],
                       "eg": y})  # fmt: skip
    table = grid_regression(df, "eg ~ C(router, Treatment('random'))").set_index("term")
    x = np.column_stack([np.ones(y.size), treat == 2, treat == 1]).astype(float)
    beta, se, p = _cluster_reference(x, y, rounds)
    terms = ["Intercept", "C(router, Treatment('random'))[T.meta]",
             "C(router, Treatment('random'))[T.pooled]"]  # fmt: skip
    # two implementations of one formula: agreement to rounding (1e-9 relative)
    np.testing.assert_allclose(table.loc[terms, "coef"], beta, rtol=1e-9)
    np.testing.assert_allclose(table.loc[terms, "std_err"], se, rtol=1e-9)
    np.testing.assert_allclose(table.loc[terms, "p_value"], p, rtol=1e-9)
    np.testing.assert_allclose(
        table["p_adjusted"],
        multipletests(table["p_value"], method="holm")[1],
        rtol=1e-12,
    )
    # the known effects (0.5 and 1.5) lie in their 95% intervals (seeded DGP)
    assert table.loc[terms[1], "ci_low"] < 1.5 < table.loc[terms[1], "ci_high"]
    assert table.loc[terms[2], "ci_low"] < 0.5 < table.loc[terms[2], "ci_high"]
    assert table.attrs == {"n_obs": 72, "n_clusters": 12}


def test_grid_regression_needs_clusters():
    df = pd.DataFrame({"round": [0, 0, 0], "x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 2.5]})
    with pytest.raises(ValueError, match="two clusters"):
        grid_regression(df, "y ~ x")
    with pytest.raises(ValueError, match="seed"):
        grid_regression(df, "y ~ x", groups="seed")
