"""Each query's own policy problem with the worst-case tilts frozen (solver start-up).

With a solution's tilts held fixed, the policy problem separates into one small
strictly concave problem per query (:func:`_solve_rows`); :mod:`racer_dro.primal_dual`
uses it to start large problems from a subsample's solution and for zero-weight
rows. The compiled kernels (:mod:`racer_dro._kernels`, two arms
:mod:`racer_dro._kernels_binary`) are tested against :func:`_solve_rows_numpy`.
:func:`_calibrated_start` then shifts such a start along the primal step's
multiplier direction until its worst-case cost matches the subsample's multiplier.
"""

from __future__ import annotations

import math

import numpy as np

from racer_dro import _kernels, _kernels_binary, newton
from racer_dro.newton import softmax_logits

__all__: list[str] = []


def _frozen_tilts(problem, policy, temperatures=None):
    """Each side's tilt ``(tau, m, L)`` at ``policy`` (``None`` when nominal or degenerate):
    the worst-case ratio of a row with values ``f`` is ``exp(-(s f - m) / tau - L)``, ``s = +-1``.

    ``temperatures``: the two sides' ``tau`` at ``policy`` when the caller has
    them (a solver's final state), so the worst cases are not solved again."""
    p = np.asarray(problem.weights)
    support = p > 0
    out = []
    if temperatures is None:
        temperatures = (
            problem.worst_case_reward(policy).temperature,
            problem.worst_case_cost(policy).temperature,
        )
    for sign, values, tau in zip(
        (1.0, -1.0),
        (problem.reward_values(policy), problem.cost_values(policy)),
        temperatures,
    ):
        if not (0 < tau < math.inf):
            out.append(None)
            continue
        fs = sign * values
        m = float(fs[support].min())
        a = np.log(p[support]) - (fs[support] - m) / tau
        top = float(a.max())
        out.append((tau, m, top + math.log(float(np.exp(a - top).sum()))))
    return out


def _tilt_ratio(values, sign, tilt):
    """A frozen tilt's worst-case ratio ``exp(-(s f - m) / tau - L)`` of rows with values
    ``f`` (``s = +-1``, ``tilt = (tau, m, L)``: :func:`_frozen_tilts`), its exponent
    capped at 700: the ratio ``rho_worst / rho_n`` of
    :func:`racer_dro.formulas.worst_case_ratios` (eq. 5 of :mod:`racer_dro.formulas`)
    for a row whose values are ``f``."""
    tau, m, L = tilt
    return np.exp(np.minimum(-(sign * values - m) / tau - L, 700.0))


def _tilt_table(tilts):
    """Frozen tilts as a (2, 4) array: per side ``(tau, m, L, robust)``."""
    table = np.zeros((2, 4))
    for side, tilt in enumerate(tilts):
        if tilt is not None:
            table[side] = (*tilt, 1.0)
    return table


def _solve_rows(R, Cm, lam, beta, tilts, theta, tol=1e-10, max_iter=100):
    """Each row's own problem with the tilts frozen, by per-row damped Newton.

    Row ``i`` maximises ``-tau_r w_r(pi_i) - lambda tau_c w_c(pi_i) + beta H(pi_i)``
    with ``w = exp(-(s f_i(pi_i) - m) / tau - L)`` (a nominal side contributes the
    linear ``+- f_i(pi_i)``): strictly concave, optimality = the row's primal step
    with its worst-case ratio following its own policy. This is the limit of a
    row's problem as its weight tends to 0 (zero-weight rows), and with the tilts
    of a subsample's solution a warm start for large problems. The Hessian is the
    block of :mod:`racer_dro.newton` (no global coupling): ``O(K)`` per row and
    step. A row stops when its step moves no policy entry by more than ``tol``
    and no logit by more than ``max(tol, 1e-8)`` (logits at the floor that the
    step pushes further down excepted): a row saturated on the wrong arm has a
    tiny step in ``pi`` but a large one in the logits. Compiled
    (:func:`racer_dro._kernels.solve_rows`) when numba is available;
    :func:`_solve_rows_numpy` is the reference. Rows whose Newton overflowed
    from ``theta`` (:func:`_overflowed`) are solved again from the vertices
    (:func:`_solve_rows_from_vertices`).
    """
    table = _tilt_table(tilts)
    theta_tol = max(tol, 1e-8)
    out = _solve_rows_from(R, Cm, lam, beta, table, theta, tol, theta_tol, max_iter)
    bad = _overflowed(out, R, Cm, table)
    if bad.any():
        out[bad] = _solve_rows_from_vertices(
            R[bad], Cm[bad], lam, beta, table, tol, theta_tol, max_iter
        )
    return out


