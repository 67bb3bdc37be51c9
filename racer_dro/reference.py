"""CVXPY reference for the RACER problem: one DCP program on the same problem object.

The regularised saddle problem with the multiplier eliminated (user guide, "RACER")::

    max_pi R(pi) + beta H(pi) - (C(pi) - B)_+^2 / (2 beta),   pi_i in the simplex over K arms,

or, with ``constrained=True``, ``max_pi R(pi) + beta H(pi)`` subject to ``C(pi) <= B``.

* ``R`` with a temperature: ``-tau log_sum_exp(log rho_n - f / tau)`` (concave in ``pi``);
  with a radius: the dual ``max_{tau >= 0} -tau log E exp(-f / tau) - tau delta``,
  written with exponential cones (``y exp(x / y) <= z``) and ``tau`` a variable:
  ``t - tau delta`` subject to ``ExpCone(t - f, tau, z)``, ``rho_n^T z <= tau``;
* ``C`` is the convex mirror image;
* ``H = sum_i rho_n(i) sum_a entr(pi_i(a))`` (``cp.entr`` on each entry).

This module imports nothing from the solver it checks (only the problem
definition and the shared formulas).

Two equivalent formulations are available -- ``"atoms"`` (``cp.log_sum_exp`` for the
temperature form) and ``"cones"`` (explicit exponential cones everywhere) -- and the
solvers CLARABEL, then SCS with tight tolerances. Each attempt's status is checked;
the first optimal one is returned, and :class:`SolverError` is raised when none is.
"""

from __future__ import annotations

import math
import time
import warnings

import cvxpy as cp
import numpy as np
import pandas as pd

from racer_dro._validation import check_positive
from racer_dro.kl import kl_worst_case
from racer_dro.problem import RoutingProblem, Solution, make_solution

__all__ = ["SolverError", "solve_cvxpy"]

# The attempts, in order: (solver, options, formulation). For small beta the optimum has
# policies within exp(-100) of 0 or 1, where interior-point steps can stall
# ("insufficient progress"); a shorter maximal step or more regularisation helps.
_SCS_OPTIONS = {"eps_abs": 1e-10, "eps_rel": 1e-10, "max_iters": 200_000}
_ATTEMPTS = (
    ("CLARABEL", {}, "atoms"),
    ("CLARABEL", {"max_step_fraction": 0.9}, "cones"),
    (
        "CLARABEL",
        {"static_regularization_constant": 1e-6, "iterative_refinement_reltol": 1e-14},
        "atoms",
    ),
    ("CLARABEL", {"max_step_fraction": 0.8}, "atoms"),
    ("SCS", _SCS_OPTIONS, "atoms"),
    ("SCS", _SCS_OPTIONS, "cones"),
)


class SolverError(RuntimeError):
    """No CVXPY attempt solved the problem; the message lists each attempt's status.

    A subclass of ``RuntimeError``.

    Examples
    --------
    >>> from racer_dro.reference import SolverError
    >>> issubclass(SolverError, RuntimeError)
    True
    """


def _worst_reward(f, p, mode, radius, temperature, formulation, constraints):
    """Concave expression for ``min_rho E_rho[f]`` (f affine in pi)."""
    logp = np.log(p)
    if (
        mode == "none"
        or (mode == "temperature" and math.isinf(temperature))
        or (mode == "radius" and radius == 0)
    ):
        return p @ f
    if mode == "radius" and math.isinf(radius):
        return cp.min(f)
    n = p.shape[0]
    t = cp.Variable()
    z = cp.Variable(n)
    if mode == "temperature":
        if formulation == "atoms":
            return -temperature * cp.log_sum_exp(logp - f / temperature)
        # t <= -tau log sum p exp(-f/tau)  <=>  sum p exp((t - f)/tau) <= 1
        constraints += [
            cp.constraints.ExpCone((t - f) / temperature, np.ones(n), z),
            p @ z <= 1,
        ]
        return t
    tau = cp.Variable(nonneg=True)
    # t <= -tau log E exp(-f/tau)  <=>  sum p tau exp((t - f)/tau) <= tau (closure at tau = 0: t <= min f)
    constraints += [cp.constraints.ExpCone(t - f, tau * np.ones(n), z), p @ z <= tau]
    return t - tau * radius


