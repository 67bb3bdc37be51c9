"""The metarouter study reproduces seed 003's claims on its simulated process.

Claims (section 4, Figures 1-4): with scarce GS data and a heterogeneous GS-PB bias, the
meta-routers beat the pooled router and the GS-only router in efficiency gain over random
routing, and the R-learner variant is at least as good as the DR variant. The simulated
process knows the true quality gain m(q), so the routers' estimation error is checked
against it as well.
"""

import numpy as np
import pandas as pd
import pytest

from simulations.engine import round_seed
from simulations.studies import STUDIES, metarouter_study

# n_gs = 100 GS rows against 3000 PB rows in 10 dimensions: GS is scarce, and the DGP's
# bias Delta(q) = 0.1 + 0.4 tanh(2 z4) is heterogeneous and reorders queries
# (metarouter.datasets).
ROUNDS = 4
CONFIG = {
    "bias": "heterogeneous",
    "n_test": 500,
    "n_folds": 3,
    "data": "sim",
    "data_dir": None,
    "n_gs": 100,
    "d": 10,
    "learner": "xgb_small",
    "n_pb": 3000,
}


@pytest.fixture(scope="module")
def rows():
    frames = [
        metarouter_study.run_round(CONFIG, round_seed(CONFIG, k)).assign(
            round=k, **CONFIG
        )
        for k in range(ROUNDS)
    ]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def mean_eg(rows):
    per_round = metarouter_study.per_round_mean_eg(rows)
    return per_round.groupby("router")["mean_eg"].mean()


def test_rows_cover_every_router_and_level(rows):
    assert set(rows["router"]) == set(metarouter_study.ROUTERS)
    counts = rows.groupby(["round", "router"]).size()
    assert (counts == len(metarouter_study.PMUR_LEVELS)).all()


def test_total_efficiency_definition(rows):
    # every router is evaluated at k = round(p n) premium queries
    np.testing.assert_allclose(
        rows["pmur_realised"], rows["pmur"], atol=1 / 500 + 1e-12
    )
    # the random router's TE is its expectation k / n * sum(r): TE / PMUR is the same at
    # every level of a round (float tolerance)
    rnd = rows[rows["router"] == "random"]
    ratio = (rnd["te"] / rnd["pmur_realised"]).groupby(rnd["round"])
    assert (ratio.max() - ratio.min()).max() < 1e-9


def test_eg_table_matches_metarouter_efficiency_gain():
    # The study's EG (from stored per-round TE) equals metarouter.efficiency_gain computed
    # directly from the scores: one definition, two paths.
    from metarouter import efficiency_gain
    from simulations.studies import _common

    rng = np.random.default_rng(3)
    n, levels = 200, np.asarray(metarouter_study.PMUR_LEVELS)
    r = [rng.normal(size=n) for _ in range(5)]
    scores = [ri + rng.normal(scale=2.0, size=n) for ri in r]
    frames = []
    for k, (s, ri) in enumerate(zip(scores, r)):
        for name, sc in (("meta_r", s), ("random", None)):
            te, real = (
                _common.te_at_pmur(sc, ri, levels)
                if sc is not None
                else _common.random_te_at_pmur(ri, levels)
            )
            frames.append(
                pd.DataFrame(
                    {
                        "router": name,
                        "pmur": levels,
                        "te": te,
                        "pmur_realised": real,
                        "m_mse": np.nan,
                        "n_test_rows": n,
                        "round": k,
                        **{c: CONFIG[c] for c in metarouter_study.SETTING},
                    }
                )
            )
    table = metarouter_study.efficiency_gain_table(pd.concat(frames), n_boot=50)
    ours = table[table["router"] == "meta_r"]["eg"].to_numpy()
    theirs = efficiency_gain(scores, r, pmur=levels)["eg"].to_numpy()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def _eg(rows):
    per_round = metarouter_study.per_round_mean_eg(rows)
    return per_round.pivot_table(index="round", columns="router", values="mean_eg")


def test_meta_router_beats_gs_only_when_gs_is_scarce(rows):
    eg = _eg(rows)
    # Mean EG over the PMUR grid (quality gain per test query), paired over rounds. The
    # meta-router's advantage over GS-only at n_gs = 100 is small in this DGP (measured
    # 0.005 over 8 rounds, SE 0.0012), so we ask for a positive mean paired difference;
    # the estimation error of m (below) is the sharper check.
    assert (eg["meta_r"] - eg["gs_only"]).mean() > 0.0
    assert eg["meta_r"].mean() > 0.03


