"""The entropy-regularised primal-dual solver of RACER over K arms, made to converge.

The regularised saddle problem (user guide, "RACER"; :mod:`racer_dro.formulas` eq. 1)::

    max_pi min_{lambda >= 0} R(pi) - lambda (C(pi) - B) + beta H(pi) + (beta / 2) lambda^2

has the closed-form primal step ``pi_i(a) ∝ exp((w_r(i) r_i(a) - lambda w_c(i) c_i(a)) / beta)``
and the exact dual step ``lambda = (C(pi) - B)_+ / beta``. Iterated as they stand
these two steps cycle for small ``beta`` (each query's worst-case weight depends on
its own policy). This module finds the same fixed point reliably:

* **joint Newton** (default, regularised mode): with the multiplier eliminated the
  problem is the concave ``P(pi) = R + beta H - (C - B)_+^2 / (2 beta)``. Its Newton
  step is the fixed-multiplier step plus a multiple of ``d pi / d lambda`` (a
  Sherman-Morrison update), the multiple chosen by maximising the piecewise
  quadratic model across the kink at ``C = B`` exactly; Armijo backtracking. Each
  step costs ``O(n K)`` (:mod:`racer_dro.newton`: a ``K x K`` block per query plus
  a low-rank coupling).
* **nested** (``method="nested"``, and the hard-constraint mode): Newton on the
  multiplier, ``g(lambda) = beta lambda - (C(pi(lambda)) - B)_+`` (or
  ``C(pi(lambda)) - B``), with the exact derivative ``dC / dlambda`` by implicit
  differentiation, safeguarded by bisection; each ``pi(lambda)`` by damped Newton.

Problems above 1,000 rows start from the multiplier of an evenly spaced subsample
of a tenth of the rows (a twentieth up to 4,096 rows; each row's own optimum with
the subsample's tilts, shifted so that the start's worst-case cost matches the
subsample's multiplier). Known limit: when a radius is so large that the worst case
at the optimum sits on a few rows (its temperature tends to 0), Newton can stall;
the solver then reports ``converged=False`` with a :class:`ConvergenceWarning`
(use :func:`racer_dro.solve_cvxpy` there). When the joint Newton stalls and the
nested method it falls back on does not converge either, the better of the two
policies by the penalised objective is returned. An inner solve of the nested method
that cannot take a first Newton step (a saturated start: at a trial multiplier the
logits differ by 1e5 or more and every row sits at the floor of the wrong arm) tries
the closed-form primal step instead, kept only if it raises ``F_lambda``. A random
search found both: the nested method returned 41% below CVXPY's objective with none
of the budget used (20 rows, beta = 0.0017, costs in the hundreds), and 2.5e-2 below
it where the joint Newton had stopped within 5e-6; over 330 random problems the
rescue changed 4 results, 3 for the better (these two now converge to CVXPY's
optimum) and 1 for the worse (a problem at the budget's minimum with an 11-arm
cost temperature of 0.006 lost its convergence certificate and ended 8e-4 below).

Rounding. Both loops stop on a fixed-point check (the primal step reproduces the
policy) as well as a small step. ``lambda = (C - B) / beta`` is known only to the
rounding of ``C - B`` (:func:`racer_dro.formulas.dual_step_rounding`): with costs
in large units (tokens) that is a relative 1e-5, and the check allows the primal
step's sensitivity to it. Below the rounding of the objective a step is accepted
only if it loses no more than rounding: a policy entry at the logit floor has a
step of ~1e-14 in ``pi`` but possibly hundreds in its logit. A random search
against CVXPY (shapes K in {2, 3, 5, 11}, n up to 500, reward and cost scales
1e-2..1e2 and 1e-3..1e3, every side kind, budgets from the minimum cost up)
found both; ``tests/racer_dro/test_primal_dual.py`` keeps the problems.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from racer_dro import (
    _fallback,
    _kernels,
    _kernels_newton,
    _kernels_policy,
    formulas,
    newton,
)
from racer_dro._dot import dot
from racer_dro._row_solve import (  # noqa: F401 (the tests reach them here too)
    _calibrated_start,
    _frozen_tilts,
    _row_parts,
    _solve_rows,
    _solve_rows_from_vertices,
    _solve_rows_numpy,
    _tilt_table,
)
from racer_dro._validation import check_finite, check_positive
from racer_dro.newton import Engine, softmax_logits
from racer_dro.newton import kink_multiple as _kink_multiple
from racer_dro.problem import RoutingProblem, Solution, make_solution

__all__ = [
    "ConvergenceWarning",
    "PolicyValue",
    "evaluate_policy",
    "policy_step",
    "solve_policy",
    "solve_primal_dual",
]

_FIXED_POINT_TOL = 1e-6  # max |primal step - pi| accepted at an optimum
# a step up to this multiple of the step tolerance is accepted once the Newton
# decrement is at rounding level (solve_primal_dual's step tolerance is 1e-2 of
# its `tol`, so the accepted step is still within `tol`)
_ROUNDING_STEPS = 100.0
_RESCUES = 20  # primal-step rescues per inner solve (each one raises F_lambda)
_LAMBDA_MAX = 1e12  # constrained mode: a multiplier beyond this means B = min cost
_SUBSAMPLE_ABOVE = 1_000  # rows; larger problems start from a subsample's multiplier
_SUBSAMPLE_FACTOR = 10
# up to one chunk of rows the full-size Newton runs compiled and its steps are
# cheap: a twentieth pays there (binary n = 1,500-4,000 and K = 11 n = 2,000,
# 6-10 seeds each: 3-8% less time in all, measured)
_SUBSAMPLE_FACTOR_COMPILED = 20
_SUBSAMPLE_TOL = 1e-8  # policy step at which the subsample's Newton stops


class ConvergenceWarning(UserWarning):
    """The primal-dual solver stopped at ``max_iter`` before meeting its tolerance.

    Examples
    --------
    >>> from racer_dro.primal_dual import ConvergenceWarning
    >>> issubclass(ConvergenceWarning, UserWarning)
    True
    """


class PolicyValue:
    """Worst-case values of a tabular policy (:func:`evaluate_policy`).

    Attributes
    ----------
    worst_case_reward, worst_case_cost, entropy, objective, multiplier : float
        ``R``, ``C``, ``H``, eq. 2 and the dual step ``(C - B)_+ / beta``.
    reward_weights, cost_weights : ndarray of shape (n,)
        The worst-case distributions ``rho_low`` (reward) and ``rho_up`` (cost).

    Examples
    --------
    >>> import numpy as np
    >>> from racer_dro import RoutingProblem
    >>> problem = RoutingProblem(np.array([[0.0, 1.0], [0.5, 0.5]]), np.array([[1.0, 3.0], [1.0, 3.0]]), budget=2.0)
    >>> evaluate_policy(problem, np.array([[0.0, 1.0], [1.0, 0.0]])).worst_case_cost
    2.0
    """

    def __init__(self, reward, cost, entropy, objective, multiplier, rw, cw):
        self.worst_case_reward = reward
        self.worst_case_cost = cost
        self.entropy = entropy
        self.objective = objective
        self.multiplier = multiplier
        self.reward_weights = rw
        self.cost_weights = cw


def evaluate_policy(problem: RoutingProblem, policy) -> PolicyValue:
    """Worst-case reward and cost, entropy, objective and dual step of a policy (n, K).

    Examples
    --------
    >>> import numpy as np
    >>> from racer_dro import RoutingProblem
    >>> problem = RoutingProblem(np.array([[0.0, 1.0]]), np.array([[1.0, 3.0]]), budget=2.0, beta=1.0)
    >>> evaluate_policy(problem, np.array([[0.0, 1.0]])).multiplier
    1.0
    """
    pi = problem.check_policy(policy)
    reward = problem.worst_case_reward(pi)
    cost = problem.worst_case_cost(pi)
    entropy = problem.entropy(pi)
    return PolicyValue(
        float(reward.value),
        float(cost.value),
        entropy,
        formulas.penalised_objective(
            reward.value, cost.value, entropy, problem.budget, problem.beta
        ),
        formulas.dual_step(cost.value, problem.budget, problem.beta),
        reward.weights,
        cost.weights,
    )


def _ratios_off_support(problem, values, sign, worst):
    """``w = rho_worst / rho_n`` on all rows, also where ``rho_n = 0`` (the tilt's limit)."""
    p = np.asarray(problem.weights)
    tau = worst.temperature
    if math.isinf(tau):
        return np.ones_like(values)
    fs = sign * values
    support = p > 0
    m = float(fs[support].min())
    if tau == 0:
        at_min = fs <= m
        return np.where(at_min, 1.0 / p[at_min & support].sum(), 0.0)
    g = fs - m
    a = np.where(support, np.log(np.where(support, p, 1.0)) - g / tau, -np.inf)
    top = float(a.max())
    L = top + math.log(float(np.exp(a - top).sum()))
    return np.exp(np.minimum(-g / tau - L, 700.0))


def policy_step(problem: RoutingProblem, policy, multiplier: float) -> np.ndarray:
    """The closed-form primal step at ``policy`` (one best response, not the optimum).

    ``pi_new_i(a) ∝ exp((w_r(i) r_i(a) - lambda w_c(i) c_i(a)) / beta)`` with the
    worst-case ratios evaluated at ``policy`` (:func:`racer_dro.formulas.primal_step`).
    Its fixed point is :func:`solve_policy`'s answer.

    Examples
    --------
    >>> import numpy as np
    >>> from racer_dro import RoutingProblem
    >>> problem = RoutingProblem(np.array([[0.0, 1.0], [0.5, 0.5]]), np.array([[1.0, 3.0], [1.0, 3.0]]), budget=2.0)
    >>> policy_step(problem, np.full((2, 2), 0.5), 0.0).round(3).tolist()
    [[0.0, 1.0], [0.5, 0.5]]
    """
    pi = problem.check_policy(policy)
    lam = check_finite(multiplier, "multiplier")
    if lam < 0:
        raise ValueError(f"`multiplier` must be non-negative, got {lam!r}")
    fr, fc = problem.reward_values(pi), problem.cost_values(pi)
    w_r = _ratios_off_support(problem, fr, 1.0, problem.worst_case_reward(pi))
    w_c = _ratios_off_support(problem, fc, -1.0, problem.worst_case_cost(pi))
    return formulas.primal_step(
        problem.rewards, problem.costs, w_r, w_c, lam, problem.beta
    )


# ---------------------------------------------------------------------------- inner solves
def _newton(engine: Engine, theta, lam, tol, max_iter, joint, keep=True, state=None):
    """Damped Newton on ``P`` (``joint``) or on ``F_lambda``; returns ``(state, records, ok)``.

    ``keep``: the records hold each iterate (``"theta"``): its centred logits
    here (the history's distances to the final iterate take one softmax per
    iterate, which reproduces the state's ``pi`` and ``log pi`` exactly), its
    ``(pi, log pi)`` from the compiled loop of a small problem
    (:func:`racer_dro._kernels_newton.newton_joint`, the same steps, one call).
    ``state``: ``engine.state(theta)`` when the caller has it (the Python loop).
    """
    if joint and _kernels_newton.applicable(engine, theta):
        out = _kernels_newton.newton_joint(
            engine, theta, tol, max_iter, keep, _FIXED_POINT_TOL, _ROUNDING_STEPS
        )
        if out is not None:
            return out
    st = engine.state(theta) if state is None else state
    records = []
    best, stalls, rescues = math.inf, 0, 0
    values = []  # objective after each accepted step (stall detection)
    spare = None  # a superseded state to write the next trial into
    beta, budget = engine.beta, engine.budget
    for it in range(max_iter):
        if joint:
            lam = formulas.dual_step(st.cost, budget, beta)
            value = engine.penalised(st)
        else:
            value = engine.fixed_lambda_value(st, lam)
        step, dtheta, z, ztheta, dec, dc_step, dc_z = engine.direction(st, lam)
        k = _kink_multiple(dc_step, dc_z, lam, st.cost, budget, beta) if joint else 0.0
        step, dtheta, dpi = engine.add_multiple(step, dtheta, z, ztheta, k)
        dec -= k * dc_step
        # the closed-form primal step must reproduce the policy at an optimum; it
        # costs a softmax over (n, K), so it is evaluated only once the step is small
        small = dpi <= max(tol, 1e-7)
        # joint: lambda is the dual step of C - B, known to its rounding
        dlam = formulas.dual_step_rounding(st.cost, budget, beta) if joint else 0.0
        fixed = engine.fixed_point_residual(st, lam, dlam) if small else math.inf
        records.append(
            {
                "iteration": it,
                "lambda": lam,
                "worst_case_reward": st.reward,
                "worst_case_cost": st.cost,
                "objective": value,
                "newton_decrement": dec,
                "theta": st.theta,  # the iterate (history distances)
            }
        )
        if dpi <= tol and fixed <= _FIXED_POINT_TOL:
            return st, records, True, lam, dc_z
        if (
            dpi <= _ROUNDING_STEPS * tol
            and abs(dec) <= 1e-15 * (1.0 + abs(value))
            and fixed <= _FIXED_POINT_TOL
        ):
            # the Newton decrement is at the rounding of the objective: further
            # steps only move the policy within its rounding (~1e-10 in l2 at
            # n K ~ 1e6, measured), while tol sits below it
            return st, records, True, lam, dc_z
        stalls = stalls + 1 if dpi > 0.5 * best else 0
        best = min(best, dpi)
        if stalls >= 3 and dpi <= 1e-9 and fixed <= _FIXED_POINT_TOL:
            return st, records, True, lam, dc_z
        # below the rounding of the objective the Armijo test cannot see progress:
        # a step is accepted there unless it loses more than rounding (a policy
        # entry at the floor, 2e-22, gives a step of ~1e-14 in pi but hundreds in
        # its logit, which can flip the row to a worse arm)
        rounding = 1e-13 * (1.0 + abs(value))
        local = dec <= rounding
        t, accepted, trial = 1.0, False, spare
        # a non-finite step (the block solve overflowed: a worst-case temperature
        # ~1e-19 gives curvatures ~1e19) is no step: handled as a failed search
        for _ in range(40 if math.isfinite(dpi) else 0):
            trial = engine.state(st.theta, dtheta, t, reuse=trial)
            new = (
                engine.penalised(trial)
                if joint
                else engine.fixed_lambda_value(trial, lam)
            )
            if new >= value + 1e-4 * t * dec or (local and new >= value - rounding):
                accepted = True
                break
            t *= 0.5
        stalled = False
        if accepted:
            values.append(value)
            # ten accepted steps without progress above rounding: stalled (the
            # worst case is near non-smooth, see the module notes)
            stalled = len(values) > 10 and values[-1] - values[-11] <= rounding
        if not accepted or stalled:
            ok = dpi <= 1e-7 and fixed <= _FIXED_POINT_TOL
            rescue = None
            # only where the Newton could not take a single step from its start (a
            # saturated start); a stall after progress, near a non-smooth worst
            # case, is left to the outer iteration as before
            if not joint and not ok and not values and rescues < _RESCUES:
                rescue = _primal_step_rescue(engine, st, lam, value, rounding)
            if rescue is None:
                return st, records, ok, lam, dc_z
            rescues += 1
            st, spare, values, best, stalls = rescue, None, [], math.inf, 0
            continue
        st, spare = trial, _spare(st)
    return st, records, False, lam, dc_z


def _primal_step_rescue(engine: Engine, st, lam, value, rounding):
    """The state at the closed-form primal step of ``st`` if it raises ``F_lambda``.

    At a fixed multiplier far from the last one (the nested method's first trials
    of a large ``lambda``, costs in hundreds over ``beta ~ 1e-3``) every row's
    policy can sit at the logit floor of the wrong arm: the Newton step in ``pi``
    is then ~1e-22, the line search sees no progress and the inner solve stopped
    where it started. The primal step (eq. 4, the maximiser of ``F_lambda`` with
    the worst-case ratios frozen at ``st``) moves every row to its own best arm
    at once; it is taken only if the exact ``F_lambda`` rises by more than
    rounding, so the iteration stays monotone."""
    ratios = (
        formulas.worst_case_ratios(st.rs.q, engine.p),
        formulas.worst_case_ratios(st.cs.q, engine.p),
    )
    scores = formulas.arm_scores(engine.rewards, engine.costs, *ratios, lam)
    trial = engine.state(scores / engine.beta)
    if engine.fixed_lambda_value(trial, lam) > value + rounding:
        return trial
    return None


def _spare(st):
    """A superseded state whose arrays the next line search may overwrite (compiled
    path): all but its logits, which the history keeps. Fresh memory costs the
    kernel more than the pass that fills it (0.45 s of system time per solve at
    K = 11, n = 1e5 with a new state per trial, measured); keeping the logits
    alone, not ``(pi, log pi)``, halves the history's memory."""
    if not (newton.USE_KERNEL and _kernels.available()):
        return None
    return dataclasses.replace(st, theta=np.empty_like(st.theta))


def _initial_logits(engine: Engine, lam: float):
    return (engine.rewards - lam * engine.costs) / engine.beta


def _init_from_policy(problem, engine, init):
    pi0 = problem.check_policy(init, "init")[engine.active]
    return np.log(np.clip(pi0, 1e-22, 1.0))


def _state_values(engine, st):
    """``(R, C, H)`` of the final state when it is the whole policy (all weights positive)."""
    return (st.reward, st.cost, st.entropy) if engine.active.all() else None


def _full_policy(problem, engine, st, lam):
    """Policy on all rows; rows with zero weight get the limit of their own optimum."""
    if engine.active.all():
        return st.pi
    pi = np.zeros(problem.rewards.shape)
    pi[engine.active] = st.pi
    if not engine.active.all():
        pi = _fill_zero_weight(problem, pi, engine.active, lam)
    return pi


def _fill_zero_weight(problem, policy, active, lam):
    """A zero-weight row does not enter the problem; it gets the limit of its own optimum
    as its weight tends to 0 (:func:`_solve_rows` with the solution's tilts)."""
    pi = np.array(policy, dtype=float)
    zero = ~active
    pi[zero] = 1.0 / problem.n_arms
    tilts = _frozen_tilts(problem, pi)
    R, Cm, beta = problem.rewards[zero], problem.costs[zero], problem.beta
    theta = _solve_rows(R, Cm, lam, beta, tilts, np.zeros_like(R), tol=1e-13)
    # from the uniform start a row's Newton can stall without overflowing where
    # a side's ratio is ~e^50 (a row far beyond the tilt's support: its value
    # ~1e25 swamps the line search's test), and it did so at one scale of a
    # problem and not at another (policy (0.5, 0.5) instead of (1, 0)); the
    # row's problem is strictly concave, so each row keeps the better of that
    # answer and the solves from the vertices
    table = _tilt_table(tilts)
    alt = _solve_rows_from_vertices(R, Cm, lam, beta, table, 1e-13, 1e-8, 100)
    with np.errstate(over="ignore", invalid="ignore"):
        here = _row_parts(theta, R, Cm, lam, beta, table)[2]
        there = _row_parts(alt, R, Cm, lam, beta, table)[2]
    better = (there > here) | (np.isnan(here) & ~np.isnan(there))
    theta[better] = alt[better]
    pi[zero] = softmax_logits(theta)[1]
    return pi


def solve_policy(
    problem: RoutingProblem, multiplier: float, *, init=None, tol: float = 1e-12
) -> np.ndarray:
    """The exact policy at a fixed multiplier: ``argmax_pi R - lambda C + beta H``, shape (n, K).

    Strictly concave for ``beta > 0``; damped Newton in the logits, ``O(n K)`` per
    step. The result is the fixed point of :func:`policy_step`.

    Examples
    --------
    >>> import numpy as np
    >>> from racer_dro import RoutingProblem
    >>> rng = np.random.default_rng(0)
    >>> problem = RoutingProblem(rng.uniform(size=(20, 3)), rng.uniform(1, 3, size=(20, 3)),
    ...                          budget=2.5, beta=0.05, reward_temperature=0.2)
    >>> pi = solve_policy(problem, 0.3)
    >>> bool(np.allclose(policy_step(problem, pi, 0.3), pi, atol=1e-9))
    True
    """
    lam = check_finite(multiplier, "multiplier")
    if lam < 0:
        raise ValueError(f"`multiplier` must be non-negative, got {lam!r}")
    tol = check_positive(tol, "tol")
    engine = Engine(problem)
    theta = (
        _initial_logits(engine, lam)
        if init is None
        else _init_from_policy(problem, engine, init)
    )
    st, _, ok, *_ = _newton(engine, theta, lam, tol, 200, joint=False)
    if not ok:
        warnings.warn(
            "solve_policy: Newton did not reach `tol`", ConvergenceWarning, stacklevel=2
        )
    return _full_policy(problem, engine, st, lam)


# ---------------------------------------------------------------------------- the solver
def _distances_to_final(history, thetas, theta_star, lam_star, p, final=None):
    """``sum_i rho_n(i) KL(pi_t,i || pi*_i)``, ``||pi_t - pi*||_2`` and ``|lambda_t - lambda*|``.

    ``final``: ``(pi*, log pi*)`` already evaluated at ``theta_star`` (the final
    state's). Each of ``thetas`` is logits, or a pair ``(pi, log pi)``.
    """
    _, pi_star, log_star = (None, *final) if final else softmax_logits(theta_star)
    kl, l2 = [], []
    for t in thetas:
        if t is theta_star or (isinstance(t, tuple) and t[0] is pi_star):  # the end
            kl.append(0.0)
            l2.append(0.0)
            continue
        if newton.USE_KERNEL and _kernels_policy.available():
            d_kl, d_l2 = _kernels_policy.distances_to_final(t, pi_star, log_star, p)
            kl.append(d_kl)
            l2.append(d_l2)
            continue
        _, pi, log_pi = (None, *t) if isinstance(t, tuple) else softmax_logits(t)
        row_kl = np.einsum("ij,ij->i", pi, log_pi - log_star)
        kl.append(max(dot(p, row_kl), 0.0))
        l2.append(float(np.sqrt(np.sum((pi - pi_star) ** 2))))
    history["kl_to_final"] = kl
    history["l2_to_final"] = l2
    history["lambda_to_final"] = np.abs(np.asarray(history["lambda"], float) - lam_star)
    return history


def _subsample_start(problem, engine, constrained, method):
    """``(lambda, theta, state)`` from an evenly spaced tenth (or twentieth) of the rows.

    The subsample's multiplier, and each row's own optimum with the subsample
    solution's tilts frozen (:func:`_solve_rows`), calibrated to the budget
    (:func:`racer_dro._row_solve._calibrated_start`, which also gives the
    state at ``theta`` or ``None``): a start from which a few full-size Newton
    steps remain. ``(0, None, None)`` for small problems."""
    n = engine.p.shape[0]
    if n <= _SUBSAMPLE_ABOVE:
        return 0.0, None, None
    factor = _SUBSAMPLE_FACTOR_COMPILED if n <= _kernels.CHUNK else _SUBSAMPLE_FACTOR
    size = max(n // factor, 2)
    rows = np.flatnonzero(engine.active)[np.linspace(0, n - 1, size).astype(int)]
    try:
        sub = problem.replace(
            rewards=problem.rewards[rows],
            costs=problem.costs[rows],
            sample_weight=np.asarray(problem.weights)[rows],
        )
        policy, lam, temperatures = None, math.nan, None
        if not constrained and method != "nested":
            # the joint Newton on the subsample, to a policy step of _SUBSAMPLE_TOL:
            # only its multiplier and tilts are used (no history, no Solution)
            sub_engine = Engine(sub)
            lam_s, theta_s, st_s = _subsample_start(
                sub, sub_engine, constrained, method
            )
            if theta_s is None:
                theta_s = _initial_logits(sub_engine, lam_s)
            st, _, ok, lam, _ = _newton(
                sub_engine, theta_s, 0.0, _SUBSAMPLE_TOL, 200, joint=True, keep=False,
                state=st_s,
            )  # fmt: skip
            if ok:
                policy = _full_policy(sub, sub_engine, st, lam)
                temperatures = (st.rs.tau, st.cs.tau)
        if policy is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                sol = solve_primal_dual(
                    sub, tol=1e-6, max_iter=200, constrained=constrained,
                    method=method, fallback=None,
                )  # fmt: skip
            policy, lam = sol.policy, sol.multiplier
    except ValueError:  # e.g. the budget is infeasible on the subsample
        return 0.0, None, None
    lam = float(lam)
    if not math.isfinite(lam):
        return 0.0, None, None
    tilts = _frozen_tilts(sub, policy, temperatures)
    theta0 = _initial_logits(engine, lam)
    # only a start: the full-size Newton refines it, so a policy to 1e-4 will do
    theta = _solve_rows(
        engine.rewards, engine.costs, lam, engine.beta, tilts, theta0, tol=1e-4
    )
    if not constrained and method != "nested":  # the joint Newton's start
        return lam, *_calibrated_start(engine, lam, tilts, theta)
    return lam, theta, None


def solve_primal_dual(
    problem: RoutingProblem,
    *,
    tol: float = 1e-10,
    max_iter: int = 10_000,
    constrained: bool = False,
    init=None,
    method: str = "auto",
    n_jobs=None,
    fallback: str | None = "cvxpy",
) -> Solution:
    """Solve the regularised RACER saddle problem (or the hard-constraint problem), K arms.

    Parameters
    ----------
    problem : RoutingProblem
    tol : float, default=1e-10
        Stop when a Newton step moves no policy entry by more than ``tol`` (joint),
        or the multiplier step is below ``tol * max(1, lambda)`` (nested).
    max_iter : int, default=10_000
        Maximum number of outer iterations (Newton steps for the joint method).
    constrained : bool, default=False
        ``True``: ``max R + beta H`` subject to ``C(pi) <= B`` (nested method).
    init : array-like of shape (n, K), optional
        Starting policy.
    method : {"auto", "newton", "nested"}, default="auto"
        ``"newton"``: joint Newton on eq. 2 (regularised mode only). ``"nested"``:
        Newton on the multiplier around exact policy solves. ``"auto"``: ``"newton"``,
        falling back on ``"nested"`` if its line search fails, and when the nested
        method stops without meeting ``tol`` the joint Newton again from its
        policy (where the nested method stalls next to the optimum, e.g. heavy
        tailed costs with a budget near the cheapest policy's cost); ``"nested"``
        when ``constrained``.
    n_jobs : int, optional
        Threads for the compiled passes over more than 4,096 rows (numba): ``None``
        or 1 the calling thread, -1 all of numba's threads. The result is the same
        bit for bit whatever the number (fixed chunks of rows, sums added in order),
        and whatever BLAS's thread count (:mod:`racer_dro._dot`).
    fallback : {"cvxpy", None}, default="cvxpy"
        With ``method="auto"``: when the primal-dual methods stop without meeting
        ``tol`` on a problem of at most 10,000 policy entries, solve it with
        :func:`racer_dro.solve_cvxpy` (at most 60 s) and return CVXPY's policy if
        its exactly evaluated objective is higher (``method``
        ``"cvxpy_fallback:<solver>"``, with a ``ConvergenceWarning``). This happens
        where a large KL radius puts the worst case on a few rows
        (:mod:`racer_dro._fallback`). Where CVXPY can take over, the nested
        method stops after :data:`racer_dro._fallback.MAX_STATES` policy
        evaluations; if CVXPY then fails, the methods run again without that
        limit. ``None``: never.

    Returns
    -------
    Solution
        ``method`` is ``"primal_dual_newton"`` or ``"primal_dual"`` (nested);
        ``history`` has one row per iterate (``lambda``, ``worst_case_reward``,
        ``worst_case_cost``, ``objective`` and the distances to the final iterate
        ``kl_to_final``, ``l2_to_final``, ``lambda_to_final``; ``newton_decrement``
        for Newton, ``gap`` and ``inner_iter`` for nested).

    Examples
    --------
    >>> import numpy as np
    >>> from racer_dro import RoutingProblem, solve_primal_dual
    >>> rng = np.random.default_rng(1)
    >>> rewards = rng.uniform(size=(200, 3))
    >>> costs = np.column_stack([np.ones(200), rng.uniform(2, 6, size=(200, 2))])
    >>> problem = RoutingProblem(rewards, costs, budget=2.0, reward_temperature=0.5, cost_radius=0.05)
    >>> sol = solve_primal_dual(problem)
    >>> sol.converged, sol.policy.shape, bool(abs(sol.multiplier - max(sol.worst_case_cost - 2.0, 0) / 0.01) < 1e-6)
    (True, (200, 3), True)
    """
    if not isinstance(problem, RoutingProblem):
        raise TypeError(
            f"`problem` must be a RoutingProblem, got {type(problem).__name__}"
        )
    tol = check_positive(tol, "tol")
    if (
        isinstance(max_iter, bool)
        or not isinstance(max_iter, (int, np.integer))
        or max_iter < 1
    ):
        raise ValueError(f"`max_iter` must be a positive integer, got {max_iter!r}")
    if method not in {"auto", "newton", "nested"}:
        raise ValueError(
            f"`method` must be 'auto', 'newton' or 'nested', got {method!r}"
        )
    if fallback not in ("cvxpy", None):
        raise ValueError(f"`fallback` must be 'cvxpy' or None, got {fallback!r}")
    if method == "newton" and constrained:
        raise ValueError(
            "`method`='newton' solves the regularised problem only; use "
            "method='nested' (or 'auto') with `constrained=True`"
        )
    enabled = (
        method == "auto" and fallback is not None and _fallback.applicable(problem)
    )
    with _kernels.using_threads(n_jobs), warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")  # re-emitted (or superseded) by settle
        # where CVXPY can take over, the nested method stops at a work budget
        sol, cut = _solve(
            problem, tol, max_iter, constrained, init, method,
            max_states=_fallback.MAX_STATES if enabled else None,
        )  # fmt: skip
        candidate = None
        if enabled and not sol.converged:
            candidate = _fallback.cvxpy_candidate(problem, constrained=constrained)
            if candidate is None and cut:  # CVXPY failed: finish without the budget
                del said[:]
                sol, _ = _solve(problem, tol, max_iter, constrained, init, method)
    return _fallback.settle(
        sol, candidate, said, problem=problem, category=ConvergenceWarning
    )


def _solve(problem, tol, max_iter, constrained, init, method, max_states=None):
    """:func:`solve_primal_dual` on validated arguments: ``(solution, cut)``.

    ``max_states``: the nested method's budget of policy evaluations (``None``:
    none); ``cut`` tells whether it stopped there."""
    engine = Engine(problem)
    lam0, theta, st0 = _subsample_start(problem, engine, constrained, method)
    if init is not None:
        theta, st0 = _init_from_policy(problem, engine, init), None
    elif theta is None:
        theta = _initial_logits(engine, lam0)
    if method != "nested" and not constrained:
        cap = min(int(max_iter), 100 if method == "auto" else 500)
        joint = _joint_newton(problem, engine, theta, st0, tol, cap)
        if joint.converged or method == "newton":
            if not joint.converged:
                warnings.warn(
                    f"solve_primal_dual (Newton) stopped after {joint.n_iter} "
                    f"iterations without meeting `tol` = {tol!r}",
                    ConvergenceWarning,
                    stacklevel=3,
                )
            return joint, False
        engine = Engine(problem)  # fall back from a clean state
        nested = _solve_nested(
            problem, engine, theta, lam0, tol, max_iter, constrained, warn=False,
            max_states=max_states,
        )  # fmt: skip
        cut = _budget_spent(engine, max_states)
        if nested.converged:
            return nested, False
        # the nested method often stops next to the optimum without meeting its
        # own test (its multiplier steps stall while the policy is right to
        # ~1e-10); from there the joint Newton converges in a few steps, where
        # from the cold start its first step already failed
        polished = _joint_newton(
            problem, Engine(problem), _init_from_policy(problem, engine, nested.policy),
            None, tol, cap,
        )  # fmt: skip
        if polished.converged and polished.objective >= nested.objective:
            return polished, False
        # neither met tol: the policies are evaluated exactly on the same
        # penalised objective, so keep the best (near a non-smooth worst case
        # the nested method's inner solves can stall far from the optimum that
        # the joint Newton had nearly reached)
        best = max((joint, nested, polished), key=lambda sol: sol.objective)
        name = "the joint Newton" if best is not nested else "the nested method"
        warnings.warn(
            f"solve_primal_dual: the joint Newton ({joint.n_iter} iterations), the "
            f"nested method ({nested.n_iter}) and the joint Newton from the nested "
            f"method's policy ({polished.n_iter}) all stopped without meeting `tol` "
            f"= {tol!r}; returning {name}'s policy, the highest objective of the "
            "three (use solve_cvxpy to check it)",
            ConvergenceWarning,
            stacklevel=3,
        )
        return best, cut
    sol = _solve_nested(
        problem, engine, theta, lam0, tol, max_iter, constrained, max_states=max_states
    )
    return sol, _budget_spent(engine, max_states)


def _budget_spent(engine, max_states) -> bool:
    """Whether ``engine`` has evaluated ``max_states`` states (``None``: no budget)."""
    return max_states is not None and engine.n_states >= max_states


def _joint_newton(problem, engine, theta, state, tol, cap):
    """The joint Newton on the penalised objective from the logits ``theta``, as a
    :class:`Solution` (``converged`` whether it met its step tolerance)."""
    step_tol = max(min(tol, 1e-10) * 1e-2, 1e-14)
    st, records, ok, lam, *_ = _newton(
        engine, theta, 0.0, step_tol, cap, joint=True, state=state
    )
    thetas = [r.pop("theta") for r in records]
    return _final_solution(
        problem, engine, st, lam, records, thetas,
        converged=ok, method="primal_dual_newton",
    )  # fmt: skip


def _solve_nested(
    problem, engine, theta, lam, tol, max_iter, constrained, warn=True, max_states=None
):
    """Newton on the multiplier around exact fixed-multiplier policy solves.

    ``warn``: warn when it stops without meeting ``tol`` (the caller does,
    when it falls back here from the joint Newton). ``max_states``: stop (not
    converged) before an outer iteration once ``engine`` has evaluated that many
    states (:data:`racer_dro._fallback.MAX_STATES`)."""
    beta, budget = problem.beta, problem.budget
    inner_tol = max(min(tol, 1e-10) * 1e-2, 1e-14)
    records, thetas = [], []
    lo, hi = 0.0, math.inf
    converged = unbounded = zero_tried = False
    spread = float(np.max(np.ptp(engine.costs, axis=1), initial=0.0))
    inner_ok = True
    st = None
    for it in range(int(max_iter)):
        if it and _budget_spent(engine, max_states):
            break
        st, inner, inner_ok, _, dcost = _newton(
            engine, theta, lam, inner_tol, 200, joint=False
        )
        excess = st.cost - budget
        if constrained:
            gval, gprime = -excess, -dcost
            primal = formulas.constrained_objective(st.reward, st.entropy, beta)
            gap = abs(lam * excess)
        else:
            gval = beta * lam - max(excess, 0.0)
            gprime = beta - (dcost if excess > 0 else 0.0)
            primal = engine.penalised(st)
            dual = engine.fixed_lambda_value(st, lam) + formulas.lagrangian(
                0.0, 0.0, 0.0, lam, budget, beta
            )
            gap = dual - primal
        records.append(
            {
                "iteration": it,
                "lambda": lam,
                "worst_case_reward": st.reward,
                "worst_case_cost": st.cost,
                "objective": primal,
                "gap": gap,
                "inner_iter": len(inner),
            }
        )
        thetas.append(st.theta.copy())
        if lam == 0.0 and gval >= 0:
            converged = inner_ok
            break
        if gval < 0:
            lo = max(lo, lam)
        else:
            hi = min(hi, lam)
        if (
            lam > 0
            and not zero_tried
            and formulas.dual_step_rounding(st.cost, budget, beta) == 0.0
        ):
            # the budget is slack beyond rounding at a positive multiplier: the
            # optimum's multiplier may be 0 exactly, which bisection towards lo = 0
            # never reaches, and where costs / beta ~ 1e13 a multiplier of 1e-11
            # (within tol of 0) still puts every row on its cheapest arm
            zero_tried, theta, lam = True, st.theta, 0.0
            continue
        if constrained:
            newton = lam - gval / gprime if gprime > 0 else math.inf
        else:
            newton = lam - (beta * lam - excess) / (beta - dcost)
        if math.isfinite(hi):
            new = newton if lo < newton < hi else 0.5 * (lo + hi)
        else:
            new = newton if newton > lo and math.isfinite(newton) else max(2 * lo, 1.0)
            new = min(new, max(10.0 * lo, 1.0))
        residual = abs(gval) if constrained else abs(gval) / beta
        scale = max(1.0, abs(budget)) if constrained else max(1.0, lam)
        # C - B is known only to its rounding (costs in large units): no finer
        rounding = formulas.dual_step_rounding(st.cost, budget, beta)
        floor = rounding * beta if constrained else rounding
        newton_step = abs(gval / gprime) if gprime > 0 else math.inf
        # a positive multiplier with the budget slack beyond rounding is the
        # optimum's only if it moves no policy entry by more than tol (lambda
        # times the cost spread over beta: 1e-11 moved whole rows at beta ~ 1e-8)
        slack_ok = rounding > 0 or lam * spread <= tol * beta
        if (
            residual <= max(tol * scale, floor)
            and newton_step <= tol * max(1.0, lam)
            and inner_ok
            and slack_ok
        ):
            converged = True
            break
        if math.isfinite(hi) and hi - lo <= 4 * np.finfo(float).eps * hi:
            converged = inner_ok and residual <= 1e3 * tol * scale
            break
        if not math.isfinite(hi) and lam > _LAMBDA_MAX:
            unbounded = True
            break
        if constrained and not math.isfinite(hi) and it >= 5:
            new = max(new, 2.0 * lam)
        new = max(new, 0.0)
        theta = st.theta
        lam = new
    if unbounded:
        warnings.warn(
            f"solve_primal_dual: the multiplier exceeds {_LAMBDA_MAX:g} with the worst-case "
            f"cost still above `budget` = {budget!r} (the minimum achievable is "
            f"{problem.min_cost!r}): the hard constraint is feasible only in the limit",
            ConvergenceWarning,
            stacklevel=3,
        )
    elif not converged and warn:
        warnings.warn(
            f"solve_primal_dual stopped after {len(records)} iterations without meeting "
            f"`tol` = {tol!r} (inner solve converged: {inner_ok})",
            ConvergenceWarning,
            stacklevel=3,
        )
    return _final_solution(
        problem, engine, st, lam, records, thetas,
        converged=converged, constrained=constrained,
        multiplier=lam if constrained else None, method="primal_dual",
    )  # fmt: skip


def _final_solution(problem, engine, st, lam, records, thetas, **solution):
    """The :class:`Solution` at the final state: history with its distances to the end.

    The history's columns are gathered first, as arrays; they make one DataFrame
    when ``Solution.history`` is first read (pandas' ``from_records`` and column
    insertions cost ~1 ms per solve, one DataFrame of the arrays ~0.3 ms)."""
    columns = {key: np.array([r[key] for r in records]) for key in records[0]}
    if "kl_to_final" in columns:  # measured by the compiled loop (the same kernel)
        columns["lambda_to_final"] = np.abs(columns["lambda"] - lam)
    else:
        columns = _distances_to_final(
            columns, thetas, st.theta, lam, engine.p, final=(st.pi, st.log_pi)
        )
        columns["kl_to_final"] = np.asarray(columns["kl_to_final"], dtype=float)
        columns["l2_to_final"] = np.asarray(columns["l2_to_final"], dtype=float)
    return make_solution(
        problem,
        _full_policy(problem, engine, st, lam),
        history=columns,  # a DataFrame when first read (Solution.history)
        n_iter=len(records),
        values=_state_values(engine, st),
        **solution,
    )
