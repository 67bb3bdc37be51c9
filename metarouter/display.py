"""Display objects for routing results, in the manner of scikit-learn's ``RocCurveDisplay``.

Each display holds the numbers it draws, is built ``from_estimator`` (a fitted
router and test data) or ``from_predictions`` (decisions or scores already
computed), and draws with ``.plot(ax=...)`` onto a matplotlib axes. After
plotting it keeps ``ax_``, ``figure_`` and the drawn artists. Nothing is saved
or shown: that is the caller's choice.

- :class:`CostQualityDisplay`: RouterBench's cost-quality plane. Routers are
  curves swept over their trade-off ``w``, single models are points, and the
  non-decreasing convex hull of the single models is what random mixing of
  them reaches at equal cost.
- :class:`EfficiencyGainDisplay`: the efficiency gain of a binary router over
  random routing at matched premium share (Meta-Router paper, section 4).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from metarouter._validation import (
    check_binary_scores,
    check_column_order,
    check_lengths,
)
from metarouter.evaluation import efficiency_gain
from metarouter.metrics import cost_quality_points, nondecreasing_convex_hull
from metarouter.multimodel import trade_off_grid

__all__ = ["CostQualityDisplay", "EfficiencyGainDisplay"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def _sweep_choices(estimator, X, cost, w):
    """Model index per query at each ``w``: K-model routers or binary routers."""
    cost = np.asarray(cost, dtype=float)
    if hasattr(estimator, "models_"):
        if w is None:
            w = trade_off_grid(estimator.predict(X), cost, estimator.reference_index_)
        return np.asarray(w, dtype=float), np.vstack(
            [estimator.route(X, w=v, cost=cost) for v in w]
        )
    c2 = np.broadcast_to(cost, (np.shape(X)[0], 2)) if cost.ndim == 1 else cost
    diff = c2[:, 1] - c2[:, 0]
    if w is None:
        gain = estimator.predict(X)
        w = trade_off_grid(np.c_[np.zeros_like(gain), gain], c2)
    return np.asarray(w, dtype=float), np.vstack(
        [estimator.route(X, w=v, cost=diff).astype(np.int64) for v in w]
    )


class CostQualityDisplay:
    """Cost-quality plane: routers as swept curves, single models as points, the hull.

    Parameters
    ----------
    curves : mapping of name -> (cost, quality)
        Each router's mean cost and mean quality at every trade-off value.
    model_points : mapping of name -> (cost, quality), default=None
        Each single model's mean cost and quality on the same queries.

    Attributes
    ----------
    hull_cost_, hull_quality_ : ndarray
        Non-decreasing convex hull of ``model_points`` (random mixing at equal
        cost), extended flat to the largest cost drawn; None without models.
    lines_ : dict of name -> Line2D
        One line per router (after ``plot``).
    points_ : PathCollection or None
        The single models' markers.
    hull_line_ : Line2D or None
    ax_, figure_ : matplotlib Axes and Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from metarouter.display import CostQualityDisplay
    >>> quality = [[0.0, 1.0], [1.0, 1.0]]
    >>> cost = [[1.0, 3.0], [1.0, 3.0]]
    >>> choices = [[0, 0], [1, 0], [1, 1]]  # one row per trade-off value
    >>> disp = CostQualityDisplay.from_predictions(choices, quality, cost)
    >>> disp.lines_["router"].get_xdata().tolist()
    [1.0, 2.0, 3.0]
    >>> disp.lines_["router"].get_ydata().tolist()
    [0.5, 1.0, 1.0]
    """

    def __init__(self, curves, model_points=None):
        self.curves = curves
        self.model_points = model_points

    def plot(self, ax=None, *, hull=True, **line_kwargs):
        """Draw the plane onto ``ax`` (a new figure when None).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        hull : bool, default=True
            Draw the random-mixing hull of the single models.
        **line_kwargs : dict
            Passed to every router line's ``ax.plot``.

        Returns
        -------
        self : CostQualityDisplay
        """
        if not isinstance(self.curves, Mapping) or not self.curves:
            raise TypeError(
                "`curves` must be a non-empty mapping name -> (cost, quality)."
            )
        ax = _axes(ax)
        self.lines_ = {}
        top = 0.0
        for name, (c, q) in self.curves.items():
            c, q = np.asarray(c, dtype=float), np.asarray(q, dtype=float)
            if c.shape != q.shape or c.ndim != 1 or c.size == 0:
                raise ValueError(
                    f"`curves[{name!r}]` must be two non-empty 1-D arrays of one length."
                )
            if not (np.all(np.isfinite(c)) and np.all(np.isfinite(q))):
                raise ValueError(f"`curves[{name!r}]` contains NaN or infinite values.")
            order = np.argsort(c, kind="stable")
            kw = {"marker": ".", "label": str(name), **line_kwargs}
            (self.lines_[name],) = ax.plot(c[order], q[order], **kw)
            top = max(top, float(c.max()))
        self.points_ = self.hull_line_ = None
        self.hull_cost_ = self.hull_quality_ = None
        if self.model_points:
            names = list(self.model_points)
            mc = np.array([float(self.model_points[m][0]) for m in names])
            mq = np.array([float(self.model_points[m][1]) for m in names])
            self.points_ = ax.scatter(mc, mq, color="black", zorder=3, label="models")
            for m, x, y in zip(names, mc, mq):
                ax.annotate(
                    str(m),
                    (x, y),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
            if hull and len(names) >= 2:
                hc, hq = nondecreasing_convex_hull(mc, mq)
                top = max(top, float(mc.max()))
                self.hull_cost_ = np.r_[hc, top] if top > hc[-1] else hc
                self.hull_quality_ = np.r_[hq, hq[-1]] if top > hc[-1] else hq
                (self.hull_line_,) = ax.plot(
                    self.hull_cost_,
                    self.hull_quality_,
                    linestyle="--",
                    color="grey",
                    label="random mixing (hull of models)",
                )
        ax.set_xlabel("mean cost per query")
        ax.set_ylabel("mean quality")
        ax.legend(fontsize=7)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_predictions(
        cls,
        choices,
        quality,
        cost,
        *,
        name="router",
        model_names=None,
        ax=None,
        hull=True,
    ):
        """Plane from routing decisions at several trade-off values.

        Parameters
        ----------
        choices : array-like of int (n_settings, n_queries), or mapping name -> such
            Model index of each query at each trade-off value, per router.
        quality, cost : array-like of shape (n_queries, n_models)
            Realised quality and cost of every model on every query.
        name : str, default="router"
            Curve name when ``choices`` is a single array.
        model_names : sequence of str, default=None
            Names of the single-model points (column indices when None).
        ax : matplotlib Axes, default=None
        hull : bool, default=True

        Returns
        -------
        display : CostQualityDisplay
        """
        if not isinstance(choices, Mapping):
            choices = {name: choices}
        curves = {
            n: cost_quality_points(ch, quality, cost) for n, ch in choices.items()
        }
        q = np.asarray(quality, dtype=float)
        c = np.asarray(cost, dtype=float)
        if c.ndim == 1:
            c = np.broadcast_to(c, q.shape)
        names = list(range(q.shape[1])) if model_names is None else list(model_names)
        if len(names) != q.shape[1]:
            raise ValueError(
                f"`model_names` has {len(names)} names but `quality` has "
                f"{q.shape[1]} models."
            )
        for arg, table in (("quality", quality), ("cost", cost)):
            check_column_order(table, names, arg, "model_names")
        points = {m: (c[:, k].mean(), q[:, k].mean()) for k, m in enumerate(names)}
        return cls(curves, points).plot(ax=ax, hull=hull)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        quality,
        cost,
        *,
        w=None,
        name=None,
        model_names=None,
        ax=None,
        hull=True,
    ):
        """Plane of a fitted router swept over ``w``.

        Parameters
        ----------
        estimator : fitted router
            A :class:`~metarouter.multimodel.MultiModelRouter`, or a binary
            router (``route(X, w, cost)`` returning True for the premium model;
            column 1 of ``quality`` and ``cost`` is then the premium model).
        X : array-like of shape (n_queries, n_features)
        quality, cost : array-like of shape (n_queries, n_models)
            Realised quality and per-query cost of every model.
        w : array-like, default=None
            Trade-off values; :func:`~metarouter.multimodel.trade_off_grid` of
            the router's predicted gains when None.
        name : str, default=None
            Curve name (the estimator's class name when None).
        model_names : sequence of str, default=None
            Single-model names (the router's ``models_`` when it has them).
        ax : matplotlib Axes, default=None
        hull : bool, default=True

        Returns
        -------
        display : CostQualityDisplay
        """
        check_lengths(X=X, quality=quality, cost=cost if np.ndim(cost) == 2 else None)
        if model_names is None and hasattr(estimator, "models_"):
            model_names = estimator.models_
            for arg, table in (("quality", quality), ("cost", cost)):
                check_column_order(table, model_names, arg, "estimator.models_")
        _, choices = _sweep_choices(estimator, X, cost, w)
        return cls.from_predictions(
            choices,
            quality,
            cost,
            name=type(estimator).__name__ if name is None else name,
            model_names=model_names,
            ax=ax,
            hull=hull,
        )


class EfficiencyGainDisplay:
    """Efficiency gain over random routing at matched premium share.

    Parameters
    ----------
    pmur : ndarray
        Premium shares.
    gains : mapping of name -> ndarray
        Efficiency gain of each router at ``pmur``
        (:func:`metarouter.efficiency_gain`).
    intervals : mapping of name -> (ndarray, ndarray), default=None
        Lower and upper bounds of an interval around each router's curve (for
        example a bootstrap band over Monte Carlo rounds), drawn shaded.

    Attributes
    ----------
    lines_ : dict of name -> Line2D
    bands_ : dict of name -> PolyCollection
        The shaded intervals (empty without ``intervals``).
    ax_, figure_ : matplotlib Axes and Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from metarouter.display import EfficiencyGainDisplay
    >>> r = [1.0, -1.0, 0.0, 2.0]
    >>> disp = EfficiencyGainDisplay.from_predictions(r, r, pmur=[0.0, 0.5, 1.0])
    >>> disp.lines_["router"].get_ydata().tolist()
    [0.0, 0.5, 0.0]
    >>> band = EfficiencyGainDisplay([0.0, 1.0], {"a": [0.0, 0.0]},
    ...                              intervals={"a": ([-1.0, -1.0], [1.0, 1.0])}).plot()
    >>> band.bands_["a"].get_paths()[0].vertices[:, 1].min()
    np.float64(-1.0)
    """

    def __init__(self, pmur, gains, *, intervals=None):
        self.pmur = pmur
        self.gains = gains
        self.intervals = intervals

    def plot(self, ax=None, **line_kwargs):
        """Draw EG against PMUR onto ``ax`` (a new figure when None)."""
        if not isinstance(self.gains, Mapping) or not self.gains:
            raise TypeError("`gains` must be a non-empty mapping name -> gains.")
        x = np.asarray(self.pmur, dtype=float)
        intervals = {} if self.intervals is None else self.intervals

        def _check(values, what):
            arr = np.asarray(values, dtype=float)
            if arr.shape != x.shape or x.ndim != 1:
                raise ValueError(
                    f"{what} has shape {arr.shape}, `pmur` {x.shape}: one value per "
                    "PMUR level."
                )
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{what} contains NaN or infinite values.")
            return arr

        _check(x, "`pmur`")
        gains = {n: _check(g, f"`gains[{n!r}]`") for n, g in self.gains.items()}
        bounds = {
            n: [_check(b, f"`intervals[{n!r}]`") for b in intervals[n]]
            for n in gains
            if n in intervals
        }
        ax = _axes(ax)
        self.lines_ = {}
        self.bands_ = {}
        for name, g in gains.items():
            kw = {"marker": ".", "label": str(name), **line_kwargs}
            (self.lines_[name],) = ax.plot(x, g, **kw)
            if name in bounds:
                low, high = bounds[name]
                self.bands_[name] = ax.fill_between(
                    x, low, high, color=self.lines_[name].get_color(), alpha=0.15
                )
        ax.axhline(0.0, color="grey", linewidth=0.8)
        ax.set_xlabel("premium share (PMUR)")
        ax.set_ylabel("efficiency gain over random")
        ax.legend(fontsize=7)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_predictions(cls, scores, r, *, name="router", pmur=None, ax=None):
        """EG curve from router scores and realised quality gains.

        Parameters
        ----------
        scores : array-like (n_test,) or (n_rounds, n_test), or mapping name -> such
            Router scores (higher means premium first).
        r : array-like of the same shape
            Realised GS quality gains of the premium model.
        name : str, default="router"
        pmur : array-like, default=None
            Premium shares; ``0, 0.05, ..., 1`` when None.
        ax : matplotlib Axes, default=None

        Returns
        -------
        display : EfficiencyGainDisplay
        """
        if not isinstance(scores, Mapping):
            scores = {name: scores}
        table = efficiency_gain(dict(scores), r, pmur=pmur)
        gains = {n: table.loc[table["router"] == n, "eg"].to_numpy() for n in scores}
        x = table.loc[table["router"] == next(iter(scores)), "pmur"].to_numpy()
        return cls(x, gains).plot(ax=ax)

    @classmethod
    def from_estimator(cls, estimator, X, r, *, name=None, pmur=None, ax=None):
        """EG curve of a fitted binary router (its ``predict`` as scores)."""
        scores = check_binary_scores(
            estimator.predict(X),
            "estimator",
            "the efficiency gain is of a binary router (for K models, "
            "CostQualityDisplay.from_estimator).",
        )
        return cls.from_predictions(
            scores,
            r,
            name=type(estimator).__name__ if name is None else name,
            pmur=pmur,
            ax=ax,
        )
