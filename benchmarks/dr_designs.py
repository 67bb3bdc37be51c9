"""The DR-learner's two outcome designs against econml's default ``DRLearner``.

``python -m benchmarks.dr_designs [--trees N] [--seeds K] [--quick]`` prints, per
Nie & Wager setup (A-D), dimension ``d`` and size ``n``, the test MSE of ``tau`` of
our ``DRLearner(outcome_design="split")`` and ``("joint")`` and of econml's default
``DRLearner`` (one ``model_regression`` on ``[X, T]``), all with the same random
forests, the same 2 folds and ``min_propensity`` equal to our clip, and the ratios
ours / econml's. The joint design is econml's computation (tests check agreement to
1e-8 on shared folds), so its ratio is 1 up to the forests' seeds per fold.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from benchmarks.cate import SETUPS, base_learners, cate, learner_fits, nie_wager


def run(trees: int, seeds: int, sizes, dims) -> pd.DataFrame:
    rows = []
    params = {"n_estimators": trees, "min_samples_leaf": 5}
    for setup in SETUPS:
        for d in dims:
            for n in sizes:
                rec = {"setup": setup, "d": d, "n": n}
                mse = {"split": [], "joint": [], "econml": []}
                for seed in range(seeds):
                    X, y, t, _ = nie_wager(setup, n, d, random_state=seed)
                    Xt, _, _, tau = nie_wager(
                        setup, 2000, d, random_state=10_000 + seed
                    )
                    folds = list(
                        StratifiedKFold(2, shuffle=True, random_state=seed).split(X, t)
                    )
                    reg, clf = base_learners("rf", params, seed)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        for design in ("split", "joint"):
                            ours, econ = learner_fits(
                                "DR",
                                reg,
                                clf,
                                X,
                                y,
                                t,
                                folds,
                                seed=seed,
                                n_jobs=1,
                                econml_regression="joint",
                                outcome_design=design,
                            )
                            mse[design].append(np.mean((cate(ours(), Xt) - tau) ** 2))
                        mse["econml"].append(np.mean((cate(econ(), Xt) - tau) ** 2))
                for k, v in mse.items():
                    rec[f"mse_{k}"] = float(np.mean(v))
                rec["split/econml"] = rec["mse_split"] / rec["mse_econml"]
                rec["joint/econml"] = rec["mse_joint"] / rec["mse_econml"]
                print(rec, flush=True)
                rows.append(rec)
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="n = 1000, d = 6 only")
    args = parser.parse_args(argv)
    sizes = (1000,) if args.quick else (1000, 5000)
    dims = (6,) if args.quick else (6, 50)
    table = run(args.trees, args.seeds, sizes, dims)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))


if __name__ == "__main__":
    main()
