"""The uncertainty study on real judge data (``python -m simulations uncertainty --data DIR``).

``DIR`` holds the judge-escalation ``pairs.csv`` (500 pairs, cheap judge
mistral-7b-instruct with its probability, strong judge gpt-4-turbo, human
gold). Each round is one random 60/40 split of the pairs. Features, fitted on
the training pairs only: TF-IDF + SVD of instruction and both responses
(:func:`simulations.realdata.make_featuriser`), the log length of the
instruction and the log length difference of the responses (and its absolute
value), and the cheap judge's probability. On the test pairs, at 10%, 25% and
50% strong-judge calls, the routers are:

* ``escalation`` -- :class:`racer_dro.EscalationRouter` (the default: expected gain);
* ``p_wrong`` -- the same model, ranking by ``P(cheap wrong)`` alone (the same
  ranking as ``escalation`` since its default ``strong_model="constant"``; they
  differ with ``"confidence"``);
* ``margin`` -- smallest ``|p - 1/2|`` first;
* ``variance_only`` -- the poster's router (:class:`racer_dro.UncertaintyRouter`
  fitted to the human labels, ranking by posterior variance);
* ``random`` -- exact-k random routing, scored in expectation over the k-subsets
  (``acc_cheap + k / n * mean gain``: the noise of one draw removed);
* ``oracle`` -- knows which pairs the strong judge fixes (upper bound).

Accuracy counts a tie as half right. Each scoring router's ROC AUC for spotting the
pairs where the cheap verdict is wrong (``auc_cheap_wrong``) and where the strong judge
gains (``auc_strong_gains``) is recorded too. Paired differences across splits come with
two standard errors: the naive ``sd / sqrt(J)`` and the Nadeau-Bengio corrected
``sd * sqrt(1 / J + n_test / n_train)``, which accounts for the overlap of
repeated random splits (the naive one is too small).

References
----------
Nadeau and Bengio, "Inference for the Generalization Error", 2003.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from simulations.errors import DataError
from simulations.studies import _common

ROUTERS = ("escalation", "p_wrong", "margin", "variance_only", "random", "oracle")
CALL_FRACTIONS = (0.1, 0.25, 0.5)
CHEAP, STRONG = "mistral-7b-instruct", "gpt-4-turbo"


def make_configs(quick: bool, data_dir: str) -> list[dict]:
    """One configuration: the 60/40 split of the directory's pairs (quick: fewer rounds)."""
    cheap, strong = find_judges(data_dir)
    gold = load_table(str(Path(data_dir).resolve())).gold
    if np.unique(gold[gold != 0.5]).size < 2:  # the variance-only router fits gold
        raise DataError(
            f"--data {str(data_dir)!r}: the human label prefers the same response "
            "(A or B) on every pair; the study needs pairs preferred either way"
        )
    return [
        {
            "data_dir": str(Path(data_dir).resolve()),
            "dataset": "judge-escalation",
            "cheap_judge": cheap,
            "strong_judge": strong,
            "train_fraction": 0.6,
            "n_components": 20,
        }
    ]


def _first_record(path: Path) -> dict:
    """The first JSON object of a JSONL file ({} when it has none or is not JSON)."""
    import json

    with path.open() as handle:
        for line in handle:
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    return {}
                return record if isinstance(record, dict) else {}
    return {}


def _judge_files(data_dir) -> list[Path]:
    """JudgeBench judge outputs in ``data_dir``: JSONL files whose records carry
    ``judgments`` (JudgeBench's pairs file beside them, without any, is not a judge)."""
    return [
        path
        for path in sorted(Path(data_dir).glob("*.jsonl"))
        if "judgments" in _first_record(path)
    ]


def _long_files(data_dir) -> list[Path]:
    """CSV files (other than ``pairs.csv``) whose header holds the long-format columns."""
    from racer_dro.judge_data import LONG_COLUMNS

    found = []
    for path in sorted(Path(data_dir).glob("*.csv")):
        if path.name == "pairs.csv":
            continue
        # any CSV may sit beside the judges' files: one not in UTF-8 is not theirs
        with path.open(encoding="utf-8", errors="replace") as handle:
            header = handle.readline().strip().split(",")
        if set(LONG_COLUMNS) <= set(header):
            found.append(path)
    return found


