"""Study ``metarouter-processes``: the step-1 learners on GS/PB processes of other shapes.

``metarouter-shift`` varies the shift of one process (:func:`metarouter.datasets.make_shift_data`).
This study keeps the regime (scarce GS rows whose queries come from elsewhere than the PB
traffic, a biased judge) and changes the process: which features the GS queries are
shifted on (a feature of ``m``, of the judge's bias, or several), the shapes of ``m`` and
of the bias (thresholds, interactions, linear, constant) and the bias's size (down to a
nearly unbiased judge, where pooling should win). Each process is
:func:`metarouter.datasets.make_gs_pb_data` with the truths of :data:`PROCESSES`; the
routers, their scores and intervals are those of ``metarouter-shift``
(:func:`simulations.studies.metarouter_shift_study.score_routers`), and so is the summary,
with one row per process. It answers "does ``auto`` (or the stacked router) hold on a
process it was not written for", as ``auto/best`` and ``stacked/best``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simulations.errors import DataError
from simulations.studies import _common
from simulations.studies.metarouter_shift_study import score_routers, summarise

__all__ = ["PROCESSES", "Process", "draw", "make_configs", "run_round", "summarise"]

D = 12  # features of every process


@dataclass(frozen=True)
class Process:
    """A GS/PB process: quality gain ``m``, judge bias ``bias``, GS centre, noise sd."""

    description: str
    m: Callable[[np.ndarray], np.ndarray]
    bias: Callable[[np.ndarray], np.ndarray]
    gs_shift: dict  # feature index -> GS queries' centre on it (sd of the PB queries)
    noise: float

    def gs_mean(self) -> np.ndarray:
        """The GS queries' centre, a vector of length :data:`D`."""
        mu = np.zeros(D)
        for j, v in self.gs_shift.items():
            mu[j] = v
        return mu


def _m_threshold(X):
    return 0.6 * (X[:, 0] > 0) + 0.2 * X[:, 1] * X[:, 2] + 0.5 * np.cos(X[:, 4])


def _bias_threshold(X):
    return -0.2 + 0.6 * (X[:, 5] > 0.3) + 0.15 * X[:, 6] ** 2


def _m_linear(X):
    return 0.5 * X[:, 0] + 0.4 * np.sin(2 * X[:, 1])


def _bias_linear(X):
    return 0.4 * X[:, 3]


def _m_smooth(X):
    return np.tanh(X[:, 0]) + 0.3 * X[:, 1]


def _bias_step(X):
    return 0.3 + 0.5 * (X[:, 3] > 0)


def _m_small(X):
    return 0.6 * np.tanh(X[:, 0]) + 0.3 * X[:, 1]


def _bias_small(X):
    return np.full(X.shape[0], 0.05)


def _m_interaction(X):
    return 0.5 * np.sin(X[:, 0]) + 0.4 * X[:, 1] * (X[:, 2] > 0)


def _bias_interaction(X):
    return 0.2 + 0.4 * np.tanh(X[:, 4]) * (X[:, 5] > 0)


def _m_steep(X):
    return 0.5 * np.tanh(2 * X[:, 0]) + 0.3 * np.cos(X[:, 1])


def _bias_constant(X):
    return np.full(X.shape[0], 0.35)


#: The processes, by what they vary against ``make_shift_data`` (shift on a feature of
#: ``m``, a smooth bias on a feature ``m`` does not use).
PROCESSES = {
    "shift-m-and-bias": Process(
        "GS shifted on a feature of m (+0.7) and of the bias (-0.7); threshold m and bias",
        _m_threshold, _bias_threshold, {0: 0.7, 5: -0.7}, 0.7,
    ),
    "linear-bias": Process(
        "GS shifted on a feature of m (+0.5); a bias linear in an unused feature",
        _m_linear, _bias_linear, {0: 0.5}, 0.6,
    ),
    "shift-bias-only": Process(
        "GS shifted on the bias feature (+0.6) only; a step bias",
        _m_smooth, _bias_step, {3: 0.6}, 0.6,
    ),
    "unbiased-judge": Process(
        "GS shifted on a feature of m (+0.5); a judge off by 0.05 everywhere",
        _m_small, _bias_small, {0: 0.5}, 0.6,
    ),
    "three-shifted": Process(
        "GS shifted on three features of m (+0.5 each); a bias with an interaction",
        _m_interaction, _bias_interaction, {0: 0.5, 1: 0.5, 2: 0.5}, 0.6,
    ),
    "constant-bias": Process(
        "GS shifted on a feature of m (+0.8); a constant bias of 0.35",
        _m_steep, _bias_constant, {0: 0.8}, 0.6,
    ),
}  # fmt: skip


