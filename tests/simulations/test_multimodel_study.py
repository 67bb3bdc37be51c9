"""The multimodel study on its simulated K-model process (known gains, biased judge)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from simulations.cli import STUDY_NAMES
from simulations.engine import round_seed
from simulations.studies import STUDIES, multimodel_study

CONFIG = {
    "data": "sim",
    "data_dir": None,
    "scenario": "in_distribution",
    "models": "sim4",
    "n_gs": 300,
    "n_pb": 1000,
    "n_test": 600,
    "n_folds": 3,
}


@pytest.fixture(scope="module")
def rows():
    frames = [
        multimodel_study.run_round(CONFIG, round_seed(CONFIG, k)).assign(
            round=k, **CONFIG
        )
        for k in range(2)
    ]
    return pd.concat(frames, ignore_index=True)


def test_registered():
    assert "multimodel" in STUDY_NAMES
    assert STUDIES["multimodel"].run_round is multimodel_study.run_round


@pytest.mark.slow
def test_rows_and_budget_points(rows):
    curve = rows[rows["kind"] == "curve"]
    assert set(curve["router"]) == set(multimodel_study.ROUTERS)
    models = rows[(rows["kind"] == "model") & (rows["round"] == 0)]
    # every query goes to one model at cost 1..4: mean cost lies in [1, 4]
    assert curve["cost"].between(1.0, 4.0).all()
    np.testing.assert_allclose(np.sort(models["cost"]), [1.0, 2.0, 3.0, 4.0])
    budget = rows[rows["kind"] == "budget"]
    assert set(budget["router"]) == set(
        multimodel_study.ROUTERS + multimodel_study.BASELINES
    )
    # the best single model within budget costs at most the budget (constant costs)
    best = budget[budget["router"] == "best_single"]
    assert (best["cost"] <= best["budget"] + 1e-12).all()
    # random mixing spends the budget exactly when costs are constant per model
    mix = budget[budget["router"] == "random_mixing"]
    np.testing.assert_allclose(mix["cost"], mix["budget"], atol=1e-12)


@pytest.mark.slow
def test_meta_router_beats_uncorrected_and_mixing(rows):
    tables = multimodel_study.summarise(rows)
    head = tables["headline"].set_index("router")
    # the judge favours family "a" and longer answers: pooling PB verdicts without
    # correction misranks; measured AIQ meta 0.59 vs pooled 0.58, mixing 0.49
    assert head.loc["meta_r", "aiq"] > head.loc["pooled", "aiq"]
    assert head.loc["meta_r", "aiq"] > head.loc["random_mixing", "aiq"] + 0.05
    assert head.loc["meta_r", "gain_over_mixing_at_b25"] > 0


@pytest.mark.slow
def test_figure_draws_round_zero_curves(rows):
    figs = multimodel_study.figures(rows)
    (fig,) = figs.values()
    ax = fig.axes[0]
    by_label = {line.get_label(): line for line in ax.get_lines()}
    first = rows[(rows["round"] == 0) & (rows["kind"] == "curve")]
    meta = first[first["router"] == "meta_r"].sort_values("cost", kind="stable")
    np.testing.assert_allclose(by_label["meta_r"].get_xdata(), meta["cost"])
    np.testing.assert_allclose(by_label["meta_r"].get_ydata(), meta["quality"])
    plt.close("all")


@pytest.mark.slow
def test_karm_racer_keeps_the_budget_and_beats_random_mixing(rows):
    budget = rows[rows["kind"] == "budget"]
    racer = budget[budget["router"] == "racer_k"].set_index(["round", "budget_frac"])
    mix = budget[budget["router"] == "random_mixing"].set_index(
        ["round", "budget_frac"]
    )
    # costs are constant per model and train and test queries come from one process:
    # the robust policy's expected test cost stays under the budget (5% for the test
    # set's sampling of query features); measured 0.75-0.95 of it
    assert (racer["cost"] <= 1.05 * racer["budget"]).all()
    # at the same budget it beats random mixing of single models on average
    # (measured +0.02 to +0.14 accuracy; a per-query policy against a per-model mix)
    gain = (racer["quality"] - mix["quality"]).groupby(level="budget_frac").mean()
    assert (gain > 0).all()
