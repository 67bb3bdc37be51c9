"""Compiled (numba) joint Newton loop of :func:`racer_dro.primal_dual._newton`, small problems.

For a problem of at most one chunk of rows (:data:`racer_dro._kernels.CHUNK`) the
Python loop's cost is its calls, not its passes (binary, n = 2,000: ~40 directions
and ~90 states per solve at 45-80 us of Python each). :func:`newton_joint` runs
the same loop in one compiled call: the same compiled passes (the state pass,
the KL worst cases of :mod:`racer_dro._kernels_kl`, the direction's two passes,
the fixed-point residual), the same formulas compiled from their one Python
definition (:func:`racer_dro.formulas.dual_step`,
:func:`racer_dro.formulas.penalised_objective`,
:func:`racer_dro.newton.kink_multiple`,
:func:`racer_dro.kl.small_shift_temperature`), the same stopping rules and line
search, in the same order. Only the two dot products of the state (the entropy,
a nominal side's mean) and the capacitance solve go through numba's BLAS / LAPACK
instead of numpy's, so the result agrees with the Python loop to rounding (tested).

Whatever the compiled worst case leaves to the numpy reference (values beyond
``1e+-100``, constant values, radii near the all-on-the-minimisers threshold, a
radius root that does not converge) makes the loop give up (``None``): the
caller then runs the Python loop from the start.
"""

from __future__ import annotations

import math

import numpy as np

from racer_dro import _kernels, formulas, kl, newton

try:  # numba is optional: the numpy path is the reference
    import numba
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None

__all__ = ["applicable", "newton_joint"]

ENABLED = True  # off: the Python loop (tests compare the two)
_NOMINAL, _TEMPERATURE, _RADIUS = 0, 1, 2
_RECORD = ("lambda", "worst_case_reward", "worst_case_cost", "objective")


def applicable(engine, theta) -> bool:
    """Whether :func:`newton_joint` runs this problem: compiled passes, one chunk of rows.

    Examples
    --------
    >>> import numpy as np
    >>> applicable(None, np.zeros((10, 3))) == (numba is not None and newton.USE_KERNEL)
    True
    >>> applicable(None, np.zeros((_kernels.CHUNK + 1, 3)))  # the Python loop's chunks
    False
    """
    n = theta.shape[0]
    return (
        ENABLED
        and numba is not None
        and newton.USE_KERNEL
        and _kernels.available()
        and 0 < n <= _kernels.CHUNK
    )


