"""Study ``racer-models``: the K-arm RACER router among RouterBench's 11 models (issue 11).

Per round the pooled arc_challenge + winogrande queries (RouterBench, real per-call
costs) are split at random into training (70%) and test (30%) rows, stratified by
task. The prompts are embedded with :func:`simulations.realdata.make_featuriser`
(fitted on all prompts: it is unsupervised and uses no labels) and a K-arm :class:`racer_dro.RacerRouter` is
trained on the models' correctness (reward) and cost at a budget a fraction of the
way from the cheapest to the premium model's mean training cost. On the test rows
it is scored by its expected accuracy and cost (its policy's probabilities) and
compared with the best mix of two single models at the same cost: the
non-decreasing convex hull of the single models' test (cost, accuracy) points
(RouterBench's AIQ hull), evaluated at the router's realised cost.

Without ``--data`` the study runs on a simulated K-arm process with the same shape
(a cheap, a middle and a premium arm whose usefulness depends on a query feature).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulations.studies import _common

PREMIUM = "gpt-4-1106-preview"


def make_configs(quick: bool = False, data_dir: str | None = None) -> list[dict]:
    """Budgets at 10%, 20% and 40% of the way from the cheapest to the premium model."""
    fractions = (0.2,) if quick else (0.1, 0.2, 0.4)
    base = {
        "data": "routerbench" if data_dir else "sim",
        "data_dir": str(data_dir) if data_dir else None,
        "n_components": 50,
        "beta": 0.01,
        "test_share": 0.3,
    }
    return [{**base, "budget_fraction": f} for f in fractions]


def hull_accuracy(costs, accuracies, at) -> float:
    """The non-decreasing upper convex hull of ``(cost, accuracy)`` points at cost ``at``.

    The best accuracy reachable by mixing two single models at mean cost ``at``
    (flat beyond the dearest hull point, and below the cheapest point the
    cheapest point's accuracy, which no mix can reach at a lower cost).

    Examples
    --------
    >>> hull_accuracy([1.0, 2.0, 3.0], [0.5, 0.9, 0.7], 1.5)
    0.7
    >>> hull_accuracy([1.0, 2.0, 3.0], [0.5, 0.9, 0.7], 5.0)
    0.9
    """
    c = np.asarray(costs, float)
    a = np.asarray(accuracies, float)
    order = np.lexsort((-a, c))
    hull: list[tuple[float, float]] = []
    for x, y in zip(c[order], a[order]):
        if hull and y <= hull[-1][1]:
            continue  # non-decreasing: a dearer, no better point is never on it
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (y2 - y1) * (x - x1) <= (y - y1) * (x2 - x1):
                hull.pop()  # the middle point lies under the chord
            else:
                break
        hull.append((float(x), float(y)))
    xs, ys = zip(*hull)
    return float(np.interp(at, xs, ys))


def _simulated(seed: int, n: int = 6000):
    """A K = 3 process: the premium arm helps only where feature 0 is positive.

    Accuracies: cheap 0.7, middle 0.72, premium 0.99 where ``x_0 > 0`` and 0.6
    elsewhere; costs 1, 3 and 20 (times lognormal noise, sd 0.1).
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    premium = np.where(X[:, 0] > 0, 0.99, 0.6)
    acc = np.column_stack([np.full(n, 0.7), np.full(n, 0.72), premium])
    correct = (rng.random((n, 3)) < acc).astype(float)
    cost = np.column_stack([np.full(n, 1.0), np.full(n, 3.0), np.full(n, 20.0)])
    cost = cost * rng.lognormal(0, 0.1, (n, 3))
    return X, correct, cost, ("cheap", "middle", "premium"), np.zeros(n, int)


def _load(config: dict):
    import warnings

    from simulations.realdata import load_routerbench_models

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="dropped")
        source, _, _ = _common.routerbench_shift(config["data_dir"])
        data = load_routerbench_models(config["data_dir"], source, ("train", "test"))
    task = pd.factorize(data.task)[0]
    return data.texts, data.correct, data.cost, data.models, task


