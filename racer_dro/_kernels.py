"""Compiled (numba) kernel of the per-query block solve of :mod:`racer_dro.newton`.

The same arithmetic as :func:`racer_dro.newton._block_solve_numpy` (the
reference, tested to agree to 1e-12), one pass over the rows without the
temporaries of the vectorised version. Used when numba is importable.
"""

from __future__ import annotations

import numpy as np

try:  # numba is optional: the numpy path is the reference
    import numba
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None

__all__ = ["available", "block_solve"]


def available() -> bool:
    """Whether the compiled kernel can be used."""
    return numba is not None


if numba is not None:

    @numba.njit(cache=True, fastmath=False)
    def _block_solve_kernel(pi, bp, R, Cm, alpha, gamma, Y, X, T):  # pragma: no cover
        n, K = pi.shape
        m = Y.shape[2]
        dinv = np.empty(K)
        e1 = np.empty(K)
        ey = np.empty(K)
        for i in range(n):
            drr = 0.0
            drc = 0.0
            dcc = 0.0
            for k in range(K):
                d = pi[i, k] / bp[i]
                dinv[k] = d
                drr += d * R[i, k] * R[i, k]
                drc += d * R[i, k] * Cm[i, k]
                dcc += d * Cm[i, k] * Cm[i, k]
            a11 = 1.0 + alpha[i] * drr
            a12 = alpha[i] * drc
            a21 = gamma[i] * drc
            a22 = 1.0 + gamma[i] * dcc
            det = a11 * a22 - a12 * a21
            # the column of ones
            vr = 0.0
            vc = 0.0
            for k in range(K):
                vr += R[i, k] * dinv[k]
                vc += Cm[i, k] * dinv[k]
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
                    z = dinv[k] * Y[i, k, j]
                    vr += R[i, k] * z
                    vc += Cm[i, k] * z
                vr *= alpha[i]
                vc *= gamma[i]
                s1 = (a22 * vr - a12 * vc) / det
                s2 = (a11 * vc - a21 * vr) / det
                tot = 0.0
                for k in range(K):
                    ey[k] = Y[i, k, j] - R[i, k] * s1 - Cm[i, k] * s2
                    tot += dinv[k] * ey[k]
                nu = tot / tot1
                for k in range(K):
                    e = ey[k] - nu * e1[k]
                    X[i, k, j] = dinv[k] * e
                    T[i, k, j] = e / bp[i]


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
