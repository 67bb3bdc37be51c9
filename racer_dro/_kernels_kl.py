"""Compiled (numba) KL worst case of :mod:`racer_dro.kl`, fused passes over the data.

:func:`worst_case_min` is :func:`racer_dro.kl.worst_case_min` (the reference, tested
to agree to 1e-12) for positive weights, with the radius root's safeguarded Newton
(:func:`racer_dro.kl._radius_temperature_newton`) done in ONE pass over the data
per iteration: the exponential tilt ``q ∝ p exp(-g / tau)`` (Theorem 3.1 of RACER),
its ``KL(q || p)`` (:func:`racer_dro.kl.tilt_kl`: ``-E_q[h] - log E_p exp(-h)``,
``h = (g - c) / tau``) and ``Var_q(g)`` (the root's derivative) accumulated
together, centred at the previous iterate's ``c ≈ E_q g`` and with
``log E_p exp(-h) = log1p(E_p expm1(-h))`` (the same formula, evaluated without
the cancellation of ``log`` near 1). Edge cases (nominal, constant values, values
beyond ``1e+-100``, radii below 1e-10 or near the all-on-the-minimisers threshold,
a root that does not converge) are left to the numpy reference.
"""

from __future__ import annotations

import math

import numpy as np

from racer_dro import kl

try:  # numba is optional: the numpy path is the reference
    import numba
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None

__all__ = ["available", "worst_case_min"]

_EXPM1_MAX = 30.0  # centred exponents up to this need no shift (no overflow)
_ACCURATE_BELOW = 1e-4  # radii below it: KL by log1p / expm1 (KL << 1)


def available() -> bool:
    """Whether the compiled kernel can be used."""
    return numba is not None


if numba is not None:

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _scan(f, p, g):  # pragma: no cover
        """``m = min f``, ``max f - m``, ``p(f == m)`` and ``max log p``; writes ``g = f - m``."""
        n = f.shape[0]
        m = f[0]
        top = f[0]
        pmin = 0.0
        pmax = 0.0
        for i in range(n):
            v = f[i]
            if v < m:
                m = v
                pmin = p[i]
            elif v == m:
                pmin += p[i]
            top = max(top, v)
            pmax = max(pmax, p[i])
        for i in range(n):
            g[i] = f[i] - m
        return m, top - m, pmin, pmax

    @numba.njit(cache=True, fastmath=False, error_model="numpy", inline="always")
    def _tilt_pass(g, p, logp, tau, c0, e, accurate):  # pragma: no cover
        """One pass: ``e ∝ p exp(-(g - c0) / tau)`` and its moments.

        Returns ``(log Z, z, S1 / z, S2 / z)`` with ``Z = E_p exp(-(g - c0) / tau)``,
        ``z = sum e`` (``e / z = q``), ``S1 = sum e (g - c0)``,
        ``S2 = sum e (g - c0)^2``: so ``E_q g = c0 + S1 / z``,
        ``Var_q g = S2 / z - (S1 / z)^2`` and ``KL = -E_q[h] - log Z`` with
        ``h = (g - c0) / tau``. ``accurate`` (small radii, where ``KL`` is far
        below one): ``log Z = log1p(sum p expm1(-h))``; else one ``exp`` per
        point, shifted by the largest exponent ``c0 / tau`` when it exceeds 30.
        """
        n = g.shape[0]
        top = c0 / tau  # the largest exponent: min g = 0
        z = 0.0
        s1 = 0.0
        s2 = 0.0
        if top <= _EXPM1_MAX and accurate:
            zm1 = 0.0
            for i in range(n):
                d = g[i] - c0
                em = math.expm1(-d / tau)
                zm1 += p[i] * em
                w = p[i] + p[i] * em
                e[i] = w
                s1 += w * d
                s2 += w * d * d
            z = 1.0 + zm1
            log_z = math.log1p(zm1)
        else:
            shift = top if top > _EXPM1_MAX else 0.0
            for i in range(n):
                d = g[i] - c0
                w = math.exp(logp[i] - d / tau - shift)
                e[i] = w
                z += w
                s1 += w * d
                s2 += w * d * d
            log_z = shift + math.log(z)
        return log_z, z, s1 / z, s2 / z

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _tilt(g, p, logp, tau, c0, e, accurate):  # pragma: no cover
        """The tilt at ``tau`` (two passes: centre, then the centred tilt); normalises ``e`` to ``q``.

        Returns ``(L, E_q g, Var_q g, KL)`` with ``L = log E_p exp(-g / tau)``.
        """
        log_z, z, d1, d2 = _tilt_pass(g, p, logp, tau, c0, e, accurate)
        c = c0 + d1
        log_z, z, d1, d2 = _tilt_pass(g, p, logp, tau, c, e, accurate)
        inv = 1.0 / z
        for i in range(g.shape[0]):
            e[i] *= inv
        kl = max(-d1 / tau - log_z, 0.0)
        return log_z - c / tau, c + d1, d2 - d1 * d1, kl

    _root_step = numba.njit(
        cache=True, fastmath=False, error_model="numpy", inline="always"
    )(kl.radius_root_step)

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def _radius_root(
        g, p, logp, radius, tau_init, c_init, e, accurate
    ):  # pragma: no cover
        """Safeguarded Newton on ``log KL`` versus ``log tau`` (as the numpy reference).

        Returns ``(tau, E_q g, Var_q g, KL, ok)``, ``e`` holding ``q``; ``ok`` is
        False when the iteration did not converge (the caller falls back).
        """
        n = g.shape[0]
        log_delta = math.log(radius)
        s = math.log(tau_init)
        lo = -math.inf
        hi = math.inf
        c0 = c_init
        for _ in range(100):
            tau = math.exp(s)
            log_z, z, d1, d2 = _tilt_pass(g, p, logp, tau, c0, e, accurate)
            kl = -d1 / tau - log_z
            c = c0 + d1
            var_q = d2 - d1 * d1
            c0 = c
            done = False
            new = s
            if kl <= 0:
                hi = min(hi, s)
                new = s - 2.0 if lo == -math.inf else 0.5 * (lo + s)
            else:
                phi = math.log(kl) - log_delta
                if abs(phi) < 1e-13:
                    done = True
                else:
                    new, lo, hi, done = _root_step(s, phi, var_q, tau, kl, lo, hi)
            if done:
                if new != s:  # the reference returns exp(new): evaluate there
                    tau = math.exp(new)
                    log_z, z, d1, d2 = _tilt_pass(g, p, logp, tau, c0, e, accurate)
                    kl = max(-d1 / tau - log_z, 0.0)
                    c = c0 + d1
                    var_q = d2 - d1 * d1
                inv = 1.0 / z
                for i in range(n):
                    e[i] *= inv
                return tau, c, var_q, kl, True
            s = new
        return 1.0, 0.0, 0.0, 0.0, False


