"""Benchmark ``dro``: the KL worst case and the RACER solver against CVXPY.

Three tables, all from one run:

1. ``kl_worst_case`` (radius form) against a CVXPY program of the same worst case
   (the dual ``max_tau -tau log E exp(-f / tau) - tau delta`` with exponential
   cones, CLARABEL), ``n`` in {1e3, 1e4, 1e5, 1e6}. Accuracy: the difference of
   the two values, and each side's own certificate: for ours, the KL of the
   returned weights minus the radius (feasibility) and the gap between the value
   and the dual function at the returned temperature (optimality), both in exact
   numpy arithmetic.
2. ``solve_primal_dual`` (the default joint Newton, and the nested
   primal-dual iteration it replaced) against ``solve_cvxpy`` on the same
   :class:`racer_dro.RoutingProblem` object, ``n`` in {500, 1000, 2000, 5000}:
   wall time, ratio, objective gap and largest policy difference.
3. ``solve_primal_dual`` alone up to ``n = 1e6`` and the fitted exponent of its
   time in ``n``.
4. K = 11 arms against CVXPY, and one thread against two at K = 11, n = 1e5 and
   K = 2, n = 1e6 (:mod:`benchmarks.dro_arms`).

The problem family (both sides robust, as in RACER): rewards ``U(0, 1)`` and
``U(0, 1) + N(0.1, 0.2)``, costs ``U(0.5, 1.5)`` and ``U(1, 8)``, reward temperature
0.5, cost radius 0.1, ``beta = 0.01``, budget 30% of the way from the minimum to
the all-reasoning worst-case cost (active).
"""

from __future__ import annotations

import math
import warnings

import cvxpy as cp
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from benchmarks import dro_arms
from benchmarks._core import (
    Cache,
    Section,
    cache_key,
    describe,
    median_ratios,
    spread,
    time_rotating,
)
from racer_dro import RoutingProblem, kl_worst_case, solve_cvxpy, solve_primal_dual
from racer_dro.reference import SolverError

__all__ = ["cvxpy_kl_worst_case", "make_problem", "run"]

VERSION = 4  # bump when what is measured changes: cached measurements are keyed by it
KL_SIZES = (1_000, 10_000, 100_000, 1_000_000)
SOLVER_SIZES = (500, 1_000, 2_000, 5_000)
ALONE_SIZES = (10_000, 100_000, 1_000_000)
QUICK = {"kl": (200, 2_000), "solver": (100, 300), "alone": (3_000, 10_000)}
RADIUS = 0.1
BETA = 0.01


def make_data(n: int, seed: int = 0, *, n_arms: int = 2):
    """Rewards and costs of the problem family, shape (n, n_arms).

    Arm 0: rewards ``U(0, 1)``, costs ``U(0.5, 1.5)``; every other arm: rewards
    ``U(0, 1) + N(0.1, 0.2)``, costs ``U(1, 8)`` (for two arms exactly the
    binary family of earlier versions, draw for draw).
    """
    rng = np.random.default_rng(seed)
    extra = n_arms - 1
    if extra == 1:
        rewards = np.column_stack(
            [rng.uniform(0, 1, n), rng.uniform(0, 1, n) + rng.normal(0.1, 0.2, n)]
        )
        costs = np.column_stack([rng.uniform(0.5, 1.5, n), rng.uniform(1, 8, n)])
        return rewards, costs
    rewards = np.column_stack(
        [
            rng.uniform(0, 1, n),
            rng.uniform(0, 1, (n, extra)) + rng.normal(0.1, 0.2, (n, extra)),
        ]
    )
    costs = np.column_stack([rng.uniform(0.5, 1.5, n), rng.uniform(1, 8, (n, extra))])
    return rewards, costs


