"""Benchmark: metarouter's R/DR learners against econml, speed and accuracy in one run.

On Nie & Wager's (2021) simulation setups A-D (known CATE ``tau``), for each
setup and seed the same training data, the same cross-fitting folds and the
same base learners (histogram gradient boosting) are given to

- ``metarouter.RLearner`` and ``econml.dml.NonParamDML`` (the R-learner), and
- ``metarouter.DRLearner`` (separate ``mu_0``, ``mu_1``) and ``econml.dr.DRLearner``
  (one ``model_regression`` on ``[X, T]``, econml's own design).

Reported per row: median fit time over ``repeats`` fits of each, in CPU seconds
of this process (``time.process_time``) with single-threaded numerical
libraries, so the comparison is of the implementations and is not at the mercy
of other load on the machine; the ratio ours / econml; and the held-out CATE
MSE of each against the known ``tau`` (and their ratio).

Run ``python -m benchmarks.metarouter_econml --quick`` (seconds) or with
``--n 2000 --repeats 3 --out results/`` for the full table.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

__all__ = ["main", "nie_wager", "run"]

SETUPS = ("A", "B", "C", "D")


def nie_wager(setup: str, n: int, d: int = 6, sigma: float = 1.0, random_state=None):
    """Nie & Wager (2021), section 6 setups: ``X, y, t, tau``.

    ``y = b(X) + (t - 0.5) tau(X) + sigma eps`` with ``t ~ Bernoulli(e(X))``:

    - A: ``X ~ U[0, 1]^d``, ``b = sin(pi x1 x2) + 2 (x3 - 0.5)^2 + x4 + 0.5 x5``,
      ``e = trim_0.1(sin(pi x1 x2))``, ``tau = (x1 + x2) / 2``.
    - B: ``X ~ N(0, I)``, ``b = max(0, x1 + x2, x3) + max(0, x4 + x5)``, ``e = 1/2``,
      ``tau = x1 + log(1 + exp(x2))``.
    - C: ``X ~ N(0, I)``, ``b = 2 log(1 + exp(x1 + x2 + x3))``,
      ``e = 1 / (1 + exp(x2 + x3))``, ``tau = 1``.
    - D: ``X ~ N(0, I)``, ``b = (max(0, x1 + x2 + x3) + max(0, x4 + x5)) / 2``,
      ``e = 1 / (1 + exp(-x1) + exp(-x2))``, ``tau = max(0, x1 + x2 + x3) - max(0, x4 + x5)``.
    """
    if setup not in SETUPS:
        raise ValueError(f"`setup` must be one of {SETUPS}, got {setup!r}.")
    if d < 5:
        raise ValueError(f"`d` must be at least 5, got {d}.")
    rng = np.random.default_rng(random_state)
    if setup == "A":
        X = rng.uniform(size=(n, d))
        s = np.sin(np.pi * X[:, 0] * X[:, 1])
        b = s + 2 * (X[:, 2] - 0.5) ** 2 + X[:, 3] + 0.5 * X[:, 4]
        e = np.clip(s, 0.1, 0.9)
        tau = (X[:, 0] + X[:, 1]) / 2
    else:
        X = rng.normal(size=(n, d))
        x1, x2, x3, x4, x5 = (X[:, j] for j in range(5))
        if setup == "B":
            b = np.maximum.reduce([np.zeros(n), x1 + x2, x3]) + np.maximum(0, x4 + x5)
            e = np.full(n, 0.5)
            tau = x1 + np.log1p(np.exp(x2))
        elif setup == "C":
            b = 2 * np.log1p(np.exp(x1 + x2 + x3))
            e = 1 / (1 + np.exp(x2 + x3))
            tau = np.ones(n)
        else:
            b = (np.maximum(0, x1 + x2 + x3) + np.maximum(0, x4 + x5)) / 2
            e = 1 / (1 + np.exp(-x1) + np.exp(-x2))
            tau = np.maximum(0, x1 + x2 + x3) - np.maximum(0, x4 + x5)
    t = rng.binomial(1, e)
    y = b + (t - 0.5) * tau + sigma * rng.normal(size=n)
    return X, y, t, tau


def _models(seed: int):
    kw = {
        "max_iter": 50,
        "learning_rate": 0.1,
        "max_depth": 3,
        "min_samples_leaf": 20,
        "l2_regularization": 1.0,
        "random_state": seed,
    }
    return HistGradientBoostingRegressor(**kw), HistGradientBoostingClassifier(**kw)


def _fit_pairs(X, y, t, folds, seed):
    """Zero-argument fits of ours and econml's learners on the same inputs."""
    from econml.dml import NonParamDML
    from econml.dr import DRLearner as EconDRLearner

    from metarouter import DRLearner, RLearner

    reg, clf = _models(seed)

    def ours_r():
        return RLearner(reg, clf, reg, random_state=seed).fit(X, y, t, folds=folds)

    def econ_r():
        return NonParamDML(
            model_y=reg,
            model_t=clf,
            model_final=reg,
            discrete_treatment=True,
            cv=folds,
            random_state=seed,
        ).fit(y, t, X=X)

    def ours_dr():
        return DRLearner(reg, clf, reg, random_state=seed).fit(X, y, t, folds=folds)

    def econ_dr():
        return EconDRLearner(
            model_regression=reg,
            model_propensity=clf,
            model_final=reg,
            cv=folds,
            random_state=seed,
        ).fit(y, t, X=X)

    return {"R": (ours_r, econ_r), "DR": (ours_dr, econ_dr)}