if numba is not None:
    from racer_dro import _kernels_binary as _kb
    from racer_dro import _kernels_direction as _kd
    from racer_dro import _kernels_kl as _kk
    from racer_dro import _kernels_policy as _kp

    _jit = numba.njit(cache=True, fastmath=False, error_model="numpy")
    _dual_step = _jit(formulas.dual_step)
    _dual_step_rounding = _jit(formulas.dual_step_rounding)
    _penalised = _jit(formulas.penalised_objective)
    _kink = _jit(newton.kink_multiple)
    _small_shift = _jit(kl.small_shift_temperature)
    _within_rounding = _jit(kl.values_within_rounding)

    @_jit
    def _fill(info, value, tau, kl_value, expectation, var):  # pragma: no cover
        info[0] = value
        info[1] = tau
        info[2] = kl_value
        info[3] = expectation
        info[4] = var

    @_jit
    def _side(fs, p, logp, kind, param, memo, g, q, info):  # pragma: no cover
        """``Engine._side`` on min-sense values ``fs``: ``(ok, value, tau, variance)``.

        ``memo`` holds the side's ``(tau, centre)`` warm starts (NaN: none),
        updated as the engine updates its own; ``g``, ``q`` receive the shifted
        values and the worst case, ``info`` the fields ``(value, tau, kl,
        expectation, variance)`` of its :class:`racer_dro.kl.MinSense`. ``ok`` is False where the compiled worst case
        hands over to the numpy reference.
        """
        n = fs.shape[0]
        if kind == _NOMINAL:  # kl.worst_case_min's nominal branch (all p > 0)
            m = fs[0]
            for i in range(n):
                m = min(m, fs[i])
            for i in range(n):
                g[i] = fs[i] - m
                q[i] = p[i]
            value = m + np.dot(p, g)
            memo[1] = value - (fs[0] - g[0])
            _fill(info, value, math.inf, 0.0, value, math.nan)
            return True, value, math.inf, math.nan
        m, scale, pmin, pmax = _kk._scan(fs, p, g)
        if not 1e-100 <= scale <= 1e100 or pmax > 1e300 * pmin:
            return False, 0.0, 0.0, 0.0
        c0 = memo[1] if math.isfinite(memo[1]) else 0.0
        if kind == _TEMPERATURE:
            tau = param
            L, eg, var, kl_value = _kk._tilt(g, p, logp, tau, c0, q, False)
            value = m - tau * L
        else:
            radius = param
            if radius < 1e-10 or radius >= 0.5 * -math.log(min(pmin, 1.0)):
                return False, 0.0, 0.0, 0.0
            if _within_rounding(m, scale):  # the reference's constant values
                return False, 0.0, 0.0, 0.0
            tau_init = memo[0]
            if not 0 < tau_init < math.inf:  # NaN: no warm start yet
                tau_init = _small_shift(g, p, radius)
            tau, eg, var, kl_value, ok = _kk._radius_root(
                g, p, logp, radius, tau_init, c0, q, radius < _kk._ACCURATE_BELOW
            )
            if not ok:
                return False, 0.0, 0.0, 0.0
            value = m + eg
            if 0 < tau < math.inf:
                memo[0] = tau
        memo[1] = (m + eg) - (fs[0] - g[0])
        _fill(info, value, tau, kl_value, m + eg, var)
        return True, value, tau, var

    @_jit
    def _state(
        base, dirn, step, R, Cm, p, logp, kinds, params, memo, st, fs, info
    ):  # pragma: no cover
        """``Engine.state`` at ``base + step * dirn`` into the buffers ``st``.

        ``st = (theta, pi, log_pi, fr, fc, plogp, gr, qr, gc, qc)``, ``info``
        the two sides' scalars (:func:`_side`). Returns
        ``(ok, R, C, H, tau_r, var_r, tau_c, var_c)``.
        """
        theta, pi, log_pi, fr, fc, plogp, gr, qr, gc, qc = st
        n, K = base.shape
        if K == 2:
            _kb._softmax2(
                0, n, base, dirn, step, R, Cm, theta, pi, log_pi, fr, fc, plogp
            )
        else:
            _kernels._softmax_kernel(
                0, n, base, dirn, step, R, Cm, theta, pi, log_pi, fr, fc, plogp
            )
        ok_r, v_r, tau_r, var_r = _side(
            fr, p, logp, kinds[0], params[0], memo[0], gr, qr, info[0]
        )
        if not ok_r:
            return False, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
        for i in range(n):
            fs[i] = -fc[i]
        ok_c, v_c, tau_c, var_c = _side(
            fs, p, logp, kinds[1], params[1], memo[1], gc, qc, info[1]
        )
        if not ok_c:
            return False, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
        entropy = -np.dot(p, plogp)
        return True, v_r, -v_c, entropy, tau_r, var_r, tau_c, var_c

    @_jit
    def _terms(kind, tau, var):  # pragma: no cover
        """``kl.worst_case_curvature``: ``(curv, number of low-rank terms)``."""
        if not 0 < tau < math.inf:
            return 0.0, 0
        return 1.0 / tau, 2 if kind == _RADIUS and var > 0 else 1

    @_jit
    def _add_terms(
        uvec, utab, W, j, table, scale, tau, var, n_terms, q, g
    ):  # pragma: no cover
        """The side's low-rank columns ``q`` and ``q (g - E_q g)`` from column ``j`` on."""
        n = q.shape[0]
        if n_terms >= 1:
            for i in range(n):
                uvec[i, j] = q[i]
            utab[j] = table
            W[j] = scale * (1.0 / tau)
            j += 1
        if n_terms == 2:
            eq = np.dot(q, g)
            for i in range(n):
                uvec[i, j] = q[i] * (g[i] - eq)
            utab[j] = table
            W[j] = scale * (1.0 / (tau * var))
            j += 1
        return j

    @_jit
    def _direction(
        R, Cm, p, bp, beta, lam, kinds, st, sides, work, out
    ):  # pragma: no cover
        """``Engine.direction``'s compiled path: ``(dec, dc_step, dc_z)``, steps in ``out``."""
        pi, log_pi, gr, qr, gc, qc = st[1], st[2], st[6], st[7], st[8], st[9]
        tau_r, var_r, tau_c, var_c = sides
        alpha, gamma, basis = work
        step, dtheta, z, ztheta = out
        n, K = pi.shape
        curv_r, n_r = _terms(kinds[0], tau_r, var_r)
        curv_c, n_c = _terms(kinds[1], tau_c, var_c)
        if not lam > 0:
            n_c = 0
        mu = n_r + n_c
        uvec = np.empty((n, mu))
        utab = np.empty(mu, dtype=np.int64)
        W = np.empty(mu)
        j = _add_terms(uvec, utab, W, 0, 0, 1.0, tau_r, var_r, n_r, qr, gr)
        _add_terms(uvec, utab, W, j, 1, lam, tau_c, var_c, n_c, qc, gc)
        lc = lam * curv_c
        for i in range(n):
            alpha[i] = curv_r * qr[i]
            gamma[i] = lc * qc[i]
        Wt = np.zeros((mu, 2))
        if mu:
            UtX = np.zeros((mu, 2 + mu))
            if K == 2:  # keeping the rows' bases for the second pass
                _kb._moments_rows2_keep(
                    0, n, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma,
                    uvec, utab, basis, UtX,
                )  # fmt: skip
            else:
                _kd._moments_rows(
                    0, n, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma,
                    uvec, utab, UtX,
                )  # fmt: skip
            cap = np.eye(mu)
            rhs = np.empty((mu, 2))
            for a in range(mu):
                rhs[a, 0] = UtX[a, 0]
                rhs[a, 1] = UtX[a, 1]
                for b in range(mu):
                    cap[a, b] -= UtX[a, 2 + b] * W[b]
            solved = True
            try:
                t = np.linalg.solve(cap, rhs)
            # numba catches only Exception: here np.linalg's singular matrix, after
            # which the block part alone is still an ascent direction
            except Exception:  # noqa: BLE001
                t = rhs
                solved = False
            if solved and np.all(np.isfinite(t)):
                for a in range(mu):
                    Wt[a, 0] = W[a] * t[a, 0]
                    Wt[a, 1] = W[a] * t[a, 1]
        sums = np.zeros(3)
        if K == 2 and mu:
            _kb._steps_rows2_kept(
                0, n, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma,
                uvec, utab, basis, Wt, step, dtheta, z, ztheta, sums,
            )  # fmt: skip
        elif K == 2:
            _kb._steps_rows2(
                0, n, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma,
                uvec, utab, Wt, step, dtheta, z, ztheta, sums,
            )  # fmt: skip
        else:
            _kd._steps_rows(
                0, n, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma,
                uvec, utab, Wt, step, dtheta, z, ztheta, sums,
            )  # fmt: skip
        return sums[0], sums[1], sums[2]

    @_jit
    def _buffers(slots, n, K):  # pragma: no cover
        """Per-state arrays: ``slots`` policies (history) and two of everything else."""
        return (
            np.empty((slots, n, K)),  # pi of the iterates
            np.empty((slots, n, K)),  # log pi of the iterates
            np.empty((2, n, K)),  # theta
            np.empty((2, 7, n)),  # fr, fc, plogp, gr, qr, gc, qc
        )

    @_jit
    def _view(hp, hl, th, rows, slot, buf):  # pragma: no cover
        v = rows[buf]
        return (th[buf], hp[slot], hl[slot], v[0], v[1], v[2], v[3], v[4], v[5], v[6])

    @_jit
    def _exit(good, n_iter, rec, hp, hl, rows, infos, done, rew, cost, ent):
        """The loop's result on a stop (``good``: converged) after ``n_iter`` steps."""
        return (
            0,
            good,
            n_iter,
            rec,
            hp,
            hl,
            rows,
            infos,
            *done,
            rew,
            cost,
            ent,
        )  # pragma: no cover

    @_jit
    def _loop(
        R, Cm, p, logp, beta, budget, kinds, params, memo, theta0, tol, max_iter,
        keep, fixed_tol, rounding_steps,
    ):  # fmt: skip  # pragma: no cover
        """The loop of ``primal_dual._newton`` (joint). See :func:`newton_joint`."""
        n, K = theta0.shape
        slots = min(max_iter + 1, 16) if keep else 2
        hp, hl, th, rows = _buffers(slots, n, K)
        fs = np.empty(n)
        bp = beta * p
        work = (np.empty(n), np.empty(n), np.empty((n if K == 2 else 0, 14)))
        out = (np.empty((n, K)), np.empty((n, K)), np.empty((n, K)), np.empty((n, K)))
        step, dtheta, z, ztheta = out
        rec = np.zeros((max_iter, 5))
        values = np.zeros(max_iter)
        infos = np.empty((2, 2, 5))  # the sides' scalars per state buffer
        fail = (
            -1,
            False,
            0,
            rec,
            hp,
            hl,
            rows,
            infos,
            0,
            0,
            th[0],
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
        )
        slot, buf = 0, 0
        st = _view(hp, hl, th, rows, slot, buf)
        ok, rew, cost, ent, t_r, v_r, t_c, v_c = _state(
            theta0, theta0, 0.0, R, Cm, p, logp, kinds, params, memo, st, fs, infos[0]
        )
        if not ok:
            return fail
        best, stalls, n_values = math.inf, 0, 0
        lam, dc_z = 0.0, 0.0
        for it in range(max_iter):
            lam = _dual_step(cost, budget, beta)
            value = _penalised(rew, cost, ent, budget, beta)
            dec, dc_step, dc_z = _direction(
                R, Cm, p, bp, beta, lam, kinds, st, (t_r, v_r, t_c, v_c), work, out
            )
            k = _kink(dc_step, dc_z, lam, cost, budget, beta)
            if k == 0:
                dpi = 0.0
                for i in range(n):
                    for a in range(K):
                        dpi = max(dpi, abs(step[i, a]))
            else:
                dpi = _kd._add_rows(0, n, step, dtheta, z, ztheta, k)
            dec -= k * dc_step
            fixed = math.inf
            if dpi <= max(tol, 1e-7):
                dlam = _dual_step_rounding(cost, budget, beta)
                fixed = _kp._residual_kernel(
                    0, n, R, Cm, st[7], st[9], p, lam, beta, st[1], dlam
                )
            rec[it, 0] = lam
            rec[it, 1] = rew
            rec[it, 2] = cost
            rec[it, 3] = value
            rec[it, 4] = dec
            done = (slot, buf, st[0], lam, dc_z)
            if dpi <= tol and fixed <= fixed_tol:
                return _exit(
                    True, it + 1, rec, hp, hl, rows, infos, done, rew, cost, ent
                )
            if (
                dpi <= rounding_steps * tol
                and abs(dec) <= 1e-15 * (1.0 + abs(value))
                and fixed <= fixed_tol
            ):
                return _exit(
                    True, it + 1, rec, hp, hl, rows, infos, done, rew, cost, ent
                )
            stalls = stalls + 1 if dpi > 0.5 * best else 0
            best = min(best, dpi)
            if stalls >= 3 and dpi <= 1e-9 and fixed <= fixed_tol:
                return _exit(
                    True, it + 1, rec, hp, hl, rows, infos, done, rew, cost, ent
                )
            # below rounding: any step that loses no more than rounding (see
            # primal_dual._newton)
            rounding = 1e-13 * (1.0 + abs(value))
            local = dec <= rounding
            new_slot = slot + 1 if keep else 1 - slot
            if new_slot >= hp.shape[0]:  # more iterates than slots: grow
                hp2 = np.empty((2 * hp.shape[0], n, K))
                hl2 = np.empty((2 * hp.shape[0], n, K))
                hp2[: hp.shape[0]] = hp
                hl2[: hp.shape[0]] = hl
                hp, hl = hp2, hl2
                st = _view(hp, hl, th, rows, slot, buf)
            trial = _view(hp, hl, th, rows, new_slot, 1 - buf)
            t, accepted = 1.0, False
            for _ in range(40):
                ok, rew_t, cost_t, ent_t, tr_t, vr_t, tc_t, vc_t = _state(
                    st[0],
                    dtheta,
                    t,
                    R,
                    Cm,
                    p,
                    logp,
                    kinds,
                    params,
                    memo,
                    trial,
                    fs,
                    infos[1 - buf],
                )
                if not ok:
                    return fail
                new = _penalised(rew_t, cost_t, ent_t, budget, beta)
                if new >= value + 1e-4 * t * dec or (local and new >= value - rounding):
                    accepted = True
                    break
                t *= 0.5
            if not accepted:
                good = dpi <= 1e-7 and fixed <= fixed_tol
                return _exit(
                    good, it + 1, rec, hp, hl, rows, infos, done, rew, cost, ent
                )
            values[n_values] = value
            n_values += 1  # noqa: SIM113 (accepted steps, not iterations)
            if n_values > 10 and values[n_values - 1] - values[
                n_values - 11
            ] <= 1e-13 * (1 + abs(value)):
                good = dpi <= 1e-7 and fixed <= fixed_tol
                return _exit(
                    good, it + 1, rec, hp, hl, rows, infos, done, rew, cost, ent
                )
            slot, buf, st = new_slot, 1 - buf, trial
            rew, cost, ent = rew_t, cost_t, ent_t
            t_r, v_r, t_c, v_c = tr_t, vr_t, tc_t, vc_t
        done = (slot, buf, st[0], lam, dc_z)
        return _exit(False, max_iter, rec, hp, hl, rows, infos, done, rew, cost, ent)


