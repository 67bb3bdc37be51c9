"""The metarouter-shift study: one round's rows and the summary's arithmetic."""

import numpy as np
import pandas as pd
import pytest

from simulations.cli import COLUMN_LEGEND, STUDY_NAMES
from simulations.engine import round_seed
from simulations.studies import STUDIES, _metarouter_fits, metarouter_shift_study

CONFIG = {
    "n_gs": 40,
    "n_pb": 600,
    "n_test": 300,
    "shift": 0.5,
    "learner": "default",
    "n_folds": 2,
    "n_holdout": 150,
}


@pytest.fixture(scope="module")
def rows():
    frames = [
        metarouter_shift_study.run_round(CONFIG, round_seed(CONFIG, k)).assign(
            round=k, **CONFIG
        )
        for k in range(2)
    ]
    return pd.concat(frames, ignore_index=True)


def test_registered():
    assert "metarouter-shift" in STUDIES and "metarouter-shift" in STUDY_NAMES
    with pytest.raises(ValueError, match="simulated data, or on a judge directory"):
        metarouter_shift_study.make_configs(data_dir="/nowhere")


@pytest.mark.slow
def test_auto_equals_the_learner_it_chose(rows):
    """auto refits its choice with the router's own seeds: the same MSE exactly."""
    for _, rnd in rows.groupby("round"):
        auto = rnd[rnd["router"] == "auto"].iloc[0]
        chosen = rnd[rnd["router"] == auto["chosen"]].iloc[0]
        assert auto["m_mse"] == chosen["m_mse"]
        assert auto["eg_ppi"] == chosen["eg_ppi"]


def test_auto_row_is_what_metarouter_auto_fits():
    """The study reads auto's choice from the stacked router: MetaRouter('auto')
    with the same seed chooses the same learner and predicts the same numbers."""
    from metarouter import MetaRouter
    from metarouter.datasets import make_shift_data

    config = {**CONFIG, "n_gs": 30, "n_pb": 200, "n_test": 50}
    data = make_shift_data(30, 200, 50, shift=0.5, random_state=1)
    routers, chosen = _metarouter_fits.fit_routers(config, data, 5)
    auto = MetaRouter("auto", None, scale=None, n_folds=2, random_state=5)
    auto.fit(data.X, data.y, data.source)
    assert auto.selected_learner_ == chosen
    np.testing.assert_array_equal(
        auto.predict(data.X_test), routers["auto"].predict(data.X_test)
    )


def _synthetic_rows():
    """Rows of the study's shape with known means (no fitting: fast)."""
    rng = np.random.default_rng(0)
    routers = metarouter_shift_study.ROUTERS
    frames = []
    for k in range(3):
        mse = {r: 0.1 + 0.01 * i + 0.001 * rng.normal() for i, r in enumerate(routers)}
        mse["offset"] = 0.05 + 0.001 * k  # the winner
        frames.append(
            pd.DataFrame(
                {
                    "router": list(routers),
                    "m_mse": [mse[r] for r in routers],
                    "chosen": ["offset" if r == "auto" else r for r in routers],
                    "eg_true": 0.1,
                    "eg_classical": 0.1,
                    "eg_ppi": 0.1,
                    "width_classical": 0.2,
                    "width_ppi": 0.15,
                    "covered_classical": [True] * len(routers),
                    "covered_ppi": [k > 0] * len(routers),
                    "round": k,
                    **{key: CONFIG[key] for key in ("shift", "n_gs", "learner")},
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_summary_arithmetic():
    rows = _synthetic_rows()
    out = metarouter_shift_study.summarise(rows)
    head = out["headline"].iloc[0]
    means = rows.groupby("router")["m_mse"].mean()
    assert head["best"] == "offset"
    assert head["auto/gs-only"] == pytest.approx(means["auto"] / means["gs-only"])
    assert head["auto/best"] == pytest.approx(means["auto"] / means["offset"])
    assert head["stacked/best"] == pytest.approx(means["stacked"] / means["offset"])
    assert head["stacked/gs-only"] == pytest.approx(means["stacked"] / means["gs-only"])
    iv = out["intervals"]
    assert np.allclose(iv["coverage_ppi"], 2 / 3)
    assert np.allclose(iv["width_ratio"], 0.75)
    assert np.allclose(iv["mc_sd"], np.sqrt(0.95 * 0.05 / 3))
    assert out["auto_choices"]["offset"].iloc[0] == 3


@pytest.mark.slow
def test_summary_picks_the_smallest_mean(rows):
    out = metarouter_shift_study.summarise(rows)
    head = out["headline"].iloc[0]
    means = rows.groupby("router")["m_mse"].mean()
    fixed = means.drop(["auto", "stacked"])
    assert head["best"] == fixed.idxmin()
    assert head["auto/gs-only"] == pytest.approx(means["auto"] / means["gs-only"])
    iv = out["intervals"]
    assert set(iv["router"]) == set(metarouter_shift_study.ROUTERS)
    # the PPI interval uses the router's m_hat: narrower than classical when
    # m_hat is informative (measured ratios 0.73-0.98 in the quick grid)
    assert np.all(iv["width_ratio"] < 1.0)


@pytest.mark.slow
def test_coverage_table_small():
    """One setting, 200 replications (about 20 s): coverage, widths, n_eff."""
    table = metarouter_shift_study.coverage_table(200, shifts=(0.5,), sizes=(100,))
    assert len(table) == 6  # 3 quantities x {small-sample, asymptotic}
    assert np.allclose(table["mc_sd"], np.sqrt(0.95 * 0.05 / 200))
    small = table[table["intervals"] == "small-sample"]
    # binomial sd 0.0154 at 200 replications: [0.90, 0.99] is about +-3 sd
    cov = small[["coverage_classical", "coverage_ppi"]].to_numpy()
    assert np.all((cov >= 0.90) & (cov <= 0.99)), small
    # PPI++ uses the meta-router's m_hat, better than a constant: narrower
    assert np.all(small["width_ratio"] < 1.0)
    # log-normal weights with sd 0.5: E[w] = 1, E[w^2] = exp(0.25), so Kish's
    # n_eff is about 100 / exp(0.25) = 77.9 (mean over 200 draws of a ratio:
    # 1.5 rows covers its sampling error and O(1/n) bias)
    assert small["n_eff"].iloc[0] == pytest.approx(100 / np.exp(0.25), abs=1.5)
    # the gain over random has g = 1 - pmur or -pmur: never zero
    gain = small[small["quantity"] == "gain_vs_random"]
    assert gain["nonzero_g"].iloc[0] == 1.0
    with pytest.raises(ValueError, match="`reps`"):
        metarouter_shift_study.coverage_table(150)


def test_every_headline_column_has_a_legend_entry():
    # the CLI prints "see the study documentation" for a column without an entry
    head = metarouter_shift_study.summarise(_synthetic_rows())["headline"]
    legend = {**COLUMN_LEGEND, **head.attrs["legend"]}
    assert set(map(str, head.columns)) <= set(legend)
