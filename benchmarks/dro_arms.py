"""The K-arm and two-thread rows of the ``dro`` benchmark, measured in the same run.

1. ``solve_primal_dual`` against ``solve_cvxpy`` with K = 11 arms at n = 2,000
   (the same :class:`racer_dro.RoutingProblem` object, rotating order): wall
   time, ratio, objective gap and largest policy difference.
2. One thread against two (``solve_primal_dual(problem, n_jobs=2)``, the
   machine's two cores) at K = 11, n = 1e5 and K = 2, n = 1e6, rotating order.
   Rows are processed in fixed chunks and summed in chunk order, so the two
   results must be equal bit for bit (checked); only the time may differ.

The problems come from the caller's ``make_problem(n, n_arms=K)``
(:func:`benchmarks.dro.make_problem`'s family).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from benchmarks._core import (
    Cache,
    cache_key,
    describe,
    median_ratios,
    spread,
    time_rotating,
)
from racer_dro import solve_cvxpy, solve_primal_dual

__all__ = ["checks", "cvxpy_table", "targets", "threads_table", "views"]

VERSION = 1  # bump when what is measured changes: cached measurements are keyed by it
CVXPY_CASES = ((11, 2_000),)
THREAD_CASES = ((11, 100_000), (2, 1_000_000))
QUICK_CVXPY_CASES = ((11, 300),)
QUICK_THREAD_CASES = ((11, 20_000), (2, 50_000))


def _n(n: int) -> str:
    """``1e5`` for a power of ten from 1e5 up, else ``2,000``."""
    k = round(np.log10(n))
    return f"1e{k}" if n >= 100_000 and n == 10**k else f"{n:,}"


def _cvxpy_row(problem, K: int, n: int, repeats: int) -> dict:
    fns = {
        "ours": lambda: solve_primal_dual(problem),
        "cvxpy": lambda: solve_cvxpy(problem),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a non-converged solve must not pass quietly
        res = time_rotating(fns, repeats)
    ours, ref = res["ours"]["result"], res["cvxpy"]["result"]
    return {
        "K": K,
        "n": n,
        "ours_wall": res["ours"]["wall"],
        "cvxpy_wall": res["cvxpy"]["wall"],
        "objective_gap": abs(ours.objective - ref.objective),
        "policy_max_diff": float(np.max(np.abs(ours.policy - ref.policy))),
        "iterations": ours.n_iter,
        "converged": bool(ours.converged and ref.converged),
    }


def _threads_row(problem, K: int, n: int, repeats: int) -> dict:
    fns = {
        "one": lambda: solve_primal_dual(problem, n_jobs=1),
        "two": lambda: solve_primal_dual(problem, n_jobs=2),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = time_rotating(fns, repeats)
    one, two = res["one"]["result"], res["two"]["result"]
    return {
        "K": K,
        "n": n,
        "one_wall": res["one"]["wall"],
        "two_wall": res["two"]["wall"],
        "two_cpu": res["two"]["cpu"],
        "iterations": one.n_iter,
        "converged": bool(one.converged and two.converged),
        "identical": bool(
            one.objective == two.objective and np.array_equal(one.policy, two.policy)
        ),
    }


def _rows(kind, make_problem, cases, repeats, cache: Cache, progress) -> pd.DataFrame:
    measure = _cvxpy_row if kind == "cvxpy" else _threads_row
    rows = []
    for K, n in tqdm(cases, desc=f"dro: K arms ({kind})", disable=not progress):
        key = cache_key("dro_arms", VERSION, kind, K, n, repeats)
        row = cache.get(key)
        if row is None:
            row = measure(make_problem(n, n_arms=K), K, n, repeats)
            cache.put(key, row)
        rows.append(row)
    return pd.DataFrame(rows)


def cvxpy_table(make_problem, quick, repeats, cache, progress=True) -> pd.DataFrame:
    """Raw rows of table 1 (cached per case)."""
    cases = QUICK_CVXPY_CASES if quick else CVXPY_CASES
    return _rows("cvxpy", make_problem, cases, repeats, cache, progress)


def threads_table(make_problem, quick, repeats, cache, progress=True) -> pd.DataFrame:
    """Raw rows of table 2 (cached per case)."""
    cases = QUICK_THREAD_CASES if quick else THREAD_CASES
    return _rows("threads", make_problem, cases, repeats, cache, progress)


def views(cvx: pd.DataFrame, threads: pd.DataFrame):
    """The two tables as printed in RESULTS.md."""
    cvx_view = pd.DataFrame(
        {
            "K": cvx["K"],
            "n": cvx["n"],
            "ours s": cvx["ours_wall"].map(spread),
            "CVXPY s": cvx["cvxpy_wall"].map(spread),
            "CVXPY / ours": median_ratios(cvx["cvxpy_wall"], cvx["ours_wall"]),
            "objective gap": cvx["objective_gap"],
            "max policy diff": cvx["policy_max_diff"],
            "Newton steps": cvx["iterations"],
            "converged": cvx["converged"],
        }
    )
    threads_view = pd.DataFrame(
        {
            "K": threads["K"],
            "n": threads["n"],
            "one thread s": threads["one_wall"].map(spread),
            "two threads s": threads["two_wall"].map(spread),
            "one / two": median_ratios(threads["one_wall"], threads["two_wall"]),
            "two threads CPU s": threads["two_cpu"].map(spread),
            "Newton steps": threads["iterations"],
            "same result bit for bit": threads["identical"],
        }
    )
    return cvx_view, threads_view


def targets(cvx: pd.DataFrame, threads: pd.DataFrame) -> list[tuple[str, str, bool]]:
    """The K-arm issue's speed rows that these tables measure."""
    out = []
    for _, row in cvx.iterrows():
        (ratio,) = median_ratios([row["cvxpy_wall"]], [row["ours_wall"]])
        out.append(
            (
                (
                    f"K = {row['K']}, n = {_n(row['n'])}: at least 50x faster than "
                    "CVXPY, gap below 1e-6"
                ),
                f"{ratio:.0f}x, gap {row['objective_gap']:.1e}",
                bool(ratio >= 50 and row["objective_gap"] < 1e-6),
            )
        )
    for _, row in threads.iterrows():
        bound = 1.0 if row["K"] > 2 else 0.5
        for label, col in (("one thread", "one_wall"), ("two threads", "two_wall")):
            t = describe(row[col])["median"]
            out.append(
                (
                    f"K = {row['K']}, n = {_n(row['n'])} in at most {bound:g} s, {label}",
                    f"{t:.2f} s (median)",
                    bool(t <= bound),
                )
            )
    return out


def checks(cvx: pd.DataFrame, threads: pd.DataFrame) -> dict[str, bool]:
    """Accuracy checks of these rows (they join the section's checks)."""
    return {
        "K arms: objective gap <= 1e-6 and policy within 1e-3 of CVXPY": bool(
            (cvx["objective_gap"] <= 1e-6).all()
            and (cvx["policy_max_diff"] <= 1e-3).all()
        ),
        "K arms and threads: every solve converged": bool(
            cvx["converged"].all() and threads["converged"].all()
        ),
        "two threads give the one-thread result bit for bit": bool(
            threads["identical"].all()
        ),
    }
