"""Budget pacing at deployment: static ACER / RACER-C / RACER vs the same routers paced online.

A static policy meets its budget on the training distribution; on a shifted stream its
realised cost is whatever its extrapolation gives. :class:`racer_dro.BudgetPacer` wraps
the same fitted router and routes the stream in arrival order with an online multiplier.
Per stream and router: realised mean cost (and its ratio to the budget), accuracy, and
accuracy at equal realised cost: the accuracy minus that of random routing with the same
realised cost on the same stream (the all-cheap / all-premium interpolation).

Data (``--data DIR``, repeatable through the configuration list):

* RouterBench (``DIR`` holds ``<task>_<split>.csv`` files of at least two tasks; the
  shift is :func:`simulations.realdata.shift_tasks`'s, on the shared files arc_challenge
  + winogrande -> mbpp, and the streams are named after the task): cheap arm mixtral-8x7b, premium
  gpt-4-1106-preview, real per-call costs in units of the training mean cheap cost,
  budget 4. Trained on 70% of arc_challenge + winogrande (premium about 17x); streams:
  the held-out 30% (in distribution), mbpp alone (premium about 53x, outside the training
  support), and held-out + mbpp mixed in three orders (shuffled, mbpp last, mbpp first).
* judge-escalation (``DIR`` holds ``pairs.csv``, or JudgeBench JSONL files: see
  :func:`simulations.studies.escalation_realdata.find_judges`): cheap judge
  mistral-7b-instruct, strong judge gpt-4-turbo (the shared file's), rewards =
  agreement with the human label. Costs are token estimates
  (characters / 4 of instruction and both responses) for the strong judge, in units of
  its training mean, and 0 for the cheap judge (a stated choice: the data record no
  costs); budget 0.25 (a quarter of the pairs at training length). The shift: train on
  the pairs with the shorter half of instructions, deploy on the longer half (shuffled,
  and sorted by length, a drifting stream). The escalation router is paced too.

Without ``--data`` the study runs on ``racer_dro.datasets.make_judge_data`` with a
stream shifted toward the costly domains.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from simulations.errors import DataError
from simulations.studies import _common
from simulations.studies import escalation_realdata as er

RADIUS = 0.2
STATIC = ("acer", "racer_c", "racer")
ROBUST = {"acer": "none", "racer_c": "cost", "racer": "both"}


def make_configs(quick: bool = False, data_dir: str | None = None) -> list[dict]:
    """One configuration per data set found (``data_dir`` may be either directory)."""
    if data_dir is None:
        return [{"data": "simulated", "budget": 3.0, "n_train": 2000, "n_test": 4000}]
    path = Path(data_dir).resolve()
    if er.is_judge_directory(path):
        config = {"data": "judge-escalation", "data_dir": str(path), "budget": 0.25}
        judges = er.find_judges(path)
        if judges != (
            er.CHEAP,
            er.STRONG,
        ):  # the shared file's config (and seeds) as before
            config.update(cheap_judge=judges[0], strong_judge=judges[1])
        return [config]
    from simulations.realdata import find_tasks

    tasks = find_tasks(path)
    if len(tasks) == 1:
        raise DataError(
            f"--data {data_dir!r}: RouterBench files of one task ({tasks[0]}); the "
            "pacing study deploys on another task than it trains on: add a second"
        )
    if tasks:
        return [{"data": "routerbench", "data_dir": str(path), "budget": 4.0, "d": 50}]
    raise DataError(
        f"--data {data_dir!r}: the pacing study needs a RouterBench directory "
        "(<task>_<split>.csv files) or a judge directory (pairs.csv or JudgeBench JSONL "
        "files)"
    )


# ----------------------------------------------------------------------------- data
def _routerbench(config, seeds):
    from simulations import realdata

    frame = _common.routerbench_frame(config["data_dir"])
    if not frame["r"].any():  # no query where routing changes anything: no spend helps
        raise DataError(
            f"--data {config['data_dir']!r}: GPT-4 and Mixtral are equally right on every "
            "query; the pacing study needs queries where they differ"
        )
    rng = np.random.default_rng(seeds[0])
    source_tasks, costlier, _ = _common.routerbench_shift(config["data_dir"])
    source = frame[frame["task"].isin(source_tasks)]
    perm = rng.permutation(len(source))
    n_train = int(0.7 * len(source))
    train_df, held = source.iloc[perm[:n_train]], source.iloc[perm[n_train:]]
    mbpp = frame[frame["task"] == costlier]
    feat = realdata.make_featuriser(config["d"], random_state=seeds[1])
    feat.fit(train_df["text"])
    unit = train_df["cost_alternative"].mean()

    def pack(df):
        return {
            "X": feat.transform(df["text"]),
            "rewards": df[["correct_alternative", "correct_premium"]].to_numpy(float),
            "costs": df[["cost_alternative", "cost_premium"]].to_numpy(float) / unit,
        }

    held = held.sample(frac=1.0, random_state=seeds[2])
    mbpp = mbpp.sample(frac=1.0, random_state=seeds[3])
    mixed = pd.concat([held, mbpp])
    streams = {
        "in_distribution": held,
        costlier: mbpp,
        "mixed_shuffled": mixed.sample(frac=1.0, random_state=seeds[4]),
        f"mixed_{costlier}_last": mixed,
        f"mixed_{costlier}_first": pd.concat([mbpp, held]),
    }
    return pack(train_df), {k: pack(v) for k, v in streams.items()}


def _judge_escalation(config, seeds):
    table = er.load_table(config["data_dir"])
    frame = table.frame
    cheap = config.get("cheap_judge", er.CHEAP)
    rewards = table.rewards(cheap, config.get("strong_judge", er.STRONG))
    cheap_p = table.probability(cheap)
    length = frame["prompt"].str.len().to_numpy(float)
    tokens = (
        frame["prompt"].str.len()
        + frame["response_a"].str.len()
        + frame["response_b"].str.len()
    ).to_numpy(float) / 4.0
    order = np.argsort(length, kind="stable")
    half = len(order) // 2
    tr, te = np.sort(order[:half]), order[half:]
    X = er.features(frame, tr, 20, cheap_p, seeds[1])
    unit = tokens[tr].mean()
    costs = np.column_stack([np.zeros(len(tokens)), tokens / unit])

    def pack(idx):
        # The strong judge's cost (its input tokens) is known before it is called: the
        # study also paces with it as a per-query cost bound (``paced_known_cost``).
        return {
            "X": X[idx],
            "rewards": rewards[idx],
            "costs": costs[idx],
            "cost_bound": costs[idx],
        }

    shuffled = np.random.default_rng(seeds[2]).permutation(te)
    streams = {"long_shuffled": shuffled, "long_by_length": te}  # te is length-sorted
    return pack(tr), {k: pack(v) for k, v in streams.items()}


def _simulated(config, seeds):
    from racer_dro.datasets import make_judge_data

    train = make_judge_data(config["n_train"], random_state=seeds[0])
    test = make_judge_data(config["n_test"], shift="costlier", random_state=seeds[1])

    def pack(d):
        return {"X": d.X, "rewards": d.rewards, "costs": d.costs}

    return pack(train), {"ood_costlier": pack(test)}


# ----------------------------------------------------------------------------- rounds
def _racer(budget, robust, seed):
    from racer_dro import RacerRouter

    radii = {"none": (None, None), "cost": (None, RADIUS), "both": (RADIUS, RADIUS)}
    r, c = radii[robust]
    return RacerRouter(
        budget,
        robust=robust,
        reward_temperature=None,
        cost_temperature=None,
        reward_radius=r,
        cost_radius=c,
        random_state=seed,
    )


def _metrics(stream, pi) -> dict:
    from racer_dro.judge_evaluation import realised_cost, routed_accuracy

    r, c = stream["rewards"], stream["costs"]
    acc, cost = routed_accuracy(r, pi), realised_cost(c, pi)
    acc0, acc1 = r.mean(axis=0)
    c0, c1 = c.mean(axis=0)
    random_at_cost = acc0 + (cost - c0) / (c1 - c0) * (acc1 - acc0)
    return {
        "accuracy": 100 * acc,
        "cost": cost,
        "gain_vs_random_equal_cost": 100 * (acc - random_at_cost),
        "strong_rate": float(np.mean(pi)),
    }


def _useful_spend(router, stream) -> float:
    """Mean cost of calling, on every query, the dearest arm the router expects to gain.

    An upper bound on what spending can buy by the router's own estimates: a pacer
    that spends less than the budget where this is below it is not leaving gains unused.
    """
    from racer_dro.pacing import arm_values

    reward, _ = arm_values(router, stream["X"])
    gains = reward[:, 1:] > reward[:, :1]
    costs = np.nan_to_num(stream["costs"][:, 1:], nan=0.0)
    return float(np.mean(np.max(np.where(gains, costs, 0.0), axis=1)))


def _cap_spendable(router, stream, budget) -> float:
    """Most a pacer can spend on the queries it expects a gain on, with its mean cost <= B.

    The spend of the fractional greedy that buys, in arrival order, as much of
    each such query's dearest gaining arm as fits under the line ``B (t + 1)``:
    an upper bound on the spend of any pacer whose running mean cost stays at
    or below the budget (with lumpy costs, late queries that gain cannot be
    bought with budget saved earlier). Divided by ``B T``.
    """
    from racer_dro.pacing import arm_values

    reward, _ = arm_values(router, stream["X"])
    gains = reward[:, 1:] > reward[:, :1]
    costs = np.nan_to_num(stream["costs"], nan=0.0)
    extra = np.max(np.where(gains, costs[:, 1:] - costs[:, :1], 0.0), axis=1)
    spent = 0.0
    for t, (cheap, more) in enumerate(zip(costs[:, 0], np.maximum(extra, 0.0))):
        spent = min(budget * (t + 1), spent + cheap + more)
    return spent / (budget * len(extra))


def run_round(config: dict, seed: np.random.SeedSequence) -> pd.DataFrame:
    """One round: fit the routers on the training rows, run every stream static and paced."""
    from racer_dro.pacing import BudgetPacer

    seeds = _common.child_ints(seed, 8)
    loader = {
        "routerbench": _routerbench,
        "judge-escalation": _judge_escalation,
        "simulated": _simulated,
    }[config["data"]]
    train, streams = loader(config, seeds)
    budget = config["budget"]
    routers = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="no iterate met the budget")
        warnings.filterwarnings("ignore", message="RacerRouter did not converge")
        for name in STATIC:
            routers[name] = _racer(budget, ROBUST[name], seeds[5]).fit(
                train["X"], train["rewards"], train["costs"]
            )
    if config["data"] == "judge-escalation":
        from racer_dro.escalation import EscalationRouter

        routers["escalation"] = EscalationRouter().fit(
            train["X"], train["rewards"], train["costs"]
        )
    rows = []
    for stream_name, stream in streams.items():
        for name, router in routers.items():
            modes = ["paced"] if name == "escalation" else ["static", "paced"]
            if "cost_bound" in stream:
                modes.append("paced_known_cost")
            for mode in modes:
                excess = useful = reachable = np.nan
                if mode == "static":
                    pi = router.predict_proba(stream["X"])[:, 1]
                    over = np.nan
                else:
                    bound = stream["cost_bound"] if mode == "paced_known_cost" else None
                    pacer = BudgetPacer(router, budget, cost_bound=bound)
                    pi = pacer.run(stream["X"], stream["costs"]).astype(float)
                    t0 = len(pi) // 10
                    over = float(
                        np.max(pacer.spend_[t0:] / np.arange(t0 + 1, len(pi) + 1))
                        / budget
                    )
                    excess = int(np.count_nonzero(pacer.excess_))
                    useful = _useful_spend(router, stream) / budget
                    reachable = _cap_spendable(router, stream, budget)
                metrics = _metrics(stream, pi)
                # share of the budget used, of what the router's own estimates say
                # can be spent with a gain (the "where spending more helps")
                used = (
                    np.nan
                    if mode == "static"
                    else metrics["cost"] / budget / min(1.0, useful)
                )
                rows.append(
                    {
                        "stream": stream_name,
                        "router": name,
                        "mode": mode,
                        "n_stream": len(pi),
                        **metrics,
                        "cost_over_budget": metrics["cost"] / budget,
                        "max_running_cost_after_10pct": over,
                        "calls_above_cost_bound": excess,
                        "useful_cost_over_budget": useful,
                        "used_of_spendable": used,
                        # ... and of what a pacer whose running mean stays <= B can
                        # spend there (late gains cannot use budget saved earlier)
                        "used_of_reachable": (
                            np.nan
                            if mode == "static"
                            else metrics["cost"] / budget / min(1.0, reachable)
                        ),
                    }
                )
    return pd.DataFrame(rows)


def summarise(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Headline: per stream, router and mode the mean realised cost / budget, accuracy, equal-cost gain."""
    by = ["data", "stream", "router", "mode"]
    by = [c for c in by if c in rows.columns]
    head = rows.groupby(by, as_index=False, sort=False).agg(
        cost_over_budget=("cost_over_budget", "mean"),
        max_running_over_budget=("max_running_cost_after_10pct", "max"),
        min_cost_over_budget=("cost_over_budget", "min"),
        calls_above_cost_bound=("calls_above_cost_bound", "mean"),
        min_used_of_spendable=("used_of_spendable", "min"),
        min_used_of_reachable=("used_of_reachable", "min"),
        accuracy=("accuracy", "mean"),
        gain_vs_random_equal_cost=("gain_vs_random_equal_cost", "mean"),
        strong_rate=("strong_rate", "mean"),
        rounds=("round", "nunique"),
    )
    head.attrs["legend"] = HEADLINE_LEGEND
    return {"headline": head}


