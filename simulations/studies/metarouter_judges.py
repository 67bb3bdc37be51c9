"""The step-1 learners on real LLM judges (``python -m simulations metarouter-shift --data DIR``).

``DIR`` is a judge directory (the judge-escalation ``pairs.csv``: 500 response
pairs, the probability that response B is better from each of three LLM judges,
and a human verdict). This is the meta-router's problem with a bias nobody
wrote: the gold-standard label of a pair is the human's, ``r = +1`` when the
human prefers response B and ``-1`` for A; its preference-based label is a
judge's ``2 p_B - 1`` (graded, with whatever bias the judge has, e.g. towards
the longer answer). ``m(q) = E[r | q] = P(B) - P(A)`` given the pair's
features: TF-IDF + SVD of the instruction and both responses (fitted on the
training pairs) and the length features of
:func:`simulations.studies.escalation_realdata.length_features`.

Each round is one random 60/40 split of the pairs. Of the training pairs,
``n_gs`` carry the human label (GS rows) and the others the judge's (PB rows;
disjoint, as in the paper). ``gs_design``:

* ``"random"``: the GS pairs are a simple random sample;
* ``"short"``: covariate shift between the sources, GS pairs drawn with
  probability ``expit(-2 z)``, ``z`` the standardised log length of the
  instruction (humans label short, benchmark-like prompts; the judge labels
  the long user traffic, and the test pairs are drawn like the training pool).

Every router of :mod:`simulations.studies.metarouter_shift_study`
(:data:`simulations.studies._metarouter_fits.ROUTERS`) is fitted
with the library's default learners, and ``constant`` (the GS rows' mean) is
the floor a useful router must beat. On the test pairs, scored by their human
labels:

* ``held_out_error``: mean ``(r - m_hat)^2``. GS labels are unbiased for
  ``m``, so this is the MSE of ``m_hat`` plus the labels' noise, the same for
  every router: differences between routers are differences of MSE;
* ``accuracy``: the decision "B iff m_hat > 0" against the human verdict.

Paired differences over splits come with the Nadeau-Bengio corrected standard
error ``sd * sqrt(1 / J + n_test / n_train)`` (the splits overlap).

References
----------
Nadeau and Bengio, "Inference for the Generalization Error", 2003.
"""

from __future__ import annotations

import types
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from simulations.errors import DataError
from simulations.studies import _common, _metarouter_fits, escalation_realdata

SETTING = ("judge", "n_gs", "gs_design")
DESIGNS = ("random", "short")


def make_configs(quick: bool, data_dir: str) -> list[dict]:
    """Every judge of the directory as the PB label, 50 or 100 GS pairs, both designs.

    Quick: the first judge (the cheap one of
    :func:`~simulations.studies.escalation_realdata.find_judges`), 100 GS pairs,
    both designs.
    """
    try:
        table = escalation_realdata.load_table(data_dir)
    except DataError:
        raise
    except ValueError as err:  # a malformed file: one line naming --data, no traceback
        raise DataError(f"--data {str(data_dir)!r}: {err}") from err
    judges = (escalation_realdata.find_judges(data_dir)[0],) if quick else table.judges
    base = {
        "dataset": "judge-escalation",
        "data_dir": str(Path(data_dir).resolve()),
        "train_fraction": 0.6,
        "n_components": 10,
        "learner": "default",
        "n_folds": 5,
    }
    return [
        {**base, "judge": j, "n_gs": n, "gs_design": d}
        for j in judges
        for n in ((100,) if quick else (50, 100))
        for d in DESIGNS
    ]


def gs_rows(train_idx, n_gs: int, design: str, prompt_length, rng) -> np.ndarray:
    """The training pairs that carry the human label (sorted indices).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> rows = gs_rows(np.arange(100), 10, "short", np.arange(100.0), rng)
    >>> rows.size, bool(np.mean(rows) < 40)  # tilted towards short prompts
    (10, True)
    """
    train_idx = np.asarray(train_idx)
    if not 2 <= n_gs < train_idx.size:
        raise ValueError(
            f"`n_gs` must be between 2 and the {train_idx.size - 1} training pairs "
            f"less one, got {n_gs}"
        )
    if design == "random":
        p = None
    elif design == "short":
        z = np.asarray(prompt_length, float)[train_idx]
        z = (z - z.mean()) / (z.std() or 1.0)
        p = expit(-2.0 * z)
        p = p / p.sum()
    else:
        raise ValueError(f"`gs_design` must be one of {DESIGNS}, got {design!r}")
    return np.sort(rng.choice(train_idx, n_gs, replace=False, p=p))