def test_meta_router_beats_pooled_in_eg_when_gs_is_scarce(rows):
    # the pooled router ranks queries by the biased PB mechanism: measured paired
    # advantage of the R meta-router 0.028 over 8 rounds (SE 0.0008); 0.01 leaves
    # more than ten standard errors of room for 4 rounds
    eg = _eg(rows)
    assert (eg["meta_r"] - eg["pooled"]).mean() > 0.01


def test_r_learner_at_least_as_good_as_dr(mean_eg, rows):
    # "at least as good" within a margin of 0.005 EG (about two per-round sd of the
    # paired difference)
    assert mean_eg["meta_r"] >= mean_eg["meta_dr"] - 0.005
    mse = rows.groupby("router")["m_mse"].median()
    assert mse["meta_r"] <= mse["meta_dr"]


def test_oracle_bounds_the_learned_routers(mean_eg):
    # the oracle sees GS outcomes for every training query (same margin as above)
    for router in ("meta_r", "meta_dr", "pooled", "gs_only"):
        assert mean_eg["oracle"] >= mean_eg[router] - 0.01


def test_meta_router_estimates_m_better_than_pooled_and_gs_only(rows):
    # independent truth: the DGP's m(q) on the test queries. Measured medians: meta_r
    # ~0.048, GS-only ~0.055, pooled ~0.084 (the bias); the pooled margin is 0.02.
    mse = rows.groupby("router")["m_mse"].median()
    assert mse["meta_r"] < mse["pooled"] - 0.02
    assert mse["meta_r"] < mse["gs_only"]


def test_summary_tables_and_figure(rows, tmp_path):
    tables = metarouter_study.summarise(rows)
    assert next(iter(tables)) == "headline"
    head = tables["headline"].set_index("router")
    assert "random" not in head.index
    # the headline's mean EG is the average over PMUR of the EG curve
    eg = tables["efficiency_gain"]
    curve_mean = eg[eg["router"] == "meta_r"]["eg"].mean()
    assert head.loc["meta_r", "paper_eg"] == pytest.approx(curve_mean, rel=1e-12)
    # the mean EG lies inside its own bootstrap interval
    assert head.loc["meta_r", "ci_low"] <= head.loc["meta_r", "mean_eg"]
    assert head.loc["meta_r", "mean_eg"] <= head.loc["meta_r", "ci_high"]
    # the EG of random against itself is exactly zero at every level
    assert np.all(eg.loc[eg["router"] == "random", "eg"] == 0)
    fig = metarouter_study.figures(rows)["eg_vs_pmur_sim_d10_xgb_small.png"]
    (ax,) = fig.get_axes()  # one panel: one GS sample size in this test
    assert ax.get_title() == "GS sample size n = 100"
    assert ax.get_xlabel() == "PMUR (share of queries sent to premium)"
    assert ax.get_ylabel() == "EG vs random (quality gain per query)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "meta-router (R-learner)" in legend and "pooled GS+PB" in legend
    assert len(legend) == 5  # every router except random (the zero line)
    # the panel is an EfficiencyGainDisplay of the EG table: lines and bands drawn
    eg = metarouter_study.efficiency_gain_table(rows, n_boot=400)
    meta = eg[(eg["router"] == "meta_r") & (eg["n_gs"] == 100)].sort_values("pmur")
    (line,) = [
        ln for ln in ax.get_lines() if ln.get_label() == "meta-router (R-learner)"
    ]
    np.testing.assert_allclose(line.get_ydata(), meta["eg"].to_numpy(float))
    assert len(ax.collections) == 5  # one shaded band per router
    paths = metarouter_study.plot(rows, tmp_path)
    assert len(paths) == 1 and paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quick_grid_is_smaller_than_the_paper_grid():
    study = STUDIES["metarouter"]
    full, quick = study.make_configs(False, None), study.make_configs(True, None)
    assert len(full) == 12  # n_gs {100, 500, 1000} x d {50, 100} x {rf, xgb}
    assert {c["n_gs"] for c in full} == {100, 500, 1000}
    assert len(quick) < len(full)


@pytest.mark.slow
def test_quick_grid_end_to_end_through_run_study(tmp_path):
    # The README's main job (quick metarouter grid), 2 rounds, serial: the stored rows
    # are the rounds' own, and the headline has every non-random router per setting.
    from simulations.engine import run_study

    study = STUDIES["metarouter"]
    rows = run_study(
        study, quick=True, rounds=2, backend="serial", out_dir=tmp_path, quiet=True
    )
    configs = study.make_configs(True, None)
    assert rows["config_hash"].nunique() == len(configs)
    assert rows.groupby("config_hash")["round"].nunique().eq(2).all()
    head = study.summarise(rows)["headline"]
    assert len(head) == len(configs) * (len(metarouter_study.ROUTERS) - 1)
    assert study.plot(rows, tmp_path)[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