def make_problem(
    n: int, seed: int = 0, *, beta: float = BETA, n_arms: int = 2
) -> RoutingProblem:
    """A random RACER instance with both sides robust and an active budget."""
    rewards, costs = make_data(n, seed, n_arms=n_arms)
    kw = {"beta": beta, "reward_temperature": 0.5, "cost_radius": RADIUS}
    probe = RoutingProblem(rewards, costs, 1e9, **kw)
    budget = probe.min_cost + 0.3 * (probe.max_cost - probe.min_cost)
    return RoutingProblem(rewards, costs, budget, **kw)


def frozen_binary_problem(n: int, seed: int = 0, *, beta: float = BETA):
    """The same binary instance for the frozen pre-K-arm solver (``benchmarks._frozen_binary``)."""
    from benchmarks._frozen_binary import RoutingProblem as FrozenProblem

    rewards, costs = make_data(n, seed, n_arms=2)
    kw = {"beta": beta, "reward_temperature": 0.5, "cost_radius": RADIUS}
    budget = make_problem(n, seed, beta=beta).budget  # the same budget as ours
    return FrozenProblem(rewards, costs, budget, **kw)


def cvxpy_kl_worst_case(values: np.ndarray, radius: float) -> float:
    """``min_{KL(q || uniform) <= radius} E_q[values]`` by CVXPY (CLARABEL), via its dual.

    ``max_{tau >= 0, t} t - tau radius`` subject to ``tau exp((t - f_i) / tau) <= z_i``
    (exponential cones) and ``mean(z) <= tau``: at the optimum ``t = -tau log E
    exp(-f / tau)``, the dual of the worst case (user guide, "RACER").
    """
    f = np.asarray(values, dtype=float)
    n = f.shape[0]
    tau, t, z = cp.Variable(nonneg=True), cp.Variable(), cp.Variable(n)
    problem = cp.Problem(
        cp.Maximize(t - radius * tau),
        [cp.constraints.ExpCone(t - f, cp.promote(tau, (n,)), z), cp.sum(z) / n <= tau],
    )
    problem.solve(solver="CLARABEL")
    if problem.status != cp.OPTIMAL:
        raise RuntimeError(f"CVXPY status {problem.status!r}")
    return float(problem.value)


def _kl_certificates(f: np.ndarray, result) -> tuple[float, float]:
    """(KL of the weights minus the radius, value minus the dual at the temperature)."""
    q = result.weights
    n = f.shape[0]
    mask = q > 0
    kl = float(np.sum(q[mask] * np.log(q[mask] * n)))
    tau = result.temperature
    a = -f / tau
    amax = a.max()
    dual = -tau * (amax + math.log(np.mean(np.exp(a - amax)))) - tau * RADIUS
    return kl - RADIUS, result.value - dual


def _kl_table(sizes, repeats, cache, progress) -> pd.DataFrame:
    rows = []
    failed = None  # CVXPY's first failure: larger sizes are not attempted
    for n in tqdm(sizes, desc="dro: kl_worst_case", disable=not progress):
        key = cache_key("dro", VERSION, "kl", n, repeats)
        row = cache.get(key)
        if row is None:
            f = np.random.default_rng(n).normal(size=n)
            fns = {"ours": lambda f=f: kl_worst_case(f, radius=RADIUS)}
            error = failed and f"not attempted ({failed})"
            if not failed:
                try:  # the first CVXPY solve doubles as its warm-up
                    cvxpy_kl_worst_case(f, RADIUS)
                    fns["cvxpy"] = lambda f=f: cvxpy_kl_worst_case(f, RADIUS)
                except (cp.error.SolverError, RuntimeError) as exc:
                    error = failed = f"CVXPY failed at n = {n}: {exc}".split(". ")[0]
            res = time_rotating(fns, repeats, warmup=False)
            ours = res["ours"]["result"]
            kl_excess, dual_gap = _kl_certificates(f, ours)
            row = {
                "n": n,
                "ours_wall": res["ours"]["wall"],
                "cvxpy_wall": res["cvxpy"]["wall"]
                if "cvxpy" in res
                else [float("nan")],
                "value_diff": abs(ours.value - res["cvxpy"]["result"])
                if "cvxpy" in res
                else float("nan"),
                "cvxpy_error": error or "",
                "kl_minus_radius": kl_excess,
                "dual_gap": dual_gap,
            }
            cache.put(key, row)
        failed = failed or row.get("cvxpy_error") or None
        rows.append(row)
    return pd.DataFrame(rows)