#: What each headline column holds (printed under the table by the CLI).
HEADLINE_LEGEND = {
    "data": "simulated, routerbench or judge-escalation (the --data directory)",
    "stream": "the deployment stream (its queries and their order)",
    "mode": "static: the fitted router alone; paced: wrapped in BudgetPacer; "
    "paced_known_cost: paced with each query's known cost as cost bound",
    "cost_over_budget": "realised mean cost over the budget, mean over rounds",
    "max_running_over_budget": "largest running mean cost after the first 10% of "
    "the stream over the budget, max over rounds (paced only)",
    "min_cost_over_budget": "realised mean cost over the budget, min over rounds",
    "calls_above_cost_bound": "calls whose cost exceeded the pacer's cost bound, "
    "mean over rounds (paced only)",
    "min_used_of_spendable": "cost over min(budget, what the router's own "
    "estimates can spend with a gain), min over rounds (paced only)",
    "min_used_of_reachable": "cost over min(budget, the most a pacer whose "
    "running mean cost stays <= budget can spend where the router expects a gain), "
    "min over rounds (paced only)",
    "gain_vs_random_equal_cost": "accuracy minus random routing at the same "
    "realised cost on the same stream (points), mean over rounds",
    "strong_rate": "share of queries sent to the premium model / strong judge, "
    "mean over rounds",
}


def figures(rows: pd.DataFrame) -> dict:
    """Realised cost / budget per stream, static vs paced (one panel per router)."""
    import matplotlib.pyplot as plt

    head = summarise(rows)["headline"]
    routers = list(dict.fromkeys(head["router"]))
    fig, axes = plt.subplots(
        1, len(routers), figsize=(4.5 * len(routers), 4), squeeze=False, sharey=True
    )
    for ax, router in zip(axes[0], routers):
        sub = head[head["router"] == router]
        wide = sub.pivot_table(
            index="stream", columns="mode", values="cost_over_budget", sort=False
        )
        wide.plot.bar(ax=ax, rot=30)
        ax.axhline(1.0, color="black", lw=1, ls="--")
        ax.set_title(router)
        ax.set_xlabel("")
        ax.set_ylabel("realised cost / budget")
    fig.tight_layout()
    return {"cost_over_budget.png": fig}


def plot(rows: pd.DataFrame, directory: Path) -> list[Path]:
    """Write :func:`figures` as PNG files into ``directory``."""
    return _common.save_all(figures(rows), directory)
