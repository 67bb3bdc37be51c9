"""Worst-case (and best-case) expectations over a KL neighbourhood, in closed form.

For values ``f`` and nominal weights ``rho_n`` (user guide, "RACER"):

* penalised form, temperature ``tau``::

      min_rho E_rho[f] + tau KL(rho || rho_n) = -tau log sum_i rho_n(i) exp(-f_i / tau),

  attained at ``rho(i) ∝ rho_n(i) exp(-f_i / tau)`` (Theorem 3.1 of RACER);
* constrained form, radius ``delta``::

      min_{KL(rho || rho_n) <= delta} E_rho[f] = max_{tau > 0} -tau log E_{rho_n}[exp(-f / tau)] - tau delta,

  attained at the same exponential tilt with the ``tau`` for which ``KL = delta``
  (found by 1-D root finding in ``log tau``; ``KL`` is strictly decreasing in ``tau``).

``sense="max"`` is the mirror image (``max E_rho[f] = -min E_rho[-f]``). All
computations shift by the extreme value and use ``scipy.special.logsumexp``, so
``|f| / tau`` up to 1e4 and beyond neither overflows nor loses the answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from racer_dro._dot import dot
from racer_dro._validation import check_sense, check_side, check_values, check_weights

__all__ = [
    "KLWorstCase",
    "MinSense",
    "exponential_tilt",
    "kl_divergence",
    "kl_worst_case",
    "small_shift_temperature",
    "temperature_from_radius",
    "tilt_kl",
    "values_within_rounding",
    "worst_case_curvature",
    "worst_case_min",
]


@dataclass(frozen=True, eq=False)
class KLWorstCase:
    """The result of :func:`kl_worst_case`.

    Attributes
    ----------
    value : float
        The worst-case value. Radius form: ``min (or max) E_rho[f]`` over the KL
        ball. Temperature form: the penalised optimum
        ``min_rho E_rho[f] + tau KL(rho || rho_n)`` (``max ... - tau KL`` for
        ``sense="max"``). Neither: the nominal mean.
    weights : ndarray of shape (n,)
        The worst-case distribution ``rho`` (non-negative, sums to one).
    temperature : float
        The temperature of the exponential tilt: the given one, the root of
        ``KL = radius`` for the radius form, ``inf`` when ``rho = rho_n`` and
        ``0`` when all mass sits on the extreme values.
    radius : float or None
        The radius that was given (``None`` for the temperature form).
    kl : float
        ``KL(weights || rho_n)``.
    expectation : float
        ``E_rho[f]`` under the worst-case weights (equals ``value`` for the radius
        form).
    sense : {"min", "max"}

    Examples
    --------
    >>> import numpy as np
    >>> from racer_dro import kl_worst_case
    >>> res = kl_worst_case(np.array([0.0, 1.0, 2.0]), radius=0.1)
    >>> bool(res.value < 1.0), round(res.kl, 12)
    (True, 0.1)
    """

    value: float
    weights: np.ndarray
    temperature: float
    radius: float | None
    kl: float
    expectation: float
    sense: str


def kl_divergence(p, q) -> float:
    """``KL(p || q) = sum_i p_i log(p_i / q_i)`` for probability vectors (``0 log 0 = 0``).

    Examples
    --------
    >>> kl_divergence([0.5, 0.5], [0.5, 0.5])
    0.0
    """
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    mask = p > 0
    if np.any(q[mask] <= 0):
        return math.inf
    return float(np.sum(p[mask] * (np.log(p[mask]) - np.log(q[mask]))))


def _log_weights(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(p)


def exponential_tilt(g: np.ndarray, logp: np.ndarray, tau: float):
    """Exponential tilt ``q ∝ p exp(-g / tau)`` of shifted values ``g >= 0`` and its log-normaliser.

    Theorem 3.1 of RACER: the minimiser of ``E_rho[f] + tau KL(rho || p)`` is
    ``rho ∝ p exp(-f / tau)`` and the minimum is ``-tau log sum_i p_i exp(-f_i / tau)``;
    with ``g = f - min f`` the exponent is shifted by its maximum (one exponential).

    Returns ``(q, L)`` with ``L = log sum_i p_i exp(-g_i / tau)``, so that the
    penalised worst case of ``f = g + m`` is ``m - tau L``.

    Examples
    --------
    >>> import numpy as np
    >>> q, L = exponential_tilt(np.array([0.0, 1.0]), np.log([0.5, 0.5]), 1.0)
    >>> q.round(4).tolist(), round(L, 4)
    ([0.7311, 0.2689], -0.3799)
    """
    with np.errstate(over="ignore"):  # g / tau -> inf: weight exp(-inf) = 0
        a = logp - g / tau
    amax = float(a.max())
    e = np.exp(a - amax)
    s = float(e.sum())
    L = amax + math.log(s)
    if L > -0.5:
        # a weak tilt (tau >> g): amax + log(s) cancels to rounding (~1e-16),
        # which -tau L turned into garbage (|f| ~ 1, tau = 1e300 gave 1e284);
        # log1p of E_p[expm1(-g / tau)] keeps its relative accuracy instead
        p = np.exp(logp)
        with np.errstate(over="ignore"):
            L = math.log1p(dot(p, np.expm1(-g / tau)) / float(p.sum()))
    return e / s, L


def tilt_kl(g: np.ndarray, logp: np.ndarray, q: np.ndarray, tau: float) -> float:
    """``KL(q || p)`` for the tilt ``q ∝ p exp(-g / tau)``, centred at ``E_q g`` (no cancellation).

    ``KL = -E_q[h] - log E_p exp(-h)`` with ``h = (g - E_q g) / tau``.

    Examples
    --------
    >>> import numpy as np
    >>> g, logp = np.array([0.0, 1.0]), np.log([0.5, 0.5])
    >>> q, _ = exponential_tilt(g, logp, 1.0)
    >>> round(tilt_kl(g, logp, q, 1.0), 6)
    0.110944
    """
    c = dot(q, g)
    with np.errstate(over="ignore"):  # (g - c) / tau -> inf where q = 0
        h = (g - c) / tau
    a = logp - h
    top = float(a.max())
    pos = q > 0  # 0 * inf would make the KL NaN (tau = 1e-300, g ~ 1)
    kl = -dot(q[pos], h[pos]) - (top + math.log(float(np.exp(a - top).sum())))
    return max(kl, 0.0)


def _threshold(g: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, float]:
    """Minimisers (``g == 0`` on the support) and ``-log P(argmin)``."""
    at_min = (g == 0) & (p > 0)
    rest = float(p[~at_min].sum())
    if rest > 0.5:
        # 1 - rest rounds away a minimiser's weight 1e-300 (KL is 690.8, not inf)
        return at_min, -math.log(float(p[at_min].sum()) / float(p.sum()))
    return at_min, -math.log1p(-rest)


def _radius_bracket(g, logp, p, radius):
    """A bracket ``(s_lo, s_hi)`` in ``s = log tau`` with ``KL(s_lo) > radius > KL(s_hi)``.

    Returns ``None`` when the radius is within rounding of the all-on-minimisers
    threshold (then the threshold solution is exact to machine precision).
    """
    mean = dot(p, g)
    var = dot(p, (g - mean) ** 2)
    s0 = 0.5 * math.log(max(var, 1e-300) / (2.0 * radius))

    def kl_of(s):
        tau = math.exp(s)
        q, _ = exponential_tilt(g, logp, tau)
        return tilt_kl(g, logp, q, tau)

    s_hi, step = s0, 1.0
    for _ in range(200):
        if kl_of(s_hi) < radius:
            break
        if s_hi >= _LOG_TAU_MAX:
            # KL never fell below the radius: the radius sits at the rounding floor
            # of KL (a few 1e-16), where the small-shift temperature is exact
            return "small"
        s_hi = min(s_hi + step, _LOG_TAU_MAX)
        step *= 2.0
    s_lo, step = s0, 1.0
    for _ in range(80):
        if math.exp(s_lo) == 0:
            break  # tau underflowed (g / 0 warned): no representable tilt separates
        if kl_of(s_lo) > radius:
            return s_lo, s_hi, kl_of
        s_lo -= step
        step = min(step * 2.0, 64.0)
    return None


_TINY_RADIUS = 1e-10  # below it KL's rounding (~1e-16) blurs a root found numerically
_LOG_TAU_MAX = 700.0  # exp(700) ~ 1e304: beyond it the temperature overflows


def small_shift_temperature(g, p, radius) -> float:
    """``sqrt(Var_p(g) / (2 radius))``: the root of ``KL = radius`` as ``radius -> 0``.

    For a small tilt ``KL(tau) = Var_p(g) / (2 tau^2) + O(tau^-3)``, so this is
    the temperature of the KL ball's worst case to relative ``O(sqrt(radius))``
    (the Gaussian closed form ``mu - sigma sqrt(2 delta)``). Computed on
    ``g / max |g|`` so that ``Var(g)`` cannot underflow.

    Examples
    --------
    >>> import numpy as np
    >>> small_shift_temperature(np.array([0.0, 2.0]), np.array([0.5, 0.5]), 0.5)
    1.0
    """
    scale = float(np.max(np.abs(g)))
    if scale == 0:
        return math.inf
    h = g / scale  # Var(g) itself can underflow (g ~ 1e-190)
    mean = dot(p, h)
    return scale * math.sqrt(dot(p, (h - mean) ** 2) / (2.0 * radius))


def _radius_temperature_brentq(g, logp, p, radius) -> float | None:
    """Root of ``KL(tau) = radius`` by ``scipy.optimize.brentq`` in ``log tau``."""
    bracket = _radius_bracket(g, logp, p, radius)
    if bracket is None:
        return None
    if bracket == "small":
        return small_shift_temperature(g, p, radius)
    s_lo, s_hi, kl_of = bracket
    s = brentq(
        lambda s: kl_of(s) - radius,
        s_lo,
        s_hi,
        xtol=1e-14,
        rtol=4 * np.finfo(float).eps,
        maxiter=500,
    )
    return math.exp(s)


def _radius_temperature_newton(
    g, logp, p, radius, tau_init=None, max_iter=100
) -> float | None:
    """Root of ``KL(tau) = radius`` by safeguarded Newton on ``log KL`` versus ``log tau``.

    ``d KL / d log tau = -Var_q(g) / tau^2``. Fast with a warm start (inside the
    primal-dual solver); falls back on the bracketed root if it fails.
    """
    if tau_init is None or not (0 < tau_init < math.inf):
        tau_init = small_shift_temperature(g, p, radius)
    log_delta = math.log(radius)
    s = math.log(tau_init)
    lo, hi = -math.inf, math.inf  # phi(lo) > 0 > phi(hi)
    for _ in range(max_iter):
        tau = math.exp(s)
        q, _ = exponential_tilt(g, logp, tau)
        kl = tilt_kl(g, logp, q, tau)
        if kl <= 0:
            hi = min(hi, s)
            s = s - 2.0 if lo == -math.inf else 0.5 * (lo + s)
            continue
        phi = math.log(kl) - log_delta
        if abs(phi) < 1e-13:
            return tau
        c = dot(q, g)
        var_q = dot(q, (g - c) ** 2)
        s, lo, hi, done = radius_root_step(s, phi, var_q, tau, kl, lo, hi)
        if done:
            return math.exp(s)
    return _radius_temperature_brentq(g, logp, p, radius)


def radius_root_step(s, phi, var_q, tau, kl, lo, hi):
    """One safeguarded Newton step of the radius root ``log KL(tau) = log radius`` in ``s = log tau``.

    ``phi = log KL - log radius`` at ``s``; ``d phi / d s = -Var_q(g) / (tau^2 KL)``
    (the derivative of the divergence of the tilt of Theorem 3.1 of RACER along
    ``log tau``). The step is bounded to 4 in ``log tau`` and
    replaced by bisection of the bracket ``(lo, hi)`` (``phi(lo) > 0 > phi(hi)``)
    when it leaves it. Plain Python on floats, so the compiled kernel
    (:mod:`racer_dro._kernels_kl`) compiles this same function.

    Returns
    -------
    new, lo, hi : float
        The next ``log tau`` and the updated bracket.
    done : bool
        True when the step or the bracket is at rounding level (the root is
        ``exp(new)``).

    Examples
    --------
    >>> import math
    >>> from racer_dro.kl import radius_root_step
    >>> new, lo, hi, done = radius_root_step(0.0, 0.5, 1.0, 1.0, 2.0, -math.inf, math.inf)
    >>> new, lo, hi, done  # Newton: -phi / dphi = -0.5 / (-0.5)
    (1.0, 0.0, inf, False)
    """
    if phi > 0:
        lo = max(lo, s)
    else:
        hi = min(hi, s)
    den = tau * tau * kl  # underflows to 0 for tau ~ 1e-160 and below
    dphi = -var_q / den if den > 0 else 0.0
    step = -phi / dphi if dphi < 0 else math.inf
    new = s + min(max(step, -4.0), 4.0)  # bounded step in log tau
    if not (lo < new < hi) or not math.isfinite(new):
        if math.isfinite(lo) and math.isfinite(hi):
            new = 0.5 * (lo + hi)
        elif math.isfinite(lo):
            new = lo + 4.0
        else:
            new = hi - 4.0
    done = abs(new - s) < 1e-14 * max(1.0, abs(s)) or (
        math.isfinite(lo) and math.isfinite(hi) and hi - lo < 1e-15 * max(1.0, abs(new))
    )
    return new, lo, hi, done


def temperature_from_radius(g, p, radius, *, tau_init=None, root="brentq"):
    """The temperature ``tau`` with ``KL(rho_tau || p) = radius`` for the tilt of ``g >= 0``.

    The constrained worst case ``min_{KL(rho || p) <= delta} E_rho[f]`` equals
    ``max_{tau > 0} -tau log E_p[exp(-f / tau)] - tau delta`` (RACER, the dual of
    the KL ball), attained at the tilt whose KL is ``delta``. Radii below 1e-10
    use :func:`small_shift_temperature` (a numerical root would be blurred by
    KL's rounding); otherwise a root in ``log tau`` by safeguarded Newton
    (``root="newton"``, with a warm start) or by ``brentq`` on a bracket.
    Returns ``None`` when the radius is within rounding of the threshold
    ``-log p(argmin g)`` (all mass on the minimisers is then exact).

    Examples
    --------
    >>> import numpy as np
    >>> g, p = np.array([0.0, 1.0, 2.0]), np.full(3, 1 / 3)
    >>> tau = temperature_from_radius(g, p, 0.1)
    >>> q, _ = exponential_tilt(g, np.log(p), tau)
    >>> round(tilt_kl(g, np.log(p), q, tau), 12)
    0.1
    """
    if radius < _TINY_RADIUS:
        # KL(tau) = Var / (2 tau^2) to relative O(sqrt(radius)) < 1e-5, so the
        # small-shift temperature moves the value by < 1e-5 sigma sqrt(2 radius)
        return small_shift_temperature(g, p, radius)
    logp = _log_weights(p)
    if root == "newton":
        return _radius_temperature_newton(g, logp, p, radius, tau_init)
    return _radius_temperature_brentq(g, logp, p, radius)


@dataclass(frozen=True, eq=False)
class MinSense:
    """The worst case ``min E_rho[f]`` in the min sense (:func:`worst_case_min`).

    ``value`` (the worst case), ``q`` (worst-case weights), ``tau`` (tilt
    temperature; ``inf`` nominal, ``0`` all on the minimisers), ``kl``,
    ``expectation`` (``E_q f``), ``shifted`` (``g = f - min f``, 0 off the
    support) and ``variance`` (``Var_q(g)``).
    """

    value: float
    q: np.ndarray
    tau: float
    kl: float
    expectation: float
    shifted: np.ndarray
    variance: float
    radius: float | None = None


def values_within_rounding(minimum: float, spread: float) -> bool:
    """Whether values from ``minimum`` to ``minimum + spread`` are equal to their rounding.

    A spread of at most 4 units in the last place of the values' magnitude is
    the rounding of sums like ``f_i = sum_a pi_i(a) r_i(a)``, which are equal in
    exact arithmetic where a robust policy equalises the rows' values. A KL
    ball's worst case (:func:`worst_case_min`) treats such values as constant:
    the tilt that puts KL ``delta`` on a spread of one ulp has a temperature
    of the same size (4.9e-13 on values ~3e3), whose curvature ``1 / tau``
    overflowed the solver's Newton step to NaN.

    Examples
    --------
    >>> values_within_rounding(2870.0, 4.5e-13), values_within_rounding(2870.0, 1e-9)
    (True, False)
    """
    top = max(abs(minimum), abs(minimum + spread))
    return spread <= 4.0 * 2.220446049250313e-16 * top


def worst_case_min(
    f, p, *, radius=None, temperature=None, tau_init=None, root="brentq"
):
    """``min_rho E_rho[f]`` over a KL ball (``radius``) or with a KL penalty (``temperature``).

    The one computation of the worst case behind :func:`kl_worst_case`, the
    routing problem's ``R`` and ``C`` and the solvers. Penalised form:
    ``-tau log sum_i p_i exp(-f_i / tau)`` at ``q ∝ p exp(-f / tau)`` (Theorem 3.1);
    radius form: the same tilt at :func:`temperature_from_radius`; edge cases
    (``radius = 0`` or ``temperature = inf``: ``p``; radius beyond
    ``-log p(argmin f)``: all mass on the minimisers; constant ``f``: ``f``).
    Inputs are validated by the callers.

    Examples
    --------
    >>> import numpy as np
    >>> res = worst_case_min(np.array([0.0, 1.0]), np.array([0.5, 0.5]), temperature=1.0)
    >>> round(res.value, 4), res.q.round(4).tolist()
    (0.3799, [0.7311, 0.2689])
    """
    support = p > 0
    m, top = float(f[support].min()), float(f[support].max())
    spread = top - m
    if math.isnan(spread) or math.isinf(m) or math.isinf(top):
        # NaN or infinite values (halving below would recurse without end)
        raise ValueError("worst_case_min: `f` must be finite where `p` > 0")
    if math.isinf(spread):
        # the spread overflows (f = [-1e308, 1e308] gave a NaN or infinite
        # value): V is positively homogeneous, so solve for f / 2 and double
        half = worst_case_min(
            0.5 * f,
            p,
            radius=radius,
            temperature=None if temperature is None else 0.5 * temperature,
            tau_init=None if tau_init is None else 0.5 * tau_init,
            root=root,
        )
        with np.errstate(over="ignore"):  # g = f - min f itself overflows
            shifted = 2.0 * half.shifted
        return MinSense(
            2.0 * half.value,
            half.q,
            2.0 * half.tau,
            half.kl,
            2.0 * half.expectation,
            shifted,
            4.0 * half.variance,
            radius,
        )
    g = np.where(support, f - m, 0.0)
    nominal = (
        (radius is None and temperature is None)
        or (temperature is not None and math.isinf(temperature))
        or (radius is not None and radius == 0)
    )
    if (
        nominal
        or not np.any(g > 0)
        or (radius is not None and values_within_rounding(m, spread))
    ):
        mean = dot(p, g)
        return MinSense(m + mean, p.copy(), math.inf, 0.0, m + mean, g, math.nan)
    scale = float(g.max())
    if not 1e-100 <= scale <= 1e100:
        # V is positively homogeneous: V_delta(s g) = s V_delta(g) and
        # V_tau(s g) = s V_{tau / s}(g); solving on g / s keeps every square and
        # exponent finite (|f| ~ 1e154 overflowed Var(g) to inf)
        res = worst_case_min(
            g / scale,
            p,
            radius=radius,
            # tau / scale can underflow to 0 (tau = 1e-300, |f| ~ 1e150: NaN
            # weights); the smallest positive tau already puts all the mass
            # on the minimisers and changes the value by < 1e-323 * scale
            temperature=None
            if temperature is None
            else max(temperature / scale, 5e-324),
            tau_init=None if tau_init is None else tau_init / scale,
            root=root,
        )
        return MinSense(
            m + scale * res.value,
            res.q,
            scale * res.tau if temperature is None else temperature,
            res.kl,
            m + scale * res.expectation,
            g,
            scale * scale * res.variance,
            radius,
        )
    logp = _log_weights(p)
    if temperature is not None:
        tau = float(temperature)
        q, L = exponential_tilt(g, logp, tau)
        kl = tilt_kl(g, logp, q, tau)
        eg = dot(q, g)
        if scale < 2.0**-60 * tau:
            # -tau L = E_p g (1 + O(scale / tau)); L itself is subnormal when
            # tau > 1e300 scale and lost digits (the value exceeded the mean)
            shift = dot(p, g)
        else:
            shift = -tau * L
        return MinSense(m + shift, q, tau, kl, m + eg, g, dot(q, (g - eg) ** 2))
    at_min, threshold = _threshold(g, p)
    tau = None
    if radius < threshold:
        tau = temperature_from_radius(g, p, radius, tau_init=tau_init, root=root)
    if (
        tau is None
    ):  # beyond (or within rounding of) the threshold: all on the minimisers
        if radius < threshold:
            # no representable tilt separates the minimisers from values within
            # rounding of them (g ~ 1e-309 next to 0): those count as minimisers
            near = (g <= 4 * np.finfo(float).eps * scale) & (p > 0)
            rest = float(p[~near].sum())
            if rest < 1 and -math.log1p(-rest) <= radius:
                at_min, threshold = near, -math.log1p(-rest)
        q = np.where(at_min, p, 0.0)
        q /= q.sum()
        eq = dot(q, g)
        return MinSense(m + eq, q, 0.0, threshold, m + eq, g, 0.0, radius)
    q, _ = exponential_tilt(g, logp, tau)
    kl = tilt_kl(g, logp, q, tau)
    eg = dot(q, g)
    var = dot(q, (g - eg) ** 2)
    return MinSense(m + eg, q, tau, kl, m + eg, g, var, radius)


def worst_case_curvature(side: MinSense):
    """Hessian of the min-sense worst case ``V(f)`` in ``f``: ``-curv diag(q) + sum c u u^T``.

    Penalised form: ``V = -tau log sum p exp(-f / tau)``, so
    ``Hess V = -(diag(q) - q q^T) / tau``. Radius form: ``V`` is the envelope over
    ``tau`` of the penalised dual; differentiating ``KL(tau(f)) = delta``
    implicitly adds ``v v^T / (tau Var_q(g))`` with ``v = q (g - E_q g)``.
    Returns ``(curv, [(c, u), ...])``; ``(0, [])`` where ``V`` is linear
    (nominal) or not twice differentiable (all mass on the minimisers).

    Examples
    --------
    >>> import numpy as np
    >>> side = worst_case_min(np.array([0.0, 1.0]), np.array([0.5, 0.5]), temperature=2.0)
    >>> curv, terms = worst_case_curvature(side)
    >>> curv, len(terms)
    (0.5, 1)
    """
    tau = side.tau
    if not (0 < tau < math.inf):
        return 0.0, []
    q = side.q
    lowrank = [(1.0 / tau, q)]
    if side.radius is not None and side.variance > 0:
        # radius form: the temperature moves with f
        g = side.shifted
        v = q * (g - dot(q, g))
        lowrank.append((1.0 / (tau * side.variance), v))
    return 1.0 / tau, lowrank


def kl_worst_case(
    values, *, weights=None, radius=None, temperature=None, sense="min"
) -> KLWorstCase:
    """Worst-case expectation of ``values`` over a KL neighbourhood of ``weights``.

    Parameters
    ----------
    values : array-like of shape (n,)
        Finite values ``f_i``.
    weights : array-like of shape (n,), optional
        Nominal weights ``rho_n`` (non-negative, positive sum; normalised here).
        Uniform by default. Points with zero weight get zero worst-case weight.
    radius : float, optional
        KL radius ``delta >= 0`` (constrained form). ``0`` gives the nominal
        weights; ``delta >= -log rho_n(argmin f)`` puts all mass on the minimisers.
    temperature : float, optional
        KL penalty ``tau > 0`` (penalised form). ``inf`` gives the nominal weights.
        Give at most one of ``radius`` and ``temperature``; with neither the
        nominal mean is returned.
    sense : {"min", "max"}
        ``"min"``: the worst case of a reward (lower expectation); ``"max"``: the
        worst case of a cost (upper expectation).

    Returns
    -------
    KLWorstCase
        ``value``, ``weights`` (the worst-case distribution), ``temperature``,
        ``radius``, ``kl``, ``expectation``, ``sense``.

    Notes
    -----
    The radius form finds ``tau`` with ``KL(rho_tau || rho_n) = delta`` by
    :func:`scipy.optimize.brentq` in ``log tau``, on a bracket grown outward from
    the small-shift guess ``sqrt(Var(f) / (2 delta))``; ``KL`` is strictly
    decreasing in ``tau`` when ``f`` is not constant on the support.

    Examples
    --------
    >>> import numpy as np
    >>> from racer_dro import kl_worst_case
    >>> f = np.array([1.0, 2.0, 3.0, 4.0])
    >>> low = kl_worst_case(f, radius=0.05)
    >>> high = kl_worst_case(f, radius=0.05, sense="max")
    >>> bool(low.value < f.mean() < high.value)
    True
    >>> round(kl_worst_case(f, temperature=1e-6).value, 4)  # tiny temperature: near the minimum
    1.0
    """
    f = check_values(values, "values", ndim=1)
    p = check_weights(weights, f.shape[0], "weights")
    radius, temperature = check_side(radius, temperature, "radius", "temperature")
    sense = check_sense(sense)
    sign = 1.0 if sense == "min" else -1.0
    res = worst_case_min(sign * f, p, radius=radius, temperature=temperature)
    return KLWorstCase(
        value=sign * res.value,
        weights=res.q,
        temperature=res.tau,
        radius=radius,
        kl=res.kl,
        expectation=sign * res.expectation,
        sense=sense,
    )
