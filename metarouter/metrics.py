"""The field's routing metrics: RouteLLM's AUC, APGR and CPT, RouterBench's AIQ.

Each is computed exactly as in the code that defines it, so that results can be
set beside published ones:

- RouteLLM (``routellm/evals/evaluate.py``): a router swept over its threshold
  gives points ``(strong share, accuracy)``; ``AUC`` is the trapezoid area under
  accuracy against the share of strong-model calls (``np.trapz`` on the points
  sorted by share); ``APGR = (AUC - weak_auc) / (strong_auc - weak_auc)`` with
  ``weak_auc`` / ``strong_auc`` the trapezoid areas of the constant weak / strong
  accuracy over the same shares; ``CPT(x)`` is the strong share at which the
  accuracy reaches ``weak + x (strong - weak)``, by linear interpolation
  (RouteLLM reports it in percent, here it is a share in [0, 1]).
- RouterBench (``evaluation/AIQ.py``): the non-decreasing convex hull of a
  router's (cost, quality) points, extended flat to the largest cost; ``AIQ``
  is the trapezoid area under it divided by that cost.

Beside them: the gain over random mixing of single models at equal cost (the
hull of the single models' points is what mixing them at random can reach), and
for binary routing the efficiency gain over random routing at matched premium
share (:func:`metarouter.efficiency_gain`, reused here).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from metarouter._validation import check_vector
from metarouter.evaluation import efficiency_curve, efficiency_gain

__all__ = [
    "aiq",
    "aiq_scores",
    "apgr",
    "binary_field_metrics",
    "cost_quality_points",
    "cpt",
    "gain_over_mixing",
    "mixing_quality",
    "nondecreasing_convex_hull",
    "routellm_auc",
    "routellm_curve",
]


def _curve(x, y, x_name: str, y_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Two finite 1-D arrays of one length, at least two points, sorted by ``x``."""
    x = check_vector(x, x_name)
    y = check_vector(y, y_name)
    if x.size != y.size:
        raise ValueError(
            f"`{x_name}` has {x.size} points but `{y_name}` has {y.size}; "
            "they must describe the same points of the curve."
        )
    if x.size < 2:
        raise ValueError(
            f"`{x_name}` and `{y_name}` describe a single point; a curve needs at "
            "least 2 points (sweep the router over more trade-off values)."
        )
    order = np.argsort(x, kind="stable")
    return x[order], y[order]


def _check_shares(share: np.ndarray, name: str) -> None:
    if np.any((share < 0) | (share > 1)):
        raise ValueError(f"`{name}` must lie in [0, 1] (shares of strong calls).")
    if share[-1] == share[0]:
        raise ValueError(
            f"`{name}` has a single distinct value; the area under the curve "
            "needs at least 2 distinct shares."
        )


def _check_scalar(value, name: str) -> float:
    if isinstance(value, bool) or not np.isscalar(value):
        raise TypeError(f"`{name}` must be a real number, got {value!r}.")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value!r}.")
    return value


def routellm_auc(strong_share, accuracy) -> float:
    """RouteLLM's AUC: trapezoid area of accuracy against the strong-call share.

    Parameters
    ----------
    strong_share : array-like of shape (n_points,)
        Share of queries sent to the strong model at each point of the sweep,
        in [0, 1] (RouteLLM's ``strong_percentage / 100``).
    accuracy : array-like of shape (n_points,)
        Mean quality of the routed answers at each point.

    Returns
    -------
    auc : float

    References
    ----------
    Ong, Almahairi, Wu, et al. "RouteLLM: Learning to Route LLMs with
    Preference Data", 2024 (``routellm/evals/evaluate.py``, ``auc_metric``).

    Examples
    --------
    >>> from metarouter.metrics import routellm_auc
    >>> routellm_auc([0.0, 0.5, 1.0], [0.5, 0.8, 0.9])
    0.75
    """
    share, acc = _curve(strong_share, accuracy, "strong_share", "accuracy")
    _check_shares(share, "strong_share")
    return float(np.trapezoid(acc, share))


def _gap_aucs(share, weak_accuracy, strong_accuracy):
    weak = _check_scalar(weak_accuracy, "weak_accuracy")
    strong = _check_scalar(strong_accuracy, "strong_accuracy")
    if strong == weak:
        raise ValueError(
            "`strong_accuracy` equals `weak_accuracy`: there is no gap to recover."
        )
    width = share[-1] - share[0]  # trapezoid of a constant over the shares
    return weak, strong, weak * width, strong * width


