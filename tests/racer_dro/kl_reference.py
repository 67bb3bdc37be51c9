"""Hand-written, independent references for the KL worst case (used by the tests only).

Nothing here imports ``racer_dro``: the scalar dual is maximised with a generic
1-D optimiser, the inner minimisation over the simplex is solved by CVXPY, and
the Gaussian closed forms are quadrature on a fine grid.
"""

from __future__ import annotations

import math

import cvxpy as cp
import numpy as np
from scipy.optimize import minimize_scalar


def log_mean_exp(a: np.ndarray, p: np.ndarray) -> float:
    """``log sum_i p_i exp(a_i)`` with a max shift (own implementation)."""
    mask = p > 0
    a, p = a[mask], p[mask]
    top = a.max()
    return float(top + math.log(np.sum(p * np.exp(a - top))))


def penalised_value(f, p, tau: float) -> float:
    """``min_rho E_rho f + tau KL(rho || p) = -tau log E_p exp(-f / tau)``."""
    f, p = np.asarray(f, float), np.asarray(p, float) / np.sum(p)
    return -tau * log_mean_exp(-f / tau, p)


def dual_value(f, p, radius: float) -> float:
    """``max_{tau > 0} -tau log E_p exp(-f / tau) - tau radius`` by a grid in ``log tau``
    followed by bounded Brent refinement (``scipy.optimize.minimize_scalar``).

    The dual objective is concave in ``tau``; the grid brackets its maximiser and the
    refinement is converged to ``xatol = 1e-12`` in ``log tau``. The limit ``tau -> 0``
    (value ``min f``) is included as a candidate.
    """
    f, p = np.asarray(f, float), np.asarray(p, float) / np.sum(p)
    spread = float(f[p > 0].max() - f[p > 0].min())
    if spread == 0:
        return float(f[p > 0][0])

    def neg(s):
        tau = math.exp(s)
        return -(-tau * log_mean_exp(-f / tau, p) - tau * radius)

    grid = np.linspace(math.log(spread) - 25, math.log(spread) + 25, 2001)
    vals = np.array([neg(s) for s in grid])
    k = int(np.argmin(vals))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    res = minimize_scalar(
        neg, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}
    )
    best = max(-res.fun, -vals[k])
    return float(max(best, f[p > 0].min()))


def cvxpy_inner(f, p, *, radius=None, temperature=None, sense="min"):
    """Solve ``min (or max) E_rho f`` over the simplex directly with CVXPY.

    Radius: subject to ``sum rel_entr(rho, p) <= radius``. Temperature: with the
    penalty ``+ tau KL`` (``- tau KL`` for ``max``). Returns ``(value, rho)``.
    """
    f, p = np.asarray(f, float), np.asarray(p, float) / np.sum(p)
    rho = cp.Variable(f.shape[0], nonneg=True)
    kl = cp.sum(cp.rel_entr(rho, p))
    cons = [cp.sum(rho) == 1]
    sign = 1.0 if sense == "min" else -1.0
    if radius is not None:
        cons.append(kl <= radius)
        obj = cp.Minimize(sign * (f @ rho))
    else:
        obj = cp.Minimize(sign * (f @ rho) + temperature * kl)
    prob = cp.Problem(obj, cons)
    prob.solve(solver="CLARABEL")
    assert prob.status == cp.OPTIMAL, prob.status
    return sign * prob.value, rho.value


def gaussian_grid(mu: float, sigma: float, half_width: float = 14.0, size: int = 40001):
    """A fine grid ``x = mu + sigma z`` with weights ``∝ phi(z)`` on ``|z| <= half_width``.

    The discrete distribution matches the normal's moments (and its exponential
    tilts, which are normals shifted by ``sigma / tau`` in ``z``) up to the
    trapezoid error for a smooth integrand, ~1e-12 here, plus the truncated tail,
    ``exp(-(half_width - shift)^2 / 2)``: below 1e-20 for shifts up to 4.
    """
    z = np.linspace(-half_width, half_width, size)
    w = np.exp(-0.5 * z**2)
    return mu + sigma * z, w / w.sum()
