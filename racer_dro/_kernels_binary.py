"""Compiled (numba) per-row start of :mod:`racer_dro._kernels` unrolled for two arms.

:func:`solve_rows` is :func:`racer_dro._kernels.solve_rows` for ``K = 2``: the same
per-row damped Newton with frozen tilts, the same arithmetic operation by
operation (each sum in the same order), written on scalars instead of length-2
arrays and row views, so that a row's iterate lives in registers. The binary
problem stays ``K = 2`` of the same solver; this is only a faster kernel beneath
it, tested against the generic kernel and the numpy reference.
"""

from __future__ import annotations

import numpy as np

from racer_dro._kernels import CHUNK, floor_

try:  # numba is optional: the numpy path is the reference
    import numba
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None

__all__ = ["solve_rows"]

if numba is not None:

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
        top = max(a0, a1)
        t0 = max(a0 - top, floor_)
        t1 = max(a1 - top, floor_)
        e0 = np.exp(t0)
        e1 = np.exp(t1)
        s = 0.0 + e0 + e1
        log_s = np.log(s)
        p0 = e0 / s
        p1 = e1 / s
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
        return p0 / bp * e0, p1 / bp * e1, e0 / bp, e1 / bp

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
    out = np.empty(np.shape(R))
    args = (
        np.ascontiguousarray(R, dtype=float),
        np.ascontiguousarray(Cm, dtype=float),
        float(lam),
        float(beta),
        np.ascontiguousarray(tilts, dtype=float),
        np.ascontiguousarray(theta, dtype=float),
        float(tol),
        float(theta_tol),
        int(max_iter),
        out,
    )
    n = out.shape[0]
    if n <= CHUNK:
        _solve_rows2(0, n, *args)
    else:
        _solve_rows2_chunks(*args, CHUNK)
    return out
