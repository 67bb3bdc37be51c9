"""Scale alignment of GS outcomes to the PB scale (Meta-Router paper, Remark 1).

GS outcomes ``r`` are rescaled to ``c r`` with ``c > 0`` chosen so that the
rescaled values are on the PB outcomes' scale:

- ``"max"``: ``max |c r| = max |y|``;
- ``"variance"``: ``Var(c r) = Var(y)`` (weighted variances when weights given);
- ``"wasserstein"``: ``c`` minimises the 1-D 2-Wasserstein distance between the
  empirical distributions of ``c r`` and ``y``. With quantile functions ``Q_r``,
  ``Q_y``, ``W_2^2(c) = int_0^1 (c Q_r(u) - Q_y(u))^2 du`` is a quadratic in ``c``
  (``c > 0`` keeps the order of ``r``), minimised at
  ``c = int Q_r Q_y du / int Q_r^2 du``; the empirical quantile functions are
  step functions, so both integrals are exact finite sums over the merged steps.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["SCALE_METHODS", "scale_constant"]

SCALE_METHODS = (None, "max", "variance", "wasserstein")


_UNIT_RANGE = 2.0**100  # outcomes beyond 2^(+-100) are rescaled before any fit


def outcome_unit(values) -> float:
    """A power of two near ``max |values|`` when that is extreme, else 1.

    Outcomes of size 1e160 overflow the squares of every least-squares fit
    (boosting, forests, variances) and give constant predictions. Dividing by
    a power of two is exact in floating point and leaves these fits
    equivariant, so in-range data is left untouched and extreme data is
    fitted in range and scaled back.

    Examples
    --------
    >>> from metarouter._scaling import outcome_unit
    >>> outcome_unit([1.0, -3.0]), outcome_unit([3e160]) == 2.0**533
    (1.0, True)
    """
    top = float(np.max(np.abs(values))) if np.size(values) else 0.0
    if top == 0.0 or not np.isfinite(top) or 1 / _UNIT_RANGE <= top <= _UNIT_RANGE:
        return 1.0
    return float(2.0 ** np.round(np.log2(top)))


def _quantile_steps(values: np.ndarray, weights: np.ndarray):
    order = np.argsort(values, kind="stable")
    v = values[order]
    cw = np.cumsum(weights[order])
    return v, cw / cw[-1]


def wasserstein_scale(r, y, w_r=None, w_y=None) -> float:
    """``argmin_c W_2(c r, y)`` for weighted empirical distributions."""
    r = np.asarray(r, dtype=float)
    y = np.asarray(y, dtype=float)
    w_r = np.ones_like(r) if w_r is None else np.asarray(w_r, dtype=float)
    w_y = np.ones_like(y) if w_y is None else np.asarray(w_y, dtype=float)
    vr, ur = _quantile_steps(r, w_r)
    vy, uy = _quantile_steps(y, w_y)
    knots = np.unique(np.concatenate([[0.0], ur, uy]))
    knots = knots[(knots >= 0) & (knots <= 1)]
    lengths = np.diff(knots)
    mids = 0.5 * (knots[1:] + knots[:-1])
    qr = vr[np.minimum(np.searchsorted(ur, mids, side="left"), vr.size - 1)]
    qy = vy[np.minimum(np.searchsorted(uy, mids, side="left"), vy.size - 1)]
    denom = np.sum(lengths * qr * qr)
    if denom <= 0:
        return np.nan
    return float(np.sum(lengths * qr * qy) / denom)


def _weighted_var(v: np.ndarray, w: np.ndarray) -> float:
    mean = np.average(v, weights=w)
    return float(np.average((v - mean) ** 2, weights=w))


def scale_constant(method, r, y, w_r=None, w_y=None) -> float:
    """The constant ``c`` putting GS outcomes ``r`` on the PB scale of ``y``.

    Returns 1.0 for ``method=None`` and when either sample is degenerate (with a
    warning: the scales cannot be compared then).
    """
    if method is None:
        return 1.0
    if method not in SCALE_METHODS:
        raise ValueError(
            f"`scale` must be one of None, 'max', 'variance', 'wasserstein', got {method!r}."
        )
    r = np.asarray(r, dtype=float)
    y = np.asarray(y, dtype=float)
    w_r = np.ones_like(r) if w_r is None else np.asarray(w_r, dtype=float)
    w_y = np.ones_like(y) if w_y is None else np.asarray(w_y, dtype=float)
    if method == "max":
        num = np.max(np.abs(y[w_y > 0]))
        den = np.max(np.abs(r[w_r > 0]))
        c = num / den if den > 0 else np.nan
    elif method == "variance":
        den = _weighted_var(r, w_r)
        c = np.sqrt(_weighted_var(y, w_y) / den) if den > 0 else np.nan
    else:
        c = wasserstein_scale(r, y, w_r, w_y)
    if not np.isfinite(c) or c <= 0:
        warnings.warn(
            f"`scale={method!r}` is undefined here (a constant or degenerate outcome "
            "sample); using scale 1.",
            UserWarning,
            stacklevel=3,
        )
        return 1.0
    return float(c)