def run_round(config: dict, seed: np.random.SeedSequence) -> pd.DataFrame:
    """One round: a random split, the K-arm router, the single models and the hull."""
    from sklearn.model_selection import train_test_split

    from racer_dro import RacerRouter

    s_split, s_router, s_sim = _common.child_ints(seed, 3)
    if config["data"] == "sim":
        X_all, correct, cost, models, task = _simulated(s_sim)
    else:
        X_all, correct, cost, models, task = _load(config)
    n = correct.shape[0]
    tr, te = train_test_split(
        np.arange(n),
        test_size=config["test_share"],
        stratify=task,
        random_state=s_split,
    )
    if config["data"] == "sim":
        X_tr, X_te = X_all[tr], X_all[te]
    else:
        from simulations.realdata import make_featuriser

        # unsupervised and label-free, so fitted on every prompt: fitted on the
        # training prompts only, TF-IDF + SVD embeds unseen prompts differently from
        # seen ones (measured: the same policy then spent 15% less on the test rows
        # than on held-out training rows)
        feat = make_featuriser(config["n_components"], random_state=s_split)
        embedded = feat.fit_transform(list(X_all))
        X_tr, X_te = embedded[tr], embedded[te]
    # costs in units of the cheapest model's mean training cost
    mean_cost = cost[tr].mean(axis=0)
    unit = float(mean_cost.min())
    premium = models.index(PREMIUM) if PREMIUM in models else int(np.argmax(mean_cost))
    budget = 1.0 + config["budget_fraction"] * (mean_cost[premium] / unit - 1.0)
    router = RacerRouter(
        budget, robust="none", beta=config["beta"], random_state=s_router
    )
    router.fit(X_tr, correct[tr], cost[tr] / unit, arm_names=list(models))
    pi = router.predict_proba(X_te)
    acc = float(np.mean(np.sum(pi * correct[te], axis=1)))
    spent = float(np.mean(np.sum(pi * cost[te], axis=1))) / unit
    single_cost = cost[te].mean(axis=0) / unit
    single_acc = correct[te].mean(axis=0)
    hull = hull_accuracy(single_cost, single_acc, spent)
    rows = [
        {
            "router": "racer",
            "budget": budget,
            "accuracy": acc,
            "cost": spent,
            "cost_deviation": spent / budget - 1.0,
            "hull_accuracy": hull,
            "gain_over_hull": acc - hull,
            "converged": bool(router.converged_),
        }
    ]
    for name, c, a in zip(models, single_cost, single_acc):
        rows.append(
            {
                "router": f"model:{name}",
                "budget": budget,
                "accuracy": float(a),
                "cost": float(c),
                "cost_deviation": np.nan,
                "hull_accuracy": hull_accuracy(single_cost, single_acc, c),
                "gain_over_hull": float(a) - hull_accuracy(single_cost, single_acc, c),
                "converged": True,
            }
        )
    return pd.DataFrame(rows)


def summarise(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Headline: per budget, RACER's accuracy, cost and gain over the hull with 95% intervals."""
    racer = rows[rows["router"] == "racer"]
    out = []
    for frac, grp in racer.groupby("budget_fraction"):
        rec = {
            "budget_fraction": frac,
            "rounds": len(grp),
            "budget": grp["budget"].mean(),
        }
        for col in (
            "accuracy",
            "cost",
            "cost_deviation",
            "hull_accuracy",
            "gain_over_hull",
        ):
            v = grp[col].to_numpy(float)
            half = 1.96 * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
            rec[col] = v.mean()
            rec[f"{col}_ci"] = half
        rec["within_10pct"] = float(np.mean(np.abs(grp["cost_deviation"]) <= 0.1))
        rec["above_hull"] = float(np.mean(grp["gain_over_hull"] > 0))
        out.append(rec)
    models = (
        rows[rows["router"] != "racer"]
        .groupby("router")[["cost", "accuracy"]]
        .mean()
        .reset_index()
    )
    head = pd.DataFrame(out)
    head.attrs["legend"] = HEADLINE_LEGEND
    return {"racer_models": head, "single_models": models}


#: What each headline column holds (printed under the table by the CLI); ``_ci``
#: columns are half-widths of normal 95% intervals over rounds.
HEADLINE_LEGEND = {
    "budget_fraction": "budget as a fraction of the way from the cheapest to the "
    "premium model's mean cost",
    "budget": "cost budget, in units of the cheapest model's mean training cost",
    "accuracy": "expected accuracy of the router's policy on the test split "
    "(fraction), mean over rounds",
    "accuracy_ci": "half-width of the 95% interval of accuracy over rounds",
    "cost": "realised mean cost on the test split (units of budget), mean over rounds",
    "cost_ci": "half-width of the 95% interval of cost over rounds",
    "cost_deviation": "cost / budget - 1, mean over rounds",
    "cost_deviation_ci": "half-width of the 95% interval of cost_deviation",
    "hull_accuracy": "accuracy of the best mix of two single models at the "
    "router's cost (the non-decreasing convex hull), mean over rounds",
    "hull_accuracy_ci": "half-width of the 95% interval of hull_accuracy",
    "gain_over_hull": "accuracy - hull_accuracy, mean over rounds",
    "gain_over_hull_ci": "half-width of the 95% interval of gain_over_hull",
    "within_10pct": "share of rounds whose cost is within 10% of the budget",
    "above_hull": "share of rounds whose accuracy is above the hull",
}


def plot(rows: pd.DataFrame, directory: Path) -> list[Path]:
    """(cost, accuracy) of the single models, their hull and RACER's points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    singles = rows[rows["router"] != "racer"].groupby("router")[["cost", "accuracy"]]
    singles = singles.mean()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(singles["cost"], singles["accuracy"], c="grey", label="single models")
    grid = np.geomspace(singles["cost"].min(), singles["cost"].max(), 200)
    ax.plot(
        grid,
        [hull_accuracy(singles["cost"], singles["accuracy"], g) for g in grid],
        "k--",
        label="hull (best mix of two)",
    )
    racer = rows[rows["router"] == "racer"]
    ax.scatter(racer["cost"], racer["accuracy"], c="C3", s=12, label="RACER (K arms)")
    ax.set_xscale("log")
    ax.set_xlabel("mean cost per query (units of the cheapest model)")
    ax.set_ylabel("accuracy")
    ax.legend()
    path = directory / "racer_models.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]