def _timed(fit, repeats: int):
    times, est = [], None
    for _ in range(repeats):
        start = time.process_time()
        est = fit()
        times.append(time.process_time() - start)
    return float(np.median(times)), est


def run(
    n: int = 2000,
    *,
    n_test: int = 2000,
    d: int = 6,
    repeats: int = 3,
    setups=SETUPS,
    seeds=(0, 1, 2),
    n_folds: int = 5,
) -> pd.DataFrame:
    """Measure fit time and held-out CATE MSE of ours and econml's learners.

    Returns one row per (setup, seed, learner) with columns ``time_ours``,
    ``time_econml``, ``time_ratio`` (ours / econml), ``mse_ours``,
    ``mse_econml`` and ``mse_ratio``.
    """
    rows = []
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for setup in setups:
            for seed in seeds:
                X, y, t, _ = nie_wager(setup, n, d, random_state=seed)
                X_test, _, _, tau_test = nie_wager(
                    setup, n_test, d, random_state=10_000 + seed
                )
                skf = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
                folds = [(tr, te) for tr, te in skf.split(X, t)]
                pairs = _fit_pairs(X, y, t, folds, seed)
                for learner, (fit_ours, fit_econ) in pairs.items():
                    t_ours, ours = _timed(fit_ours, repeats)
                    t_econ, econ = _timed(fit_econ, repeats)
                    mse_ours = float(np.mean((ours.predict(X_test) - tau_test) ** 2))
                    mse_econ = float(
                        np.mean((econ.effect(X_test).ravel() - tau_test) ** 2)
                    )
                    rows.append(
                        {
                            "setup": setup,
                            "seed": seed,
                            "learner": learner,
                            "n": n,
                            "time_ours": t_ours,
                            "time_econml": t_econ,
                            "time_ratio": t_ours / t_econ,
                            "mse_ours": mse_ours,
                            "mse_econml": mse_econ,
                            "mse_ratio": mse_ours / mse_econ,
                        }
                    )
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per setup and learner: medians of times and ratios, means of MSEs."""
    return (
        table.groupby(["setup", "learner"])
        .agg(
            time_ours=("time_ours", "median"),
            time_econml=("time_econml", "median"),
            time_ratio=("time_ratio", "median"),
            mse_ours=("mse_ours", "mean"),
            mse_econml=("mse_econml", "mean"),
            mse_ratio=("mse_ratio", "median"),
        )
        .reset_index()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="training rows")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed fits per estimator"
    )
    parser.add_argument("--seeds", type=int, default=3, help="data seeds per setup")
    parser.add_argument("--out", type=Path, default=None, help="directory for the CSV")
    parser.add_argument(
        "--quick", action="store_true", help="tiny run (n=300, 1 repeat)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        table = run(n=300, n_test=500, repeats=1, seeds=(0,))
    else:
        table = run(n=args.n, repeats=args.repeats, seeds=tuple(range(args.seeds)))
    summary = summarise(table)
    with pd.option_context("display.width", 120, "display.precision", 4):
        print(summary.to_string(index=False))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "metarouter_econml.csv", index=False)
        summary.to_csv(args.out / "metarouter_econml_summary.csv", index=False)
        print(f"wrote {args.out / 'metarouter_econml.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