def _worst_cost(f, p, mode, radius, temperature, formulation, constraints):
    """Convex expression for ``max_rho E_rho[f]`` (the mirror image)."""
    return -_worst_reward(-f, p, mode, radius, temperature, formulation, constraints)


def _build(problem: RoutingProblem, active, constrained: bool, formulation: str):
    p = np.asarray(problem.weights)[active]
    p = p / p.sum()
    rewards, costs = problem.rewards[active], problem.costs[active]
    pi = cp.Variable(rewards.shape)
    constraints = [pi >= 0, cp.sum(pi, axis=1) == 1]
    f_r = cp.sum(cp.multiply(rewards, pi), axis=1)
    f_c = cp.sum(cp.multiply(costs, pi), axis=1)
    reward = _worst_reward(
        f_r,
        p,
        problem.reward_mode,
        problem.reward_radius,
        problem.reward_temperature,
        formulation,
        constraints,
    )
    cost = _worst_cost(
        f_c,
        p,
        problem.cost_mode,
        problem.cost_radius,
        problem.cost_temperature,
        formulation,
        constraints,
    )
    entropy = p @ cp.sum(cp.entr(pi), axis=1)
    budget_con = None
    if constrained:
        budget_con = cost <= problem.budget
        constraints.append(budget_con)
        objective = reward + problem.beta * entropy
    else:
        objective = (
            reward
            + problem.beta * entropy
            - cp.square(cp.pos(cost - problem.budget)) / (2 * problem.beta)
        )
    prog = cp.Problem(cp.Maximize(objective), constraints)
    return prog, pi, budget_con


def _fill_zero_weight(problem, policy, active, multiplier):
    """Zero-weight rows: the maximiser of each row's own limit problem, by CVXPY.

    As ``rho_n(i) -> 0`` row ``i`` contributes ``rho_n(i)`` times
    ``-tau_r w_r(pi_i) - lambda tau_c w_c(pi_i) + beta sum_a entr(pi_i(a))`` with
    ``w = exp(-+(f_i(pi_i) - m) / tau - L)`` the tilt's weight ratio at the other
    rows' worst case (linear terms for a nominal side): a concave program per row.
    """

    pi_all = np.array(policy, dtype=float)
    zero = ~active
    pi_all[zero] = 1.0 / problem.n_arms
    p = np.asarray(problem.weights)
    rows = np.flatnonzero(zero)
    pi = cp.Variable((rows.size, problem.n_arms))
    terms = []
    for sign, values, table, temp_radius in (
        (1.0, problem.reward_values(pi_all), problem.rewards, "reward"),
        (-1.0, problem.cost_values(pi_all), problem.costs, "cost"),
    ):
        worst = kl_worst_case(
            values,
            weights=p,
            radius=getattr(problem, f"{temp_radius}_radius"),
            temperature=getattr(problem, f"{temp_radius}_temperature"),
            sense="min" if sign > 0 else "max",
        )
        f = cp.sum(cp.multiply(table[rows], pi), axis=1)
        scale = 1.0 if sign > 0 else multiplier
        tau = worst.temperature
        if math.isinf(tau) or tau == 0:  # nominal (or degenerate): linear in pi
            terms.append(sign * scale * cp.sum(f))
            continue
        fs = sign * values[active]
        m = float(fs.min())
        logq = np.log(p[active]) - (fs - m) / tau
        L = float(np.log(np.sum(np.exp(logq - logq.max()))) + logq.max())
        terms.append(-scale * tau * cp.sum(cp.exp(-(sign * f - m) / tau - L)))
    objective = sum(terms) + problem.beta * cp.sum(cp.entr(pi))
    prog = cp.Problem(cp.Maximize(objective), [pi >= 0, cp.sum(pi, axis=1) == 1])
    said = []
    for name in ("CLARABEL", "SCS"):  # CLARABEL can fail on exp(1e5-scale) terms
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                prog.solve(solver=name)
        except cp.error.SolverError as exc:
            said.append(f"{name}: error: {exc}")
            continue
        if prog.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and pi.value is not None:
            break
        said.append(f"{name}: {prog.status}")
    else:
        raise SolverError(
            "CVXPY solved the weighted rows but not the zero-weight rows' limit "
            f"problems ({'; '.join(said)})"
        )
    out = np.clip(pi.value, 0.0, None)
    pi_all[zero] = out / out.sum(axis=1, keepdims=True)
    return pi_all


