"""CVXPY agreement by number of arms (issue 11): ``python -m benchmarks.k_arm_agreement``.

For K in {2, 3, 5, 11} and the three robustness variants of the test-suite
family (n = 200, beta = 0.05, budget 30% of the way from the cheapest to the
dearest policy): objective gap and largest policy difference between
``solve_primal_dual`` and ``solve_cvxpy`` on the same problem object.
"""

import numpy as np

from benchmarks.dro import make_data
from racer_dro import RoutingProblem, solve_cvxpy, solve_primal_dual

VARIANTS = {
    "nominal": {},
    "temperatures": {"reward_temperature": 0.4, "cost_temperature": 1.5},
    "radii": {"reward_radius": 0.08, "cost_radius": 0.15},
}


def main(n: int = 200) -> None:
    print("| K | variant | objective gap | policy max diff | both converged |")
    print("|---|---|---|---|---|")
    for K in (2, 3, 5, 11):
        rewards, costs = make_data(n, K, n_arms=K)
        for name, kw in VARIANTS.items():
            probe = RoutingProblem(rewards, costs, 1e9, beta=0.05, **kw)
            budget = probe.min_cost + 0.3 * (probe.max_cost - probe.min_cost)
            problem = probe.replace(budget=budget)
            ours, ref = solve_primal_dual(problem), solve_cvxpy(problem)
            gap = abs(ours.objective - ref.objective)
            diff = float(np.max(np.abs(ours.policy - ref.policy)))
            ok = ours.converged and ref.converged
            print(f"| {K} | {name} | {gap:.1e} | {diff:.1e} | {ok} |")


if __name__ == "__main__":
    main()
