"""``python -m simulations.studies.metarouter_selection_rules``: pick one step-1 learner, or combine?

With about a hundred GS rows, ``MetaRouter(cate_learner="auto")`` picks the candidate
with the smallest held-out GS error, and the pick is partly noise; the
:class:`~metarouter.stacking.StackedMetaRouter` combines the same candidates. This
study scores both, and three variants, on the same held-out predictions of every
draw, against the test MSE of ``m`` of the best fixed candidate:

- ``auto``: the smallest held-out error (``MetaRouter("auto")``'s default rule);
- ``auto one-se``: pooling unless another candidate is better by one paired SE
  (``MetaRouter("auto", selection="one-se")``);
- ``stacked, all six``: the super learner over every candidate
  (``StackedMetaRouter(candidates=CANDIDATES)``);
- ``stacked``: the super learner over R, offset, GS-only and pooled
  (``StackedMetaRouter()``, :data:`metarouter.stacking.DEFAULT_CANDIDATES`);
- ``one-se average``: equal weights on the candidates within one paired SE of the
  smallest error (an average over a model confidence set, Hansen, Lunde and Nason
  2011).

Processes: the six of :mod:`~simulations.studies.metarouter_processes_study`,
``make_shift_data`` at shifts 0.5 and 1, and the three of :data:`HELD_OUT`, written
after the library's defaults were chosen (100 GS rows against 3000 PB rows, 2000
test queries). Learners: random forests (``--trees``, min leaf 5) and the library's
boosting, 3 folds. Each draw's candidates' predictions are kept in ``--out`` (one
file per draw): a killed run resumes where it stopped. Prints the mean test MSE
over the best fixed candidate's per process and learner, and a summary per rule.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from simulations.studies import metarouter_processes_study as processes

D = processes.D
RULES = ("auto", "auto one-se", "stacked, all six", "stacked", "one-se average")


def _centre(shift: dict) -> np.ndarray:
    mu = np.zeros(D)
    for j, v in shift.items():
        mu[j] = v
    return mu


#: Processes written apart from the study's: (m, bias, GS centre, noise sd)
HELD_OUT = {
    "held-out sparse": (
        lambda X: 0.5 * np.sin(1.5 * X[:, 0]) + 0.3 * X[:, 1],
        lambda X: 0.5 * X[:, 2] ** 2 - 0.3,
        {2: -0.6, 0: 0.4}, 0.5,
    ),
    "held-out noisy": (
        lambda X: 0.6 * X[:, 0] - 0.3 * X[:, 1],
        lambda X: 0.6 * np.tanh(X[:, 4]),
        {0: 1.0}, 1.0,
    ),
    "held-out bias-on-m": (
        lambda X: 2.0 / (1.0 + np.exp(-2.0 * X[:, 0])) - 1.0,
        lambda X: 0.3 * (X[:, 1] > 0) + 0.2 * X[:, 0],
        {1: 0.3}, 0.5,
    ),
}  # fmt: skip

PROCESS_NAMES = (
    *processes.PROCESSES, "make_shift_data 0.5", "make_shift_data 1.0", *HELD_OUT
)  # fmt: skip


def draw(process: str, n_gs: int, n_pb: int, n_test: int, random_state: int):
    """A draw of one of :data:`PROCESS_NAMES`."""
    from metarouter.datasets import make_gs_pb_data, make_shift_data

    if process.startswith("make_shift_data"):
        shift = float(process.split()[-1])
        return make_shift_data(
            n_gs, n_pb, n_test, shift=shift, random_state=random_state
        )
    if process in HELD_OUT:
        m, bias, centre, noise = HELD_OUT[process]
        return make_gs_pb_data(
            m, bias, _centre(centre), n_gs, n_pb, n_test,
            noise=noise, random_state=random_state,
        )  # fmt: skip
    return processes.draw(process, n_gs, n_pb, n_test, random_state)


def candidate_predictions(template, data, seed: int) -> dict:
    """Every candidate's held-out GS predictions and its test predictions (fitted on all rows).

    The held-out predictions are those :class:`~metarouter.stacking.StackedMetaRouter`
    ``(template, candidates=CANDIDATES, random_state=seed)`` scores (the same folds
    and fits; a subset of the candidates gets the same rows); the test predictions
    those of its candidates.
    """
    from sklearn.base import clone

    from metarouter._crossfit import ROLE_SELECT, _base_entropy, child_seed
    from metarouter.selection import CANDIDATES, held_out_gs_predictions

    X, y, s = data.X, data.y, data.source
    select_seed = child_seed(_base_entropy(seed), ROLE_SELECT)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*propensities were clipped")
        held, gs = held_out_gs_predictions(template, X, y, s, random_state=select_seed)
        test = np.array([
            clone(template).set_params(cate_learner=name, random_state=seed)
            .fit(X, y, s).predict(data.X_test)
            for name in CANDIDATES
        ])  # fmt: skip
    return {"held": held, "y_gs": y[gs], "test": test, "m_test": data.m_test}


def rule_weights(rule: str, held: np.ndarray, y_gs: np.ndarray) -> np.ndarray:
    """The weights a rule of :data:`RULES` puts on the candidates (they sum to one)."""
    from metarouter.selection import CANDIDATES, _choose
    from metarouter.stacking import DEFAULT_CANDIDATES, simplex_least_squares

    names = list(CANDIDATES)
    errors = (y_gs - held) ** 2
    w = np.zeros(len(names))
    if rule in ("auto", "auto one-se"):
        chosen, _ = _choose(
            errors, None, CANDIDATES, "min" if rule == "auto" else "one-se"
        )
        w[names.index(chosen)] = 1.0
    elif rule in ("stacked, all six", "stacked"):
        pool = CANDIDATES if rule == "stacked, all six" else DEFAULT_CANDIDATES
        sub = [names.index(n) for n in pool]
        w[sub] = simplex_least_squares(held[sub].T, y_gs)
    elif rule == "one-se average":
        _, res = _choose(errors, None, CANDIDATES)
        keep = res["diff_vs_best"] <= res["se_diff_vs_best"]
        w[keep] = 1.0 / keep.sum()
    else:
        raise ValueError(f"`rule` must be one of {RULES}, got {rule!r}.")
    return w


def score_draw(pred: dict) -> dict:
    """Test MSE of ``m`` of every candidate and every rule's combination."""
    from metarouter.selection import CANDIDATES

    test, m = pred["test"], pred["m_test"]
    row = {n: float(np.mean((test[j] - m) ** 2)) for j, n in enumerate(CANDIDATES)}
    for rule in RULES:
        w = rule_weights(rule, pred["held"], pred["y_gs"])
        row[rule] = float(np.mean((w @ test - m) ** 2))
    return row


