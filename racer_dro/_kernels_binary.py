"""Compiled (numba) per-row passes of :mod:`racer_dro._kernels` unrolled for two arms.

:func:`solve_rows` is :func:`racer_dro._kernels.solve_rows` for ``K = 2`` (the
per-row damped Newton with frozen tilts), and ``_moments_rows2`` / ``_steps_rows2``
are the two passes of :func:`racer_dro._kernels_direction.direction`: the same
arithmetic operation by operation (each sum in the same order), written on
scalars instead of length-2 arrays and row views, so that a row lives in registers. The binary
problem stays ``K = 2`` of the same solver; this is only a faster kernel beneath
it, tested against the generic kernel and the numpy reference.
"""

from __future__ import annotations

import numpy as np

from racer_dro._kernels import floor_, run_row_solves

try:  # numba is optional: the numpy path is the reference
    import numba
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None

__all__ = ["solve_rows"]

_BASIS = 14  # values per row of _basis: the gradient and six block solves

if numba is not None:
    from racer_dro._kernels import pair_softmax  # compiled: only with numba

    @numba.njit(cache=True, fastmath=False, error_model="numpy", inline="always")
    def _side(f, r0, r1, sign, scale, tilts, side, value, g0, g1):  # pragma: no cover
        """One side's term of the row objective: ``(value, g0, g1, curvature)``."""
        tau = tilts[side, 0]
        if tilts[side, 3] == 0.0:  # nominal side: linear
            value += sign * scale * f
            return value, g0 + sign * scale * r0, g1 + sign * scale * r1, 0.0
        w = np.exp(min(-(sign * f - tilts[side, 1]) / tau - tilts[side, 2], 700.0))
        value -= scale * tau * w
        g0 += sign * scale * w * r0
        g1 += sign * scale * w * r1
        return value, g0, g1, scale * w / tau

    @numba.njit(cache=True, fastmath=False, error_model="numpy", inline="always")
    def _parts(a0, a1, r0, r1, c0, c1, lam, beta, tilts):  # pragma: no cover
        """``_kernels._row_parts`` for two arms: centred logits, policy, log policy,
        gradient, value and the two curvatures."""
        t0, t1, p0, p1, log_s = pair_softmax(a0, a1)
        l0 = t0 - log_s
        l1 = t1 - log_s
        ent = 0.0 + p0 * l0 + p1 * l1
        g0 = -beta * l0
        g1 = -beta * l1
        value = -beta * ent
        f = 0.0 + p0 * r0 + p1 * r1
        value, g0, g1, cr = _side(f, r0, r1, 1.0, 1.0, tilts, 0, value, g0, g1)
        f = 0.0 + p0 * c0 + p1 * c1
        value, g0, g1, cc = _side(f, c0, c1, -1.0, lam, tilts, 1, value, g0, g1)
        return t0, t1, p0, p1, g0, g1, value, cr, cc

    @numba.njit(cache=True, fastmath=False, error_model="numpy", inline="always")
    def _block(p0, p1, bp, r0, r1, c0, c1, alpha, gamma, y0, y1):  # pragma: no cover
        """``_kernels._row_block_solve`` for two arms: ``(x0, x1, t0, t1)``."""
        d0 = p0 / bp
        d1 = p1 / bp
        drr = 0.0 + d0 * r0 * r0 + d1 * r1 * r1
        drc = 0.0 + d0 * r0 * c0 + d1 * r1 * c1
        dcc = 0.0 + d0 * c0 * c0 + d1 * c1 * c1
        a11 = 1.0 + alpha * drr
        a12 = alpha * drc
        a21 = gamma * drc
        a22 = 1.0 + gamma * dcc
        det = a11 * a22 - a12 * a21
        vr1 = (0.0 + r0 * d0 + r1 * d1) * alpha
        vc1 = (0.0 + c0 * d0 + c1 * d1) * gamma
        z0 = d0 * y0
        z1 = d1 * y1
        vr = (0.0 + r0 * z0 + r1 * z1) * alpha
        vc = (0.0 + c0 * z0 + c1 * z1) * gamma
        s1 = (a22 * vr1 - a12 * vc1) / det
        s2 = (a11 * vc1 - a21 * vr1) / det
        u1 = (a22 * vr - a12 * vc) / det
        u2 = (a11 * vc - a21 * vr) / det
        f0 = 1.0 - r0 * s1 - c0 * s2
        f1 = 1.0 - r1 * s1 - c1 * s2
        h0 = y0 - r0 * u1 - c0 * u2
        h1 = y1 - r1 * u1 - c1 * u2
        tot1 = 0.0 + d0 * f0 + d1 * f1
        tot = 0.0 + d0 * h0 + d1 * h1
        nu = tot / tot1
        e0 = h0 - nu * f0
        e1 = h1 - nu * f1
        return d0 * e0, d1 * e1, e0 / bp, e1 / bp  # d = p / bp: the same quotients

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _solve_rows2(
        lo, hi, R, Cm, lam, beta, tilts, theta0, tol, theta_tol, max_iter, out
    ):  # pragma: no cover
        """``_kernels._solve_rows_kernel`` for two arms, rows ``lo:hi``."""
        for i in range(lo, hi):
            r0 = R[i, 0]
            r1 = R[i, 1]
            c0 = Cm[i, 0]
            c1 = Cm[i, 1]
            th0, th1, p0, p1, g0, g1, value, cr, cc = _parts(
                theta0[i, 0], theta0[i, 1], r0, r1, c0, c1, lam, beta, tilts
            )
            for _ in range(max_iter):
                x0, x1, s0, s1 = _block(p0, p1, beta, r0, r1, c0, c1, cr, cc, g0, g1)
                big = max(0.0, abs(x0), abs(x1))
                move = 0.0
                if not (th0 <= floor_ and s0 < 0):
                    move = abs(s0)
                if not (th1 <= floor_ and s1 < 0):
                    move = max(move, abs(s1))
                dec = 0.0 + g0 * x0 + g1 * x1
                if big <= tol and move <= theta_tol:
                    break
                step = 1.0
                trial = (th0, th1, p0, p1, g0, g1, value, cr, cc)
                for _ls in range(40):
                    trial = _parts(
                        th0 + step * s0, th1 + step * s1,
                        r0, r1, c0, c1, lam, beta, tilts,
                    )  # fmt: skip
                    tv = trial[6]
                    if tv >= value + 1e-4 * step * dec - 1e-15 * (1.0 + abs(value)):
                        break
                    step *= 0.5
                th0, th1, p0, p1, g0, g1, value, cr, cc = trial
            out[i, 0] = th0
            out[i, 1] = th1

    @numba.njit(cache=True, fastmath=False, error_model="numpy", parallel=True)
    def _solve_rows2_chunks(
        R, Cm, lam, beta, tilts, theta0, tol, theta_tol, max_iter, out, chunk
    ):  # pragma: no cover
        """:func:`_solve_rows2` per chunk of rows, in parallel."""
        n = R.shape[0]
        for c in numba.prange((n + chunk - 1) // chunk):
            lo = c * chunk
            _solve_rows2(
                lo, min(n, lo + chunk), R, Cm, lam, beta, tilts, theta0,
                tol, theta_tol, max_iter, out,
            )  # fmt: skip

    @numba.njit(cache=True, fastmath=False, error_model="numpy", inline="always")
    def _basis(
        i, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma
    ):  # pragma: no cover
        """``_kernels._row_basis`` for two arms: row ``i``'s gradient ``(g0, g1)`` and the
        block solves ``X, T`` of the columns ``[grad, r, c]``, as a flat tuple
        ``g0, g1, X00, X01, Xr0, Xr1, Xc0, Xc1, T00, T01, Tr0, Tr1, Tc0, Tc1``."""
        r0 = R[i, 0]
        r1 = R[i, 1]
        c0 = Cm[i, 0]
        c1 = Cm[i, 1]
        y0 = qr[i] * r0 - lam * qc[i] * c0 - beta * p[i] * log_pi[i, 0]
        y1 = qr[i] * r1 - lam * qc[i] * c1 - beta * p[i] * log_pi[i, 1]
        d0 = pi[i, 0] / bp[i]
        d1 = pi[i, 1] / bp[i]
        drr = 0.0 + d0 * r0 * r0 + d1 * r1 * r1
        drc = 0.0 + d0 * r0 * c0 + d1 * r1 * c1
        dcc = 0.0 + d0 * c0 * c0 + d1 * c1 * c1
        v1r = 0.0 + r0 * d0 + r1 * d1
        v1c = 0.0 + c0 * d0 + c1 * d1
        z0 = d0 * y0
        z1 = d1 * y1
        v0r = 0.0 + r0 * z0 + r1 * z1
        v0c = 0.0 + c0 * z0 + c1 * z1
        z0 = d0 * r0
        z1 = d1 * r1
        vrr = 0.0 + r0 * z0 + r1 * z1
        vrc = 0.0 + c0 * z0 + c1 * z1
        z0 = d0 * c0
        z1 = d1 * c1
        vcr = 0.0 + r0 * z0 + r1 * z1
        vcc = 0.0 + c0 * z0 + c1 * z1
        al = alpha[i]
        ga = gamma[i]
        a11 = 1.0 + al * drr
        a12 = al * drc
        a21 = ga * drc
        a22 = 1.0 + ga * dcc
        det = a11 * a22 - a12 * a21
        v1r *= al
        v1c *= ga
        s1 = (a22 * v1r - a12 * v1c) / det
        s2 = (a11 * v1c - a21 * v1r) / det
        v0r *= al
        v0c *= ga
        s10 = (a22 * v0r - a12 * v0c) / det
        s20 = (a11 * v0c - a21 * v0r) / det
        vrr *= al
        vrc *= ga
        s1r = (a22 * vrr - a12 * vrc) / det
        s2r = (a11 * vrc - a21 * vrr) / det
        vcr *= al
        vcc *= ga
        s1c = (a22 * vcr - a12 * vcc) / det
        s2c = (a11 * vcc - a21 * vcr) / det
        f0 = 1.0 - r0 * s1 - c0 * s2
        f1 = 1.0 - r1 * s1 - c1 * s2
        x00 = y0 - r0 * s10 - c0 * s20
        x01 = y1 - r1 * s10 - c1 * s20
        xr0 = r0 - r0 * s1r - c0 * s2r
        xr1 = r1 - r1 * s1r - c1 * s2r
        xc0 = c0 - r0 * s1c - c0 * s2c
        xc1 = c1 - r1 * s1c - c1 * s2c
        tot1 = 0.0 + d0 * f0 + d1 * f1
        nu0 = (0.0 + d0 * x00 + d1 * x01) / tot1
        nur = (0.0 + d0 * xr0 + d1 * xr1) / tot1
        nuc = (0.0 + d0 * xc0 + d1 * xc1) / tot1
        b = bp[i]
        e00 = x00 - nu0 * f0
        e01 = x01 - nu0 * f1
        er0 = xr0 - nur * f0
        er1 = xr1 - nur * f1
        ec0 = xc0 - nuc * f0
        ec1 = xc1 - nuc * f1
        return (
            y0, y1,
            d0 * e00, d1 * e01, d0 * er0, d1 * er1, d0 * ec0, d1 * ec1,
            e00 / b, e01 / b, er0 / b, er1 / b, ec0 / b, ec1 / b,
        )  # fmt: skip

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _moments_rows2(
        lo, hi, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma, uvec, utab,
        UtX,
    ):  # fmt: skip  # pragma: no cover
        """``_kernels_direction._moments_rows`` for two arms."""
        _moments_body2(
            lo, hi, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma, uvec,
            utab, UtX, np.empty((0, _BASIS)), False,
        )  # fmt: skip

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _moments_rows2_keep(
        lo, hi, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma, uvec, utab,
        basis, UtX,
    ):  # fmt: skip  # pragma: no cover
        """:func:`_moments_rows2` that also keeps each row's basis in ``basis``
        (n, 14) for :func:`_steps_rows2_kept` (one basis per row and direction)."""
        _moments_body2(
            lo, hi, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma, uvec,
            utab, UtX, basis, True,
        )  # fmt: skip

    @numba.njit(cache=True, fastmath=False, error_model="numpy", inline="always")
    def _moments_body2(
        lo, hi, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma, uvec, utab,
        UtX, basis, keep,
    ):  # fmt: skip  # pragma: no cover
        mu = uvec.shape[1]
        dots = np.empty((2, 3))
        for i in range(lo, hi):
            b = _basis(i, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma)
            if keep:
                for k in range(_BASIS):
                    basis[i, k] = b[k]
            r0 = R[i, 0]
            r1 = R[i, 1]
            c0 = Cm[i, 0]
            c1 = Cm[i, 1]
            dots[0, 0] = 0.0 + r0 * b[2] + r1 * b[3]
            dots[0, 1] = 0.0 + r0 * b[4] + r1 * b[5]
            dots[0, 2] = 0.0 + r0 * b[6] + r1 * b[7]
            dots[1, 0] = 0.0 + c0 * b[2] + c1 * b[3]
            dots[1, 1] = 0.0 + c0 * b[4] + c1 * b[5]
            dots[1, 2] = 0.0 + c0 * b[6] + c1 * b[7]
            for a in range(mu):
                ta = utab[a]
                ua = uvec[i, a]
                UtX[a, 0] += ua * dots[ta, 0]
                UtX[a, 1] += ua * (qc[i] * dots[ta, 2])
                for bb in range(mu):
                    UtX[a, 2 + bb] += ua * (uvec[i, bb] * dots[ta, 1 + utab[bb]])

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _steps_rows2(
        lo, hi, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma, uvec, utab,
        Wt, step, dtheta, z, ztheta, sums,
    ):  # fmt: skip  # pragma: no cover
        """``_kernels_direction._steps_rows`` for two arms."""
        _steps_body2(
            lo, hi, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma, uvec,
            utab, Wt, step, dtheta, z, ztheta, sums, np.empty((0, _BASIS)), False,
        )  # fmt: skip

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _steps_rows2_kept(
        lo, hi, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma, uvec, utab,
        basis, Wt, step, dtheta, z, ztheta, sums,
    ):  # fmt: skip  # pragma: no cover
        """:func:`_steps_rows2` on the bases :func:`_moments_rows2_keep` kept."""
        _steps_body2(
            lo, hi, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma, uvec,
            utab, Wt, step, dtheta, z, ztheta, sums, basis, True,
        )  # fmt: skip

    @numba.njit(cache=True, fastmath=False, error_model="numpy", inline="always")
    def _steps_body2(
        lo, hi, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma, uvec, utab,
        Wt, step, dtheta, z, ztheta, sums, basis, kept,
    ):  # fmt: skip  # pragma: no cover
        mu = uvec.shape[1]
        dec = 0.0
        dc_step = 0.0
        dc_z = 0.0
        for i in range(lo, hi):
            if kept:
                v = basis[i]
                b = (
                    v[0], v[1], v[2], v[3], v[4], v[5], v[6],
                    v[7], v[8], v[9], v[10], v[11], v[12], v[13],
                )  # fmt: skip
            else:
                b = _basis(i, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma)
            w0r = 0.0
            w0c = 0.0
            w1r = 0.0
            w1c = qc[i]
            for a in range(mu):
                ua = uvec[i, a]
                if utab[a] == 0:
                    w0r += Wt[a, 0] * ua
                    w1r += Wt[a, 1] * ua
                else:
                    w0c += Wt[a, 0] * ua
                    w1c += Wt[a, 1] * ua
            s = b[2] + w0r * b[4] + w0c * b[6]
            zk = -(w1r * b[4] + w1c * b[6])
            step[i, 0] = s
            dtheta[i, 0] = b[8] + w0r * b[10] + w0c * b[12]
            z[i, 0] = zk
            ztheta[i, 0] = -(w1r * b[10] + w1c * b[12])
            gc = qc[i] * Cm[i, 0]
            dec += b[0] * s
            dc_step += gc * s
            dc_z += gc * zk
            s = b[3] + w0r * b[5] + w0c * b[7]
            zk = -(w1r * b[5] + w1c * b[7])
            step[i, 1] = s
            dtheta[i, 1] = b[9] + w0r * b[11] + w0c * b[13]
            z[i, 1] = zk
            ztheta[i, 1] = -(w1r * b[11] + w1c * b[13])
            gc = qc[i] * Cm[i, 1]
            dec += b[1] * s
            dc_step += gc * s
            dc_z += gc * zk
        sums[0] += dec
        sums[1] += dc_step
        sums[2] += dc_z

    @numba.njit(cache=True, fastmath=False, error_model="numpy", parallel=True)
    def _moments_chunks2(
        pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma, uvec, utab, basis,
        chunk,
    ):  # fmt: skip  # pragma: no cover
        """``_kernels_direction._moments_chunks`` for two arms, keeping the rows'
        bases in ``basis`` (:func:`_moments_rows2_keep`; an empty one: not kept)."""
        n = pi.shape[0]
        mu = uvec.shape[1]
        n_chunks = (n + chunk - 1) // chunk
        parts = np.zeros((n_chunks, mu, 2 + mu))
        keep = basis.shape[0] > 0
        for c in numba.prange(n_chunks):
            lo, hi = c * chunk, min(n, (c + 1) * chunk)
            if keep:
                _moments_rows2_keep(
                    lo, hi, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma,
                    uvec, utab, basis, parts[c],
                )  # fmt: skip
            else:
                _moments_rows2(
                    lo, hi, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma,
                    uvec, utab, parts[c],
                )  # fmt: skip
        UtX = np.zeros((mu, 2 + mu))
        for c in range(n_chunks):
            UtX += parts[c]
        return UtX

    @numba.njit(cache=True, fastmath=False, error_model="numpy", parallel=True)
    def _steps_chunks2(
        pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma, uvec, utab, basis,
        Wt, step, dtheta, z, ztheta, chunk,
    ):  # fmt: skip  # pragma: no cover
        """``_kernels_direction._steps_chunks`` for two arms, on the bases that
        :func:`_moments_chunks2` kept (an empty ``basis``: computed again)."""
        n = pi.shape[0]
        n_chunks = (n + chunk - 1) // chunk
        parts = np.zeros((n_chunks, 3))
        kept = basis.shape[0] > 0
        for c in numba.prange(n_chunks):
            lo, hi = c * chunk, min(n, (c + 1) * chunk)
            if kept:
                _steps_rows2_kept(
                    lo, hi, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma,
                    uvec, utab, basis, Wt, step, dtheta, z, ztheta, parts[c],
                )  # fmt: skip
            else:
                _steps_rows2(
                    lo, hi, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma,
                    uvec, utab, Wt, step, dtheta, z, ztheta, parts[c],
                )  # fmt: skip
        sums = np.zeros(3)
        for c in range(n_chunks):
            sums += parts[c]
        return sums

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _softmax2(
        lo, hi, base, dirn, step, R, Cm, theta, pi, log_pi, fr, fc, plogp
    ):  # pragma: no cover
        """``_kernels._softmax_kernel`` (the state pass) for two arms."""
        for i in range(lo, hi):
            t0, t1, q0, q1, log_s = pair_softmax(
                base[i, 0] + step * dirn[i, 0], base[i, 1] + step * dirn[i, 1]
            )
            theta[i, 0] = t0
            theta[i, 1] = t1
            l0 = t0 - log_s
            l1 = t1 - log_s
            pi[i, 0] = q0
            pi[i, 1] = q1
            log_pi[i, 0] = l0
            log_pi[i, 1] = l1
            fr[i] = 0.0 + q0 * R[i, 0] + q1 * R[i, 1]
            fc[i] = 0.0 + q0 * Cm[i, 0] + q1 * Cm[i, 1]
            plogp[i] = 0.0 + q0 * l0 + q1 * l1

    @numba.njit(cache=True, fastmath=False, error_model="numpy", parallel=True)
    def _softmax2_chunks(
        base, dirn, step, R, Cm, theta, pi, log_pi, fr, fc, plogp, chunk
    ):  # pragma: no cover
        """:func:`_softmax2` per chunk of rows, in parallel."""
        n = base.shape[0]
        for c in numba.prange((n + chunk - 1) // chunk):
            lo = c * chunk
            _softmax2(
                lo, min(n, lo + chunk), base, dirn, step, R, Cm,
                theta, pi, log_pi, fr, fc, plogp,
            )  # fmt: skip


def solve_rows(R, Cm, lam, beta, tilts, theta, tol, theta_tol, max_iter):
    """:func:`racer_dro._kernels.solve_rows` for two arms (contiguous float arrays).

    Examples
    --------
    >>> import numpy as np
    >>> R = np.array([[0.0, 1.0]]); C = np.array([[1.0, 1.0]])
    >>> theta = solve_rows(R, C, 0.0, 1.0, np.zeros((2, 4)), np.zeros((1, 2)), 1e-12, 1e-8, 100)
    >>> np.round(theta, 6).tolist()  # pi ∝ exp(r / beta): logits r - max r
    [[-1.0, 0.0]]
    """
    return run_row_solves(
        _solve_rows2,
        _solve_rows2_chunks,
        (R, Cm, lam, beta, tilts, theta, tol, theta_tol, max_iter),
    )