def apgr(strong_share, accuracy, *, weak_accuracy, strong_accuracy) -> float:
    """RouteLLM's average performance gap recovered, ``(AUC - weak) / (strong - weak)``.

    ``weak_auc`` and ``strong_auc`` are the trapezoid areas of the constant
    weak- and strong-model accuracies over the same shares as the router's
    points (as in RouteLLM's ``apgr_metric``).

    Parameters
    ----------
    strong_share, accuracy : array-like of shape (n_points,)
        The router's sweep (see :func:`routellm_auc`).
    weak_accuracy, strong_accuracy : float
        Accuracy of the weak (all queries) and of the strong model.

    Returns
    -------
    apgr : float

    References
    ----------
    Ong, Almahairi, Wu, et al. "RouteLLM: Learning to Route LLMs with
    Preference Data", 2024.

    Examples
    --------
    >>> from metarouter.metrics import apgr
    >>> apgr([0.0, 0.5, 1.0], [0.5, 0.8, 0.9], weak_accuracy=0.5, strong_accuracy=0.9)
    0.625
    """
    share, _ = _curve(strong_share, accuracy, "strong_share", "accuracy")
    _check_shares(share, "strong_share")
    auc = routellm_auc(strong_share, accuracy)
    _, _, weak_auc, strong_auc = _gap_aucs(share, weak_accuracy, strong_accuracy)
    return float((auc - weak_auc) / (strong_auc - weak_auc))


def cpt(strong_share, accuracy, *, weak_accuracy, strong_accuracy, x=0.5) -> float:
    """RouteLLM's call-performance threshold: strong share reaching ``x`` of the gap.

    The target accuracy is ``weak + x (strong - weak)``; the share is found by
    linear interpolation of the points sorted by share. RouteLLM calls
    ``np.interp(target, accuracy, share)``, which is defined for accuracies that
    increase along the sweep; this function returns the same number there and,
    for any curve, the first crossing of the target (the smallest share whose
    interpolated accuracy reaches it). A target below every accuracy gives the
    smallest share and one above every accuracy the largest share, as
    ``np.interp`` clamps.

    Parameters
    ----------
    strong_share, accuracy : array-like of shape (n_points,)
        The router's sweep (see :func:`routellm_auc`).
    weak_accuracy, strong_accuracy : float
        Accuracy of the weak and of the strong model.
    x : float in [0, 1], default=0.5
        Share of the weak-to-strong gap to recover (RouteLLM reports 0.2, 0.5
        and 0.8).

    Returns
    -------
    share : float
        Strong-call share in [0, 1] (RouteLLM prints it times 100).

    References
    ----------
    Ong, Almahairi, Wu, et al. "RouteLLM: Learning to Route LLMs with
    Preference Data", 2024 (``pct_call_metric``).

    Examples
    --------
    >>> from metarouter.metrics import cpt
    >>> share = cpt([0.0, 0.5, 1.0], [0.5, 0.8, 0.9], weak_accuracy=0.5,
    ...             strong_accuracy=0.9, x=0.5)
    >>> round(share, 4)
    0.3333
    """
    share, acc = _curve(strong_share, accuracy, "strong_share", "accuracy")
    _check_shares(share, "strong_share")
    x = _check_scalar(x, "x")
    if not 0 <= x <= 1:
        raise ValueError(f"`x` must lie in [0, 1], got {x!r}.")
    weak, strong, _, _ = _gap_aucs(share, weak_accuracy, strong_accuracy)
    target = weak + x * (strong - weak)
    reached = np.flatnonzero(acc >= target)
    if reached.size == 0:
        return float(share[-1])
    j = int(reached[0])
    if j == 0:
        return float(share[0])
    a0, a1 = acc[j - 1], acc[j]
    return float(share[j - 1] + (target - a0) / (a1 - a0) * (share[j] - share[j - 1]))


