"""RacerRouter fit time, robust="both" against robust="none" (issue 10, item 4).

``python -m benchmarks.racer_fit`` fits ``RacerRouter(3.0)`` on
``racer_dro.datasets.make_judge_data(40000, d=1024)`` (the RACER paper's scale:
40K queries, 1024-d embeddings) with ``robust="none"`` and ``robust="both"``
(default temperatures) and prints one row per number of arms (K = 2, and K = 3
with a third, middle arm, see :func:`make_data`): both fit times, their ratio,
the iterations run, the kept iterate, and its validation worst-case reward and
cost with standard errors. ``--quick`` runs a small instance (n = 3,000, d = 32)
and adds the reference fit: the primal-dual run to its tolerance or ``max_iter``
with the exact Newton refits and no early stopping (the fit before this
benchmark existed), whose kept iterate the fast fit should match within
standard errors. Timings are one run each on a shared machine
(``OMP_NUM_THREADS=1``): compare the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from racer_dro import RacerRouter
from racer_dro.datasets import make_judge_data

BUDGET = 3.0


def make_data(n: int, d: int, n_arms: int, random_state: int = 0):
    """``make_judge_data`` with, for ``n_arms = 3``, a middle arm appended.

    The middle arm's accuracy is the mean of the two judges' plus 0.03
    (clipped to [0, 1]); its cost is the mean of their realised costs.
    Returns ``(X, rewards, costs)``.

    Examples
    --------
    >>> X, rewards, costs = make_data(100, 8, 3)
    >>> X.shape, rewards.shape, costs.shape
    ((100, 8), (100, 3), (100, 3))
    """
    data = make_judge_data(n, d=d, random_state=random_state)
    if n_arms == 2:
        return data.X, data.rewards, data.costs
    if n_arms != 3:
        raise ValueError(f"`n_arms` must be 2 or 3, got {n_arms!r}")
    rng = np.random.default_rng(random_state + 1)
    p = np.clip(data.expected_rewards.mean(axis=1) + 0.03, 0.0, 1.0)
    middle = (rng.random(n) < p).astype(float)
    rewards = np.column_stack([data.rewards, middle])
    costs = np.column_stack([data.costs, data.costs.mean(axis=1)])
    return data.X, rewards, costs


def _validation_quality(router, X, rewards, costs) -> dict:
    """Kept iterate's validation worst-case reward and cost, each with its standard error.

    The worst cases are ``history_``'s; the standard errors are the sd of the
    per-row policy reward (cost) over the square root of the validation rows.
    """
    h = router.history_.loc[router.best_iteration_]
    idx = router.validation_indices_
    pi = router.predict_proba(X[idx])
    r = (pi * rewards[idx]).sum(axis=1)
    c = (pi * costs[idx]).sum(axis=1)
    m = len(idx)
    return {
        "val_reward": float(h.validation_reward),
        "val_reward_se": float(r.std() / math.sqrt(m)),
        "val_cost": float(h.validation_cost),
        "val_cost_se": float(c.std() / math.sqrt(m)),
    }


def _timed_fit(router, X, rewards, costs):
    start = time.perf_counter()
    router.fit(X, rewards, costs)
    return time.perf_counter() - start


def row(n: int, d: int, n_arms: int, reference: bool = False) -> dict:
    """One row of the table (see the module notes).

    Examples
    --------
    >>> r = row(600, 8, 2)
    >>> r["iterations"] >= 1 and r["val_cost_se"] > 0
    True
    """
    X, rewards, costs = make_data(n, d, n_arms)
    none = RacerRouter(BUDGET, robust="none", random_state=0)
    t_none = _timed_fit(none, X, rewards, costs)
    both = RacerRouter(BUDGET, robust="both", random_state=0)
    t_both = _timed_fit(both, X, rewards, costs)
    out = {
        "K": n_arms,
        "n": n,
        "d": d,
        "time_none_s": t_none,
        "time_both_s": t_both,
        "ratio": t_both / t_none,
        "iterations": both.n_iter_,
        "kept_iteration": both.best_iteration_,
    }
    out.update(_validation_quality(both, X, rewards, costs))
    if reference:
        # The fit as it was: exact Newton refits, no early stopping.
        ref = RacerRouter(
            BUDGET,
            robust="both",
            policy_model=LogisticRegression(solver="newton-cholesky", tol=1e-8),
            n_iter_no_change=None,
            max_iter=40,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["time_reference_s"] = _timed_fit(ref, X, rewards, costs)
        q = _validation_quality(ref, X, rewards, costs)
        out["ref_iterations"] = ref.n_iter_
        out["ref_val_reward"] = q["val_reward"]
        out["ref_val_cost"] = q["val_cost"]
        out["reward_within_se"] = bool(
            abs(out["val_reward"] - q["val_reward"]) <= q["val_reward_se"]
        )
        out["cost_within_se"] = bool(
            abs(out["val_cost"] - q["val_cost"]) <= q["val_cost_se"]
        )
    return out


def table(quick: bool = False, verbose: bool = False) -> pd.DataFrame:
    """The rows: paper scale (n = 40,000, d = 1,024), or the quick instance.

    No example here: even the quick table takes seconds; its columns are
    checked in ``tests/benchmarks/test_racer_fit.py``.
    """
    n, d = (3000, 32) if quick else (40000, 1024)
    rows = []
    for k in (2, 3):
        rows.append(row(n, d, k, reference=quick))
        if verbose:
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    """Print the table (``--quick``: the small instance with the reference fit).

    Examples
    --------
    >>> main(["--help"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    SystemExit: 0
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small instance")
    args = parser.parse_args(argv)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(
            table(args.quick, verbose=True).to_string(index=False, float_format="%.4g")
        )


if __name__ == "__main__":
    main()
