"""The racer study's verdicts account for the budget; its figures share scales from zero."""

import numpy as np
import pandas as pd
import pytest

from simulations.studies import _common, racer_study

#: (router, mean accuracy, mean cost ratio) at budget 3: random and ACER spend more than
#: the budget, RACER keeps it with lower accuracy, kNN keeps it with higher accuracy.
ROUTERS = [
    ("random", 80.0, 3.9),
    ("acer", 85.0, 4.2),
    ("racer", 70.0, 2.5),
    ("knn", 90.0, 2.9),
    ("all_reasoning", 95.0, 7.0),
]


def ablation_rows(n_rounds=8, budget=3.0, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_rounds):
        for router, accuracy, cost in ROUTERS:
            # noise far below the gaps: sd 0.5 points of accuracy, 0.02 of cost ratio,
            # so every verdict below is decided (paired t over 8 rounds, Holm)
            rows.append(
                {
                    "data": "sim",
                    "part": "ablation",
                    "budget": budget,
                    "scenario": "ood_costlier",
                    "router": router,
                    "round": k,
                    "accuracy": accuracy + rng.normal(0, 0.5),
                    "cost_ratio": cost + rng.normal(0, 0.02),
                    "reasoning_rate": cost / 7.0,
                    "over_budget": cost > budget,
                }
            )
    return pd.DataFrame(rows)


def test_budget_verdict_rules():
    got = _common.budget_verdict(
        ["better", "worse", "worse", "better", None],
        [True, False, False, False, True],
        [False, True, False, False, True],
    )
    assert got[:4].tolist() == [
        "breaks budget",  # accuracy bought with cost over the budget
        "baseline breaks budget",  # never "worse" than an infeasible baseline
        "worse",  # both feasible: accuracy decides
        "better",
    ]
    assert pd.isna(got[4])  # no comparison (the baseline itself) stays empty


def test_ablation_verdicts_against_random_account_for_the_budget():
    head = racer_study.summarise(ablation_rows())["ablation"].set_index("router")
    assert head.loc["random", "violates_budget"] and head.loc["acer", "violates_budget"]
    assert not head.loc["racer", "violates_budget"]
    # accuracy alone: ACER beats random, RACER loses to it
    assert head.loc["acer", "vs_random_accuracy"] == "better"
    assert head.loc["racer", "vs_random_accuracy"] == "worse"
    # with the budget: ACER's gain was bought over budget; RACER is feasible, random not
    assert head.loc["acer", "vs_random"] == "breaks budget"
    assert head.loc["racer", "vs_random"] == "baseline breaks budget"
    assert head.loc["knn", "vs_random"] == "baseline breaks budget"
    # the best other router of RACER is kNN (feasible, more accurate): a plain "worse"
    assert head.loc["racer", "best_other"] == "knn"
    assert head.loc["racer", "vs_best"] == "worse"
    # intervals of both means are reported and contain them
    for metric, prefix in (("accuracy", "accuracy"), ("cost_ratio", "cost")):
        assert (head[f"{prefix}_ci_low"] <= head[metric]).all()
        assert (head[metric] <= head[f"{prefix}_ci_high"]).all()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_ablation_figure_axes_start_at_zero_share_one_scale_and_show_intervals():
    rows = pd.concat(
        [
            ablation_rows(),
            ablation_rows(seed=1).assign(
                scenario="in_distribution", cost_ratio=lambda d: d["cost_ratio"] * 0.5
            ),
        ],
        ignore_index=True,
    )
    figs = racer_study.figures(rows)
    fig = figs["ablation_sim_B3.png"]
    axes = np.array(fig.axes).reshape(2, -1)
    for row in axes:
        limits = {ax.get_ylim() for ax in row}
        assert len(limits) == 1  # one scale across the scenario panels
        assert limits.pop()[0] == 0.0  # from zero
    # the accuracy panels reach the largest accuracy + its interval
    assert axes[0][0].get_ylim()[1] >= 95.0
    # error bars: one per router and panel
    for ax in axes.ravel():
        assert len(ax.containers) >= 2  # the bars and their error bars
    # the budget line is labelled with its value
    texts = [t.get_text() for ax in axes[1] for t in ax.texts]
    legends = [
        t.get_text()
        for ax in axes[1]
        if ax.get_legend()
        for t in ax.get_legend().get_texts()
    ]
    assert any("B = 3" in t for t in texts + legends)
    import matplotlib.pyplot as plt

    for f in figs.values():
        plt.close(f)
