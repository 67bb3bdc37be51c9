"""Study 3: ask a strong judge when the reward model is uncertain (the "Ask a Strong LLM Judge" poster).

Per round: a pairwise reward model (``racer_dro.UncertaintyRouter``, random Fourier
features with a Laplace GP head) is trained on a limited number of in-distribution
preference pairs; the test pairs are partly out of its training distribution. For a grid
of judge-call budgets, the most uncertain test pairs go to a strong judge (accurate,
costly) and the rest keep the reward model's verdict; random routing sends the same
number of randomly chosen pairs. Accuracy is against the observed preference label
(the poster's table: accuracy at matched numbers of judge calls).

With ``--data DIR`` (a judge directory: see
:func:`simulations.studies.escalation_realdata.find_judges`) the study runs
on real judge data instead: the cheap judge's confidence-aware ``EscalationRouter``
against random, margin, the poster's variance-only router and the oracle over repeated
60/40 splits (:mod:`simulations.studies.escalation_realdata`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulations.errors import DataError
from simulations.studies import _common, escalation_realdata

ROUTERS = ("uncertainty", "random")
SETTING = ("n_train", "ood_fraction", "judge_accuracy")
#: Fractions of test pairs sent to the judge (the poster's 1.9%, 9.2%, 24.1%, 42.5%; 0 and 1).
CALL_FRACTIONS = (0.0, 0.02, 0.1, 0.25, 0.45, 1.0)


def make_configs(quick: bool = False, data_dir: str | None = None) -> list[dict]:
    """Quick: 300 training pairs, 30% OOD test pairs. Full: n_train x OOD share grid.

    With ``data_dir`` (a directory holding the judge-escalation ``pairs.csv``,
    long-format CSVs, or JudgeBench JSONL outputs, one file per judge) the study runs on that real data
    instead (:mod:`simulations.studies.escalation_realdata`).
    """
    if data_dir is not None:
        if not escalation_realdata.is_judge_directory(data_dir):
            raise DataError(
                f"--data {data_dir!r}: the uncertainty study needs a judge directory: "
                "pairs.csv (the judge-escalation format), long-format CSVs or JudgeBench "
                "JSONL files"
            )
        return escalation_realdata.make_configs(quick, data_dir)
    base = {"n_test": 2000, "d": 16, "judge_accuracy": 0.95, "n_features": 256}
    if quick:
        grid = [(300, 0.3)]
    else:
        grid = [(n, f) for n in (300, 1000) for f in (0.1, 0.3, 0.5)]
    return [{**base, "n_train": n, "ood_fraction": f} for n, f in grid]


def run_round(config: dict, seed: np.random.SeedSequence) -> pd.DataFrame:
    """One round: rows (router, call fraction) with overall, in- and out-of-distribution accuracy."""
    if config.get("dataset") == "judge-escalation":
        return escalation_realdata.run_round(config, seed)
    from racer_dro import UncertaintyRouter
    from racer_dro.datasets import make_preference_pairs, strong_judge_labels

    s_train, s_test, s_judge, s_model, s_random = _common.child_ints(seed, 5)
    train = make_preference_pairs(
        config["n_train"], d=config["d"], random_state=s_train
    )
    test = make_preference_pairs(
        config["n_test"],
        d=config["d"],
        ood_fraction=config["ood_fraction"],
        random_state=s_test,
    )
    judge = strong_judge_labels(
        test, accuracy=config["judge_accuracy"], random_state=s_judge
    )
    model = UncertaintyRouter(n_features=config["n_features"], random_state=s_model)
    model.fit(train.X, train.y)
    rm_verdict = model.predict(test.X)
    n = test.y.shape[0]
    order_random = np.random.default_rng(s_random).permutation(n)
    ind = test.in_distribution
    rows = []
    for frac in CALL_FRACTIONS:
        calls = int(np.floor(frac * n + 0.5))
        ask_unc = model.route(test.X, calls=calls)
        ask_rand = np.zeros(n, bool)
        ask_rand[order_random[:calls]] = True  # nested subsets across call levels
        for router, ask in (("uncertainty", ask_unc), ("random", ask_rand)):
            verdict = np.where(ask, judge, rm_verdict)
            correct = verdict == test.y
            rows.append(
                {
                    "router": router,
                    "call_fraction": frac,
                    "calls": calls,
                    "accuracy": 100 * correct.mean(),
                    "accuracy_in_dist": 100 * correct[ind].mean()
                    if ind.any()
                    else np.nan,
                    "accuracy_ood": 100 * correct[~ind].mean()
                    if (~ind).any()
                    else np.nan,
                    "ood_share_of_calls": float((~ind)[ask].mean())
                    if calls
                    else np.nan,
                }
            )
    return pd.DataFrame(rows)


def summarise(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Headline: median accuracy per call level for both routers; mean paired gain with CI."""
    if "escalation" in set(rows["router"]):
        return escalation_realdata.summarise(rows)
    by = [c for c in SETTING if c in rows.columns] + ["call_fraction"]
    med = rows.groupby(by + ["router"], as_index=False).agg(
        calls=("calls", "first"),
        accuracy=("accuracy", "median"),
        accuracy_in_dist=("accuracy_in_dist", "median"),
        accuracy_ood=("accuracy_ood", "median"),
        ood_share_of_calls=("ood_share_of_calls", "median"),
        rounds=("round", "nunique"),
    )
    wide = med.pivot_table(index=by, columns="router", values="accuracy").reset_index()
    wide.columns.name = None
    calls = med.groupby(by, as_index=False)["calls"].first()
    head = calls.merge(wide, on=by).rename(
        columns={"uncertainty": "acc_uncertainty", "random": "acc_random"}
    )
    head = head[by + ["calls", "acc_uncertainty", "acc_random"]]
    informative = rows[(rows["call_fraction"] > 0) & (rows["call_fraction"] < 1)]
    paired = _common.paired(informative, metric="accuracy", by=by)
    ci = _paired_diff_ci(informative, by)
    head = head.merge(ci, on=by, how="left")
    head["gain_vs_random"] = head["gain_vs_random"].fillna(
        0.0
    )  # 0 or all calls: identical
    sig = _common.attach_significance(
        pd.DataFrame({**{c: head[c] for c in by}, "router": "uncertainty"}),
        paired,
        by=by,
    )
    sig = sig[["p_adj_vs_random", "vs_random"]]  # two routers: no "best other" to add
    head = pd.concat([head, sig], axis=1)
    head.attrs["legend"] = HEADLINE_LEGEND
    return {"headline": head, "accuracy": med, "paired": paired}


