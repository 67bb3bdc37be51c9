"""Compiled (numba) Newton direction of :mod:`racer_dro.newton`, in fixed chunks of rows.

:func:`direction` is ``newton.Engine.direction`` (whose numpy code is the
reference, tested to agree to 1e-12): two passes over the rows, three block
solves per row (:func:`racer_dro._kernels._row_basis`). Rows are cut into
chunks of :data:`CHUNK` rows, fixed whatever the number of threads; each chunk
accumulates its own sums, and the chunks' sums are added in chunk order, on the
calling thread or, within :func:`racer_dro._kernels.using_threads`, in parallel
(numba ``prange``): the result is bit-identical with one thread or several. Two
arms use the same passes unrolled (:mod:`racer_dro._kernels_binary`).
"""

from __future__ import annotations

import numpy as np

from racer_dro import _kernels_binary
from racer_dro._kernels import CHUNK, _row_basis, chunk_sums, parallel

try:  # numba is optional: the numpy path is the reference
    import numba
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None

__all__ = ["add_multiple", "direction"]

# two arms: rows up to which the direction keeps each row's basis between its two
# passes (14 values a row, 7.3 MB at this size). Above it the second pass solves the
# blocks again: at 1e6 rows the 112 MB of fresh scratch cost more system time
# (page faults, ~3 ms per MB on the 2-core test machine) than the 0.1 s of block
# solves they save in a single solve (measured in fresh processes, alternating).
BASIS_MAX_ROWS = 65_536