def _source(data_dir) -> str | None:
    """What ``data_dir`` holds: ``"pairs"``, ``"long"``, ``"jsonl"`` (first found) or None."""
    if (Path(data_dir) / "pairs.csv").is_file():
        return "pairs"
    if _long_files(data_dir):
        return "long"
    return "jsonl" if _judge_files(data_dir) else None


def is_judge_directory(data_dir) -> bool:
    """Whether ``data_dir`` holds judge pairs: ``pairs.csv``, long-format CSVs or JudgeBench JSONL."""
    return _source(data_dir) is not None


def _read_long(data_dir: str) -> list[pd.DataFrame]:
    """Long-format rows of every judge in ``data_dir``, one frame per source file."""
    from racer_dro.judge_data import read_escalation_csv, read_judgebench_jsonl

    source = _source(data_dir)
    if source == "pairs":
        return [read_escalation_csv(data_dir)]
    if source == "long":
        return [pd.read_csv(f) for f in _long_files(data_dir)]
    return [read_judgebench_jsonl(f) for f in _judge_files(data_dir)]


def find_judges(data_dir) -> tuple[str, str]:
    """The cheap and the strong judge of a judge directory.

    ``pairs.csv`` (the shared judge-escalation format, any judge names), or
    CSV files in the long format (:data:`racer_dro.judge_data.LONG_COLUMNS`):
    the shared file's mistral-7b-instruct and gpt-4-turbo when present, else
    the first and the last judge (in column order, or in order of first
    appearance; cheapest first, as the shared file lists them). JudgeBench
    JSONL files (one per judge): files named
    ``cheap*.jsonl`` and ``strong*.jsonl``; else, of exactly two files, the
    one whose judgements carry reward-model ``scores`` is the cheap judge.
    """
    if not is_judge_directory(data_dir):
        raise DataError(
            f"--data {str(data_dir)!r}: a judge study needs pairs.csv (the "
            "judge-escalation format), CSV files in the long format of "
            "racer_dro.judge_data, or JudgeBench JSONL files (one per judge)"
        )
    try:
        frames = _read_long(str(data_dir))
        load_table(str(Path(data_dir).resolve()))  # the judges must share their pairs
    except DataError:
        raise
    except ValueError as err:
        raise DataError(f"--data {str(data_dir)!r}: {err}") from err
    if _source(data_dir) in ("pairs", "long"):
        judges = list(pd.concat(frames)["judge"].drop_duplicates())
        if len(judges) < 2:
            raise DataError(
                f"--data {str(data_dir)!r}: one judge ({judges[0]!r}); a cheap and a "
                "strong judge are needed"
            )
        cheap = CHEAP if CHEAP in judges else judges[0]
        strong = STRONG if STRONG in judges else judges[-1]
        return cheap, strong
    files = _judge_files(data_dir)
    names = [str(f["judge"].iloc[0]) for f in frames]
    named = {
        role: [n for f, n in zip(files, names) if f.name.startswith(role)]
        for role in ("cheap", "strong")
    }
    if len(named["cheap"]) == 1 and len(named["strong"]) == 1:
        return named["cheap"][0], named["strong"][0]
    scored = [n for f, n in zip(files, names) if _has_scores(f)]
    if len(files) == 2 and len(scored) == 1 and len(set(names)) == 2:
        return scored[0], next(n for n in names if n != scored[0])
    raise DataError(
        f"--data {str(data_dir)!r}: cannot tell the cheap judge from the strong one "
        f"among {[f.name for f in files]}; name their files cheap*.jsonl and "
        "strong*.jsonl"
    )


def _has_scores(path: Path) -> bool:
    """Whether a JudgeBench file's first judgement carries reward-model scores."""
    first = (_first_record(path).get("judgments") or [None])[0] or {}
    return "scores" in (first.get("judgment") or {})


#: Fewer pairs judged by every judge than this and a judge directory is refused.
MIN_SHARED_PAIRS = 20