def _solve_rows_from(R, Cm, lam, beta, table, theta, tol, theta_tol, max_iter):
    """The per-row damped Newton of :func:`_solve_rows` from the logits ``theta``."""
    if newton.USE_KERNEL and _kernels.available():
        # two arms: the same kernel unrolled on scalars
        kernel = _kernels_binary if R.shape[1] == 2 else _kernels
        return kernel.solve_rows(
            R, Cm, lam, beta, table, theta, tol, theta_tol, max_iter
        )
    with np.errstate(over="ignore", invalid="ignore"):  # found by _overflowed
        return _solve_rows_numpy(
            R, Cm, lam, beta, table, theta, tol, theta_tol, max_iter
        )


def _overflowed(theta, R, Cm, table):
    """Rows whose logits are not finite, or at which a side's tilt ratio hit its cap.

    The row solves cap a ratio's exponent at 700 (``exp(700) ~ 1e304``); a row
    still there has not reached its optimum (where the ratio balances the other
    terms), whatever its logits: its Newton stopped on overflow. A row's value
    ``pi . table`` lies between its entries' extremes, so a side whose exponent
    stays below the cap at the table's extreme entry needs no per-row check."""
    bad = ~np.isfinite(theta).all(axis=1)
    pi = None
    for side, (sign, tab) in enumerate(((1.0, R), (-1.0, Cm))):
        tau, m, L, robust = table[side]
        if not robust or tab.size == 0:
            continue
        extreme = tab.min() if sign > 0 else tab.max()  # the largest exponent's entry
        if -(sign * extreme - m) / tau - L < 700.0:
            continue
        if pi is None:
            pi = softmax_logits(np.where(bad[:, None], 0.0, theta))[1]
        f = np.einsum("ij,ij->i", pi, tab)
        bad |= ~(-(sign * f - m) / tau - L < 700.0)
    return bad


def _solve_rows_from_vertices(R, Cm, lam, beta, table, tol, theta_tol, max_iter):
    """Rows whose Newton overflowed from their start, solved again from near-vertices.

    With a tiny frozen temperature (a KL radius whose worst case sits on a few
    rows) a side's ratio ``exp(.. / tau)`` overflows at most policies, and a
    row's Newton from there ends in ``inf - inf``. The row's problem is strictly
    concave, so its optimum is the same from any start: the rows are started
    again at the vertex of each arm in turn (logit 0 on it, the floor on the
    others), the cheapest arm first (where the cost side's ratio is smallest),
    and each keeps its first answer that did not overflow. A row with none
    keeps the cheapest arm's vertex, a finite start for the caller.
    """
    n, K = R.shape
    rows = np.arange(n)
    order = np.argsort(Cm, axis=1, kind="stable")
    out = np.full((n, K), newton.THETA_FLOOR)
    out[rows, order[:, 0]] = 0.0
    todo = np.ones(n, dtype=bool)
    for j in range(K):
        if not todo.any():
            break
        sub = rows[todo]
        start = np.full((sub.size, K), newton.THETA_FLOOR)
        start[np.arange(sub.size), order[sub, j]] = 0.0
        theta = _solve_rows_from(
            R[sub], Cm[sub], lam, beta, table, start, tol, theta_tol, max_iter
        )
        ok = ~_overflowed(theta, R[sub], Cm[sub], table)
        out[sub[ok]] = theta[ok]
        todo[sub[ok]] = False
    return out


def _row_parts(theta, R, Cm, lam, beta, table):
    """Centred logits, policy, each row's objective, gradient in ``pi`` and curvatures."""
    theta, pi, log_pi = softmax_logits(theta)
    value = -beta * np.einsum("ij,ij->i", pi, log_pi)
    grad = -beta * log_pi
    curv = []
    for side, (sign, tab, scale) in enumerate(((1.0, R, 1.0), (-1.0, Cm, lam))):
        f = np.einsum("ij,ij->i", pi, tab)
        tau, m, L, robust = table[side]
        if not robust:
            value = value + sign * scale * f
            grad = grad + sign * scale * tab
            curv.append(np.zeros(len(f)))
            continue
        w = _tilt_ratio(f, sign, (tau, m, L))
        value = value - scale * tau * w
        grad = grad + sign * scale * w[:, None] * tab
        curv.append(scale * w / tau)
    return theta, pi, value, grad, curv