#: Each solver's option for a time limit in seconds (others get none).
_TIME_OPTION = {"CLARABEL": "time_limit", "SCS": "time_limit_secs"}


def solve_cvxpy(
    problem: RoutingProblem,
    *,
    constrained: bool = False,
    solver: str | None = None,
    time_limit: float | None = None,
) -> Solution:
    """Solve the RACER problem with CVXPY, as one DCP program (the reference solver).

    Parameters
    ----------
    problem : RoutingProblem
    constrained : bool, default=False
        ``False``: the regularised problem ``max R + beta H - (C - B)_+^2 / (2 beta)``.
        ``True``: the hard-constraint problem ``max R + beta H`` s.t. ``C <= B``.
    solver : str, optional
        A CVXPY solver name (e.g. ``"CLARABEL"``, ``"SCS"``). By default CLARABEL is
        tried first (``"atoms"``, then ``"cones"`` with a shorter interior-point step,
        then with more regularisation), then SCS with tolerances 1e-10; with a
        named solver, only its attempts.
    time_limit : float, optional
        Seconds for all attempts together: each attempt gets what is left (passed
        to CLARABEL as ``time_limit``, to SCS as ``time_limit_secs``; CVXPY's
        compilation is not interrupted), and no attempt starts once it is spent.
        Without it SCS may run for many minutes on a hard problem (its
        iterations on exponential cones are slow). Only with CLARABEL or SCS.

    Returns
    -------
    Solution
        ``objective`` is CVXPY's optimal value (evaluated exactly at the
        returned policy where CVXPY's own value is not finite: its log terms at
        entries a rounding below 0); ``worst_case_reward``,
        ``worst_case_cost`` and ``entropy`` are evaluated exactly at the returned
        policy; ``multiplier`` is ``(C - B)_+ / beta`` (regularised) or the budget
        constraint's dual value (hard constraint); ``history`` lists the attempts.
        ``converged`` is False (with a warning) when only an
        ``optimal_inaccurate`` status was reached (e.g. stopped by ``time_limit``).

    Raises
    ------
    SolverError
        When no attempt returned an optimal (or optimal-inaccurate) solution.

    Notes
    -----
    Interior-point accuracy is about 1e-8 on the objective; the policy, a
    minimiser of a function that is only ``beta``-strongly concave, is accurate to
    about 1e-4 to 1e-3 for ``beta = 0.01``.

    Examples
    --------
    >>> import numpy as np
    >>> from racer_dro import RoutingProblem, solve_cvxpy
    >>> rng = np.random.default_rng(0)
    >>> problem = RoutingProblem(rng.uniform(size=(30, 2)), rng.uniform(1, 3, size=(30, 2)),
    ...                          budget=2.0, beta=0.1, reward_temperature=0.5)
    >>> sol = solve_cvxpy(problem)
    >>> sol.converged, sol.policy.shape
    (True, (30, 2))
    """
    if not isinstance(problem, RoutingProblem):
        raise TypeError(
            f"`problem` must be a RoutingProblem, got {type(problem).__name__}"
        )
    installed = cp.installed_solvers()
    if solver is None:
        plan = [a for a in _ATTEMPTS if a[0] in installed]
    else:
        if not isinstance(solver, str) or solver.upper() not in installed:
            raise ValueError(
                f"`solver` must be one of the installed CVXPY solvers {installed}, got {solver!r}"
            )
        name = solver.upper()
        plan = [a for a in _ATTEMPTS if a[0] == name] or [
            (name, {}, "atoms"),
            (name, {}, "cones"),
        ]
    if time_limit is not None:
        time_limit = check_positive(time_limit, "time_limit")
        unknown = sorted({a[0] for a in plan} - set(_TIME_OPTION))
        if unknown:
            raise ValueError(
                f"`time_limit` needs CLARABEL or SCS; {unknown} take no time limit"
            )
    active = np.asarray(problem.weights) > 0

    attempts, best = [], None
    deadline = math.inf if time_limit is None else time.perf_counter() + time_limit
    for name, options, formulation in plan:
        left = deadline - time.perf_counter()
        if left <= 0:
            attempts.append(
                {
                    "solver": name,
                    "formulation": formulation,
                    "options": "",
                    "status": "not run: time_limit spent",
                    "value": None,
                    "seconds": 0.0,
                }
            )
            break
        if time_limit is not None:
            options = {**options, _TIME_OPTION[name]: left}
        prog, pi, budget_con = _build(problem, active, constrained, formulation)
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                prog.solve(solver=name, **options)
            status = prog.status
        except cp.error.SolverError as exc:  # the solver crashed
            status = f"error: {exc}"
        elapsed = time.perf_counter() - start
        attempts.append(
            {
                "solver": name,
                "formulation": formulation,
                "options": ", ".join(f"{k}={v}" for k, v in options.items()),
                "status": status,
                "value": prog.value,
                "seconds": elapsed,
            }
        )
        solved = pi.value is not None and bool(np.all(np.isfinite(pi.value)))
        value = prog.value
        if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and not solved:
            status = attempts[-1]["status"] = f"{status} (non-finite policy)"
        elif value is None or not np.isfinite(value):
            # CVXPY evaluates its objective at the raw solution, where entries a
            # rounding below 0 put a log at -inf; the solver's policy stands, and
            # make_solution evaluates the objective exactly at its clipped rows
            attempts[-1]["value"] = value = None
        if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            candidate = (
                status,
                value,
                _normalised_rows(pi.value),
                budget_con,
            )
            if status == cp.OPTIMAL:
                best = candidate
                break
            if best is None:
                best = candidate
    history = pd.DataFrame.from_records(attempts)
    if best is None:
        summary = "; ".join(
            f"{a['solver']}/{a['formulation']}({a['options']}): {a['status']}"
            for a in attempts
        )
        raise SolverError(f"CVXPY did not solve the RACER problem ({summary})")
    status, value, pi_active, budget_con = best
    converged = status == cp.OPTIMAL
    if not converged:
        warnings.warn(
            f"solve_cvxpy: only status {status!r} was reached",
            UserWarning,
            stacklevel=2,
        )

    policy = np.empty(problem.rewards.shape)
    policy[active] = pi_active
    policy[~active] = 1.0 / problem.n_arms
    multiplier = None
    if constrained:
        dual = budget_con.dual_value
        multiplier = float(np.asarray(dual).item()) if dual is not None else math.nan
        multiplier = max(multiplier, 0.0)
    if not active.all():
        lam = multiplier
        if lam is None:
            lam = max(problem.worst_case_cost(policy).value - problem.budget, 0.0)
            lam /= problem.beta
        policy = _fill_zero_weight(problem, policy, active, lam)
    return make_solution(
        problem,
        policy,
        converged=converged,
        constrained=constrained,
        multiplier=multiplier,
        objective=None if value is None else float(value),
        history=history,
        method=f"cvxpy:{history['solver'].iloc[-1]}",
        n_iter=len(attempts),
    )


def _normalised_rows(values):
    """Clip an interior-point solution to ``>= 0`` and renormalise each row (rounding)."""
    out = np.clip(np.asarray(values, dtype=float), 0.0, None)
    return out / out.sum(axis=1, keepdims=True)
