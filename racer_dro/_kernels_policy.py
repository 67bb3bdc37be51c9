"""Compiled (numba) passes over a policy that allocate nothing of size n.

* :func:`fixed_point_residual`: ``max |primal_step(pi) - pi|``
  (:meth:`racer_dro.newton.Engine.fixed_point_residual`, whose numpy code is the
  reference: :func:`racer_dro.formulas.primal_step` with the worst-case ratios
  :func:`racer_dro.formulas.worst_case_ratios`);
* :func:`distances_to_final`: ``sum_i rho_n(i) KL(pi_i || pi*_i)`` and
  ``||pi - pi*||_2`` of logits against a final policy (the solver's history;
  reference: ``racer_dro.primal_dual._distances_to_final`` without the kernel).

Both are tested against their numpy references to 1e-12.
"""

from __future__ import annotations

import math

import numpy as np

try:  # numba is optional: the numpy paths are the reference
    import numba
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None

__all__ = ["available", "distances_to_final", "fixed_point_residual"]

floor_ = -50.0  # newton.THETA_FLOOR (not imported: no cycle)


def available() -> bool:
    """Whether the compiled kernels can be used."""
    return numba is not None


if numba is not None:

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _residual_kernel(R, Cm, qr, qc, p, lam, beta, pi):  # pragma: no cover
        n, K = R.shape
        s = np.empty(K)
        worst = 0.0
        for i in range(n):
            wr = qr[i] / p[i] if p[i] > 0 else 0.0
            wc = qc[i] / p[i] if p[i] > 0 else 0.0
            top = -math.inf
            for k in range(K):
                v = (wr * R[i, k] - lam * (wc * Cm[i, k])) / beta
                s[k] = v
                top = max(top, v)
            tot = 0.0
            for k in range(K):
                e = math.exp(s[k] - top)
                s[k] = e
                tot += e
            for k in range(K):
                worst = max(worst, abs(s[k] / tot - pi[i, k]))
        return worst

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _distances_kernel(theta, pi_star, log_star, p):  # pragma: no cover
        n, K = theta.shape
        t = np.empty(K)
        e = np.empty(K)
        kl = 0.0
        l2 = 0.0
        for i in range(n):
            top = theta[i, 0]
            for k in range(1, K):
                top = max(top, theta[i, k])
            tot = 0.0
            for k in range(K):
                v = max(theta[i, k] - top, floor_)
                t[k] = v
                e[k] = math.exp(v)
                tot += e[k]
            log_s = math.log(tot)
            row = 0.0
            for k in range(K):
                q = e[k] / tot
                row += q * ((t[k] - log_s) - log_star[i, k])
                d = q - pi_star[i, k]
                l2 += d * d
            kl += p[i] * row
        return max(kl, 0.0), math.sqrt(l2)


def fixed_point_residual(R, Cm, qr, qc, p, lam, beta, pi) -> float:
    """``max |primal_step(pi) - pi|`` in one pass (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> R = np.array([[0.0, 1.0]]); C = np.ones((1, 2)); one = np.ones(1)
    >>> pi = np.exp([[0.0, 1.0]]) / np.exp([[0.0, 1.0]]).sum()
    >>> fixed_point_residual(R, C, one, one, one, 0.0, 1.0, pi) < 1e-15
    True
    """
    return float(
        _residual_kernel(
            np.ascontiguousarray(R, dtype=float),
            np.ascontiguousarray(Cm, dtype=float),
            np.ascontiguousarray(qr, dtype=float),
            np.ascontiguousarray(qc, dtype=float),
            np.ascontiguousarray(p, dtype=float),
            float(lam),
            float(beta),
            np.ascontiguousarray(pi, dtype=float),
        )
    )


def distances_to_final(theta, pi_star, log_star, p):
    """``(sum_i p_i KL(softmax(theta_i) || pi*_i), ||softmax(theta) - pi*||_2)`` in one pass.

    Examples
    --------
    >>> import numpy as np
    >>> star = np.array([[0.5, 0.5]])
    >>> kl, l2 = distances_to_final(np.zeros((1, 2)), star, np.log(star), np.ones(1))
    >>> kl, l2
    (0.0, 0.0)
    """
    kl, l2 = _distances_kernel(
        np.ascontiguousarray(theta, dtype=float),
        np.ascontiguousarray(pi_star, dtype=float),
        np.ascontiguousarray(log_star, dtype=float),
        np.ascontiguousarray(p, dtype=float),
    )
    return float(kl), float(l2)
