"""A seeded random search of RACER problems against CVXPY, tallied by number of arms.

``python -m benchmarks.solver_search [N] [SEED] [SIZES] [FAMILY] [SOLVE]``
(defaults 60, 0, ``20,60,200``, ``random`` and ``methods``) draws ``N`` problems
of varied shape and scale and solves each with ``solve_primal_dual`` and
``solve_cvxpy``. Family ``random`` (:func:`random_problem`):

* K in {2, 3, 5, 11}, n from ``SIZES``; reward scales 1e-2..1e2, cost scales
  1e-3..1e3 (a free arm 30% of the time); each side nominal, a radius
  (1e-3..1) or a temperature (0.1..10 times the side's scale); exponential
  sample weights 30% of the time; ``beta`` 1e-3..1; budgets from the minimum
  cost to above the maximum.

Family ``large-radius`` (:func:`large_radius_problem`): K in {2, 3, 5}, cost
radii 0.3..3 (half the problems a reward radius too), ``beta`` 1e-3..0.1,
budgets 5-70% of the way from the cheapest to the dearest policy's cost: where
the worst case nearly sits on a few rows.

Each problem is classed as: ``agree`` (converged, objective within 1e-6 of
CVXPY's relative, policy within 1e-3); ``flagged`` (not converged, a
ConvergenceWarning, yet within those tolerances); ``CVXPY off`` (the policies
differ by 1e-3 or more and CVXPY's own objective is below ours by more than 1e-9
relative: its policy is not the optimum of this strictly concave problem);
``wrong`` (our objective below CVXPY's by more than 1e-6, or the policies apart
without CVXPY below us; flagged or not); ``CVXPY failed`` (an error, or no
optimal status within ``TIMEOUT`` seconds: ``solve_cvxpy``'s ``time_limit``).
The table prints one row per K and the wrong problems' parameters. ``SOLVE``
``methods`` measures the primal-dual methods themselves (``fallback=None``);
``default`` the default call, which hands a small problem they leave unsolved
to CVXPY (:mod:`racer_dro._fallback`). The wall time of each ``solve_primal_dual``
call (not CVXPY's reference solve) is summarised below the table.
``tests/racer_dro/test_solver_stress.py`` (slow) asserts the same classes on four
seeds of small problems.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
from tqdm.auto import tqdm

from racer_dro import RoutingProblem, solve_cvxpy, solve_primal_dual
from racer_dro.primal_dual import ConvergenceWarning

TIMEOUT = 60  # seconds for all of one problem's CVXPY attempts (`time_limit`)
CLASSES = ("agree", "flagged", "CVXPY off", "wrong", "CVXPY failed")


def random_problem(rng, sizes=(20, 60, 200)) -> tuple[RoutingProblem, dict]:
    """One random problem and a description of how it was drawn."""
    K = int(rng.choice([2, 3, 5, 11]))
    n = int(rng.choice(sizes))
    beta = float(10 ** rng.uniform(-3, 0))
    scale_r, scale_c = float(10 ** rng.uniform(-2, 2)), float(10 ** rng.uniform(-3, 3))
    kind = int(rng.integers(3))
    if kind == 0:  # correctness-like
        rewards = rng.binomial(1, rng.uniform(0.3, 0.9, K), size=(n, K)) * scale_r
    elif kind == 1:
        rewards = rng.normal(size=(n, K)) * scale_r
    else:
        rewards = rng.uniform(size=(n, K)) * scale_r + rng.normal(0, 0.1, size=(n, 1))
    base = np.sort(rng.lognormal(0, 1, K))
    costs = base * rng.lognormal(0, rng.uniform(0, 1), size=(n, K)) * scale_c
    if rng.random() < 0.3:
        costs[:, 0] = 0.0  # a free arm
    kw = {"beta": beta}
    for side, scale in (("reward", scale_r), ("cost", scale_c)):
        mode = rng.integers(3)
        if mode == 1:
            kw[f"{side}_radius"] = float(10 ** rng.uniform(-3, 0))
        elif mode == 2:
            kw[f"{side}_temperature"] = float(10 ** rng.uniform(-1, 1)) * scale
    w = rng.exponential(size=n) if rng.random() < 0.3 else None
    rewards = rewards.astype(float)
    probe = RoutingProblem(rewards, costs, 1e300, sample_weight=w, **kw)
    frac = float(rng.choice([0.0, 1e-3, 0.05, 0.3, 0.7, 1.2]))
    budget = probe.min_cost + frac * (probe.max_cost - probe.min_cost)
    problem = RoutingProblem(rewards, costs, budget, sample_weight=w, **kw)
    desc = {"K": K, "n": n, "budget_frac": frac, "weights": w is not None, **kw}
    return problem, desc


def large_radius_problem(rng, sizes=(20, 60, 200)) -> tuple[RoutingProblem, dict]:
    """One problem of the large-radius family and a description of how it was drawn."""
    K = int(rng.choice([2, 3, 5]))
    n = int(rng.choice(sizes))
    beta = float(10 ** rng.uniform(-3, -1))
    rewards = rng.uniform(size=(n, K))
    costs = np.sort(rng.lognormal(0, 1, K)) * rng.lognormal(0, 0.7, size=(n, K))
    costs = costs * float(10 ** rng.uniform(-1, 2))
    kw = {"beta": beta, "cost_radius": float(10 ** rng.uniform(-0.5, 0.5))}
    if rng.random() < 0.5:
        kw["reward_radius"] = float(10 ** rng.uniform(-0.5, 0.5))
    probe = RoutingProblem(rewards, costs, 1e300, **kw)
    frac = float(rng.choice([0.05, 0.3, 0.7]))
    budget = probe.min_cost + frac * (probe.max_cost - probe.min_cost)
    problem = RoutingProblem(rewards, costs, budget, **kw)
    return problem, {"K": K, "n": n, "budget_frac": frac, "weights": False, **kw}


FAMILIES = {"random": random_problem, "large-radius": large_radius_problem}


def _cvxpy(problem):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return solve_cvxpy(problem, time_limit=TIMEOUT)


def classify(problem, fallback=None, times=None) -> str:
    """The class of one problem (see the module notes); ``fallback`` is passed to
    ``solve_primal_dual`` (``None``: the primal-dual methods alone). ``times``: a
    list to which the seconds of that solve are appended."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        ours = solve_primal_dual(problem, fallback=fallback)
        if times is not None:
            times.append(time.perf_counter() - start)
    flagged = not ours.converged or any(
        issubclass(w.category, ConvergenceWarning) for w in caught
    )
    try:
        ref = _cvxpy(problem)
    except Exception:  # noqa: BLE001 - any failure of the reference is counted
        return "CVXPY failed"
    if not ref.converged:
        return "CVXPY failed"
    scale = max(1.0, abs(ref.objective))
    if ours.objective < ref.objective - 1e-6 * scale:
        return "wrong"
    if np.max(np.abs(ours.policy - ref.policy)) >= 1e-3:
        # policies apart: CVXPY's is not the optimum if its objective is below ours
        return "CVXPY off" if ref.objective < ours.objective - 1e-9 * scale else "wrong"
    return "flagged" if flagged else "agree"