#: A temperature above this multiple of the values' spread is left to the reference.
_NEAR_NOMINAL = 1e3


def worst_case_min(
    f, p, logp, *, radius=None, temperature=None, tau_init=None, centre=None, out=None
):
    """Compiled :func:`racer_dro.kl.worst_case_min` for weights ``p > 0`` (``logp = log p``).

    ``root="newton"`` semantics (``tau_init`` warm-starts the radius root);
    ``centre`` is a guess of ``E_q g`` (``g = f - min f``) to centre the first
    pass; ``out``: two arrays of ``f``'s shape to hold ``g`` and ``q`` (a
    discarded result's, reused). Falls back on the numpy reference for the edge cases it does not treat.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([0.5, 0.5])
    >>> res = worst_case_min(np.array([0.0, 1.0]), p, np.log(p), temperature=1.0)
    >>> round(res.value, 4), res.q.round(4).tolist()
    (0.3799, [0.7311, 0.2689])
    >>> round(worst_case_min(np.array([0.0, 1.0, 2.0]), np.full(3, 1 / 3), np.log(np.full(3, 1 / 3)),
    ...                      radius=0.1).kl, 12)
    0.1
    """

    def reference():
        return kl.worst_case_min(
            f,
            p,
            radius=radius,
            temperature=temperature,
            tau_init=tau_init,
            root="newton",
        )

    nominal = (
        (radius is None and temperature is None)
        or (temperature is not None and math.isinf(temperature))
        or (radius is not None and radius == 0)
    )
    if nominal or numba is None or f.shape[0] == 0:
        return reference()
    if out is not None and out[0].shape == f.shape and out[1].shape == f.shape:
        g, q = out
    else:
        g, q = np.empty_like(f), np.empty_like(f)
    m, scale, pmin, pmax = _scan(f, p, g)
    if not 1e-100 <= scale <= 1e100 or pmax > 1e300 * pmin:
        return reference()
    if radius is not None and kl.values_within_rounding(m, scale):
        return reference()  # constant to their rounding: the reference's case
    c0 = 0.0 if centre is None or not math.isfinite(centre) else float(centre)
    if temperature is not None:
        tau = float(temperature)
        if tau > _NEAR_NOMINAL * scale:
            # log Z ~ Var / tau^2 carries absolute rounding ~1e-16, which the value
            # -tau log Z multiplies by tau (1e-4 off at tau = 1e12 times the
            # spread): the reference computes log Z by log1p for a weak tilt
            return reference()
        L, eg, var, kl_val = _tilt(g, p, logp, tau, c0, q, False)
        return kl.MinSense(m - tau * L, q, tau, kl_val, m + eg, g, var)
    # beyond (or near) the threshold -log p(argmin), or a radius at KL's rounding
    # floor: the reference's special cases
    if radius < 1e-10 or radius >= 0.5 * -math.log(min(pmin, 1.0)):
        return reference()
    if tau_init is None or not (0 < tau_init < math.inf):
        tau_init = kl.small_shift_temperature(g, p, radius)
    tau, eg, var, kl_val, ok = _radius_root(
        g, p, logp, radius, tau_init, c0, q, radius < _ACCURATE_BELOW
    )
    if not ok:
        return reference()
    return kl.MinSense(m + eg, q, tau, kl_val, m + eg, g, var, radius)