def _solver_row(n, repeats, with_cvxpy: bool) -> dict:
    problem = make_problem(n)
    fns = {
        "newton": lambda: solve_primal_dual(problem),
        "nested": lambda: solve_primal_dual(problem, method="nested"),
    }
    error = ""
    if with_cvxpy:
        try:  # "CVXPY as far as it solves"
            solve_cvxpy(problem)
            fns["cvxpy"] = lambda: solve_cvxpy(problem)
        except SolverError as exc:
            error = str(exc).split(". ")[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a non-converged solve must not pass quietly
        res = time_rotating(fns, repeats)
    newton, nested = res["newton"]["result"], res["nested"]["result"]
    # the same solve back to back (a user solving many problems of this size): the
    # rotation above puts CVXPY's and the nested solver's memory traffic between
    # two of our solves, which a short solve feels most
    back = time_rotating({"newton": fns["newton"]}, 5 * repeats, warmup=False)
    row = {
        "n": n,
        "newton_wall": res["newton"]["wall"],
        "newton_back_to_back_wall": back["newton"]["wall"],
        "nested_wall": res["nested"]["wall"],
        "newton_method": newton.method,
        "newton_iterations": newton.n_iter,
        "converged": bool(newton.converged and nested.converged),
        "nested_objective_diff": abs(newton.objective - nested.objective),
    }
    if with_cvxpy and error:
        row.update(
            cvxpy_wall=[float("nan")],
            objective_gap=float("nan"),
            policy_max_diff=float("nan"),
            cvxpy_converged=False,
            cvxpy_error=error,
        )
    elif with_cvxpy:
        ref = res["cvxpy"]["result"]
        row.update(
            cvxpy_wall=res["cvxpy"]["wall"],
            objective_gap=abs(newton.objective - ref.objective),
            policy_max_diff=float(np.max(np.abs(newton.policy - ref.policy))),
            cvxpy_converged=bool(ref.converged),
        )
    return row


def _solver_table(sizes, repeats, cache, progress, with_cvxpy) -> pd.DataFrame:
    rows = []
    label = "dro: solvers" if with_cvxpy else "dro: primal-dual alone"
    for n in tqdm(sizes, desc=label, disable=not progress):
        key = cache_key("dro", VERSION, "solver", n, repeats, with_cvxpy)
        row = cache.get(key)
        if row is None:
            row = _solver_row(n, repeats, with_cvxpy)
            cache.put(key, row)
        rows.append(row)
    return pd.DataFrame(rows)


def _median(values) -> float:
    return describe(values)["median"]


def run(*, quick: bool, repeats: int, cache: Cache, progress: bool = True) -> Section:
    """Measure all three tables and return the ``dro`` section of RESULTS.md."""
    sizes = (
        QUICK
        if quick
        else {"kl": KL_SIZES, "solver": SOLVER_SIZES, "alone": ALONE_SIZES}
    )
    kl = _kl_table(sizes["kl"], repeats, cache, progress)
    both = _solver_table(sizes["solver"], repeats, cache, progress, True)
    alone = _solver_table(sizes["alone"], repeats, cache, progress, False)
    arms = dro_arms.cvxpy_table(make_problem, quick, repeats, cache, progress)
    threads = dro_arms.threads_table(make_problem, quick, repeats, cache, progress)
    arms_view, threads_view = dro_arms.views(arms, threads)

    kl_view = pd.DataFrame(
        {
            "n": kl["n"],
            "ours s": kl["ours_wall"].map(spread),
            "CVXPY s": kl["cvxpy_wall"].map(spread),
            "CVXPY / ours": median_ratios(kl["cvxpy_wall"], kl["ours_wall"]),
            "|value - CVXPY|": kl["value_diff"],
            "ours: KL - radius": kl["kl_minus_radius"],
            "ours: value - dual": kl["dual_gap"],
            "CVXPY status": [e or "optimal" for e in kl["cvxpy_error"]],
        }
    )
    speed = median_ratios(both["cvxpy_wall"], both["newton_wall"])
    back_speed = median_ratios(both["cvxpy_wall"], both["newton_back_to_back_wall"])
    both_view = pd.DataFrame(
        {
            "n": both["n"],
            "primal-dual s": both["newton_wall"].map(spread),
            "nested s": both["nested_wall"].map(spread),
            "CVXPY s": both["cvxpy_wall"].map(spread),
            "CVXPY / primal-dual": speed,
            "primal-dual back to back s": both["newton_back_to_back_wall"].map(spread),
            "CVXPY / back to back": back_speed,
            "nested / primal-dual": median_ratios(
                both["nested_wall"], both["newton_wall"]
            ),
            "objective gap": both["objective_gap"],
            "max policy diff": both["policy_max_diff"],
            "Newton steps": both["newton_iterations"],
            "solver": both["newton_method"],
            "converged": both["converged"],
            "CVXPY status": [
                "optimal" if ok else str(err)
                for ok, err in zip(
                    both["cvxpy_converged"],
                    both.get("cvxpy_error", pd.Series([""] * len(both))),
                )
            ],
        }
    )
    every = pd.concat([both, alone], ignore_index=True)
    medians = np.array([_median(w) for w in every["newton_wall"]])
    ns = every["n"].to_numpy(dtype=float)
    large = ns >= (ns.max() / 100 if quick else 10_000)
    slope_all = float(np.polyfit(np.log(ns), np.log(medians), 1)[0])
    slope_large = (
        float(np.polyfit(np.log(ns[large]), np.log(medians[large]), 1)[0])
        if large.sum() >= 2
        else float("nan")
    )
    alone_view = pd.DataFrame(
        {
            "n": every["n"],
            "primal-dual s": every["newton_wall"].map(spread),
            "nested s": every["nested_wall"].map(spread),
            "Newton steps": every["newton_iterations"],
            "solver": every["newton_method"],
            "converged": every["converged"],
            "|objective - nested|": every["nested_objective_diff"],
        }
    )

    at = 2_000 if 2_000 in set(both["n"]) else int(both["n"].max())
    idx = int(np.flatnonzero(both["n"].to_numpy() == at)[0])
    n_max = int(every["n"].max())
    t_max = float(medians[-1])
    checks = {
        "objective gap <= 1e-6 wherever both solve": bool(
            (both["objective_gap"] <= 1e-6).all()
        ),
        "policy within 1e-3 of CVXPY": bool((both["policy_max_diff"] <= 1e-3).all()),
        "every primal-dual solve converged": bool(every["converged"].all()),
        "kl_worst_case within 1e-4 of CVXPY where CVXPY solves": bool(
            (kl["value_diff"].dropna() <= 1e-4).all()
        ),
        "kl_worst_case certificates <= 1e-9": bool(
            (kl["kl_minus_radius"].abs() <= 1e-9).all()
            and (kl["dual_gap"].abs() <= 1e-9).all()
        ),
        **dro_arms.checks(arms, threads),
    }
    targets = [
        (
            f"at least 100x faster than CVXPY at n = {at}, gap below 1e-6",
            f"{speed[idx]:.1f}x, gap {both['objective_gap'].iloc[idx]:.1e}",
            bool(speed[idx] >= 100 and both["objective_gap"].iloc[idx] < 1e-6),
        ),
        (
            f"n = {n_max} in under 2 s",
            f"{t_max:.2f} s (median)",
            bool(t_max < 2.0),
        ),
        (
            "time linear in n (fitted exponent near 1)",
            f"exponent {slope_large:.2f} for n >= 1e4, {slope_all:.2f} over all n",
            bool(slope_large <= 1.15),
        ),
        *dro_arms.targets(arms, threads),
    ]
    notes = [
        (
            "`primal-dual` is `solve_primal_dual(problem)`: the joint Newton on the "
            "penalised objective (the default since the profile below); `nested` is "
            '`solve_primal_dual(problem, method="nested")`, Newton on the multiplier '
            "around exact inner solves (the previous default). `CVXPY` is "
            "`solve_cvxpy(problem)` on the same problem object (CLARABEL, including "
            "CVXPY's compilation, which is part of what a user waits for). "
            "`kl_worst_case` is compared with a CVXPY program of the same worst case; "
            "its own certificates (KL of the returned weights minus the radius, value "
            "minus the dual function at the returned temperature) are computed exactly."
        ),
    ]
    if not targets[0][2]:
        notes.append(
            f"**Missed: the 100x target at n = {at}.** The primal-dual solve takes "
            f"{_median(both['newton_wall'].iloc[idx]) * 1e3:.1f} ms for "
            f"{int(both['newton_iterations'].iloc[idx])} Newton steps (the whole loop "
            "compiled, from a subsample's calibrated start); CVXPY needs "
            f"{_median(both['cvxpy_wall'].iloc[idx]) * 1e3:.0f} ms. The compiled "
            "passes call the C library's scalar exp and log1p (numba's loops over "
            "them do not vectorise), and the per-row block solves are divisions. "
            "The same solve back to back (not rotated with CVXPY and the nested "
            f"solver): {_median(both['newton_back_to_back_wall'].iloc[idx]) * 1e3:.1f} "
            f"ms, {back_speed[idx]:.0f}x CVXPY."
        )
    if t_max > 0.5:  # the K-arm issue's bound for two arms (table below)
        bound = "under 2 s" if t_max >= 2.0 else "at most 0.5 s"
        notes.append(
            f"**Missed: n = {n_max} in {bound}** ({t_max:.2f} s). Profiled warm at "
            "n = 1e6 (2026-11-30): the start's "
            "per-row solves about a quarter, the Newton direction's two per-row "
            "passes about 30%, the softmax passes 12%, the worst cases 15%, the "
            "history's distances 5%; the per-row passes are bound by scalar exp and "
            "log1p calls and divisions, not memory traffic. Two threads "
            "(`n_jobs=2`): see the last table; the start's worst cases and the "
            "calibration run on one thread, and fresh output arrays' page faults "
            "do not parallelise."
        )
    return Section(
        name="dro",
        title="dro: KL worst case and the RACER solver against CVXPY",
        command="python -m benchmarks dro" + (" --quick" if quick else ""),
        intro=(
            f"Median [min, max] wall seconds of {repeats} runs per solver, the solvers "
            "run in rotating order on the same problem object. "
            + "The problem family "
            + " ".join(__doc__.split("The problem family", 1)[1].split())
        ),
        tables=[
            ("`kl_worst_case(f, radius=0.1)`, f ~ N(0, 1), against CVXPY:", kl_view),
            ("`solve_primal_dual` against `solve_cvxpy`:", both_view),
            ("`solve_primal_dual` by size (time exponent: see targets):", alone_view),
            ("`solve_primal_dual` with K arms against `solve_cvxpy`:", arms_view),
            (
                (
                    "One thread against two (`solve_primal_dual(problem, n_jobs=2)`), "
                    "rotating order:"
                ),
                threads_view,
            ),
        ],
        notes=notes,
        targets=targets,
        checks=checks,
    )