if numba is not None:

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _moments_rows(
        lo,
        hi,
        pi,
        log_pi,
        R,
        Cm,
        p,
        bp,
        beta,
        lam,
        qr,
        qc,
        alpha,
        gamma,
        uvec,
        utab,
        UtX,
    ):  # pragma: no cover
        """Adds rows ``lo:hi``'s ``U^T S(U)`` and ``U^T S([grad, grad_c])`` into ``UtX``.

        Column ``a`` of ``U`` is ``u_a * table_a`` (``table`` 0: rewards, 1: costs), so
        ``S(u_a table_a) = u_a S(table_a)`` per row: the moments need the row dot
        products ``table . S(grad)``, ``table . S(r)``, ``table . S(c)``.
        """  # fmt: skip
        K = pi.shape[1]
        mu = uvec.shape[1]
        Y = np.empty((K, 3))
        X = np.empty((K, 3))
        T = np.empty((K, 3))
        e1 = np.empty(K)
        dinv = np.empty(K)
        dots = np.empty((2, 3))  # [table r / c] x [S(grad), S(r), S(c)]
        for i in range(lo, hi):
            _row_basis(
                i, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma,
                Y, X, T, e1, dinv, False,
            )  # fmt: skip
            # the six dot products side by side (independent chains, each in k order)
            d00 = 0.0
            d01 = 0.0
            d02 = 0.0
            d10 = 0.0
            d11 = 0.0
            d12 = 0.0
            for k in range(K):
                r = Y[k, 1]
                c = Y[k, 2]
                d00 += r * X[k, 0]
                d01 += r * X[k, 1]
                d02 += r * X[k, 2]
                d10 += c * X[k, 0]
                d11 += c * X[k, 1]
                d12 += c * X[k, 2]
            dots[0, 0] = d00
            dots[0, 1] = d01
            dots[0, 2] = d02
            dots[1, 0] = d10
            dots[1, 1] = d11
            dots[1, 2] = d12
            for a in range(mu):
                ta = utab[a]
                ua = uvec[i, a]
                UtX[a, 0] += ua * dots[ta, 0]
                UtX[a, 1] += ua * (qc[i] * dots[ta, 2])
                for b in range(mu):
                    UtX[a, 2 + b] += ua * (uvec[i, b] * dots[ta, 1 + utab[b]])

    @numba.njit(cache=True, fastmath=False, error_model="numpy", parallel=True)
    def _moments_chunks(
        pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma, uvec, utab, chunk
    ):  # pragma: no cover
        """:func:`_moments_rows` per chunk (in parallel), the chunks' sums added in order."""
        n = pi.shape[0]
        mu = uvec.shape[1]
        n_chunks = (n + chunk - 1) // chunk
        parts = np.zeros((n_chunks, mu, 2 + mu))
        for c in numba.prange(n_chunks):
            _moments_rows(
                c * chunk, min(n, (c + 1) * chunk),
                pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma, uvec, utab,
                parts[c],
            )  # fmt: skip
        UtX = np.zeros((mu, 2 + mu))
        for c in range(n_chunks):
            UtX += parts[c]
        return UtX

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _steps_rows(
        lo,
        hi,
        pi,
        log_pi,
        R,
        Cm,
        p,
        bp,
        beta,
        lam,
        qr,
        qc,
        alpha,
        gamma,
        uvec,
        utab,
        Wt,
        step,
        dtheta,
        z,
        ztheta,
        sums,
    ):  # pragma: no cover
        """Second pass on rows ``lo:hi``: writes ``step, dtheta, z, ztheta``; adds
        ``(grad . step, grad_c . step, grad_c . z)`` into ``sums``.

        ``step = S(grad) + sum_a Wt[a, 0] u_a S(table_a)`` and
        ``-z = q_c S(c) + sum_a Wt[a, 1] u_a S(table_a)`` (the same for the logits).
        """  # fmt: skip
        K = pi.shape[1]
        mu = uvec.shape[1]
        Y = np.empty((K, 3))
        X = np.empty((K, 3))
        T = np.empty((K, 3))
        e1 = np.empty(K)
        dinv = np.empty(K)
        dec = 0.0
        dc_step = 0.0
        dc_z = 0.0
        for i in range(lo, hi):
            _row_basis(
                i, pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma,
                Y, X, T, e1, dinv,
            )  # fmt: skip
            # the per-row weights of S(r) and S(c) in the step and in -z
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
            for k in range(K):
                s = X[k, 0] + w0r * X[k, 1] + w0c * X[k, 2]
                zk = -(w1r * X[k, 1] + w1c * X[k, 2])
                step[i, k] = s
                dtheta[i, k] = T[k, 0] + w0r * T[k, 1] + w0c * T[k, 2]
                z[i, k] = zk
                ztheta[i, k] = -(w1r * T[k, 1] + w1c * T[k, 2])
                gc = qc[i] * Cm[i, k]
                dec += Y[k, 0] * s
                dc_step += gc * s
                dc_z += gc * zk
        sums[0] += dec
        sums[1] += dc_step
        sums[2] += dc_z

    @numba.njit(cache=True, fastmath=False, error_model="numpy", parallel=True)
    def _steps_chunks(
        pi,
        log_pi,
        R,
        Cm,
        p,
        bp,
        beta,
        lam,
        qr,
        qc,
        alpha,
        gamma,
        uvec,
        utab,
        Wt,
        step,
        dtheta,
        z,
        ztheta,
        chunk,
    ):  # pragma: no cover
        """:func:`_steps_rows` per chunk (in parallel), the chunks' sums added in order."""  # fmt: skip
        n = pi.shape[0]
        n_chunks = (n + chunk - 1) // chunk
        parts = np.zeros((n_chunks, 3))
        for c in numba.prange(n_chunks):
            _steps_rows(
                c * chunk, min(n, (c + 1) * chunk),
                pi, log_pi, R, Cm, p, bp, beta, lam, qr, qc, alpha, gamma, uvec, utab,
                Wt, step, dtheta, z, ztheta, parts[c],
            )  # fmt: skip
        sums = np.zeros(3)
        for c in range(n_chunks):
            sums += parts[c]
        return sums

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _add_rows(lo, hi, step, dtheta, z, ztheta, k):  # pragma: no cover
        """``step += k z``, ``dtheta += k ztheta`` on rows ``lo:hi``; returns their ``max |step|``."""
        K = step.shape[1]
        big = 0.0
        for i in range(lo, hi):
            for j in range(K):
                s = step[i, j] + k * z[i, j]
                step[i, j] = s
                dtheta[i, j] += k * ztheta[i, j]
                big = max(big, abs(s))
        return big

    @numba.njit(cache=True, fastmath=False, error_model="numpy", parallel=True)
    def _add_chunks(step, dtheta, z, ztheta, k, chunk):  # pragma: no cover
        n = step.shape[0]
        n_chunks = (n + chunk - 1) // chunk
        parts = np.zeros(n_chunks)
        for c in numba.prange(n_chunks):
            lo = c * chunk
            parts[c] = _add_rows(lo, min(n, lo + chunk), step, dtheta, z, ztheta, k)
        big = 0.0
        for c in range(n_chunks):
            big = max(big, parts[c])
        return big


def _per_row(a, n):
    """``a`` (a scalar or n values) as a contiguous float array of n values."""
    if isinstance(a, np.ndarray) and a.shape == (n,) and a.dtype == float:
        return np.ascontiguousarray(a)
    return np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=float), (n,)))


