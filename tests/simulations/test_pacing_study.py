"""The pacing study: paced routers hold the budget on shifted streams, static ones need not."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulations.cli import COLUMN_LEGEND
from simulations.engine import round_seed
from simulations.studies import STUDIES, pacing_study

JUDGE = Path("/work/shared/data/judge-escalation")


def test_configs_follow_the_data_directory(tmp_path):
    assert pacing_study.make_configs(True, None)[0]["data"] == "simulated"
    (tmp_path / "pairs.csv").write_text("x\n")
    with pytest.raises(ValueError, match="pairs.csv.*missing"):
        pacing_study.make_configs(True, str(tmp_path))  # read when configured
    (tmp_path / "pairs.csv").write_text(
        "pair_id,instruction,output_a,output_b,human_prefers_b,p_b_small,p_b_big\n"
        + "".join(f"{i},q,a,b,1,0.7,0.9\n" for i in range(25))
    )
    config = pacing_study.make_configs(True, str(tmp_path))[0]
    assert config["data"] == "judge-escalation"
    # judges other than the shared file's: the first column is the cheap judge
    assert (config["cheap_judge"], config["strong_judge"]) == ("small", "big")
    (tmp_path / "pairs.csv").unlink()
    (tmp_path / "mbpp_test.csv").write_text("x\n")
    with pytest.raises(ValueError, match="one task"):
        pacing_study.make_configs(True, str(tmp_path))
    (tmp_path / "gsm8k_train.csv").write_text("x\n")
    assert pacing_study.make_configs(True, str(tmp_path))[0]["data"] == "routerbench"
    (tmp_path / "mbpp_test.csv").unlink()
    (tmp_path / "gsm8k_train.csv").unlink()
    with pytest.raises(ValueError, match="pacing study needs"):
        pacing_study.make_configs(True, str(tmp_path))
    assert STUDIES["pacing"].run_round is pacing_study.run_round


@pytest.fixture(scope="module")
def simulated_rows():
    config = {"data": "simulated", "budget": 3.0, "n_train": 800, "n_test": 2000}
    rows = pacing_study.run_round(config, round_seed(config, 0))
    return rows.assign(round=0, **config)


@pytest.mark.slow  # three RacerRouter fits: about 20 s
def test_paced_routers_hold_the_budget_on_the_costlier_shift(simulated_rows):
    paced = simulated_rows[simulated_rows["mode"] == "paced"]
    static = simulated_rows[simulated_rows["mode"] == "static"].set_index("router")
    # BudgetPacer's cap: running mean cost after 10% of the stream <= B (plus one
    # query's excess over its cost bound / 0.1 T: under 2% here); >= 90% used.
    assert (paced["max_running_cost_after_10pct"] <= 1.02).all()
    assert (paced["cost_over_budget"] >= 0.9).all()
    # the static non-robust policy overspends on the costlier stream (measured 1.5x)
    assert static.loc["acer", "cost_over_budget"] > 1.1
    head = pacing_study.summarise(simulated_rows)["headline"]
    assert set(head["mode"]) == {"static", "paced"} and len(head) == 6


@pytest.mark.slow
@pytest.mark.skipif(not JUDGE.is_dir(), reason="shared judge data not present")
def test_judge_escalation_length_shift_runs_paced_escalation():
    config = pacing_study.make_configs(False, str(JUDGE))[0]
    rows = pacing_study.run_round(config, round_seed(config, 0))
    esc = rows[rows["router"] == "escalation"]
    assert set(esc["mode"]) == {"paced", "paced_known_cost"} and len(esc) == 4
    assert (rows.loc[rows["mode"] == "paced", "cost_over_budget"] <= 1.02).all()
    # the strong judge's cost (its input tokens) is known before the call: with it as
    # a per-query cost bound the running mean never exceeds B (up to rounding)
    known = rows[rows["mode"] == "paced_known_cost"]
    assert (known["max_running_cost_after_10pct"] <= 1 + 1e-12).all()
    assert (known["calls_above_cost_bound"] == 0).all()
    assert isinstance(
        pacing_study.summarise(rows.assign(round=0))["headline"], pd.DataFrame
    )
    assert np.isfinite(rows["accuracy"]).all()


def test_every_headline_column_has_a_legend_entry():
    # the CLI prints "see the study documentation" for a column without an entry;
    # summarise on a hand-made frame with every column run_round writes
    rows = pd.DataFrame(
        {
            "data": ["simulated"] * 2,
            "stream": ["s"] * 2,
            "router": ["acer"] * 2,
            "mode": ["static", "paced"],
            "cost_over_budget": [1.2, 0.98],
            "max_running_cost_after_10pct": [np.nan, 0.99],
            "calls_above_cost_bound": [np.nan, 0.0],
            "used_of_spendable": [np.nan, 0.97],
            "used_of_reachable": [np.nan, 0.98],
            "accuracy": [70.0, 68.0],
            "gain_vs_random_equal_cost": [1.0, 0.5],
            "strong_rate": [0.4, 0.25],
            "round": [0, 0],
        }
    )
    head = pacing_study.summarise(rows)["headline"]
    legend = {**COLUMN_LEGEND, **head.attrs["legend"]}
    assert set(map(str, head.columns)) <= set(legend)


def test_reachable_spend_is_the_greedy_under_the_budget_line():
    # Worked by hand, B = 1: the strong arm's costs 0, 3, 9, 2, and the third query
    # gains nothing. Under the line B (t + 1) = 1, 2, 3, 4 the most a pacer can have
    # spent is 0, then min(2, 0 + 3) = 2 (only part of the second query fits), then 2
    # (nothing to buy), then min(4, 2 + 2) = 4: all of B T = 4.
    class Gains:
        def predict_arm_values(self, X):
            g = np.asarray(X, float)[:, 0]
            return np.column_stack([0 * g, g]), np.column_stack([0 * g, 1 + 0 * g])

    stream = {
        "X": np.array([[1.0], [1.0], [-1.0], [1.0]]),
        "costs": np.array([[0.0, 0.0], [0.0, 3.0], [0.0, 9.0], [0.0, 2.0]]),
    }
    assert pacing_study._cap_spendable(Gains(), stream, 1.0) == 1.0
    stream["costs"][3, 1] = 1.0  # 2 + 1 = 3 of a line of 4: 3 / 4
    assert pacing_study._cap_spendable(Gains(), stream, 1.0) == 0.75
