"""The metarouter-shift study on real judges (``--data`` a judge directory)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulations.engine import round_seed
from simulations.studies import (
    _metarouter_fits,
    metarouter_judges,
    metarouter_shift_study,
)

JUDGE = Path("/work/shared/data/judge-escalation")
needs_data = pytest.mark.skipif(not JUDGE.is_dir(), reason="shared data not present")


def test_short_design_tilts_the_gs_pairs_towards_short_prompts():
    rng = np.random.default_rng(0)
    length = rng.normal(size=2000)
    train = np.arange(1500)
    short = metarouter_judges.gs_rows(train, 300, "short", length, rng)
    plain = metarouter_judges.gs_rows(train, 300, "random", length, rng)
    assert np.unique(short).size == 300 and np.isin(short, train).all()
    # expit(-2 z) weights: the GS mean of z is about -0.7 (a plain sample's sd of
    # the mean is 1 / sqrt(300) = 0.06, so -0.4 is over 6 sds from 0)
    assert length[short].mean() < -0.4
    assert abs(length[plain].mean()) < 0.25


@pytest.mark.parametrize(
    ("n_gs", "design", "match"),
    [(1, "random", "n_gs"), (10, "random", "n_gs"), (3, "long", "gs_design")],
)
def test_bad_gs_arguments_name_themselves(n_gs, design, match):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=match):
        metarouter_judges.gs_rows(np.arange(10), n_gs, design, np.arange(10.0), rng)


def test_paired_differences_match_the_hand_computation():
    rows = pd.DataFrame(
        {
            "judge": "j",
            "n_gs": 50,
            "gs_design": "random",
            "round": np.repeat([0, 1, 2], 2),
            "router": ["gs-only", "auto"] * 3,
            "held_out_error": [1.0, 0.9, 1.2, 0.8, 1.1, 1.0],
            "n_test": 200,
            "n_train": 300,
        }
    )
    out = metarouter_judges.paired_differences(rows, "held_out_error", "gs-only")
    d = np.array([-0.1, -0.4, -0.1])
    sd = d.std(ddof=1)
    row = out.iloc[0]
    assert row["router"] == "auto" and row["splits"] == 3
    assert row["diff_vs_gs-only"] == pytest.approx(d.mean(), abs=1e-12)
    assert row["se_naive"] == pytest.approx(sd / np.sqrt(3))
    assert row["se_corrected"] == pytest.approx(sd * np.sqrt(1 / 3 + 200 / 300))


@needs_data
def test_data_flag_takes_a_judge_directory_and_refuses_others(tmp_path):
    configs = metarouter_shift_study.make_configs(True, str(JUDGE))
    assert {c["gs_design"] for c in configs} == {"random", "short"}
    assert all(c["dataset"] == "judge-escalation" for c in configs)
    full = metarouter_shift_study.make_configs(False, str(JUDGE))
    assert {c["judge"] for c in full} == {
        "mistral-7b-instruct",
        "gpt-3.5-turbo",
        "gpt-4-turbo",
    }
    with pytest.raises(ValueError, match="judge directory"):
        metarouter_shift_study.make_configs(True, str(tmp_path))


@needs_data
def test_one_split_labels_gs_by_humans_pb_by_the_judge_and_never_sees_test_pairs(
    monkeypatch,
):
    from simulations import realdata
    from simulations.studies import escalation_realdata

    config = {
        **metarouter_shift_study.make_configs(True, str(JUDGE))[1],
        "n_gs": 60,
        "n_folds": 2,
    }
    seen = {}
    real_routers, real_featuriser = (
        _metarouter_fits.fit_routers,
        realdata.make_featuriser,
    )

    def routers(config, data, seed):
        seen["data"] = data
        return real_routers(config, data, seed)

    def featuriser(*args, **kwargs):
        pipe = real_featuriser(*args, **kwargs)
        fit = pipe.fit

        def recording_fit(texts, *a, **k):
            seen["fit_texts"] = list(texts)
            return fit(texts, *a, **k)

        pipe.fit = recording_fit
        return pipe

    monkeypatch.setattr(_metarouter_fits, "fit_routers", routers)
    monkeypatch.setattr(realdata, "make_featuriser", featuriser)
    rows = metarouter_judges.run_round(config, round_seed(config, 0))

    table = escalation_realdata.load_table(str(JUDGE))
    gold = table.gold
    data = seen["data"]
    gs = data.source == 1
    assert gs.sum() == 60
    # GS labels are human verdicts (+-1); PB labels are the judge's graded 2 p - 1
    assert set(np.unique(data.y[gs])) <= {-1.0, 1.0}
    judge = 2 * table.probability(config["judge"]) - 1
    assert np.isin(data.y[~gs], judge).all()
    assert not np.isin(data.y[~gs], [-1.0, 1.0]).all()
    # the text features were fitted on the training pairs alone
    n_pairs = int((gold != 0.5).sum())
    assert len(seen["fit_texts"]) == rows["n_train"].iloc[0] == round(0.6 * n_pairs)
    assert rows["n_train"].iloc[0] + rows["n_test"].iloc[0] == n_pairs
    texts = escalation_realdata.pair_texts(table.frame)
    test_texts = set(texts) - set(seen["fit_texts"])
    assert len(test_texts) >= rows["n_test"].iloc[0] - 5  # (a few pairs repeat a text)
    # every router scored; the floor is the GS mean: its error is at least the
    # test labels' variance (a constant's MSE is variance plus squared bias)
    err = rows.set_index("router")["held_out_error"]
    assert set(err.index) == {*_metarouter_fits.ROUTERS, "constant"}
    assert err["constant"] >= 1 - rows["n_test"].iloc[0] ** -0.5
    acc = rows.set_index("router")["accuracy"]
    assert ((acc >= 0) & (acc <= 100)).all()

    tables = metarouter_shift_study.summarise(rows.assign(round=0, **config))
    assert list(tables) == [
        "headline",
        "vs_gs_only",
        "vs_pooled",
        "accuracy",
        "auto_choices",
    ]
