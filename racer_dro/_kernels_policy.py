"""Compiled (numba) passes over a policy that allocate nothing of size n.

* :func:`fixed_point_residual`: ``max |primal_step(pi) - pi|``
  (:meth:`racer_dro.newton.Engine.fixed_point_residual`, whose numpy code is the
  reference: :func:`racer_dro.formulas.primal_step` with the worst-case ratios
  :func:`racer_dro.formulas.worst_case_ratios`);
* :func:`distances_to_final`: ``sum_i rho_n(i) KL(pi_i || pi*_i)`` and
  ``||pi - pi*||_2`` of logits against a final policy (the solver's history;
  reference: ``racer_dro.primal_dual._distances_to_final`` without the kernel).

Both are tested against their numpy references to 1e-12. Rows go in fixed chunks
(:data:`racer_dro._kernels.CHUNK`), in parallel within
:func:`racer_dro._kernels.using_threads`; the maximum and the per-chunk sums,
added in chunk order, do not depend on the number of threads.
"""

from __future__ import annotations

import math

import numpy as np

from racer_dro._kernels import CHUNK, chunk_sums, parallel

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
    from racer_dro._kernels import pair_softmax  # compiled: only with numba

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _residual_kernel(
        lo, hi, R, Cm, qr, qc, p, lam, beta, pi, dlam
    ):  # pragma: no cover
        K = R.shape[1]
        s = np.empty(K)
        worst = 0.0
        for i in range(lo, hi):
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
            if dlam > 0:  # the primal step's sensitivity to lambda, times dlam
                mean = 0.0
                for k in range(K):
                    mean += (s[k] / tot) * Cm[i, k]
                for k in range(K):
                    q = s[k] / tot
                    sens = q * wc * abs(Cm[i, k] - mean) / beta
                    worst = max(worst, abs(q - pi[i, k]) - sens * dlam)
            else:
                for k in range(K):
                    worst = max(worst, abs(s[k] / tot - pi[i, k]))
        return worst

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _distances_kernel(lo, hi, theta, pi_star, log_star, p, out):  # pragma: no cover
        """Adds rows ``lo:hi``'s ``sum p_i KL_i`` and ``sum (pi - pi*)^2`` into ``out``."""
        K = theta.shape[1]
        t = np.empty(K)
        e = np.empty(K)
        kl = 0.0
        l2 = 0.0
        for i in range(lo, hi):
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
        out[0] += kl
        out[1] += l2

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _distances2_kernel(
        lo, hi, theta, pi_star, log_star, p, out
    ):  # pragma: no cover
        """:func:`_distances_kernel` for two arms, the same operations in the same
        order (bit-identical) with the softmax of ``_kernels_binary._softmax2``:
        the larger centred logit is 0 and ``exp(0) = 1`` exactly, one ``exp`` a row."""
        kl = 0.0
        l2 = 0.0
        for i in range(lo, hi):
            t0, t1, q0, q1, log_s = pair_softmax(theta[i, 0], theta[i, 1])
            row = 0.0 + q0 * ((t0 - log_s) - log_star[i, 0])
            row += q1 * ((t1 - log_s) - log_star[i, 1])
            d0 = q0 - pi_star[i, 0]
            d1 = q1 - pi_star[i, 1]
            l2 += d0 * d0
            l2 += d1 * d1
            kl += p[i] * row
        out[0] += kl
        out[1] += l2

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _distances_pi_kernel(
        lo, hi, pi, log_pi, pi_star, log_star, p, out
    ):  # pragma: no cover
        """:func:`_distances_kernel` for a policy given with its logarithm (no softmax)."""
        K = pi.shape[1]
        kl = 0.0
        l2 = 0.0
        for i in range(lo, hi):
            row = 0.0
            for k in range(K):
                q = pi[i, k]
                row += q * (log_pi[i, k] - log_star[i, k])
                d = q - pi_star[i, k]
                l2 += d * d
            kl += p[i] * row
        out[0] += kl
        out[1] += l2

    @numba.njit(cache=True, fastmath=False, error_model="numpy", parallel=True)
    def _distances_pi_chunks(
        pi, log_pi, pi_star, log_star, p, chunk
    ):  # pragma: no cover
        n = pi.shape[0]
        n_chunks = (n + chunk - 1) // chunk
        parts = np.zeros((n_chunks, 2))
        for c in numba.prange(n_chunks):
            lo = c * chunk
            hi = min(n, lo + chunk)
            _distances_pi_kernel(lo, hi, pi, log_pi, pi_star, log_star, p, parts[c])
        out = np.zeros(2)
        for c in range(n_chunks):
            out += parts[c]
        return out

    @numba.njit(cache=True, fastmath=False, error_model="numpy", parallel=True)
    def _residual_chunks(
        R, Cm, qr, qc, p, lam, beta, pi, dlam, chunk
    ):  # pragma: no cover
        n = R.shape[0]
        n_chunks = (n + chunk - 1) // chunk
        parts = np.zeros(n_chunks)
        for c in numba.prange(n_chunks):
            lo = c * chunk
            hi = min(n, lo + chunk)
            parts[c] = _residual_kernel(lo, hi, R, Cm, qr, qc, p, lam, beta, pi, dlam)
        worst = 0.0
        for c in range(n_chunks):
            worst = max(worst, parts[c])
        return worst

    @numba.njit(cache=True, fastmath=False, error_model="numpy", parallel=True)
    def _distances_chunks(theta, pi_star, log_star, p, chunk):  # pragma: no cover
        n = theta.shape[0]
        n_chunks = (n + chunk - 1) // chunk
        parts = np.zeros((n_chunks, 2))
        two = theta.shape[1] == 2
        for c in numba.prange(n_chunks):
            lo = c * chunk
            hi = min(n, lo + chunk)
            if two:
                _distances2_kernel(lo, hi, theta, pi_star, log_star, p, parts[c])
            else:
                _distances_kernel(lo, hi, theta, pi_star, log_star, p, parts[c])
        out = np.zeros(2)
        for c in range(n_chunks):
            out += parts[c]
        return out