def nondecreasing_convex_hull(cost, quality) -> tuple[np.ndarray, np.ndarray]:
    """RouterBench's non-decreasing convex hull of (cost, quality) points.

    Points are sorted by cost (at a repeated cost the best quality counts);
    each is lifted to the upper concave envelope of all points at its cost (the
    best chord between points on either side of it, or its own quality); then a
    point whose value is below the previous point's is dropped. This is
    ``get_non_descreasing_convex_hull_of`` in RouterBench's ``AIQ.py``, which
    returns the same points (it fails on two points; here they are a hull).

    Parameters
    ----------
    cost : array-like of shape (n_points,)
        Cost of each point (total or mean cost per query).
    quality : array-like of shape (n_points,)
        Quality (e.g. mean accuracy) at each point.

    Returns
    -------
    hull_cost, hull_quality : ndarray of shape (n_hull,)
        Hull points in increasing cost.

    References
    ----------
    Hu, Bieker, Li, et al. "RouterBench: A Benchmark for Multi-LLM Routing
    System", 2024.

    Examples
    --------
    >>> from metarouter.metrics import nondecreasing_convex_hull
    >>> c, q = nondecreasing_convex_hull([0, 1, 2, 3], [0.2, 0.3, 0.8, 0.7])
    >>> c.tolist(), q.round(2).tolist()
    ([0.0, 1.0, 2.0], [0.2, 0.5, 0.8])
    """
    x, y = _curve(cost, quality, "cost", "quality")
    xs, inverse = np.unique(x, return_inverse=True)
    ys = np.full(xs.size, -np.inf)
    np.maximum.at(ys, inverse, y)
    # upper hull vertices (monotone chain), then the envelope at every cost
    hull = []
    for i in range(xs.size):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (xs[b] - xs[a]) * (ys[i] - ys[a]) - (ys[b] - ys[a]) * (
                xs[i] - xs[a]
            )
            if cross >= 0:  # b lies on or below the chord a-i
                hull.pop()
            else:
                break
        hull.append(i)
    env = np.interp(xs, xs[hull], ys[hull])
    env = np.maximum(env, ys)  # rounding: a vertex keeps its own value
    # RouterBench's single pass: drop a point below its predecessor
    drop = np.r_[False, env[1:] < env[:-1]]
    return xs[~drop], env[~drop]


def aiq(cost, quality, *, max_cost=None) -> float:
    """RouterBench's AIQ: area under the non-decreasing hull over the largest cost.

    The hull (:func:`nondecreasing_convex_hull`) is extended flat to
    ``max_cost`` and its trapezoid area (from the cheapest point) is divided by
    ``max_cost``. RouterBench takes ``max_cost`` as the largest hull cost among
    the routers compared together (:func:`aiq_scores`); alone, a router's own.

    Parameters
    ----------
    cost, quality : array-like of shape (n_points,)
        The router's points, swept over its trade-off parameter.
    max_cost : float, default=None
        Cost to extend the hull to; the hull's largest cost when None.

    Returns
    -------
    aiq : float

    References
    ----------
    Hu, Bieker, Li, et al. "RouterBench: A Benchmark for Multi-LLM Routing
    System", 2024 (``evaluation/AIQ.py``, ``calc_AIQ``).

    Examples
    --------
    >>> from metarouter.metrics import aiq
    >>> aiq([0, 1, 2, 3], [0.2, 0.3, 0.8, 0.7])
    0.5
    >>> aiq([0, 1, 2, 3], [0.2, 0.3, 0.8, 0.7], max_cost=4)
    0.65
    """
    hc, hq = nondecreasing_convex_hull(cost, quality)
    if max_cost is None:
        top = float(hc[-1])
    else:
        top = _check_scalar(max_cost, "max_cost")
        if top < hc[-1]:
            raise ValueError(
                f"`max_cost` ({top:g}) is below the hull's largest cost "
                f"({hc[-1]:g}); the hull is only extended, never cut."
            )
    if top <= 0:
        raise ValueError(f"the largest cost must be positive to normalise, got {top}.")
    xs = np.r_[hc, top]
    ys = np.r_[hq, hq[-1]]
    return float(np.trapezoid(ys, xs) / top)


def aiq_scores(curves: Mapping) -> dict:
    """AIQ of several routers on one benchmark, with RouterBench's shared cost.

    Every hull is extended to the largest hull cost among ``curves`` (as
    ``calc_AIQ`` does for the routers it is given).

    Parameters
    ----------
    curves : mapping of name -> (cost, quality)
        Each router's swept points.

    Returns
    -------
    scores : dict of name -> float

    Examples
    --------
    >>> from metarouter.metrics import aiq_scores
    >>> aiq_scores({"a": ([0, 1], [0.5, 1.0]), "b": ([0, 2], [0.5, 0.5])})
    {'a': 0.875, 'b': 0.5}
    """
    if not isinstance(curves, Mapping) or not curves:
        raise TypeError("`curves` must be a non-empty mapping name -> (cost, quality).")
    hulls = {}
    for name, pair in curves.items():
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise ValueError(f"`curves[{name!r}]` must be a (cost, quality) pair.")
        hulls[name] = nondecreasing_convex_hull(*pair)
    top = max(float(h[0][-1]) for h in hulls.values())
    return {name: aiq(*curves[name], max_cost=top) for name in curves}