@functools.lru_cache(maxsize=2)
def load_table(data_dir: str):
    """The judge table of the directory's judges (cached per worker process).

    Only the pairs every judge gave a verdict on are kept (a pair one judge
    never saw has no reward for that arm); fewer than :data:`MIN_SHARED_PAIRS`
    such pairs is a :class:`~simulations.errors.DataError`.
    """
    from racer_dro.judge_data import JudgeTable, to_judge_table

    table = to_judge_table(pd.concat(_read_long(data_dir), ignore_index=True))
    frame = table.frame
    judged = np.ones(len(frame), dtype=bool)  # (np.all of no judges is one True)
    for judge in table.judges:
        judged &= frame[f"n_orders_{judge}"].to_numpy() > 0
    if judged.sum() < MIN_SHARED_PAIRS:
        raise DataError(
            f"--data {data_dir!r}: only {int(judged.sum())} pairs (by pair_id) carry a "
            f"verdict of every judge ({list(table.judges)}); do the files judge the "
            "same pairs?"
        )
    return JudgeTable(
        frame[judged].reset_index(drop=True), table.judges, table.n_dropped
    )


def pair_texts(frame: pd.DataFrame) -> list[str]:
    return (
        frame["prompt"] + " \n " + frame["response_a"] + " \n " + frame["response_b"]
    ).tolist()


def length_features(frame: pd.DataFrame) -> np.ndarray:
    """Log instruction length, log length difference B - A and its absolute value."""
    la = np.log1p(frame["response_a"].str.len().to_numpy(float))
    lb = np.log1p(frame["response_b"].str.len().to_numpy(float))
    lp = np.log1p(frame["prompt"].str.len().to_numpy(float))
    return np.column_stack([lp, lb - la, np.abs(lb - la)])


def features(frame, train_idx, n_components: int, cheap_p, seed: int) -> np.ndarray:
    """Text SVD (fitted on the training rows) + length features + the cheap probability (last)."""
    from simulations.realdata import make_featuriser

    texts = pair_texts(frame)
    feat = make_featuriser(n_components, random_state=seed)
    feat.fit([texts[i] for i in train_idx])
    return np.column_stack([feat.transform(texts), length_features(frame), cheap_p])


def run_round(config: dict, seed: np.random.SeedSequence) -> pd.DataFrame:
    """One 60/40 split: accuracy of every router at every call fraction on the test pairs."""
    from racer_dro import UncertaintyRouter
    from racer_dro.escalation import EscalationRouter, MarginRouter
    from racer_dro.judge_evaluation import (
        call_count,
        oracle_route,
        route_top,
        routed_accuracy,
    )

    s_split, s_feat, s_var = _common.child_ints(seed, 3)
    table = load_table(config["data_dir"])
    frame = table.frame
    rewards = table.rewards(config["cheap_judge"], config["strong_judge"])
    costs = table.costs()
    cheap_p = table.probability(config["cheap_judge"])
    n = frame.shape[0]
    perm = np.random.default_rng(s_split).permutation(n)
    n_train = round(config["train_fraction"] * n)
    tr, te = np.sort(perm[:n_train]), np.sort(perm[n_train:])
    X = features(frame, tr, config["n_components"], cheap_p, s_feat)

    # two prior groups: the text components and the length features (ARD by group)
    groups = np.repeat([0, 1], [config["n_components"], 3])
    esc = EscalationRouter(feature_groups=groups).fit(X[tr], rewards[tr], costs[tr])
    margin = MarginRouter().fit(X[tr], rewards[tr], costs[tr])
    var_only = UncertaintyRouter(n_features=256, random_state=s_var)
    gold = table.gold
    keep = gold[tr] != 0.5
    var_only.fit(X[tr][keep], gold[tr][keep])
    scores = {
        "escalation": esc.priority(X[te]),
        "p_wrong": esc.p_cheap_wrong(X[te]),
        "margin": margin.priority(X[te]),
        "variance_only": var_only.uncertainty(X[te]),
    }
    r_te = rewards[te]
    gain = r_te[:, 1] - r_te[:, 0]
    wrong = r_te[:, 0] < 0.5  # the cheap verdict is wrong (ties count as right)
    auc = {name: _auc(wrong, score) for name, score in scores.items()}
    auc_gain = {name: _auc(gain > 0, score) for name, score in scores.items()}
    rows = []
    for frac in CALL_FRACTIONS:
        k = call_count(frac, len(te))
        accs = {
            name: routed_accuracy(r_te, route_top(s, k)) for name, s in scores.items()
        }
        accs["random"] = float(r_te[:, 0].mean() + k / len(te) * gain.mean())
        accs["oracle"] = routed_accuracy(r_te, oracle_route(r_te, k))
        for name in ROUTERS:
            rows.append(
                {
                    "router": name,
                    "call_fraction": frac,
                    "calls": k,
                    "n_train": len(tr),
                    "n_test": len(te),
                    "accuracy": 100 * accs[name],
                    "acc_cheap": 100 * float(r_te[:, 0].mean()),
                    "acc_strong": 100 * float(r_te[:, 1].mean()),
                    "auc_cheap_wrong": auc.get(name, np.nan),
                    "auc_strong_gains": auc_gain.get(name, np.nan),
                }
            )
    return pd.DataFrame(rows)