def draw(process: str, n_gs: int, n_pb: int, n_test: int, random_state: int):
    """A draw of :data:`PROCESSES` ``[process]`` (:func:`metarouter.datasets.make_gs_pb_data`)."""
    from metarouter.datasets import make_gs_pb_data

    p = PROCESSES[process]
    return make_gs_pb_data(
        p.m, p.bias, p.gs_mean(), n_gs, n_pb, n_test,
        noise=p.noise, random_state=random_state,
    )  # fmt: skip


def make_configs(quick: bool = False, data_dir: str | None = None) -> list[dict]:
    """Every process; full: 100 GS rows against 3000 PB rows, forests (200 trees) and the
    library's boosting, 3 folds; quick: 50 GS rows against 1000, 40-tree forests, 2 folds
    (3 rounds: a few minutes on 2 cores)."""
    if data_dir is not None:
        raise DataError(
            f"--data {data_dir!r}: the metarouter-processes study runs on simulated "
            "data only; drop --data (real judges: metarouter-shift --data)."
        )
    if quick:
        return [
            {"process": p, "n_gs": 50, "n_pb": 1000, "n_test": 1000,
             "learner": "rf_small", "n_folds": 2, "n_holdout": 200}
            for p in PROCESSES
        ]  # fmt: skip
    return [
        {"process": p, "n_gs": 100, "n_pb": 3000, "n_test": 2000,
         "learner": lr, "n_folds": 3, "n_holdout": 300}
        for lr in ("rf", "default")
        for p in PROCESSES
    ]  # fmt: skip


def run_round(config: dict, seed: np.random.SeedSequence) -> pd.DataFrame:
    """One round: per router, the test MSE of ``m`` and its EG intervals at PMUR 0.3."""
    s_data, s_hold, s_fit = _common.child_ints(seed, 3)
    n = (config["n_gs"], config["n_pb"], config["n_test"])
    data = draw(config["process"], *n, random_state=s_data)
    # fresh GS rows from the same GS distribution, never seen by the routers
    hold = draw(config["process"], config["n_holdout"], 0, 1, random_state=s_hold)
    return score_routers(config, data, hold, s_fit)


def figures(rows: pd.DataFrame) -> dict:
    """Per learner: each router's mean test MSE of ``m`` over the best fixed router's,
    one group of bars per process."""
    import matplotlib.pyplot as plt

    head = summarise(rows)["headline"]
    routers = [c for c in head.columns if c in set(rows["router"]) and "/" not in c]
    figs = {}
    for learner, sub in head.groupby("learner"):
        fig, ax = plt.subplots(figsize=(1.6 * len(sub) + 3, 4.2))
        best = sub[[c for c in routers if c not in ("auto", "stacked")]].min(axis=1)
        width = 0.8 / len(routers)
        for k, name in enumerate(routers):
            ax.bar(
                np.arange(len(sub)) + (k - len(routers) / 2 + 0.5) * width,
                sub[name] / best, width, label=name,
            )  # fmt: skip
        ax.axhline(1.0, color="black", lw=0.8)
        ax.set_xticks(np.arange(len(sub)), sub["process"], rotation=20, ha="right")
        ax.set_ylabel("test MSE of m_hat / best fixed router's")
        ax.set_yscale("log")
        ax.set_title(f"Step-1 learners on other GS/PB processes - {learner}")
        ax.legend(ncol=4, fontsize=8)
        fig.tight_layout()
        figs[f"processes_{learner}.png"] = fig
    return figs


def plot(rows: pd.DataFrame, directory: Path) -> list[Path]:
    """Write :func:`figures` as PNG files into ``directory``."""
    return _common.save_all(figures(rows), directory)