def run_round(config: dict, seed: np.random.SeedSequence) -> pd.DataFrame:
    """One split: every router's held-out error and decision accuracy on the test pairs."""
    from simulations.realdata import make_featuriser

    s_split, s_gs, s_feat, s_fit = _common.child_ints(seed, 4)
    table = escalation_realdata.load_table(config["data_dir"])
    frame = table.frame
    gold = table.gold
    keep = gold != 0.5  # a tie is no preference to learn
    r_gold = 2.0 * gold - 1.0
    r_judge = 2.0 * table.probability(config["judge"]) - 1.0
    pairs = np.flatnonzero(keep)
    perm = np.random.default_rng(s_split).permutation(pairs)
    n_train = round(config["train_fraction"] * pairs.size)
    tr, te = np.sort(perm[:n_train]), np.sort(perm[n_train:])
    texts = escalation_realdata.pair_texts(frame)
    feat = make_featuriser(config["n_components"], random_state=s_feat)
    feat.fit([texts[i] for i in tr])
    lengths = escalation_realdata.length_features(frame)
    X = np.column_stack([feat.transform(texts), lengths])
    gs = gs_rows(
        tr,
        config["n_gs"],
        config["gs_design"],
        lengths[:, 0],
        np.random.default_rng(s_gs),
    )
    pb = np.setdiff1d(tr, gs)
    data = types.SimpleNamespace(
        X=np.vstack([X[gs], X[pb]]),
        y=np.r_[r_gold[gs], r_judge[pb]],
        source=np.r_[np.ones(gs.size, int), np.zeros(pb.size, int)],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # clipped propensities etc.
        routers, chosen = _metarouter_fits.fit_routers(config, data, s_fit)
    predictions = {
        name: routers[name].predict(X[te]) for name in _metarouter_fits.ROUTERS
    }
    predictions["constant"] = np.full(te.size, r_gold[gs].mean())
    rows = []
    for name, m_hat in predictions.items():
        rows.append(
            {
                "router": name,
                "held_out_error": float(np.mean((r_gold[te] - m_hat) ** 2)),
                "accuracy": 100 * float(np.mean((m_hat > 0) == (r_gold[te] > 0))),
                "chosen": chosen if name == "auto" else name,
                "n_train": int(tr.size),
                "n_test": int(te.size),
                "gs_mean_prompt_length": float(np.mean(lengths[gs, 0])),
                "test_mean_prompt_length": float(np.mean(lengths[te, 0])),
            }
        )
    return pd.DataFrame(rows)


def paired_differences(rows: pd.DataFrame, metric: str, reference: str) -> pd.DataFrame:
    """Per setting and router: mean of ``metric`` minus ``reference``'s, paired by split
    (:func:`simulations.studies._common.paired_split_differences`: Nadeau-Bengio SEs)."""
    by = [c for c in SETTING if c in rows.columns]
    return _common.paired_split_differences(rows, metric, reference, by)


_ERR = "mean over splits of the test pairs' mean (r - m_hat)^2, r the human label: "

#: What each headline column holds (printed under the table by the CLI).
HEADLINE_LEGEND = {
    "judge": "the LLM judge whose probabilities are the PB labels",
    "n_gs": "training pairs with the human label (GS rows); the rest carry the judge's",
    "gs_design": "random: GS pairs at random; short: GS pairs tilted to short prompts",
    "r": _ERR + "R-learner",
    "dr-split": _ERR + "DR-learner, one outcome model per source",
    "dr-joint": _ERR + "DR-learner, one outcome model on [X, source]",
    "offset": _ERR + "offset learner",
    "gs-only": _ERR + "GS rows alone",
    "pooled": _ERR + "GS and judge labels pooled uncorrected",
    "auto": _ERR + "cate_learner='auto'",
    "stacked": _ERR + "StackedMetaRouter",
    "constant": _ERR + "the GS rows' mean (no features): the floor",
    "best": "the fixed router (not auto, stacked or constant) with the smallest error",
    "auto-gs_only": "auto minus GS-only, paired over splits (negative: auto better)",
    "se": "Nadeau-Bengio corrected standard error of that difference",
    "splits": "random 60/40 train/test splits behind the row",
}


def summarise(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Held-out error and accuracy per router, paired differences, auto's choices."""
    by = [c for c in SETTING if c in rows.columns]
    order = [*_metarouter_fits.ROUTERS, "constant"]
    err = rows.pivot_table(index=by, columns="router", values="held_out_error")
    err = err[[r for r in order if r in err.columns]]
    fixed = [r for r in err.columns if r not in ("auto", "stacked", "constant")]
    head = err.copy()
    head["best"] = err[fixed].idxmin(axis=1)
    vs_gs = paired_differences(rows, "held_out_error", "gs-only")
    auto = vs_gs[vs_gs["router"] == "auto"].set_index(by)
    head["auto-gs_only"] = auto["diff_vs_gs-only"]
    head["se"] = auto["se_corrected"]
    head["splits"] = rows.groupby(by)["round"].nunique()
    head = head.reset_index()
    head.columns.name = None
    head.attrs["legend"] = HEADLINE_LEGEND
    acc = rows.pivot_table(index=by, columns="router", values="accuracy")
    acc = acc[[r for r in order if r in acc.columns]].reset_index()
    acc.columns.name = None
    choices = (
        rows[rows["router"] == "auto"]
        .groupby(by)["chosen"]
        .value_counts()
        .unstack(fill_value=0)
        .reset_index()
    )
    return {
        "headline": head,
        "vs_gs_only": vs_gs,
        "vs_pooled": paired_differences(rows, "held_out_error", "pooled"),
        "accuracy": acc,
        "auto_choices": choices,
    }


def figures(rows: pd.DataFrame) -> dict:
    """Held-out error per router against the GS pairs (95% band over splits), one panel
    per GS design, one figure per judge."""
    from simulations import plotting

    by = ["judge", "n_gs", "gs_design", "router"]
    stats = _common.mean_band(rows, by, "held_out_error")
    figs = {}
    for judge, sub in stats.groupby("judge"):
        figs[f"judges_error_{judge}.png"] = plotting.line_panels(
            sub,
            x="n_gs",
            y="held_out_error",
            low="low",
            high="high",
            hue="router",
            panel="gs_design",
            panel_label="GS pairs drawn",
            hue_order=[
                r
                for r in (*_metarouter_fits.ROUTERS, "constant")
                if r in set(sub["router"])
            ],
            xlabel="training pairs with the human label (GS)",
            ylabel="held-out error vs human labels (95% band)",
            title=f"Step-1 learners with {judge} as the PB judge",
            hline=None,
        )
    return figs
