"""The racer study reproduces RACER's ablation claims (seed 000, Figure 3 / ablation table).

Claims checked on the simulated judge-routing process (reduced grid, fixed seeds):
ACER (no robustness) exceeds the budget under the OOD-costlier shift while RACER stays
within it; under the OOD-cheaper shift RACER-R spends more of the budget than RACER-C and
is at least as accurate; RACER beats random routing at the same reasoning rate.
"""

import numpy as np
import pandas as pd
import pytest

from simulations.engine import round_seed
from simulations.studies import racer_study

ROUNDS = 2


def _rows(part, budgets, rounds=ROUNDS):
    base = next(
        c for c in racer_study.make_configs(quick=True) if c["part"] == "ablation"
    )
    frames = []
    for budget in budgets:
        config = {
            **base,
            "part": part,
            "budget": budget,
            "n_train": 1500,
            "n_test": 4000,
        }
        frames += [
            racer_study.run_round(config, round_seed(config, k)).assign(
                round=k, **config
            )
            for k in range(rounds)
        ]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def ablation_rows():
    return _rows("ablation", [3.0])


@pytest.fixture(scope="module")
def ablation(ablation_rows):
    return ablation_rows.groupby(["scenario", "router"])[
        ["accuracy", "cost_ratio"]
    ].mean()


def test_ablation_figure_marks_violations(ablation_rows, tmp_path):
    import matplotlib.pyplot as plt

    figs = racer_study.figures(ablation_rows)
    fig = figs["ablation_sim_B3.png"]
    axes = fig.get_axes()
    assert len(axes) == 6  # accuracy and cost rows x three scenarios
    assert [ax.get_ylabel() for ax in axes[:3]] == ["judge accuracy (%)"] * 3
    assert [ax.get_ylabel() for ax in axes[3:]] == [
        "realised cost ratio (x all-instruct)"
    ] * 3
    assert axes[1].get_title().startswith("OOD costlier")
    ticks = [t.get_text() for t in axes[4].get_xticklabels()]
    hatched = dict(zip(ticks, [p.get_hatch() for p in axes[4].patches]))
    # ACER is drawn as over budget under the costlier shift, RACER is not
    assert hatched["ACER"] == "//" and hatched["RACER"] is None
    for f in figs.values():
        plt.close(f)
    paths = racer_study.plot(ablation_rows, tmp_path)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


def test_every_router_in_every_scenario(ablation):
    idx = ablation.index
    assert set(idx.get_level_values(0)) == set(racer_study.SCENARIOS)
    assert set(idx.get_level_values(1)) == set(racer_study.ROUTERS)


def test_constant_routers_bracket_the_costs(ablation):
    # all-instruct costs about 1 (the unit) in distribution; all-reasoning ~5.5 (DGP mean
    # 5.475); 4000 test rows give sampling error ~0.02 and ~0.1, margins 0.1 and 0.4.
    assert (
        abs(ablation.loc[("in_distribution", "all_instruct"), "cost_ratio"] - 1) < 0.1
    )
    assert (
        abs(ablation.loc[("in_distribution", "all_reasoning"), "cost_ratio"] - 5.475)
        < 0.4
    )


def test_acer_violates_under_costlier_shift_racer_does_not(ablation):
    budget = 3.0
    acer = ablation.loc[("ood_costlier", "acer"), "cost_ratio"]
    racer = ablation.loc[("ood_costlier", "racer"), "cost_ratio"]
    racer_c = ablation.loc[("ood_costlier", "racer_c"), "cost_ratio"]
    # Margin 0.05 (about 2 sd of a mean cost over 4000 rows and 2 rounds): ACER must be
    # clearly over budget, the cost-robust variants clearly not.
    assert acer > budget + 0.05
    assert racer < budget - 0.05
    assert racer_c < budget - 0.05


def test_acer_meets_budget_in_distribution(ablation):
    # Not robust but trained on this distribution: within the budget up to sampling and
    # generalisation error (0.15 = 5% of the budget).
    assert abs(ablation.loc[("in_distribution", "acer"), "cost_ratio"] - 3.0) < 0.15


def test_racer_r_spends_the_budget_under_cheaper_shift(ablation):
    cheap = ablation.xs("ood_cheaper")
    # RACER-R keeps ACER's cost calibration and so uses clearly more of the budget than the
    # cost-robust RACER-C (which over-reserves); margin 0.2 cost units.
    assert cheap.loc["racer_r", "cost_ratio"] > cheap.loc["racer_c", "cost_ratio"] + 0.2
    # and buys accuracy with it: at least as accurate up to 0.3 points (sampling sd of a
    # paired accuracy difference over 8000 judged rows is ~0.2 points)
    assert cheap.loc["racer_r", "accuracy"] > cheap.loc["racer_c", "accuracy"] - 0.3


def test_routing_beats_random_at_same_cost_on_the_curve():
    rows = _rows("curve", [2.5, 4.0])
    routed = rows[rows["router"].isin(["acer", "racer"])].set_index(
        ["budget", "round", "router"]
    )
    rnd = rows[rows["router"] == "random"].set_index(["budget", "round", "matched_to"])
    rnd.index = rnd.index.set_names("router", level=2)
    # random routing is evaluated at each router's realised cost (float tolerance)
    np.testing.assert_allclose(
        rnd.loc[routed.index, "cost_ratio"], routed["cost_ratio"], rtol=1e-9
    )
    gain = (
        (routed["accuracy"] - rnd.loc[routed.index, "accuracy"])
        .groupby(level=["budget", "router"])
        .mean()
    )
    # Instance-level routing beats random activation at the same cost (seed 000: random
    # is the chord, RACER's curve concave). ACER by at least 1 point; RACER, whose
    # worst-case reweighting steers it away from the costly domains where reasoning helps
    # most, by a smaller but positive margin (0.1 point; the accuracy of a paired
    # difference over 4000 queries and 2 rounds has sd ~0.1-0.2 points).
    assert (gain.xs("acer", level="router") > 1.0).all(), gain
    assert (gain.xs("racer", level="router") > 0.1).all(), gain
    paired = racer_study.summarise(rows)["curve_paired"]
    assert len(paired) == 4 and paired["diff"].gt(0).all()
    fig = racer_study.figures(rows)["cost_accuracy_sim.png"]
    ax = fig.get_axes()[0]
    assert ax.get_xlabel() == "realised cost ratio (x all-instruct cost)"
    assert ax.get_ylabel() == "judge accuracy (%)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "RACER (both)" in labels and labels[0].startswith("random")


def test_beta_table_keeps_budget_in_distribution():
    rows = _rows("beta", [2.0], rounds=1)  # four RACER fits, the beta=0 one is slow
    table = racer_study.summarise(rows)["beta"]
    assert table["beta_label"].iloc[0] == f"0 (run as {racer_study.BETA_ZERO:g})"
    # every beta keeps RACER within its budget on in-distribution test queries
    # (margin: 5% of the budget for generalisation error)
    assert (table["cost_C=2"] < 2.0 * 1.05).all()
    # and beta = 0 (nearly hard constraint) spends no more than beta = 0.05
    assert table["cost_C=2"].iloc[0] <= table["cost_C=2"].iloc[-1] + 0.05