if numba is not None:

    @_jit
    def _distances(hp, hl, n_rec, p):  # pragma: no cover
        """``primal_dual._distances_to_final`` of the kept iterates to the last one:
        ``(sum_i p_i KL(pi_t,i || pi*_i), ||pi_t - pi*||_2)`` per iterate, by the
        same kernel (:func:`racer_dro._kernels_policy._distances_pi_kernel`)."""
        n = hp.shape[1]
        last = n_rec - 1
        kl_out = np.zeros(n_rec)
        l2_out = np.zeros(n_rec)
        for t in range(last):  # the last iterate's distances are 0
            sums = np.zeros(2)
            _kp._distances_pi_kernel(0, n, hp[t], hl[t], hp[last], hl[last], p, sums)
            kl_out[t] = max(sums[0], 0.0)
            l2_out[t] = math.sqrt(sums[1])
        return kl_out, l2_out


def _side_spec(radius, temperature):
    """``(kind, parameter)`` of a worst-case side as :func:`_side` takes it."""
    if (
        (radius is None and temperature is None)
        or (temperature is not None and math.isinf(temperature))
        or (radius is not None and radius == 0)
    ):
        return _NOMINAL, 0.0
    if temperature is not None:
        return _TEMPERATURE, float(temperature)
    return _RADIUS, float(radius)