def mixing_quality(model_cost, model_quality, cost) -> np.ndarray:
    """Best quality that random mixing of single models reaches at a given cost.

    Sending each query to model ``k`` with probability ``pi_k`` has expected
    cost ``sum pi_k C_k`` and quality ``sum pi_k Q_k``: mixing reaches the
    convex hull of the models' points, and with a budget (spending less is
    allowed) its best quality is the non-decreasing convex hull
    (:func:`nondecreasing_convex_hull`), flat beyond its largest cost. Below the
    cheapest model no mixing is possible: NaN.

    Parameters
    ----------
    model_cost, model_quality : array-like of shape (n_models,)
        Each single model's mean cost and quality on the same queries.
    cost : float or array-like
        Costs at which to evaluate.

    Returns
    -------
    quality : ndarray of the shape of ``cost``

    Examples
    --------
    >>> from metarouter.metrics import mixing_quality
    >>> mixing_quality([1.0, 3.0], [0.4, 0.8], [0.5, 2.0, 5.0]).tolist()
    [nan, 0.6000000000000001, 0.8]
    """
    hc, hq = nondecreasing_convex_hull(model_cost, model_quality)
    at = np.asarray(cost, dtype=float)
    if not np.all(np.isfinite(at)):
        raise ValueError("`cost` contains NaN or infinite values.")
    out = np.interp(at, hc, hq)
    return np.where(at < hc[0], np.nan, out)


def gain_over_mixing(cost, quality, model_cost, model_quality) -> np.ndarray:
    """Quality gain of routed points over random mixing of single models at equal cost.

    ``quality - mixing_quality(model_cost, model_quality, cost)`` at each point
    (NaN where the point is cheaper than every single model).

    Parameters
    ----------
    cost, quality : array-like of shape (n_points,)
        The router's mean cost and quality at each trade-off value.
    model_cost, model_quality : array-like of shape (n_models,)
        The single models' points on the same queries.

    Returns
    -------
    gain : ndarray of shape (n_points,)

    Examples
    --------
    >>> from metarouter.metrics import gain_over_mixing
    >>> gain_over_mixing([2.0], [0.7], [1.0, 3.0], [0.4, 0.8]).round(3).tolist()
    [0.1]
    """
    c = check_vector(cost, "cost")
    q = check_vector(quality, "quality")
    if c.size != q.size:
        raise ValueError(
            f"`cost` has {c.size} points but `quality` has {q.size}; they must "
            "describe the same points."
        )
    return q - mixing_quality(model_cost, model_quality, c)


def cost_quality_points(choice, quality, cost) -> tuple[np.ndarray, np.ndarray]:
    """Mean cost and mean quality of routing decisions, one point per setting.

    Parameters
    ----------
    choice : array-like of int, shape (n_queries,) or (n_settings, n_queries)
        Index of the model each query is sent to (one row per trade-off value).
    quality : array-like of shape (n_queries, n_models)
        Realised quality of every model on every query.
    cost : array-like of shape (n_queries, n_models) or (n_models,)
        Cost of every model on every query (or per model, the same for all).

    Returns
    -------
    mean_cost, mean_quality : ndarray of shape (n_settings,)

    Examples
    --------
    >>> from metarouter.metrics import cost_quality_points
    >>> q = [[0, 1], [1, 1]]; c = [[1, 3], [1, 3]]
    >>> cost_quality_points([[0, 0], [1, 0]], q, c)
    (array([1., 2.]), array([0.5, 1. ]))
    """
    q = np.asarray(quality, dtype=float)
    c = np.asarray(cost, dtype=float)
    if q.ndim != 2 or q.shape[0] == 0:
        raise ValueError(
            f"`quality` must be 2-D (queries x models) with at least one query, "
            f"got {q.shape}."
        )
    for name, arr in (("quality", q), ("cost", c)):
        if not np.all(np.isfinite(arr)):
            bad = int(np.sum(~np.isfinite(arr)))
            raise ValueError(f"`{name}` contains {bad} NaN or infinite value(s).")
    if c.ndim == 1 and c.shape[0] == q.shape[1]:
        c = np.broadcast_to(c, q.shape)  # one cost per model for every query
    if c.shape != q.shape:
        raise ValueError(
            f"`cost` has shape {c.shape} but `quality` has {q.shape}; both are "
            "queries x models (or `cost` one value per model)."
        )
    ch = np.asarray(choice)
    if ch.ndim == 1:
        ch = ch[None, :]
    if ch.ndim != 2 or ch.shape[0] == 0 or ch.shape[1] != q.shape[0]:
        raise ValueError(
            f"`choice` must have {q.shape[0]} queries per row (as `quality`), got "
            f"shape {np.shape(choice)}."
        )
    if (
        not np.issubdtype(ch.dtype, np.integer)
        or ch.min() < 0
        or ch.max() >= q.shape[1]
    ):
        raise ValueError(f"`choice` must hold model indices in [0, {q.shape[1]}).")
    rows = np.arange(q.shape[0])
    return c[rows, ch].mean(axis=1), q[rows, ch].mean(axis=1)