#: What the headline's setting columns hold (the others are in the CLI's legend
#: or below).
HEADLINE_LEGEND = {
    "n_train": "preference pairs the reward model was trained on",
    "ood_fraction": "share of test pairs drawn off the training manifold",
    "judge_accuracy": "accuracy of the simulated strong judge",
}


def _paired_diff_ci(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    from simulations.stats import bootstrap_ci

    wide = rows.pivot_table(index=by + ["round"], columns="router", values="accuracy")
    diff = (wide["uncertainty"] - wide["random"]).rename("d").reset_index()
    out = []
    for key, sub in diff.groupby(by):
        lo, hi = bootstrap_ci(sub["d"].to_numpy(), stat=np.mean, random_state=0)
        out.append(
            {
                **dict(zip(by, key)),
                "gain_vs_random": sub["d"].mean(),
                "gain_ci_low": lo,
                "gain_ci_high": hi,
            }
        )
    return pd.DataFrame(out)


def figures(rows: pd.DataFrame) -> dict:
    """Accuracy against the share of pairs sent to the judge, one panel per OOD share."""
    if "escalation" in set(rows["router"]):
        return escalation_realdata.figures(rows)
    from simulations import plotting

    by = [c for c in SETTING if c in rows.columns]
    med = rows.groupby(by + ["call_fraction", "router"], as_index=False)[
        "accuracy"
    ].median()
    med["call_pct"] = 100 * med["call_fraction"]
    figs = {}
    for (n_train, judge_acc), sub in med.groupby(["n_train", "judge_accuracy"]):
        fig = plotting.line_panels(
            sub,
            x="call_pct",
            y="accuracy",
            hue="router",
            panel="ood_fraction",
            panel_label="share of OOD test pairs",
            hue_order=list(ROUTERS),
            xlabel="strong-judge calls (% of test pairs)",
            ylabel="preference accuracy (%)",
            hline=None,
            title=f"Uncertainty vs random routing to a strong judge (accuracy "
            f"{judge_acc:.0%}); reward model trained on {n_train} pairs",
        )
        figs[f"accuracy_vs_calls_n{n_train}.png"] = fig
    return figs


def plot(rows: pd.DataFrame, directory: Path) -> list[Path]:
    """Write :func:`figures` as PNG files into ``directory``."""
    return _common.save_all(figures(rows), directory)