def _solve_rows_numpy(R, Cm, lam, beta, table, theta, tol, theta_tol, max_iter):
    """Vectorised reference of :func:`_solve_rows` (the same per-row iteration)."""
    out = np.empty(R.shape)
    rows = np.arange(R.shape[0])
    theta, pi, value, grad, curv = _row_parts(theta, R, Cm, lam, beta, table)
    for _ in range(max_iter):
        if rows.size == 0:
            break
        Rs, Cs = R[rows], Cm[rows]
        X, T = newton._block_solve_numpy(
            pi, np.full(rows.size, beta), Rs, Cs, curv[0], curv[1], grad[:, :, None]
        )
        step, dtheta = X[:, :, 0], T[:, :, 0]
        free = ~((theta <= newton.THETA_FLOOR) & (dtheta < 0))
        done = (np.max(np.abs(step), axis=1) <= tol) & (
            np.max(np.where(free, np.abs(dtheta), 0.0), axis=1) <= theta_tol
        )
        out[rows[done]] = theta[done]
        keep = ~done
        rows, theta, value, grad, step, dtheta = (
            a[keep] for a in (rows, theta, value, grad, step, dtheta)
        )
        if rows.size == 0:
            break
        Rs, Cs = R[rows], Cm[rows]
        dec = np.einsum("ij,ij->i", grad, step)
        t = np.ones(rows.size)
        new_theta = theta + dtheta
        for _ in range(40):
            trial = _row_parts(new_theta, Rs, Cs, lam, beta, table)
            ok = trial[2] >= value + 1e-4 * t * dec - 1e-15 * (1 + np.abs(value))
            if ok.all():
                break
            t = np.where(ok, t, 0.5 * t)
            new_theta = np.where(ok[:, None], new_theta, theta + t[:, None] * dtheta)
        theta, pi, value, grad, curv = trial
    out[rows] = theta
    return out


def _calibrated_start(engine, lam, tilts, theta, max_states=5, enough=0.3):
    """Logits of the start shifted so that its worst-case cost is ``B + beta lam``.

    ``theta``: each row's own optimum (:func:`_solve_rows`) at ``lam`` with the
    frozen ``tilts``, both from a subsample's solution. Its multiplier is
    accurate, but the tilts' normalisers carry the subsample's sampling error:
    the rows' policies miss the budget by it, and the joint Newton's dual step
    ``(C - B)_+ / beta`` turns a cost off by 0.3% into a multiplier off 10x
    (K = 11, n = 1e5: 0.92 instead of 0.083), which costs several full-size
    Newton steps. The shift is the primal step's own dependence on the
    multiplier, ``theta(lam') = theta - (lam' - lam) w_c c / beta`` (the
    closed-form primal step :func:`racer_dro.formulas.primal_step` at ``lam'``
    with the ratios ``w_c`` of ``theta``'s policy), and ``lam'`` is the root of
    ``C(theta(lam')) - B - beta lam``, non-increasing in ``lam'`` (each row's
    cost is, and ``C`` is non-decreasing in every row's): a Newton step, then
    a secant kept within its bracket, at most ``max_states`` state evaluations
    (2-3 on the benchmark's problems), stopping once the cost is within
    ``enough * beta lam`` of its target. Returns the logits of the best
    ``lam'`` found (``theta`` itself when ``lam = 0``) and their state
    (``engine.state`` of them; ``None`` if a later trial overwrote it), which
    the full-size Newton takes as its first (one state pass and its memory
    fewer). A start only: the Newton solves the problem from wherever this ends.
    """
    st = engine.state(theta)
    target = engine.budget + engine.beta * lam
    h0 = st.cost - target
    enough = enough * engine.beta * lam
    if not (lam > 0 and math.isfinite(h0)) or abs(h0) <= enough:
        return theta, st
    f_c = st.values[1]
    w_c = 1.0 if tilts[1] is None else _tilt_ratio(f_c, -1.0, tilts[1])
    shift = engine.costs * (np.asarray(w_c)[..., None] / engine.beta)
    best, trial = theta, np.empty_like(theta)
    best_h, best_st = abs(h0), None  # st is overwritten by the first trial
    lo, hi = (lam, math.inf) if h0 > 0 else (0.0, lam)  # the root's bracket
    # first a Newton step: dC/dlam' = sum_i q_c(i) df_i/dlam' (the worst case's
    # weights, Danskin) with df_i/dlam' = -w_c(i) Var_pi_i(c_i) / beta
    var = np.einsum("ij,ij->i", st.pi, engine.costs * engine.costs) - f_c * f_c
    slope = -float(np.sum(st.cs.q * (w_c * var))) / engine.beta
    x0, x1 = lam, lam * (1.02 if h0 > 0 else 0.98)  # or a probe for the slope
    if slope < 0 and math.isfinite(slope):
        x1 = min(max(lam - h0 / slope, 0.5 * lam), 2.0 * lam)
    for _ in range(max_states - 1):
        np.multiply(shift, lam - x1, out=trial)
        trial += theta
        st = engine.state(trial, reuse=st)
        h1 = st.cost - target
        best_st = None  # the best logits' state, while no later trial reused it
        if not math.isfinite(h1):
            break
        if abs(h1) < best_h:
            best_h, best_st = abs(h1), st
            best, trial = trial, (np.empty_like(theta) if best is theta else best)
        if abs(h1) <= enough or h1 == h0:
            break
        if h1 > 0:
            lo = max(lo, x1)
        else:
            hi = min(hi, x1)
        x2 = x1 - h1 * (x1 - x0) / (h1 - h0)
        if not lo < x2 < hi:  # outside the bracket: bisect (or double)
            x2 = 0.5 * (lo + hi) if math.isfinite(hi) else 2.0 * lo
        x0, h0, x1 = x1, h1, x2
    return best, best_st