def routellm_curve(scores, quality_weak, quality_strong, *, shares=None):
    """Accuracy against strong share of a binary router swept over its threshold.

    The ``k`` highest scores go to the strong model (ties averaged, as in
    :func:`metarouter.efficiency_curve`, whose total efficiency this reuses):
    accuracy at share ``k / n`` is ``mean(quality_weak) + TE_k / n``.

    Parameters
    ----------
    scores : array-like of shape (n_queries,)
        Router scores; higher means strong first.
    quality_weak, quality_strong : array-like of shape (n_queries,)
        Realised quality of each model on each query.
    shares : array-like of levels in [0, 1], default=None
        Strong shares to report; every ``k / n`` when None.

    Returns
    -------
    strong_share, accuracy : ndarray

    Examples
    --------
    >>> from metarouter.metrics import routellm_curve
    >>> routellm_curve([0.9, 0.1], [0, 1], [1, 1])
    (array([0. , 0.5, 1. ]), array([0.5, 1. , 1. ]))
    """
    s = check_vector(scores, "scores")
    qw = check_vector(quality_weak, "quality_weak")
    qs = check_vector(quality_strong, "quality_strong")
    for name, arr in (("quality_weak", qw), ("quality_strong", qs)):
        if arr.size != s.size:
            raise ValueError(
                f"`{name}` has {arr.size} queries but `scores` has {s.size}."
            )
    curve = efficiency_curve(s, qs - qw, pmur=shares)
    share = curve["pmur"].to_numpy()
    return share, qw.mean() + curve["te"].to_numpy() / s.size


def binary_field_metrics(
    scores,
    quality_weak,
    quality_strong,
    *,
    cost_weak=None,
    cost_strong=None,
    cpt_levels=(0.2, 0.5, 0.8),
) -> dict:
    """Every field metric of a binary router on one test set.

    RouteLLM's AUC, APGR and CPT at ``cpt_levels`` (on the curve of
    :func:`routellm_curve` at every share ``k / n``), the mean over shares
    ``0, 0.05, ..., 1`` of the efficiency gain over random routing at matched
    premium share (:func:`metarouter.efficiency_gain`, on the same quality
    gain), and, when per-query costs are given, RouterBench's AIQ of the
    (mean cost, accuracy) points.

    Parameters
    ----------
    scores : array-like of shape (n_queries,)
        Router scores; higher means strong first.
    quality_weak, quality_strong : array-like of shape (n_queries,)
        Realised quality of each model.
    cost_weak, cost_strong : array-like of shape (n_queries,), default=None
        Per-query costs (both or neither).
    cpt_levels : sequence of float in [0, 1], default=(0.2, 0.5, 0.8)
        Gap shares for CPT.

    Returns
    -------
    metrics : dict
        Keys ``auc``, ``apgr``, ``cpt_20`` (etc.), ``mean_eg`` and ``aiq``
        (NaN without costs).

    Examples
    --------
    >>> from metarouter.metrics import binary_field_metrics
    >>> m = binary_field_metrics([0.9, 0.1], [0, 1], [1, 1])
    >>> m["auc"], m["apgr"], m["cpt_50"]
    (0.875, 0.75, 0.25)
    """
    share, acc = routellm_curve(scores, quality_weak, quality_strong)
    qw = np.asarray(quality_weak, dtype=float)
    qs = np.asarray(quality_strong, dtype=float)
    weak, strong = qw.mean(), qs.mean()
    out = {
        "auc": routellm_auc(share, acc),
        "apgr": apgr(share, acc, weak_accuracy=weak, strong_accuracy=strong),
    }
    for level in cpt_levels:
        out[f"cpt_{round(100 * level)}"] = cpt(
            share, acc, weak_accuracy=weak, strong_accuracy=strong, x=level
        )
    out["mean_eg"] = float(efficiency_gain(scores, qs - qw)["eg"].mean())
    if (cost_weak is None) != (cost_strong is None):
        raise ValueError("give both `cost_weak` and `cost_strong`, or neither.")
    if cost_weak is None:
        out["aiq"] = float("nan")
    else:
        cw = check_vector(cost_weak, "cost_weak", qw.size)
        cs = check_vector(cost_strong, "cost_strong", qw.size)
        _, mean_cost = routellm_curve(scores, cw, cs)  # mean cost at each share
        out["aiq"] = aiq(mean_cost, acc)
    return out
