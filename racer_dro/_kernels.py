"""Compiled (numba) kernel of the per-query block solve of :mod:`racer_dro.newton`.

The same arithmetic as :func:`racer_dro.newton._block_solve_numpy` (the
reference, tested to agree to 1e-12), one pass over the rows without the
temporaries of the vectorised version; also the state pass and the per-row start.
Used when numba is importable. Passes go over fixed chunks of :data:`CHUNK` rows,
in parallel only within :func:`using_threads` (``solve_primal_dual(n_jobs=...)``).
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

try:  # numba is optional: the numpy path is the reference
    import numba
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None

__all__ = [
    "CHUNK",
    "available",
    "block_solve",
    "chunk_sums",
    "parallel",
    "softmax_values",
    "solve_rows",
    "using_threads",
]

# Rows per chunk of the passes over the rows: fixed, whatever the number of
# threads, so that per-chunk sums (added in chunk order) do not depend on it.
CHUNK = 4096
_threads = 1  # threads the passes may use (``using_threads``); 1: the calling thread


def available() -> bool:
    """Whether the compiled kernel can be used."""
    return numba is not None


floor_ = -50.0  # newton.THETA_FLOOR (not imported: no cycle)

if numba is not None:

    @numba.njit(cache=True, fastmath=False, error_model="numpy", inline="always")
    def pair_softmax(a0, a1):  # pragma: no cover
        """Two arms' softmax at logits ``(a0, a1)``: ``(t0, t1, q0, q1, log_s)``.

        The centred, floored logits ``t``, the policy ``q`` and the log of its
        normaliser, as :func:`_softmax_kernel` computes them for two arms: the
        larger centred logit is 0 and ``exp(0) = 1`` exactly, so one ``exp`` a
        row (bit-identical to the generic kernel, tested).
        """
        top = max(a0, a1)
        t0 = max(a0 - top, floor_)
        t1 = max(a1 - top, floor_)
        e_low = np.exp(min(t0, t1))
        e0 = e_low if t0 <= t1 else 1.0
        e1 = e_low if t1 < t0 else 1.0
        s = 0.0 + e0 + e1
        return t0, t1, e0 / s, e1 / s, np.log(s)

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _softmax_kernel(
        lo, hi, base, dirn, step, R, Cm, theta, pi, log_pi, fr, fc, plogp
    ):  # pragma: no cover
        """The state pass at the logits ``base + step * dirn``, rows ``lo:hi``."""
        K = base.shape[1]
        for i in range(lo, hi):
            top = base[i, 0] + step * dirn[i, 0]
            for k in range(1, K):
                top = max(top, base[i, k] + step * dirn[i, k])
            s = 0.0
            for k in range(K):
                t = max((base[i, k] + step * dirn[i, k]) - top, floor_)
                theta[i, k] = t
                e = np.exp(t)
                pi[i, k] = e
                s += e
            log_s = np.log(s)
            a = 0.0
            b = 0.0
            c = 0.0
            for k in range(K):
                q = pi[i, k] / s
                pi[i, k] = q
                lp = theta[i, k] - log_s
                log_pi[i, k] = lp
                a += q * R[i, k]
                b += q * Cm[i, k]
                c += q * lp
            fr[i] = a
            fc[i] = b
            plogp[i] = c

    @numba.njit(cache=True, fastmath=False, error_model="numpy", parallel=True)
    def _softmax_chunks(
        base, dirn, step, R, Cm, theta, pi, log_pi, fr, fc, plogp, chunk
    ):  # pragma: no cover
        """:func:`_softmax_kernel` per chunk of rows, in parallel."""
        n = base.shape[0]
        for c in numba.prange((n + chunk - 1) // chunk):
            lo = c * chunk
            _softmax_kernel(
                lo, min(n, lo + chunk), base, dirn, step, R, Cm,
                theta, pi, log_pi, fr, fc, plogp,
            )  # fmt: skip

    @numba.njit(cache=True, fastmath=False, error_model="numpy", inline="always")
    def _row_block_multi(
        i, pi, bp, R, Cm, alpha, gamma, Y, X, T, e1, dinv
    ):  # pragma: no cover
        """The block solve of row ``i`` for the row's columns in ``Y`` (K, m), into ``X`` and ``T``."""
        K = pi.shape[1]
        m = Y.shape[1]
        drr = 0.0
        drc = 0.0
        dcc = 0.0
        vr = 0.0
        vc = 0.0
        for k in range(K):
            d = pi[i, k] / bp[i]
            dinv[k] = d
            r = R[i, k]
            c = Cm[i, k]
            drr += d * r * r
            drc += d * r * c
            dcc += d * c * c
            vr += r * d
            vc += c * d
        a11 = 1.0 + alpha[i] * drr
        a12 = alpha[i] * drc
        a21 = gamma[i] * drc
        a22 = 1.0 + gamma[i] * dcc
        det = a11 * a22 - a12 * a21
        vr *= alpha[i]
        vc *= gamma[i]
        s1 = (a22 * vr - a12 * vc) / det
        s2 = (a11 * vc - a21 * vr) / det
        tot1 = 0.0
        for k in range(K):
            e1[k] = 1.0 - R[i, k] * s1 - Cm[i, k] * s2
            tot1 += dinv[k] * e1[k]
        for j in range(m):
            vr = 0.0
            vc = 0.0
            for k in range(K):
                z = dinv[k] * Y[k, j]
                vr += R[i, k] * z
                vc += Cm[i, k] * z
            vr *= alpha[i]
            vc *= gamma[i]
            s1 = (a22 * vr - a12 * vc) / det
            s2 = (a11 * vc - a21 * vr) / det
            tot = 0.0
            for k in range(K):
                ey = Y[k, j] - R[i, k] * s1 - Cm[i, k] * s2
                X[k, j] = ey
                tot += dinv[k] * ey
            nu = tot / tot1
            for k in range(K):
                e = X[k, j] - nu * e1[k]
                X[k, j] = dinv[k] * e
                T[k, j] = e / bp[i]

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _block_solve_kernel(pi, bp, R, Cm, alpha, gamma, Y, X, T):  # pragma: no cover
        """:func:`_row_block_multi` over every row (``Y``, ``X``, ``T`` of shape (n, K, m))."""
        n, K = pi.shape
        e1 = np.empty(K)
        dinv = np.empty(K)
        for i in range(n):
            _row_block_multi(i, pi, bp, R, Cm, alpha, gamma, Y[i], X[i], T[i], e1, dinv)

    @numba.njit(cache=True, fastmath=False, error_model="numpy", inline="always")
    def _row_basis(
        i, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma,
        Y, X, T, e1, dinv, with_t=True,
    ):  # fmt: skip  # pragma: no cover
        """Row ``i``'s block solves of the three columns ``[grad, r, c]`` (``Y``, ``X``, ``T``: (K, 3)).

        ``with_t=False``: ``T`` (the solves in the logits, 3 K divisions) is not
        written (the direction's first pass needs only ``X``); ``X`` is the same.

        Every column of ``newton.Engine.direction`` is a per-row combination of these
        (``grad_c = q_c c``, the coupling columns ``u r`` or ``u c``): three solves, not 2 + m.
        The arithmetic of :func:`_row_block_multi` (each sum in the same order), with
        the columns' sums accumulated side by side in one loop: independent chains
        instead of one after another (the pass is bound by the latency of the sums).
        """
        K = pi.shape[1]
        drr = 0.0
        drc = 0.0
        dcc = 0.0
        v1r = 0.0
        v1c = 0.0
        v0r = 0.0
        v0c = 0.0
        vrr = 0.0
        vrc = 0.0
        vcr = 0.0
        vcc = 0.0
        for k in range(K):
            r = R[i, k]
            c = Cm[i, k]
            g = qr[i] * r - lam * qc[i] * c - beta * p[i] * log_pi[i, k]
            Y[k, 0] = g
            Y[k, 1] = r
            Y[k, 2] = c
            d = pi[i, k] / bp[i]
            dinv[k] = d
            drr += d * r * r
            drc += d * r * c
            dcc += d * c * c
            v1r += r * d
            v1c += c * d
            z = d * g
            v0r += r * z
            v0c += c * z
            z = d * r
            vrr += r * z
            vrc += c * z
            z = d * c
            vcr += r * z
            vcc += c * z
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
        tot1 = 0.0
        t0 = 0.0
        tr = 0.0
        tc = 0.0
        for k in range(K):
            r = R[i, k]
            c = Cm[i, k]
            d = dinv[k]
            e = 1.0 - r * s1 - c * s2
            e1[k] = e
            tot1 += d * e
            e = Y[k, 0] - r * s10 - c * s20
            X[k, 0] = e
            t0 += d * e
            e = Y[k, 1] - r * s1r - c * s2r
            X[k, 1] = e
            tr += d * e
            e = Y[k, 2] - r * s1c - c * s2c
            X[k, 2] = e
            tc += d * e
        nu0 = t0 / tot1
        nur = tr / tot1
        nuc = tc / tot1
        b = bp[i]
        for k in range(K):
            d = dinv[k]
            f = e1[k]
            e0 = X[k, 0] - nu0 * f
            X[k, 0] = d * e0
            er = X[k, 1] - nur * f
            X[k, 1] = d * er
            ec = X[k, 2] - nuc * f
            X[k, 2] = d * ec
            if with_t:
                T[k, 0] = e0 / b
                T[k, 1] = er / b
                T[k, 2] = ec / b

    @numba.njit(cache=True, fastmath=False, error_model="numpy", inline="always")
    def _row_parts(
        theta_in, Ri, Ci, lam, beta, tilts, theta, pi, log_pi, grad
    ):  # pragma: no cover
        """One row of ``primal_dual._row_parts``: returns ``(value, curv_r, curv_c)``."""
        K = theta_in.shape[0]
        top = theta_in[0]
        for k in range(1, K):
            top = max(top, theta_in[k])
        s = 0.0
        for k in range(K):
            t = theta_in[k] - top
            t = max(t, floor_)
            theta[k] = t
            pi[k] = np.exp(t)
            s += pi[k]
        log_s = np.log(s)
        ent = 0.0
        for k in range(K):
            pi[k] = pi[k] / s
            log_pi[k] = theta[k] - log_s
            ent += pi[k] * log_pi[k]
            grad[k] = -beta * log_pi[k]
        value = -beta * ent
        curv_r = 0.0
        curv_c = 0.0
        for side in range(2):
            sign = 1.0 if side == 0 else -1.0
            scale = 1.0 if side == 0 else lam
            table = Ri if side == 0 else Ci
            f = 0.0
            for k in range(K):
                f += pi[k] * table[k]
            tau = tilts[side, 0]
            if tilts[side, 3] == 0.0:  # nominal side: linear
                value += sign * scale * f
                for k in range(K):
                    grad[k] += sign * scale * table[k]
                continue
            w = np.exp(min(-(sign * f - tilts[side, 1]) / tau - tilts[side, 2], 700.0))
            value -= scale * tau * w
            for k in range(K):
                grad[k] += sign * scale * w * table[k]
            if side == 0:
                curv_r = scale * w / tau
            else:
                curv_c = scale * w / tau
        return value, curv_r, curv_c

    @numba.njit(cache=True, fastmath=False, error_model="numpy", inline="always")
    def _row_block_solve(
        pi, bp, Ri, Ci, alpha, gamma, y, x, t, dinv
    ):  # pragma: no cover
        """:func:`_row_block_multi` for one row and one right-hand side (rows given as vectors).

        ``dinv`` (K) holds ``pi / bp``, divided once and used by all four loops."""
        K = pi.shape[0]
        drr = 0.0
        drc = 0.0
        dcc = 0.0
        for k in range(K):
            d = pi[k] / bp
            dinv[k] = d
            drr += d * Ri[k] * Ri[k]
            drc += d * Ri[k] * Ci[k]
            dcc += d * Ci[k] * Ci[k]
        a11 = 1.0 + alpha * drr
        a12 = alpha * drc
        a21 = gamma * drc
        a22 = 1.0 + gamma * dcc
        det = a11 * a22 - a12 * a21
        vr1 = 0.0
        vc1 = 0.0
        vr = 0.0
        vc = 0.0
        for k in range(K):
            d = dinv[k]
            vr1 += Ri[k] * d
            vc1 += Ci[k] * d
            z = d * y[k]
            vr += Ri[k] * z
            vc += Ci[k] * z
        vr1 *= alpha
        vc1 *= gamma
        vr *= alpha
        vc *= gamma
        s1 = (a22 * vr1 - a12 * vc1) / det
        s2 = (a11 * vc1 - a21 * vr1) / det
        u1 = (a22 * vr - a12 * vc) / det
        u2 = (a11 * vc - a21 * vr) / det
        tot1 = 0.0
        tot = 0.0
        for k in range(K):
            d = dinv[k]
            e1 = 1.0 - Ri[k] * s1 - Ci[k] * s2
            ey = y[k] - Ri[k] * u1 - Ci[k] * u2
            tot1 += d * e1
            tot += d * ey
            x[k] = e1  # kept for the second pass
            t[k] = ey
        nu = tot / tot1
        for k in range(K):
            e = t[k] - nu * x[k]
            x[k] = dinv[k] * e
            t[k] = e / bp

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _solve_rows_kernel(
        lo, hi, R, Cm, lam, beta, tilts, theta0, tol, theta_tol, max_iter, out
    ):  # pragma: no cover
        K = R.shape[1]
        theta = np.empty(K)
        pi = np.empty(K)
        log_pi = np.empty(K)
        grad = np.empty(K)
        ttheta = np.empty(K)
        tpi = np.empty(K)
        tlog = np.empty(K)
        tgrad = np.empty(K)
        new = np.empty(K)
        x = np.empty(K)
        t = np.empty(K)
        dinv = np.empty(K)
        for i in range(lo, hi):
            Ri = R[i]
            Ci = Cm[i]
            value, cr, cc = _row_parts(
                theta0[i], Ri, Ci, lam, beta, tilts, theta, pi, log_pi, grad
            )
            for _ in range(max_iter):
                _row_block_solve(pi, beta, Ri, Ci, cr, cc, grad, x, t, dinv)
                big = 0.0
                move = 0.0
                dec = 0.0
                for k in range(K):
                    big = max(big, abs(x[k]))
                    if not (theta[k] <= floor_ and t[k] < 0):
                        move = max(move, abs(t[k]))
                    dec += grad[k] * x[k]
                if big <= tol and move <= theta_tol:
                    break
                step = 1.0
                for _ls in range(40):
                    for k in range(K):
                        new[k] = theta[k] + step * t[k]
                    tv, tcr, tcc = _row_parts(
                        new, Ri, Ci, lam, beta, tilts, ttheta, tpi, tlog, tgrad
                    )
                    if tv >= value + 1e-4 * step * dec - 1e-15 * (1.0 + abs(value)):
                        break
                    step *= 0.5
                value, cr, cc = tv, tcr, tcc
                for k in range(K):
                    theta[k] = ttheta[k]
                    pi[k] = tpi[k]
                    log_pi[k] = tlog[k]
                    grad[k] = tgrad[k]
            for k in range(K):
                out[i, k] = theta[k]

    @numba.njit(cache=True, fastmath=False, error_model="numpy", parallel=True)
    def _solve_rows_chunks(
        R, Cm, lam, beta, tilts, theta0, tol, theta_tol, max_iter, out, chunk
    ):  # pragma: no cover
        """:func:`_solve_rows_kernel` per chunk of rows, in parallel."""
        n = R.shape[0]
        for c in numba.prange((n + chunk - 1) // chunk):
            lo = c * chunk
            _solve_rows_kernel(
                lo, min(n, lo + chunk), R, Cm, lam, beta, tilts, theta0,
                tol, theta_tol, max_iter, out,
            )  # fmt: skip


@contextlib.contextmanager
def using_threads(n_jobs):
    """Within the block, passes over more than one chunk of rows use ``n_jobs`` threads.

    ``None`` or 1: the calling thread only (the default); -1: all of numba's
    threads. The results are the same bit for bit whatever the number (fixed
    chunks, sums in chunk order). Before numba starts its threads, sets
    ``OMP_WAIT_POLICY=PASSIVE`` unless the variable is set: OpenMP threads that
    spin while they wait made these short parallel passes 4-6x slower than one
    thread on a machine shared with other processes (measured; passive: as fast
    as one thread there).

    Examples
    --------
    >>> with using_threads(2):
    ...     inside = parallel(10 * CHUNK)
    >>> inside == (available() and numba.config.NUMBA_NUM_THREADS >= 2), parallel(10 * CHUNK)
    (True, False)
    """
    global _threads
    if n_jobs is None:
        n_jobs = 1
    if (
        isinstance(n_jobs, bool)
        or not isinstance(n_jobs, (int, np.integer))
        or n_jobs == 0
    ):
        raise ValueError(f"`n_jobs` must be a non-zero integer or None, got {n_jobs!r}")
    top = numba.config.NUMBA_NUM_THREADS if numba is not None else 1
    k = top if n_jobs < 0 else min(int(n_jobs), top)
    before = _threads
    if k == 1:  # numba's threads are not touched (nor started)
        _threads = 1
        try:
            yield k
        finally:
            _threads = before
        return
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before they start
    before_numba = numba.get_num_threads()
    _threads = k
    try:
        numba.set_num_threads(k)
        yield k
    finally:
        _threads = before
        numba.set_num_threads(before_numba)


def parallel(n) -> bool:
    """Whether a pass over ``n`` rows runs its chunks in parallel (:func:`using_threads`)."""
    return _threads > 1 and n > CHUNK


def chunk_sums(rows_fn, n, shape, *args):
    """``rows_fn(lo, hi, *args, out)`` per chunk on the calling thread, the chunks'
    sums (``out`` of ``shape``) added in chunk order: the parallel drivers' result."""
    total = np.zeros(shape)
    if n <= CHUNK:  # one chunk: 0 + part is part
        rows_fn(0, n, *args, total)
        return total
    for lo in range(0, n, CHUNK):
        part = np.zeros(shape)
        rows_fn(lo, min(n, lo + CHUNK), *args, part)
        total += part
    return total


def block_solve(pi, bp, R, Cm, alpha, gamma, Y):
    """Compiled :func:`racer_dro.newton._block_solve_numpy`: returns ``(X, T)``.

    Examples
    --------
    >>> import numpy as np
    >>> pi = np.array([[0.5, 0.5]]); R = np.array([[0.0, 1.0]]); C = np.array([[1.0, 2.0]])
    >>> Y = np.array([[[1.0], [0.0]]])
    >>> X, T = block_solve(pi, np.ones(1), R, C, np.zeros(1), np.zeros(1), Y)
    >>> X.round(3).tolist()  # a step along the simplex: entries sum to zero
    [[[0.25], [-0.25]]]
    """
    X = np.empty_like(Y)
    T = np.empty_like(Y)
    _block_solve_kernel(
        np.ascontiguousarray(pi),
        np.ascontiguousarray(bp),
        np.ascontiguousarray(R),
        np.ascontiguousarray(Cm),
        np.ascontiguousarray(alpha, dtype=float),
        np.ascontiguousarray(gamma, dtype=float),
        np.ascontiguousarray(Y),
        X,
        T,
    )
    return X, T


def solve_rows(R, Cm, lam, beta, tilts, theta, tol, theta_tol, max_iter):
    """Compiled ``primal_dual._solve_rows_numpy`` (per-row Newton, frozen tilts).

    ``tilts`` is a (2, 4) array: per side (reward, cost) ``tau, m, L, robust``.

    Examples
    --------
    >>> import numpy as np
    >>> R = np.array([[0.0, 1.0]]); C = np.array([[1.0, 1.0]])
    >>> theta = solve_rows(R, C, 0.0, 1.0, np.zeros((2, 4)), np.zeros((1, 2)), 1e-12, 1e-8, 100)
    >>> np.round(theta, 6).tolist()  # pi ∝ exp(r / beta): logits r - max r
    [[-1.0, 0.0]]
    """
    return run_row_solves(
        _solve_rows_kernel,
        _solve_rows_chunks,
        (R, Cm, lam, beta, tilts, theta, tol, theta_tol, max_iter),
    )


def run_row_solves(rows_kernel, chunks_kernel, problem):
    """Run a compiled per-row solve over all rows: in chunks when threads are on.

    ``problem`` is ``(R, Cm, lam, beta, tilts, theta, tol, theta_tol,
    max_iter)`` as :func:`solve_rows` takes it; ``rows_kernel(lo, hi, ...,
    out)`` solves rows ``lo:hi`` and ``chunks_kernel(..., out, CHUNK)`` all of
    them chunk by chunk in parallel (the generic kernels, or the two-arm ones
    of :mod:`racer_dro._kernels_binary`). Returns the logits, shape of ``R``.

    Examples
    --------
    >>> import numpy as np
    >>> R = np.array([[0.0, 1.0]]); C = np.array([[1.0, 1.0]])
    >>> problem = (R, C, 0.0, 1.0, np.zeros((2, 4)), np.zeros((1, 2)), 1e-12, 1e-8, 100)
    >>> theta = run_row_solves(_solve_rows_kernel, _solve_rows_chunks, problem)
    >>> np.round(theta, 6).tolist()
    [[-1.0, 0.0]]
    """
    R, Cm, lam, beta, tilts, theta, tol, theta_tol, max_iter = problem
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
    if parallel(n):
        chunks_kernel(*args, CHUNK)
    else:  # rows are independent: one call
        rows_kernel(0, n, *args)
    return out


def softmax_values(theta, R, Cm, direction=None, step=0.0, out=None, kernels=None):
    """Compiled ``newton.softmax_logits`` plus ``f_r = pi . r``, ``f_c = pi . c`` and
    ``sum_a pi log pi`` per row, in one pass: ``(theta, pi, log_pi, f_r, f_c, plogp)``.

    With ``direction``, at the logits ``theta + step * direction`` (a line-search
    trial, without forming it first). ``out``: the six arrays to write into
    (a discarded state's, reused). ``kernels``: the pass's ``(rows, chunks)``
    kernels when not the generic ones (two arms: :mod:`racer_dro._kernels_binary`).

    Examples
    --------
    >>> import numpy as np
    >>> out = softmax_values(np.zeros((1, 2)), np.array([[0.0, 1.0]]), np.ones((1, 2)))
    >>> out[1].tolist(), float(out[3][0]), float(out[4][0])
    ([[0.5, 0.5]], 0.5, 1.0)
    """
    n, K = np.shape(theta)
    if out is None:
        out = [np.empty((n, K)) for _ in range(3)] + [np.empty(n) for _ in range(3)]
    base = np.ascontiguousarray(theta, dtype=float)
    if direction is None:  # base + 0 * base is base exactly (finite logits)
        direction, step = base, 0.0
    args = (
        base,
        np.ascontiguousarray(direction, dtype=float),
        float(step),
        np.ascontiguousarray(R),
        np.ascontiguousarray(Cm),
        *out,
    )
    rows_fn, chunks_fn = kernels if kernels else (_softmax_kernel, _softmax_chunks)
    if parallel(n):
        chunks_fn(*args, CHUNK)
    else:  # rows are independent: one call
        rows_fn(0, n, *args)
    return tuple(out)