def _auc(target, score) -> float:
    """ROC AUC of ``score`` for ``target`` (NaN when one class is absent)."""
    from sklearn.metrics import roc_auc_score

    target = np.asarray(target, bool)
    if target.all() or not target.any():
        return float("nan")
    return float(roc_auc_score(target, score))


def paired_table(rows: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Mean paired accuracy difference vs ``reference`` per router and call level, with SEs
    (:func:`simulations.studies._common.paired_split_differences`)."""
    return _common.paired_split_differences(
        rows, "accuracy", reference, ["call_fraction"]
    )


#: What each headline column holds (printed under the table by the CLI); router
#: columns hold the accuracy vs the human label (%), mean over splits.
HEADLINE_LEGEND = {
    "escalation": (
        "accuracy (%) of EscalationRouter (expected gain of the strong judge, "
        "Laplace posterior)"
    ),
    "p_wrong": "accuracy (%) of EscalationRouter ranking by P(cheap verdict wrong) alone",
    "margin": "accuracy (%) calling the smallest cheap-judge margins |p - 0.5| first",
    "variance_only": "accuracy (%) of the poster's router (largest posterior variance first)",
    "random": "accuracy (%) of exact-k random routing, in expectation over the k-subsets",
    "oracle": "accuracy (%) of an oracle that knows which pairs the strong judge fixes",
    "escalation_vs_random": "escalation minus random, paired over splits (points)",
    "se_vs_random": "Nadeau-Bengio corrected standard error of that difference",
    "escalation_vs_margin": "escalation minus margin, paired over splits (points)",
    "se_vs_margin": "Nadeau-Bengio corrected standard error of that difference",
    "splits": "random 60/40 train/test splits behind the row",
}


def summarise(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Headline: mean accuracy of each router per call level, and its paired differences."""
    acc = rows.pivot_table(
        index="call_fraction", columns="router", values="accuracy", aggfunc="mean"
    )
    acc = acc[[r for r in ROUTERS if r in acc.columns]]
    vs_random = paired_table(rows, "random")
    vs_margin = paired_table(rows, "margin")
    head = acc.reset_index()
    head.columns.name = None
    for ref, table in (("random", vs_random), ("margin", vs_margin)):
        esc = table[table["router"] == "escalation"].set_index("call_fraction")
        head[f"escalation_vs_{ref}"] = head["call_fraction"].map(esc[f"diff_vs_{ref}"])
        head[f"se_vs_{ref}"] = head["call_fraction"].map(esc["se_corrected"])
    head["splits"] = rows["round"].nunique()
    head.attrs["legend"] = HEADLINE_LEGEND
    tables = {"headline": head, "vs_random": vs_random, "vs_margin": vs_margin}
    if "auc_cheap_wrong" in rows.columns:
        first = rows[rows["call_fraction"] == rows["call_fraction"].min()]
        tables["detection_auc"] = (
            first.groupby("router", sort=False)[["auc_cheap_wrong", "auc_strong_gains"]]
            .mean()
            .dropna()
            .reset_index()
        )
    return tables


def figures(rows: pd.DataFrame) -> dict:
    """Accuracy against strong-judge calls, one line per router."""
    from simulations import plotting

    med = rows.groupby(["call_fraction", "router"], as_index=False)["accuracy"].mean()
    med["call_pct"] = 100 * med["call_fraction"]
    fig = plotting.line_panels(
        med,
        x="call_pct",
        y="accuracy",
        hue="router",
        hue_order=list(ROUTERS),
        xlabel="strong-judge calls (% of test pairs)",
        ylabel="accuracy vs human gold (%)",
        hline=None,
        title=f"Escalating to {rows['strong_judge'].iloc[0]} from "
        f"{rows['cheap_judge'].iloc[0]} (mean over splits)",
    )
    return {"accuracy_vs_calls_judge_escalation.png": fig}
