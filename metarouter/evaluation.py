"""Routing evaluation of the Meta-Router paper, section 4: TE, PMUR and efficiency gain.

A router's decision rule is ``m_hat(q) - w > 0`` (unit cost); sweeping ``w`` is
sweeping a threshold over the scores ``m_hat(q)``. Sending the ``k`` highest
scoring of ``n`` test queries to the premium model gives the primary-model usage
ratio ``PMUR = k / n`` and the total efficiency ``TE = sum_i 1{premium_i} r_i``
with ``r_i`` the realised GS quality gain. When scores tie at the cut, no
threshold sends exactly ``k`` queries; TE is then the expectation under random
tie-breaking (the tied group contributes its share ``(k - k_above) / n_tied`` of
its ``r`` sum). Constant scores therefore score exactly like random routing.

Random routing at a matched PMUR (``random="expected"``, the default) is the
analytic expectation ``k / n * sum_i r_i`` of the TE of ``k`` queries drawn
uniformly at random, for each Monte Carlo round's test set. The paper reports
the median over rounds of a random router's realised TE; the expectation is that
quantity with the coin-flip noise integrated out (its median over rounds is the
median over test sets). ``random="simulate"`` draws one uniformly random subset
of ``k`` queries per round instead.

``EG = (median TE of the router - median TE of random) / n_test`` at each PMUR,
medians across rounds.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

__all__ = ["efficiency_curve", "efficiency_gain"]

DEFAULT_PMUR = np.round(np.linspace(0.0, 1.0, 21), 10)


def _as_rounds(values, name: str) -> list[np.ndarray]:
    """A 1-D array (one round), a 2-D array (rounds x queries) or a list of arrays."""
    if not isinstance(values, (list, tuple)) and np.ndim(values) == 2:
        rounds = list(np.asarray(values))  # an ndarray or a DataFrame
    elif (
        isinstance(values, (list, tuple))
        and len(values) > 0
        and np.ndim(values[0]) == 1
    ):
        rounds = [np.asarray(v) for v in values]
    else:
        rounds = [np.asarray(values)]
    out = []
    for j, v in enumerate(rounds):
        try:
            arr = np.asarray(v, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"`{name}` must be numeric.") from exc
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"`{name}` round {j} must be a non-empty 1-D array.")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"`{name}` round {j} contains NaN or infinite values.")
        out.append(arr)
    return out


def _check_pmur(pmur) -> np.ndarray:
    levels = np.atleast_1d(np.asarray(pmur, dtype=float))
    if levels.ndim != 1 or levels.size == 0:
        raise ValueError("`pmur` must be a non-empty 1-D array of levels in [0, 1].")
    if not np.all(np.isfinite(levels)) or np.any((levels < 0) | (levels > 1)):
        raise ValueError("`pmur` levels must lie in [0, 1].")
    return levels


def _pair_rounds(scores, r):
    s_rounds = _as_rounds(scores, "scores")
    r_rounds = _as_rounds(r, "r")
    if len(s_rounds) != len(r_rounds):
        raise ValueError(
            f"`scores` has {len(s_rounds)} rounds but `r` has {len(r_rounds)}."
        )
    for j, (s, rr) in enumerate(zip(s_rounds, r_rounds)):
        if s.shape != rr.shape:
            raise ValueError(
                f"`scores` and `r` differ in length in round {j}: {s.size} vs {rr.size}."
            )
    return s_rounds, r_rounds


def _te_top_k(scores: np.ndarray, r: np.ndarray, ks: np.ndarray):
    """Tie-averaged TE of routing the top ``k`` scores, and the thresholds."""
    n = scores.size
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    csum = np.r_[0.0, np.cumsum(r[order])]
    starts = np.r_[0, np.flatnonzero(np.diff(s) != 0) + 1]
    ends = np.r_[starts[1:], n]
    te = np.zeros(ks.size)
    pos = ks > 0
    g = np.searchsorted(starts, ks[pos] - 1, side="right") - 1
    start, end = starts[g], ends[g]
    frac = (ks[pos] - start) / (end - start)
    te[pos] = csum[start] + frac * (csum[end] - csum[start])
    thr = np.empty(ks.size)
    for i, k in enumerate(ks):
        if k == 0:
            thr[i] = s[0]
        elif k == n:
            thr[i] = -np.inf
        else:
            thr[i] = 0.5 * (s[k - 1] + s[k])
    return te, thr


def efficiency_curve(scores, r, *, pmur=None) -> pd.DataFrame:
    """Total efficiency against PMUR as the routing threshold sweeps the scores.

    Parameters
    ----------
    scores : array-like of shape (n_test,) or (n_rounds, n_test), or list of arrays
        Router scores (e.g. ``decision_function`` or ``predict``); higher means
        premium first.
    r : array-like of the same shape
        Realised GS quality gains of the test queries.
    pmur : array-like of levels in [0, 1], default=None
        PMUR levels to report (``k = round(level * n_test)`` queries routed to
        premium); every ``k = 0..n_test`` when None.

    Returns
    -------
    curve : DataFrame
        Columns ``round``, ``pmur`` (the requested level, or ``k / n_test``),
        ``n_premium`` (``k``), ``te`` and ``threshold`` (routing
        ``scores > threshold`` sends the top ``k`` when scores do not tie).

    Examples
    --------
    >>> from metarouter import efficiency_curve
    >>> efficiency_curve([0.9, 0.1, 0.5], [1.0, -1.0, 0.5])[["pmur", "te"]].round(3)
        pmur   te
    0  0.000  0.0
    1  0.333  1.0
    2  0.667  1.5
    3  1.000  0.5
    """
    s_rounds, r_rounds = _pair_rounds(scores, r)
    frames = []
    for j, (s, rr) in enumerate(zip(s_rounds, r_rounds)):
        n = s.size
        if pmur is None:
            ks = np.arange(n + 1)
            levels = ks / n
        else:
            levels = _check_pmur(pmur)
            ks = np.rint(levels * n).astype(np.int64)
        te, thr = _te_top_k(s, rr, ks)
        frames.append(
            pd.DataFrame(
                {
                    "round": j,
                    "pmur": levels,
                    "n_premium": ks,
                    "te": te,
                    "threshold": thr,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def efficiency_gain(
    scores, r, *, pmur=None, random="expected", random_state=None
) -> pd.DataFrame:
    """Efficiency gain over random routing at matched PMUR (medians over rounds).

    Parameters
    ----------
    scores : array-like of shape (n_test,) or (n_rounds, n_test), list of arrays, or mapping
        Router scores per Monte Carlo round; a mapping ``{router_name: scores}``
        evaluates several routers on the same ``r`` (adds a ``router`` column).
    r : array-like of shape (n_test,) or (n_rounds, n_test), or list of arrays
        Realised GS quality gains per round; every round has the same ``n_test``.
    pmur : array-like of levels in [0, 1], default=None
        PMUR levels; ``0, 0.05, ..., 1`` when None.
    random : {"expected", "simulate"}, default="expected"
        Random router's TE at ``k`` premium queries: the analytic expectation
        ``k / n_test * sum(r)`` per round, or one uniformly random subset of
        size ``k`` per round (seeded by ``random_state``; with a mapping, the
        same subsets for every router).
    random_state : int, RandomState or None, default=None
        Only used with ``random="simulate"``.

    Returns
    -------
    gain : DataFrame
        Columns ``pmur``, ``n_premium``, ``te_router`` (median over rounds),
        ``te_random`` (median over rounds), ``eg`` and ``n_rounds``.

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter import efficiency_gain
    >>> r = np.array([1.0, -1.0, 0.0, 2.0])
    >>> efficiency_gain(r, r, pmur=[0.5])[["te_router", "te_random", "eg"]]
       te_router  te_random    eg
    0        3.0        1.0  0.5
    """
    if random not in ("expected", "simulate"):
        raise ValueError(f"`random` must be 'expected' or 'simulate', got {random!r}.")
    levels = DEFAULT_PMUR if pmur is None else _check_pmur(pmur)
    if isinstance(scores, Mapping):
        if not scores:
            raise ValueError("`scores` is an empty mapping: name at least one router.")
        # one random router for every router (as an integer seed gives): a
        # RandomState or None drew another random subset for each router
        rng = check_random_state(random_state)
        frames = []
        for j, (name, sc) in enumerate(scores.items()):
            last = j == len(scores) - 1  # advances the caller's state, once
            frame = efficiency_gain(
                sc,
                r,
                pmur=levels,
                random=random,
                random_state=rng if last else copy.deepcopy(rng),
            )
            frame.insert(0, "router", name)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)
    s_rounds, r_rounds = _pair_rounds(scores, r)
    n_test = s_rounds[0].size
    if any(s.size != n_test for s in s_rounds):
        raise ValueError("every round must have the same number of test queries.")
    ks = np.rint(levels * n_test).astype(np.int64)
    rng = check_random_state(random_state)
    te_router = np.empty((len(s_rounds), ks.size))
    te_random = np.empty_like(te_router)
    for j, (s, rr) in enumerate(zip(s_rounds, r_rounds)):
        te_router[j], _ = _te_top_k(s, rr, ks)
        if random == "expected":
            te_random[j] = ks / n_test * rr.sum()
        else:
            csum = np.r_[0.0, np.cumsum(rr[rng.permutation(n_test)])]
            te_random[j] = csum[ks]
    med_router = np.median(te_router, axis=0)
    med_random = np.median(te_random, axis=0)
    return pd.DataFrame(
        {
            "pmur": levels,
            "n_premium": ks,
            "te_router": med_router,
            "te_random": med_random,
            "eg": (med_router - med_random) / n_test,
            "n_rounds": len(s_rounds),
        }
    )
