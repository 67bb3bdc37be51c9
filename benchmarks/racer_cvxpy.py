"""Benchmark: the RACER primal-dual solver against its CVXPY reference.

For each size ``n`` one random problem (robust on both sides: a reward temperature and a
cost radius, ``beta = 0.01``, an active budget) is solved by both solvers, several times
each on the same problem object; the table reports median wall times, the speed ratio
CVXPY / primal-dual and the accuracy gap (objective difference, largest policy
difference). Sizes above ``--cvxpy-max`` (default 2000) are solved by the primal-dual
solver only.

Usage::

    python -m benchmarks racer [--sizes 100 1000 2000 1000000] [--repeats 3] [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from racer_dro import RoutingProblem, solve_cvxpy, solve_primal_dual

DEFAULT_SIZES = (100, 1000, 2000, 100_000, 1_000_000)
QUICK_SIZES = (50, 200)


def make_problem(n: int, seed: int = 0, *, beta: float = 0.01) -> RoutingProblem:
    """A random RACER instance with both sides robust and an active budget."""
    rng = np.random.default_rng(seed)
    rewards = np.column_stack(
        [rng.uniform(0, 1, n), rng.uniform(0, 1, n) + rng.normal(0.1, 0.2, n)]
    )
    costs = np.column_stack([rng.uniform(0.5, 1.5, n), rng.uniform(1, 8, n)])
    kw = {"beta": beta, "reward_temperature": 0.5, "cost_radius": 0.1}
    probe = RoutingProblem(rewards, costs, 1e9, **kw)
    budget = probe.min_cost + 0.3 * (probe.all_reasoning_cost - probe.min_cost)
    return RoutingProblem(rewards, costs, budget, **kw)


def _median_time(fn, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def run(
    sizes=DEFAULT_SIZES,
    repeats: int = 3,
    *,
    cvxpy_max: int = 2000,
    seed: int = 0,
    progress: bool = True,
):
    """Time both solvers per size; returns one row per size.

    Columns: ``n``, ``primal_dual_seconds``, ``cvxpy_seconds`` (NaN above
    ``cvxpy_max``), ``speed_ratio`` (CVXPY / primal-dual), ``objective_diff``
    (``|objective_pd - objective_cvxpy|``), ``policy_max_diff``, ``multiplier``,
    ``converged`` and ``outer_iterations``.
    """
    rows = []
    for n in tqdm(list(sizes), desc="racer benchmark", disable=not progress):
        problem = make_problem(int(n), seed)
        pd_time, pd_sol = _median_time(lambda p=problem: solve_primal_dual(p), repeats)
        row = {
            "n": int(n),
            "primal_dual_seconds": pd_time,
            "cvxpy_seconds": np.nan,
            "speed_ratio": np.nan,
            "objective_diff": np.nan,
            "policy_max_diff": np.nan,
            "multiplier": pd_sol.multiplier,
            "converged": pd_sol.converged,
            "outer_iterations": pd_sol.n_iter,
        }
        if n <= cvxpy_max:
            cx_time, cx_sol = _median_time(lambda p=problem: solve_cvxpy(p), repeats)
            row.update(
                cvxpy_seconds=cx_time,
                speed_ratio=cx_time / pd_time,
                objective_diff=abs(pd_sol.objective - cx_sol.objective),
                policy_max_diff=float(np.max(np.abs(pd_sol.policy - cx_sol.policy))),
                converged=pd_sol.converged and cx_sol.converged,
            )
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks racer", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=None, help="problem sizes n"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="repeats per solver (median reported)"
    )
    parser.add_argument(
        "--cvxpy-max", type=int, default=2000, help="largest n given to CVXPY"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=None, help="directory for racer_cvxpy.csv"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"tiny run: sizes {QUICK_SIZES}, 1 repeat"
    )
    args = parser.parse_args(argv)
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    repeats = 1 if args.quick and args.sizes is None else args.repeats
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    table = run(sizes, repeats, cvxpy_max=args.cvxpy_max, seed=args.seed)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / "racer_cvxpy.csv"
        table.to_csv(path, index=False)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