def direction(
    pi, log_pi, R, Cm, p, beta, lam, qr, qc, alpha, gamma, lowrank, out=None,
    scratch=None,
):  # fmt: skip
    """Compiled ``newton.Engine.direction`` (two fused passes over the rows).

    ``lowrank`` is a list of ``(coef, vec, table)`` (``table`` 0: rewards, 1:
    costs): the global coupling's columns ``vec * table`` with weights ``coef``.
    Returns ``(step, dtheta, z, ztheta)``, each (n, K), and the scalars
    ``(grad . step, grad_c . step, grad_c . z)``. ``out``: four (n, K) arrays
    to write the steps into (a caller's reused buffers); ``scratch``: a dict in
    which the call keeps its per-row work arrays for the next call with the same
    ``p`` (fresh memory costs the kernel more than the pass). The second
    Woodbury (the capacitance solve) is the numpy reference's, on the moments of
    the first pass.

    Examples
    --------
    >>> import numpy as np
    >>> pi = np.array([[0.5, 0.5]]); R = np.array([[0.0, 1.0]]); C = np.array([[1.0, 2.0]])
    >>> out = direction(pi, np.log(pi), R, C, np.ones(1), 1.0, 0.0, np.ones(1), np.ones(1),
    ...                 np.zeros(1), np.zeros(1), [])
    >>> # the Newton step of r.pi + H(pi) from the uniform policy, by hand: gradient
    >>> # r - log(pi) - 1, Hessian -diag(1 / pi) = -2 I on the simplex, so the step is
    >>> # (g - mean g) / 2 = (-0.25, 0.25)
    >>> out[0].round(3).tolist()
    [[-0.25, 0.25]]
    """
    n, K = np.shape(pi)
    mu = len(lowrank)
    scratch = {} if scratch is None else scratch
    uvec = scratch.get(("uvec", mu))
    if uvec is None or uvec.shape != (n, mu):
        uvec = scratch[("uvec", mu)] = np.empty((n, mu))
    utab = np.empty(mu, dtype=np.int64)
    W = np.empty(mu)
    for j, (coef, vec, table) in enumerate(lowrank):
        uvec[:, j] = vec
        utab[j] = table
        W[j] = coef
    p = np.ascontiguousarray(p, dtype=float)
    bp = scratch.get("bp")
    if bp is None or bp.shape != p.shape:
        bp = scratch["bp"] = beta * p
    args = (
        np.ascontiguousarray(pi),
        np.ascontiguousarray(log_pi),
        np.ascontiguousarray(R),
        np.ascontiguousarray(Cm),
        p,
        bp,
        float(beta),
        float(lam),
        np.ascontiguousarray(qr, dtype=float),
        np.ascontiguousarray(qc, dtype=float),
        _per_row(alpha, n),
        _per_row(gamma, n),
        uvec,
        utab,
    )
    m_args = s_args = c_args = args  # the passes' arguments (rows; chunks)
    if K == 2:  # the same passes unrolled on scalars
        kb = _kernels_binary
        # the first pass keeps each row's basis (14 values) for the second, which
        # then needs no block solves (the same values: bit-identical)
        keep = mu and n <= BASIS_MAX_ROWS
        basis = scratch.get("basis")
        if keep and (basis is None or basis.shape[0] != n):
            basis = scratch["basis"] = np.empty((n, kb._BASIS))
        elif not keep:
            basis = np.empty((0, kb._BASIS))
        c_args = (*args, basis)  # the chunk drivers: an empty basis is not kept
        m_rows = kb._moments_rows2_keep if keep else kb._moments_rows2
        s_rows = kb._steps_rows2_kept if keep else kb._steps_rows2
        m_args = s_args = c_args if keep else args
        m_chunks, s_chunks = kb._moments_chunks2, kb._steps_chunks2
    else:
        m_rows, m_chunks = _moments_rows, _moments_chunks
        s_rows, s_chunks = _steps_rows, _steps_chunks
    Wt = np.zeros((mu, 2))
    if mu:
        if parallel(n):
            UtX = m_chunks(*c_args, CHUNK)
        else:
            UtX = chunk_sums(m_rows, n, (mu, 2 + mu), *m_args)
        cap = np.eye(mu) - UtX[:, 2:] * W[None, :]
        try:
            t = np.linalg.solve(cap, UtX[:, :2])
        except np.linalg.LinAlgError:
            t = None
        if t is not None and np.all(np.isfinite(t)):
            Wt = W[:, None] * t
    if out is None:
        out = [np.empty((n, K)) for _ in range(4)]
    if parallel(n):
        sums = s_chunks(*c_args, Wt, *out, CHUNK)
    else:
        sums = chunk_sums(s_rows, n, 3, *s_args, Wt, *out)
    return (*out, float(sums[0]), float(sums[1]), float(sums[2]))


def add_multiple(step, dtheta, z, ztheta, k):
    """In place ``step += k z`` and ``dtheta += k ztheta``; returns ``max |step|``.

    Examples
    --------
    >>> import numpy as np
    >>> step, dtheta = np.zeros((1, 2)), np.zeros((1, 2))
    >>> add_multiple(step, dtheta, np.array([[1.0, -2.0]]), np.ones((1, 2)), 0.5), step.tolist()
    (1.0, [[0.5, -1.0]])
    """
    n = step.shape[0]
    if parallel(n):  # a maximum: the same in any order
        return float(_add_chunks(step, dtheta, z, ztheta, float(k), CHUNK))
    return float(_add_rows(0, n, step, dtheta, z, ztheta, float(k)))
