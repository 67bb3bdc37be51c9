"""Figure helpers for the studies (matplotlib, Agg backend, files only: never shown).

Every helper returns a :class:`matplotlib.figure.Figure`; :func:`save_figure` writes it
as a PNG and closes it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = [
    "ROUTER_STYLE",
    "line_panels",
    "save_figure",
    "scenario_bars",
]

#: Colours follow Figure 1 of the Meta-Router paper where it names them.
ROUTER_STYLE = {
    "oracle": {"color": "#e6b800", "marker": "o"},
    "meta_dr": {"color": "#d62728", "marker": "s"},
    "meta_r": {"color": "#1f77b4", "marker": "^"},
    "pooled": {"color": "#2ca02c", "marker": "v"},
    "gs_only": {"color": "#9467bd", "marker": "D"},
    "random": {"color": "#7f7f7f", "marker": "x"},
    "all_instruct": {"color": "#8c564b", "marker": "o"},
    "all_reasoning": {"color": "#e377c2", "marker": "o"},
    "knn": {"color": "#17becf", "marker": "P"},
    "acer": {"color": "#ff7f0e", "marker": "s"},
    "racer_r": {"color": "#2ca02c", "marker": "^"},
    "racer_c": {"color": "#9467bd", "marker": "v"},
    "racer": {"color": "#d62728", "marker": "D"},
    "uncertainty": {"color": "#d62728", "marker": "o"},
}

#: Human-readable legend labels.
ROUTER_LABEL = {
    "oracle": "oracle (GS for all training queries)",
    "meta_dr": "meta-router (DR-learner)",
    "meta_r": "meta-router (R-learner)",
    "pooled": "pooled GS+PB",
    "gs_only": "GS only",
    "random": "random",
    "all_instruct": "all-instruct",
    "all_reasoning": "all-reasoning",
    "knn": "KNN",
    "acer": "ACER (not robust)",
    "racer_r": "RACER-R (reward robust)",
    "racer_c": "RACER-C (cost robust)",
    "racer": "RACER (both)",
    "uncertainty": "uncertainty routing",
}


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 120) -> Path:
    """Write ``fig`` as a PNG at ``path`` (parents created) and close it.

    Examples
    --------
    >>> import tempfile
    >>> fig, ax = plt.subplots()
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = save_figure(fig, f"{d}/sub/figure.png")
    ...     path.read_bytes()[:4]
    b'\x89PNG'
    >>> fig.number in plt.get_fignums()
    False
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def _style(name) -> dict:
    return ROUTER_STYLE.get(str(name), {})


def line_panels(
    data: pd.DataFrame,
    *,
    x: str,
    y: str,
    hue: str,
    panel: str | None = None,
    low: str | None = None,
    high: str | None = None,
    xlabel: str,
    ylabel: str,
    title: str | None = None,
    panel_label: str | None = None,
    hue_order=None,
    hline: float | None = 0.0,
    sharey: bool = True,
    panel_width: float = 4.8,
) -> Figure:
    """One panel per value of ``panel``, one line per value of ``hue`` (``y`` against ``x``).

    ``low``/``high`` name optional columns drawn as a shaded interval around each line.

    Examples
    --------
    >>> data = pd.DataFrame({"n": [1, 1, 2, 2], "router": ["a"] * 4, "x": [0, 1, 0, 1],
    ...                      "y": [0.0, 1.0, 0.5, 2.0]})
    >>> fig = line_panels(data, x="x", y="y", hue="router", panel="n", xlabel="x", ylabel="y",
    ...                   panel_label="n")
    >>> [ax.get_title() for ax in fig.axes]
    ['n = 1', 'n = 2']
    >>> plt.close(fig)
    """
    panels = [None] if panel is None else sorted(data[panel].unique())
    hues = list(hue_order) if hue_order is not None else list(dict.fromkeys(data[hue]))
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(max(6.0, panel_width * len(panels)), 4.4),
        sharey=sharey,
        squeeze=False,
        layout="constrained",
    )
    for j, (ax, pv) in enumerate(zip(axes[0], panels)):
        sub = data if pv is None else data[data[panel] == pv]
        for h in hues:
            line = sub[sub[hue] == h].sort_values(x)
            if line.empty:
                continue
            style = _style(h)
            ax.plot(
                line[x],
                line[y],
                label=ROUTER_LABEL.get(str(h), str(h)),
                color=style.get("color"),
                marker=style.get("marker"),
                markersize=3.5,
                linewidth=1.4,
            )
            if low is not None and high is not None:
                ax.fill_between(
                    line[x].to_numpy(float),
                    line[low].to_numpy(float),
                    line[high].to_numpy(float),
                    color=style.get("color"),
                    alpha=0.12,
                    linewidth=0,
                )
        if hline is not None:
            ax.axhline(hline, color="black", linewidth=0.6, linestyle=":")
        ax.set_xlabel(xlabel)
        if j == 0 or not sharey:
            ax.set_ylabel(ylabel)
        if pv is not None:
            ax.set_title(f"{panel_label or panel} = {pv}")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes[0][1:]:
        for hd, lb in zip(*ax.get_legend_handles_labels()):
            if lb not in labels:
                handles.append(hd)
                labels.append(lb)
    fig.legend(
        handles,
        labels,
        loc="outside lower center",
        ncol=min(len(labels), 3),
        frameon=False,
    )
    if title:
        width = int(fig.get_figwidth() * 14)
        fig.suptitle(textwrap.fill(title, width), fontsize=11)
    return fig


