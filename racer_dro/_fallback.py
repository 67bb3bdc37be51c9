"""The CVXPY fallback of :func:`racer_dro.solve_primal_dual` for small problems it cannot solve.

Where a KL radius lets the worst case sit on a few rows (a radius near
``log(1 / rho_n(i))`` of the rows with the extreme values, with a budget close to
the cheapest policy's cost), the worst-case value is nearly a maximum (or
minimum) over rows: not smooth, and the Newton models of both primal-dual
methods hold only for tiny steps. Both then stop without meeting their
tolerance. An interior-point method on the conic program
(:func:`racer_dro.solve_cvxpy`) treats that worst case through its epigraph
and does not have the difficulty; on small problems it is also quick.

So, when ``solve_primal_dual(method="auto")`` ends without convergence on a
problem of at most :data:`MAX_VARIABLES` policy entries (rows of positive
weight times arms), it solves the same problem with CVXPY (at most
:data:`TIME_LIMIT` seconds) and returns CVXPY's policy if that policy's
objective, evaluated exactly by the same code as the primal-dual solution's
(:func:`racer_dro.problem.make_solution`), is higher (and, with a hard
constraint, the policy is feasible). Measured on the large-radius family of
``python -m benchmarks.solver_search 60 2 20,60,200 large-radius methods`` (cost
radii 0.3-3, budgets 5-70% of the way from the cheapest to the dearest policy's
cost): the methods alone end more than 1e-6 below CVXPY on 8 of 60 problems
(all flagged); the default call (``... large-radius default``) on none. With a
hard budget (``constrained=True``), on the five such draws of seed 0 the methods
alone end over the budget or below CVXPY, the default call at CVXPY's optimum.

Where the fallback can take over, the nested method stops once it has evaluated
:data:`MAX_STATES` policies (each a pass over the rows and both worst cases), so
that a stalled run does not spend seconds before CVXPY answers in milliseconds.
Measured on the same families (``large-radius`` and ``random``, 200 draws of seed 3
and 150 of seed 7 each): every nested run that converged did so within 343 evaluations
(1,623 on the large-radius problem of ``test_primal_dual``, hence the budget's
margin); the runs that did not stopped after 70-421,000 (most after 1,000 or more; the worst, a
large-radius draw with K = 2 and n = 20, for 62 s, where CVXPY takes 0.02 s;
0.75 s with the budget). The default call on the 150 draws of large-radius seed 7
(``python -m benchmarks.solver_search 150 7 20,60,200 large-radius default``
prints the times) took at most 1.8 s a draw (20 s in all) with the budget,
against up to 6.3 s (about 44 s in all) without (warm, one thread). If CVXPY then fails,
the solve is repeated without the budget, so the result is never worse than the
methods' own (``fallback=None``) or, where CVXPY solves, than CVXPY's.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from racer_dro.problem import RoutingProblem, Solution, make_solution
from racer_dro.reference import SolverError, solve_cvxpy

__all__ = [
    "MAX_STATES",
    "MAX_VARIABLES",
    "TIME_LIMIT",
    "applicable",
    "cvxpy_candidate",
    "preferred",
    "settle",
]

#: Largest problem (positive-weight rows times arms) for which CVXPY is tried.
MAX_VARIABLES = 10_000
#: Seconds CVXPY may take, all its attempts together (its ``time_limit``).
TIME_LIMIT = 60.0
#: Policy evaluations (``Engine.state``) the nested method may spend before it
#: hands a problem the fallback can take over to CVXPY (see the module notes).
MAX_STATES = 4_000


def applicable(problem: RoutingProblem) -> bool:
    """Whether the fallback may solve ``problem``: at most :data:`MAX_VARIABLES`
    policy entries (positive-weight rows times arms).

    Examples
    --------
    >>> import numpy as np
    >>> from racer_dro import RoutingProblem
    >>> applicable(RoutingProblem(np.zeros((3, 2)), np.ones((3, 2)), budget=1.0))
    True
    """
    active = int(np.count_nonzero(np.asarray(problem.weights) > 0))
    return active * problem.n_arms <= MAX_VARIABLES


def _score(problem: RoutingProblem, sol: Solution) -> float:
    """The solution's objective, ``-inf`` for a hard-constraint policy over the budget.

    The budget is met up to interior-point accuracy (``1e-7`` relative)."""
    if sol.constrained:
        slack = 1e-7 * max(1.0, abs(problem.budget))
        if not sol.worst_case_cost <= problem.budget + slack:
            return -math.inf
    return sol.objective


def cvxpy_candidate(problem: RoutingProblem, *, constrained: bool) -> Solution | None:
    """CVXPY's solution of ``problem``, assembled like the primal-dual solver's.

    ``None`` when the problem has more than :data:`MAX_VARIABLES` entries or
    CVXPY fails (an error, or no solution within :data:`TIME_LIMIT` seconds).
    The values and objective are evaluated exactly at CVXPY's policy
    (:func:`racer_dro.problem.make_solution`); ``method`` is
    ``"cvxpy_fallback:<solver>"`` and ``history`` CVXPY's attempts.

    Examples
    --------
    >>> import numpy as np
    >>> from racer_dro import RoutingProblem
    >>> problem = RoutingProblem(np.array([[0.0, 1.0]] * 3), np.array([[1.0, 2.0]] * 3),
    ...                          budget=1.5, beta=0.1)
    >>> cvxpy_candidate(problem, constrained=False).method
    'cvxpy_fallback:CLARABEL'
    """
    if not applicable(problem):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = solve_cvxpy(problem, constrained=constrained, time_limit=TIME_LIMIT)
    except (SolverError, ValueError, ArithmeticError):
        return None
    return make_solution(
        problem,
        ref.policy,
        converged=ref.converged,
        constrained=constrained,
        multiplier=ref.multiplier if constrained else None,
        history=ref.history,
        method="cvxpy_fallback:" + ref.method.partition(":")[2],
        n_iter=ref.n_iter,
    )


def preferred(
    problem: RoutingProblem, candidate: Solution | None, ours: Solution
) -> Solution | None:
    """``candidate`` if it beats ``ours`` (higher objective; with a hard budget,
    within it), else ``None``."""
    if candidate is not None and _score(problem, candidate) > _score(problem, ours):
        return candidate
    return None


def settle(sol, candidate, said, *, problem, category) -> Solution:
    """The solution :func:`racer_dro.solve_primal_dual` returns, and its warnings.

    ``sol``: the primal-dual methods' solution; ``candidate``: CVXPY's
    (:func:`cvxpy_candidate`) where the fallback ran and CVXPY solved, else
    ``None``; ``said``: the warnings recorded while they ran. If CVXPY's is
    :func:`preferred`, it is returned with one warning of ``category`` (the
    solver's ``ConvergenceWarning``) in place of the methods' own; if it is
    not, the methods' solution is returned with a warning saying so. Every other
    recorded warning is emitted again as it was.
    """
    better = preferred(problem, candidate, sol)
    for w in said:
        if better is None or not issubclass(w.category, category):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if better is None:
        if candidate is not None:
            warnings.warn(
                f"solve_primal_dual: CVXPY's solution of this problem (objective "
                f"{candidate.objective!r}) is no better than the primal-dual policy "
                f"returned (objective {sol.objective!r})",
                category,
                stacklevel=3,
            )
        return sol
    warnings.warn(
        f"solve_primal_dual: the primal-dual methods stopped without meeting `tol` "
        f"(objective {sol.objective!r}); returning CVXPY's solution, objective "
        f"{better.objective!r} (converged: {better.converged}; `fallback=None` keeps "
        "the primal-dual policy)",
        category,
        stacklevel=3,
    )
    return better