def fixed_point_residual(R, Cm, qr, qc, p, lam, beta, pi, dlam=0.0) -> float:
    """``max |primal_step(pi) - pi|`` in one pass (see the module docstring); with
    ``dlam > 0`` each difference less the primal step's sensitivity to ``lambda``
    times ``dlam``, floored at 0 (:meth:`racer_dro.newton.Engine.fixed_point_residual`).

    Examples
    --------
    >>> import numpy as np
    >>> R = np.array([[0.0, 1.0]]); C = np.ones((1, 2)); one = np.ones(1)
    >>> pi = np.exp([[0.0, 1.0]]) / np.exp([[0.0, 1.0]]).sum()
    >>> fixed_point_residual(R, C, one, one, one, 0.0, 1.0, pi) < 1e-15
    True
    """
    args = (
        np.ascontiguousarray(R, dtype=float),
        np.ascontiguousarray(Cm, dtype=float),
        np.ascontiguousarray(qr, dtype=float),
        np.ascontiguousarray(qc, dtype=float),
        np.ascontiguousarray(p, dtype=float),
        float(lam),
        float(beta),
        np.ascontiguousarray(pi, dtype=float),
        float(dlam),
    )
    n = args[0].shape[0]
    if parallel(n):  # a maximum: the same in any order
        return float(_residual_chunks(*args, CHUNK))
    return float(_residual_kernel(0, n, *args))


def distances_to_final(theta, pi_star, log_star, p):
    """``(sum_i p_i KL(softmax(theta_i) || pi*_i), ||softmax(theta) - pi*||_2)`` in one pass.

    ``theta`` may also be a pair ``(pi, log pi)``: the policy itself (no softmax).

    Examples
    --------
    >>> import numpy as np
    >>> star = np.array([[0.5, 0.5]])
    >>> kl, l2 = distances_to_final(np.zeros((1, 2)), star, np.log(star), np.ones(1))
    >>> kl, l2
    (0.0, 0.0)
    """
    star = tuple(np.ascontiguousarray(a, dtype=float) for a in (pi_star, log_star, p))
    if isinstance(theta, tuple):
        args = tuple(np.ascontiguousarray(a, dtype=float) for a in theta) + star
        rows, chunks = _distances_pi_kernel, _distances_pi_chunks
    else:
        args = (np.ascontiguousarray(theta, dtype=float), *star)
        rows = _distances2_kernel if args[0].shape[1] == 2 else _distances_kernel
        chunks = _distances_chunks
    n = args[0].shape[0]
    if parallel(n):
        sums = chunks(*args, CHUNK)
    else:
        sums = chunk_sums(rows, n, 2, *args)
    return max(float(sums[0]), 0.0), math.sqrt(float(sums[1]))