def main(
    n_problems: int = 60,
    seed: int = 0,
    sizes=(20, 60, 200),
    family: str = "random",
    solve: str = "methods",
) -> None:
    if family not in FAMILIES or solve not in ("methods", "default"):
        raise SystemExit(
            f"solver_search: FAMILY must be one of {sorted(FAMILIES)} and SOLVE "
            f"'methods' or 'default', got {family!r}, {solve!r}"
        )
    draw = FAMILIES[family]
    rng = np.random.default_rng(seed)
    counts = {K: dict.fromkeys(CLASSES, 0) for K in (2, 3, 5, 11)}
    wrong, times = [], []
    for _ in tqdm(range(n_problems), desc="solver search"):
        problem, desc = draw(rng, sizes)
        label = classify(
            problem, fallback="cvxpy" if solve == "default" else None, times=times
        )
        counts[desc["K"]][label] += 1
        if label == "wrong":
            wrong.append(desc)
    print(
        f"Search of family {family!r} ({solve}), seed {seed}, {n_problems} "
        f"problems, n in {sizes}:\n"
    )
    print("| K | " + " | ".join(CLASSES) + " |")
    print("|---" * (len(CLASSES) + 1) + "|")
    for K, row in counts.items():
        print(f"| {K} | " + " | ".join(str(row[c]) for c in CLASSES) + " |")
    print(
        f"\nsolve_primal_dual ({solve}) wall time per problem: median "
        f"{np.median(times):.3g} s, max {max(times):.3g} s, total {sum(times):.3g} s"
    )
    for desc in wrong:
        print(
            "wrong:",
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in desc.items()},
        )


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        int(args[0]) if args else 60,
        int(args[1]) if len(args) > 1 else 0,
        tuple(int(s) for s in args[2].split(",")) if len(args) > 2 else (20, 60, 200),
        args[3] if len(args) > 3 else "random",
        args[4] if len(args) > 4 else "methods",
    )