def _run_one(process, learner, seed, trees, out: Path) -> dict:
    from sklearn.ensemble import RandomForestRegressor

    from metarouter import MetaRouter

    path = out / f"{process.replace(' ', '_')}__{learner}__{seed}.npz"
    if path.exists():
        pred = dict(np.load(path))
    else:
        data = draw(process, 100, 3000, 2000, random_state=1000 + seed)
        model = None
        if learner == "rf":
            model = RandomForestRegressor(trees, min_samples_leaf=5, n_jobs=1)
        template = MetaRouter(outcome_model=model, scale=None, n_folds=3)
        pred = candidate_predictions(template, data, seed)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **pred)
        tmp.replace(path)  # whole files only: a killed run leaves no half draw
    return {"process": process, "learner": learner, "seed": seed, **score_draw(pred)}


def summarise(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per process and learner, each rule's mean MSE over the best fixed candidate's;
    and per rule the mean and largest of those ratios and the cells at most 1.1."""
    from metarouter.selection import CANDIDATES

    mean = rows.groupby(["learner", "process"]).mean(numeric_only=True)
    ratio = mean[list(RULES)].div(mean[list(CANDIDATES)].min(axis=1), axis=0)
    head = pd.DataFrame({
        "mean ratio": ratio.mean(), "max ratio": ratio.max(),
        "cells <= 1.1": (ratio <= 1.1).sum(),
        "cells <= 0.6 gs-only": (mean[list(RULES)].div(mean["gs-only"], axis=0) <= 0.6).sum(),
    })  # fmt: skip
    return ratio, head


def main(argv=None) -> None:
    """Parse the options, run the draws (resuming), print the tables."""
    from joblib import Parallel, delayed

    parser = argparse.ArgumentParser(
        description="selection rules of the step-1 learner"
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trees", type=int, default=60)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--out", default="results/metarouter_selection_rules")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [
        (p, lr, s, args.trees, out)
        for s in range(args.seeds) for lr in ("rf", "default") for p in PROCESS_NAMES
    ]  # fmt: skip
    rows = Parallel(n_jobs=args.n_jobs, verbose=10)(delayed(_run_one)(*j) for j in jobs)
    ratio, head = summarise(pd.DataFrame(rows))
    fmt = {"float_format": lambda x: f"{x:.2f}"}
    print("test MSE of m_hat over the best fixed candidate's (mean over seeds)")
    print(ratio.to_string(**fmt))
    print(head.to_string(**fmt))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
