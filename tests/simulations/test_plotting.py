"""Figure helpers: labels, panels, legends, hatching of budget violations, valid PNGs."""

import matplotlib
import numpy as np
import pandas as pd

from simulations import plotting

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _curves():
    rows = []
    for n in (100, 500):
        for router in ("meta_r", "pooled"):
            for p in (0.1, 0.5, 0.9):
                eg = 0.05 * p if router == "meta_r" else 0.0
                rows.append(
                    {
                        "n_gs": n,
                        "router": router,
                        "pmur": p,
                        "eg": eg,
                        "lo": eg - 0.01,
                        "hi": eg + 0.01,
                    }
                )
    return pd.DataFrame(rows)


def test_save_figure_writes_the_figure_and_closes_it(tmp_path):
    # studies draw many figures per run: each must be written and released
    fig, ax = matplotlib.pyplot.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    number = fig.number
    path = plotting.save_figure(fig, tmp_path / "new" / "line.png")
    assert path == tmp_path / "new" / "line.png"
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert number not in matplotlib.pyplot.get_fignums()
    image = matplotlib.pyplot.imread(path)
    # 2 x 2 inches at save_figure's 120 dpi, trimmed or padded by the tight bounding box
    assert all(180 <= side <= 300 for side in image.shape[:2]), image.shape
    assert (image[..., :3] < 0.5).any()  # the axes and the line were drawn


def test_line_panels_labels_panels_and_legend(tmp_path):
    fig = plotting.line_panels(
        _curves(),
        x="pmur",
        y="eg",
        hue="router",
        panel="n_gs",
        low="lo",
        high="hi",
        xlabel="PMUR (share)",
        ylabel="EG (per query)",
        panel_label="n",
    )
    axes = fig.get_axes()
    assert len(axes) == 2
    assert [ax.get_xlabel() for ax in axes] == ["PMUR (share)"] * 2
    assert axes[0].get_ylabel() == "EG (per query)"
    assert [ax.get_title() for ax in axes] == ["n = 100", "n = 500"]
    legend_texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend_texts == [
        plotting.ROUTER_LABEL["meta_r"],
        plotting.ROUTER_LABEL["pooled"],
    ]
    # the meta_r line in panel 1 carries the data it was given
    line = axes[0].get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), [0.005, 0.025, 0.045])
    path = plotting.save_figure(fig, tmp_path / "sub" / "eg.png")
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_scenario_bars_hatch_violations_and_draw_budget():
    data = pd.DataFrame(
        {
            "scenario": ["costlier"] * 2 + ["cheaper"] * 2,
            "router": ["acer", "racer"] * 2,
            "accuracy": [80.0, 79.0, 84.0, 85.0],
            "cost_ratio": [3.6, 2.9, 2.2, 2.8],
            "violated": [True, False, False, False],
        }
    )
    fig = plotting.scenario_bars(
        data,
        scenario="scenario",
        router="router",
        accuracy="accuracy",
        cost="cost_ratio",
        budget=3.0,
        violated="violated",
    )
    axes = fig.get_axes()
    assert len(axes) == 4
    cost_ax = axes[2]  # row 2, first scenario (costlier)
    assert cost_ax.get_ylabel() == "realised cost ratio (x all-instruct)"
    hatches = [p.get_hatch() for p in cost_ax.patches]
    assert hatches == ["//", None]
    assert any(np.allclose(line.get_ydata(), 3.0) for line in cost_ax.get_lines())
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["ACER", "RACER"]
    matplotlib.pyplot.close(fig)