def scenario_bars(
    data: pd.DataFrame,
    *,
    scenario: str,
    router: str,
    accuracy: str,
    cost: str,
    budget: float | None,
    violated: str | None = None,
    accuracy_interval: tuple[str, str] | None = None,
    cost_interval: tuple[str, str] | None = None,
    accuracy_label: str = "judge accuracy (%)",
    cost_label: str = "realised cost ratio (x all-instruct)",
    title: str | None = None,
    router_order=None,
) -> Figure:
    """Accuracy and realised cost ratio per scenario (columns) and router (bars).

    Both rows of panels start at zero and share one scale across scenarios; the
    intervals (``(low, high)`` column pairs) are drawn as error bars. Bars of
    routers that exceed the budget are hatched and edged in black; the budget is a
    dashed line on the cost panels, labelled with its value (the analogue of
    RACER's Figure 3). A cost bar taller than 2.5 budgets (and than the next
    tallest bar) is cut at the top of the axis, with its value printed there.

    Examples
    --------
    >>> data = pd.DataFrame({"scenario": ["a", "a", "b", "b"], "router": ["acer", "racer"] * 2,
    ...                      "accuracy": [80.0, 78, 84, 85], "cost": [3.5, 2.9, 2.2, 2.8]})
    >>> fig = scenario_bars(data, scenario="scenario", router="router", accuracy="accuracy",
    ...                     cost="cost", budget=3.0)
    >>> [float(ax.get_ylim()[0]) for ax in fig.axes]
    [0.0, 0.0, 0.0, 0.0]
    >>> plt.close(fig)
    """
    scenarios = list(dict.fromkeys(data[scenario]))
    routers = (
        list(router_order)
        if router_order is not None
        else list(dict.fromkeys(data[router]))
    )
    fig, axes = plt.subplots(
        2,
        len(scenarios),
        figsize=(4.4 * len(scenarios), 6.6),
        squeeze=False,
        sharey="row",
    )
    xs = np.arange(len(routers))
    rows = [
        (accuracy, accuracy_interval, accuracy_label),
        (cost, cost_interval, cost_label),
    ]
    cap = None
    if budget is not None:
        costs = np.sort(
            data[cost].to_numpy(float)[np.isfinite(data[cost].to_numpy(float))]
        )
        top = max(2.5 * budget, costs[-2] if costs.size > 1 else budget)
        if costs.size and costs[-1] > 1.15 * top:
            cap = 1.15 * top
    for j, sc in enumerate(scenarios):
        sub = data[data[scenario] == sc].set_index(router)
        for i, (col, interval, label) in enumerate(rows):
            ax = axes[i][j]
            vals = np.array([sub[col].get(r, np.nan) for r in routers], dtype=float)
            flags = [
                bool(sub[violated].get(r, False)) if violated else False
                for r in routers
            ]
            err = None
            if interval is not None:
                low = np.array(
                    [sub[interval[0]].get(r, np.nan) for r in routers], float
                )
                high = np.array(
                    [sub[interval[1]].get(r, np.nan) for r in routers], float
                )
                err = np.vstack([vals - low, high - vals]).clip(min=0)
            shown = vals if i == 0 or cap is None else np.minimum(vals, cap)
            bars = ax.bar(
                xs,
                shown,
                yerr=None if err is None else np.where(shown < vals, 0.0, err),
                capsize=2,
                error_kw={"elinewidth": 0.8, "ecolor": "black"},
                color=[_style(r).get("color", "#999999") for r in routers],
                edgecolor=["black" if f else "none" for f in flags],
            )
            for b, f in zip(bars, flags):
                if f:
                    b.set_hatch("//")
            if i == 1 and budget is not None:
                ax.axhline(budget, color="black", linestyle="--", linewidth=1)
                ax.annotate(
                    f"budget B = {budget:g}",
                    (1.0, budget),
                    xycoords=("axes fraction", "data"),
                    xytext=(-2, 2),
                    textcoords="offset points",
                    ha="right",
                    va="bottom",
                    fontsize=8,
                    bbox={"facecolor": "white", "pad": 1, "edgecolor": "none"},
                )
                if cap is not None:
                    for x, v in zip(xs, vals):
                        if np.isfinite(v) and v > cap:
                            ax.text(
                                x,
                                0.93 * cap,
                                f"{v:.1f}\n(cut)",
                                ha="center",
                                va="center",
                                fontsize=7,
                                bbox={
                                    "facecolor": "white",
                                    "pad": 1,
                                    "edgecolor": "none",
                                },
                            )
            if i == 0:
                ax.set_title(str(sc))
            ax.set_xticks(xs)
            ax.set_xticklabels(
                [ROUTER_LABEL.get(r, r).split(" (")[0] for r in routers],
                rotation=45,
                ha="right",
                fontsize=8,
            )
            ax.set_ylabel(label)
            ax.grid(axis="y", alpha=0.3)
    # one scale per row, from zero: the tallest bar (with its interval), the budget
    for i, (col, interval, _) in enumerate(rows):
        values = data[col].to_numpy(float)
        if interval is not None:
            values = np.concatenate([values, data[interval[1]].to_numpy(float)])
        finite = values[np.isfinite(values)]
        top = 1.08 * max(finite.max() if finite.size else 1.0, budget or 0.0)
        if i == 0 and accuracy_label.endswith("(%)"):
            top = 100.0
        if i == 1 and cap is not None:
            top = cap
        axes[i][0].set_ylim(0.0, top)
    if title:
        bars = "error bars: 95% intervals of the means; " if accuracy_interval else ""
        fig.suptitle(f"{title}\n({bars}hatched: budget exceeded)", fontsize=10)
    fig.tight_layout()
    return fig
