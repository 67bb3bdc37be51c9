"""Study ``racer-models``: the hull against hand-computed values, and one round on the
simulated K-arm process (the real-data run needs ``--data``; see the note)."""

import numpy as np
import pandas as pd
import pytest

from simulations.cli import COLUMN_LEGEND
from simulations.studies import STUDIES
from simulations.studies.racer_models_study import (
    hull_accuracy,
    make_configs,
    run_round,
    summarise,
)


def test_hull_is_the_non_decreasing_upper_concave_envelope():
    costs = [1.0, 2.0, 4.0, 3.0, 8.0]
    acc = [0.5, 0.6, 0.9, 0.55, 0.85]
    # (1, .5) -> (4, .9): the chord passes above (2, .6) (0.633) and (3, .55)
    assert hull_accuracy(costs, acc, 2.0) == pytest.approx(0.5 + 0.4 / 3)
    assert hull_accuracy(costs, acc, 4.0) == pytest.approx(0.9)
    # non-decreasing: the dearer, worse model (8, .85) is not on it: flat at .9
    assert hull_accuracy(costs, acc, 8.0) == pytest.approx(0.9)
    assert hull_accuracy(costs, acc, 100.0) == pytest.approx(0.9)
    # every single model lies on or under the hull
    for c, a in zip(costs, acc):
        assert a <= hull_accuracy(costs, acc, c) + 1e-12


def test_one_round_on_the_simulated_process_meets_the_budget_and_beats_the_hull():
    assert "racer-models" in STUDIES
    config = make_configs(quick=True)[0]
    assert config["data"] == "sim"
    rows = run_round(config, np.random.SeedSequence(3))
    racer = rows[rows["router"] == "racer"].iloc[0]
    # 1,800 test rows: over seeds 0-5 the realised cost was within 6% of the
    # budget (sd ~4%); the tolerance is 10%
    assert abs(racer["cost_deviation"]) <= 0.1
    # the premium arm helps only where feature 0 is positive: routing on it beats
    # any mix of single arms; over seeds 0-5 the gain was 0.011-0.029 (mean 0.020,
    # sd 0.007), so > 0 holds with ~3 sd to spare
    assert racer["gain_over_hull"] > 0
    singles = rows[rows["router"] != "racer"]
    assert len(singles) == 3 and (singles["gain_over_hull"] <= 1e-12).all()
    table = summarise(rows.assign(budget_fraction=config["budget_fraction"]))
    head = table["racer_models"]
    assert isinstance(head, pd.DataFrame) and head["rounds"].iloc[0] == 1
    assert head["above_hull"].iloc[0] == 1.0


def test_every_headline_column_has_a_legend_entry():
    # the CLI prints "see the study documentation" for a column without an entry
    rows = pd.DataFrame(
        {
            "router": ["racer", "racer", "m0", "m1"],
            "budget_fraction": [0.2, 0.2, 0.2, 0.2],
            "budget": [3.0, 3.0, np.nan, np.nan],
            "accuracy": [0.7, 0.72, 0.6, 0.8],
            "cost": [2.9, 3.1, 1.0, 10.0],
            "cost_deviation": [-0.03, 0.03, np.nan, np.nan],
            "hull_accuracy": [0.69, 0.7, np.nan, np.nan],
            "gain_over_hull": [0.01, 0.02, np.nan, np.nan],
        }
    )
    head = summarise(rows)["racer_models"]
    legend = {**COLUMN_LEGEND, **head.attrs["legend"]}
    assert set(map(str, head.columns)) <= set(legend)
