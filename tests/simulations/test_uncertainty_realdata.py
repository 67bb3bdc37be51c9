"""The uncertainty study on the shared judge-escalation pairs (``--data``)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulations.engine import round_seed
from simulations.studies import escalation_realdata, uncertainty_study

JUDGE = Path("/work/shared/data/judge-escalation")
pytestmark = pytest.mark.skipif(not JUDGE.is_dir(), reason="shared data not present")


def test_data_flag_is_used_not_ignored(tmp_path):
    config = uncertainty_study.make_configs(True, str(JUDGE))[0]
    assert config["dataset"] == "judge-escalation"
    with pytest.raises(ValueError, match="pairs.csv"):
        uncertainty_study.make_configs(True, str(tmp_path))


@pytest.fixture(scope="module")
def rows():
    config = uncertainty_study.make_configs(True, str(JUDGE))[0]
    out = uncertainty_study.run_round(config, round_seed(config, 0))
    return out.assign(round=0, **config)


def test_one_split_is_consistent(rows):
    wide = rows.pivot_table(index="call_fraction", columns="router", values="accuracy")
    assert rows["n_train"].iloc[0] == 300 and rows["n_test"].iloc[0] == 200
    # the oracle bounds every router at equal calls; nothing is below all-cheap
    # minus the strong judge's losses (the oracle never routes a loss)
    for name in escalation_realdata.ROUTERS:
        assert (wide[name] <= wide["oracle"] + 1e-9).all()
    cheap = rows["acc_cheap"].iloc[0]
    assert (wide["oracle"] > cheap).all()
    # random in expectation: linear in the calls between all-cheap and all-strong
    strong = rows["acc_strong"].iloc[0]
    np.testing.assert_allclose(
        wide["random"], cheap + wide.index * (strong - cheap), atol=0.3
    )


def test_summary_reports_paired_differences_with_two_standard_errors(rows):
    two = rows.assign(round=1)
    both = pd.concat([rows, two], ignore_index=True)
    tables = uncertainty_study.summarise(both)
    assert list(tables) == ["headline", "vs_random", "vs_margin", "detection_auc"]
    auc = tables["detection_auc"].set_index("router")["auc_cheap_wrong"]
    assert set(auc.index) == {"escalation", "p_wrong", "margin", "variance_only"}
    assert ((auc > 0) & (auc < 1)).all()
    vm = tables["vs_margin"]
    # identical rounds: every difference has sd 0
    assert (vm["se_naive"] == 0).all() and (vm["se_corrected"] == 0).all()
