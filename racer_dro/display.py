"""Plots of judge and model routing as scikit-learn style Display objects.

:class:`PacingDisplay` draws a stream's running mean cost against its budget (the
quantity :class:`racer_dro.BudgetPacer` guarantees), with the pacing target's
band after the warm-up and, optionally, the multiplier on a second axis.
"""

from __future__ import annotations

import math

import numpy as np

from racer_dro._validation import as_float_array, check_values

__all__ = ["PacingDisplay"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def _number(value) -> float:
    """``float(value)``, or NaN where it is not a number (for a check that names it)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def realised_spend(arms, costs) -> np.ndarray:
    """Cumulative cost of a routing: ``spend_t = sum_{s <= t} costs[s, arms[s]]``.

    Only the chosen arms' costs are read (the others may be NaN, as in a stream
    where only the chosen arm's cost is observed).

    Examples
    --------
    >>> realised_spend([0, 1, 1], [[0.0, 2.0], [0.0, 2.0], [1.0, 3.0]]).tolist()
    [0.0, 2.0, 5.0]
    """
    costs = as_float_array(costs, "costs")  # pd.NA (an unchosen arm) as NaN
    if costs.ndim != 2:
        raise ValueError(
            f"`costs` must be 2-D (one row per query), got shape {costs.shape}"
        )
    arms = np.asarray(arms)
    if arms.ndim != 1 or arms.shape[0] != costs.shape[0]:
        raise ValueError(
            f"`arms` must hold one arm index per row of `costs` ({costs.shape[0]}), "
            f"got shape {arms.shape}"
        )
    if arms.size == 0:
        raise ValueError(
            "`arms` and `costs` hold no queries: the stream must have at least one"
        )
    if (
        not np.issubdtype(arms.dtype, np.integer)
        or arms.min() < 0
        or arms.max() >= costs.shape[1]
    ):
        raise ValueError(
            f"`arms` must be integer arm indices in [0, {costs.shape[1]}), got "
            f"{arms.dtype} values in [{arms.min().item()!r}, {arms.max().item()!r}]"
        )
    chosen = costs[np.arange(costs.shape[0]), arms]
    bad = ~np.isfinite(chosen) | (chosen < 0)
    if bad.any():
        t = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"`costs`[{t}, {int(arms[t])}] = {float(chosen[t])!r}: the chosen arm's cost must be "
            "a finite non-negative number"
        )
    return np.cumsum(chosen)


class PacingDisplay:
    """Running mean cost of a routed stream against its budget.

    Parameters
    ----------
    spend : array-like of shape (T,)
        Cumulative cost after each query (``BudgetPacer.spend_``).
    budget : float
        The budget ``B`` per query.
    multipliers : array-like of shape (T,), default=None
        The multiplier used at each query (``BudgetPacer.multipliers_``),
        drawn on a second axis.
    warmup : float in [0, 1), default=0.1
        Share of the stream after which the target band is drawn.
    slack : float, default=0.02
        The band is ``(1 + slack) B``: the pacer's guarantee is a running mean
        at most ``1.02 B`` after the first 10% of the stream.

    Attributes
    ----------
    running_mean_ : ndarray of shape (T,)
        ``spend_t / t``, the plotted curve.
    line_, budget_line_, band_line_ : matplotlib Line2D
    multiplier_line_ : Line2D or None
    ax_, figure_ : matplotlib Axes and Figure
    multiplier_ax_ : Axes or None
        The second axis of the multiplier.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from racer_dro import BudgetPacer
    >>> from racer_dro.display import PacingDisplay
    >>> class Oracle:  # the strong arm gains x and costs 1
    ...     def predict_arm_values(self, X):
    ...         x = np.asarray(X)[:, 0]
    ...         return np.column_stack([0 * x, x]), np.column_stack([0 * x, 1 + 0 * x])
    >>> X = np.random.default_rng(0).uniform(size=(1000, 1))
    >>> costs = np.tile([0.0, 1.0], (1000, 1))
    >>> pacer = BudgetPacer(Oracle(), budget=0.25)
    >>> _ = pacer.run(X, costs)
    >>> disp = PacingDisplay.from_pacer(pacer)
    >>> bool(disp.running_mean_[100:].max() <= 1.02 * 0.25)
    True
    >>> disp.multiplier_line_ is not None
    True
    """

    def __init__(self, spend, budget, *, multipliers=None, warmup=0.1, slack=0.02):
        self.spend = spend
        self.budget = budget
        self.multipliers = multipliers
        self.warmup = warmup
        self.slack = slack

    def _check(self):
        spend = check_values(self.spend, "spend")
        if np.any(np.diff(spend) < -1e-12 * (1.0 + np.abs(spend[1:]))):
            raise ValueError("`spend` must be cumulative (non-decreasing)")
        budget = _number(self.budget)
        if not (math.isfinite(budget) and budget > 0):
            raise ValueError(
                f"`budget` must be positive and finite, got {self.budget!r}"
            )
        multipliers = None
        if self.multipliers is not None:
            multipliers = check_values(self.multipliers, "multipliers")
            if multipliers.shape != spend.shape:
                raise ValueError(
                    f"`multipliers` must have one value per query ({spend.shape[0]}), "
                    f"got shape {multipliers.shape}"
                )
        # float(None) and float("x") raised bare errors that did not name them
        warmup, slack = _number(self.warmup), _number(self.slack)
        if not 0 <= warmup < 1:
            raise ValueError(f"`warmup` must lie in [0, 1), got {self.warmup!r}")
        if not (math.isfinite(slack) and slack >= 0):
            raise ValueError(
                f"`slack` must be non-negative and finite, got {self.slack!r}"
            )
        return spend, budget, multipliers, warmup, slack

    def plot(self, ax=None, *, multiplier=True, **line_kwargs):
        """Draw the running mean cost, the budget and the band onto ``ax``.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            A new figure when None.
        multiplier : bool, default=True
            Draw the multipliers (when given) on a second axis.
        **line_kwargs : dict
            Passed to the running mean's ``ax.plot``.

        Returns
        -------
        self : PacingDisplay
        """
        spend, budget, multipliers, warmup, slack = self._check()
        ax = _axes(ax)
        t = np.arange(1, spend.shape[0] + 1)
        self.running_mean_ = spend / t
        kw = {"label": "running mean cost", **line_kwargs}
        (self.line_,) = ax.plot(t, self.running_mean_, **kw)
        self.budget_line_ = ax.axhline(budget, color="black", lw=1, label="budget")
        start = max(1, math.ceil(warmup * t.size)) if t.size else 1
        (self.band_line_,) = ax.plot(
            [start, max(start, t.size)],
            [(1 + slack) * budget] * 2,
            color="black",
            ls="--",
            lw=1,
            label=f"(1 + {slack:g}) budget after {warmup:.0%}",
        )
        ax.set_xlabel("query (arrival order)")
        ax.set_ylabel("mean cost so far")
        self.multiplier_line_ = self.multiplier_ax_ = None
        if multiplier and multipliers is not None:
            self.multiplier_ax_ = ax.twinx()
            (self.multiplier_line_,) = self.multiplier_ax_.plot(
                t, multipliers, color="tab:gray", lw=0.8, alpha=0.7, label="multiplier"
            )
            self.multiplier_ax_.set_ylabel("multiplier")
        ax.legend(loc="best")
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_pacer(cls, pacer, *, ax=None, multiplier=True, warmup=0.1, slack=0.02,
                   **line_kwargs):  # fmt: skip
        """The display of a :class:`racer_dro.BudgetPacer` after its :meth:`run`."""
        if not hasattr(pacer, "spend_"):
            raise ValueError(
                f"`pacer` ({type(pacer).__name__}) has not routed a stream: call its "
                "`run(X, costs)` first"
            )
        disp = cls(
            pacer.spend_,
            pacer.budget,
            multipliers=getattr(pacer, "multipliers_", None),
            warmup=warmup,
            slack=slack,
        )
        return disp.plot(ax, multiplier=multiplier, **line_kwargs)

    @classmethod
    def from_decisions(cls, arms, costs, budget, *, ax=None, warmup=0.1, slack=0.02,
                       **line_kwargs):  # fmt: skip
        """The display of any routing: ``arms`` (one arm index per query, in arrival
        order) and each query's ``costs`` of every arm (e.g. a static router's
        ``predict`` on the stream, to compare with a paced one)."""
        disp = cls(realised_spend(arms, costs), budget, warmup=warmup, slack=slack)
        return disp.plot(ax, **line_kwargs)