def newton_joint(engine, theta, tol, max_iter, keep, fixed_tol, rounding_steps):
    """The joint Newton loop of ``primal_dual._newton`` in one compiled call.

    Returns ``(state, records, ok, lambda, dC/dlambda)`` as ``_newton`` does
    (``state`` a :class:`racer_dro.newton.State`, its arrays the loop's buffers;
    each record's ``"theta"`` the iterate's ``(pi, log pi)`` and its
    ``"kl_to_final"``, ``"l2_to_final"`` when ``keep``), or
    ``None`` where the compiled worst case hands over to the numpy reference.
    The engine's warm starts (radius temperatures, tilt centres) are updated as
    the Python loop would update them.

    Examples
    --------
    >>> import numpy as np
    >>> from racer_dro import RoutingProblem
    >>> from racer_dro.newton import Engine
    >>> problem = RoutingProblem(np.array([[0.0, 1.0], [0.5, 0.2]]), np.array([[1.0, 3.0], [1.0, 3.0]]),
    ...                          budget=2.0, beta=0.1, reward_temperature=0.5)
    >>> engine = Engine(problem)
    >>> st, records, ok, lam, _ = newton_joint(engine, np.zeros((2, 2)), 1e-12, 100, True, 1e-6, 100.0)
    >>> ok, st.pi.shape, bool(np.allclose(st.pi.sum(axis=1), 1.0))
    (True, (2, 2), True)
    """
    pr = engine.problem
    specs = [
        _side_spec(pr.reward_radius, pr.reward_temperature),
        _side_spec(pr.cost_radius, pr.cost_temperature),
    ]
    kinds = np.array([s[0] for s in specs], dtype=np.int64)
    params = np.array([s[1] for s in specs])
    memo = np.full((2, 2), np.nan)
    for row, sign in enumerate((1.0, -1.0)):
        for col, known in enumerate((engine.tau[sign], engine.centre[sign])):
            if known is not None:
                memo[row, col] = known
    out = _loop(
        engine.rewards, engine.costs, engine.p, engine.logp, float(engine.beta),
        float(engine.budget), kinds, params, memo,
        np.ascontiguousarray(theta, dtype=float), float(tol), int(max_iter),
        bool(keep), float(fixed_tol), float(rounding_steps),
    )  # fmt: skip
    status, ok, n_rec, rec, hp, hl, rows, infos, slot, buf, theta_end = out[:11]
    lam, dc_z, rew, cost, ent = out[11:]
    if status != 0:
        return None
    for row, sign in enumerate((1.0, -1.0)):
        if specs[row][0] == _RADIUS and math.isfinite(memo[row, 0]):
            engine.tau[sign] = float(memo[row, 0])
        if math.isfinite(memo[row, 1]):
            engine.centre[sign] = float(memo[row, 1])
    records = []
    if keep:  # the history's distances to the final iterate, in the same call
        kl_to_final, l2_to_final = _distances(hp, hl, n_rec, engine.p)
    for it in range(n_rec):
        record = {"iteration": it}
        record.update(zip(_RECORD, rec[it, :4].tolist()))
        record["newton_decrement"] = float(rec[it, 4])
        if keep:
            record["kl_to_final"] = float(kl_to_final[it])
            record["l2_to_final"] = float(l2_to_final[it])
            record["theta"] = (hp[it], hl[it])
        records.append(record)
    pi, log_pi = records[-1]["theta"] if keep else (hp[slot], hl[slot])
    sides = []
    for side, (q, g) in enumerate(
        ((rows[buf, 4], rows[buf, 3]), (rows[buf, 6], rows[buf, 5]))
    ):
        value, tau, kl_value, expectation, var = infos[buf, side].tolist()
        radius = float(params[side]) if specs[side][0] == _RADIUS else None
        sides.append(kl.MinSense(value, q, tau, kl_value, expectation, g, var, radius))
    st = newton.State(
        theta_end, pi, log_pi, rew, cost, ent, *sides, tuple(rows[buf, :3])
    )
    return st, records, bool(ok), float(lam), float(dc_z)
