"""PacingDisplay: the drawn lines hold the running mean cost computed by hand."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from racer_dro import BudgetPacer, PacingDisplay
from racer_dro.display import realised_spend


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


class _Gain:
    """Arm 1 gains x and is estimated to cost 1 (arm 0: nothing, free)."""

    def predict_arm_values(self, X):
        x = np.asarray(X)[:, 0]
        return np.column_stack([0 * x, x]), np.column_stack([0 * x, 1 + 0 * x])


def test_from_decisions_hand():
    costs = np.array([[0.0, 2.0], [np.nan, 4.0], [1.0, np.nan], [0.0, 3.0]])
    arms = [1, 1, 0, 1]  # unchosen arms may be NaN
    fig, ax = plt.subplots()
    disp = PacingDisplay.from_decisions(arms, costs, 2.0, ax=ax, warmup=0.5)
    np.testing.assert_allclose(disp.running_mean_, [2.0, 3.0, 7 / 3, 10 / 4])
    np.testing.assert_allclose(disp.line_.get_ydata(), disp.running_mean_)
    assert disp.line_.get_xdata().tolist() == [1, 2, 3, 4]
    assert disp.ax_ is ax and disp.figure_ is fig
    assert disp.budget_line_.get_ydata()[0] == 2.0
    # the band (1.02 B) from half the stream on
    assert disp.band_line_.get_xdata().tolist() == [2, 4]
    np.testing.assert_allclose(disp.band_line_.get_ydata(), [2.04, 2.04])
    assert disp.multiplier_line_ is None


def test_from_pacer_is_the_realised_cost_of_its_decisions():
    """The pacer's own spend record against the chosen arms' costs summed here."""
    rng = np.random.default_rng(3)
    T = 2000
    X = rng.uniform(size=(T, 1))
    costs = np.column_stack([np.zeros(T), rng.lognormal(0.0, 0.5, T)])
    pacer = BudgetPacer(_Gain(), 0.3)
    arms = pacer.run(X, costs)
    disp = PacingDisplay.from_pacer(pacer)
    expected = np.cumsum(costs[np.arange(T), arms]) / np.arange(1, T + 1)
    np.testing.assert_allclose(disp.running_mean_, expected, rtol=1e-12)
    np.testing.assert_array_equal(disp.multiplier_line_.get_ydata(), pacer.multipliers_)
    assert disp.multiplier_ax_ is not disp.ax_
    plain = PacingDisplay.from_pacer(pacer, multiplier=False)
    assert plain.multiplier_line_ is None


def test_bad_input_names_the_argument():
    costs = np.array([[0.0, 1.0], [0.0, np.nan]])
    with pytest.raises(ValueError, match=r"`costs`\[1, 1\]"):
        realised_spend([1, 1], costs)
    with pytest.raises(ValueError, match="`arms`.*one arm index per row"):
        realised_spend([1], costs)
    with pytest.raises(ValueError, match="`arms`.*integer arm indices"):
        realised_spend([0, 2], costs)
    for budget in (0.0, "a lot", None):
        with pytest.raises(ValueError, match="`budget`"):
            PacingDisplay([1.0, 2.0], budget).plot()
    with pytest.raises(ValueError, match="`spend`.*cumulative"):
        PacingDisplay([2.0, 1.0], 1.0).plot()
    with pytest.raises(ValueError, match="`multipliers`"):
        PacingDisplay([1.0, 2.0], 1.0, multipliers=[0.0]).plot()
    with pytest.raises(ValueError, match="`warmup`"):
        PacingDisplay([1.0, 2.0], 1.0, warmup=1.0).plot()
    with pytest.raises(ValueError, match="`pacer`.*run"):
        PacingDisplay.from_pacer(BudgetPacer(_Gain(), 0.3))


def test_empty_stream_is_a_clear_error():
    # an empty float `arms` used to raise a bare IndexError, an empty int one an
    # error about `spend`, which from_decisions' caller never passed
    for arms in ([], np.array([], dtype=int)):
        with pytest.raises(ValueError, match="`arms` and `costs` hold no queries"):
            PacingDisplay.from_decisions(arms, np.empty((0, 2)), 1.0)


def test_from_decisions_draws_on_the_given_axes():
    fig, ax = plt.subplots()
    disp = PacingDisplay.from_decisions(
        [0, 1], [[0.0, np.nan], [np.nan, 2.0]], 1.0, ax=ax
    )
    assert disp.line_ in ax.lines and disp.band_line_ in ax.lines
    assert disp.budget_line_ in ax.lines and len(fig.axes) == 1
    np.testing.assert_array_equal(disp.running_mean_, [0.0, 1.0])  # (0 + 2) / 2


def test_nullable_pandas_costs_may_miss_unchosen_arms():
    # the unchosen arms of a stream observed in a nullable pandas table hold pd.NA,
    # which numpy could not convert (a bare TypeError from float()); a chosen NA
    # is the named error
    import pandas as pd

    costs = np.array([[0.0, 2.0], [np.nan, 4.0], [1.0, np.nan]])
    frame = pd.DataFrame(costs).astype("Float64")
    np.testing.assert_array_equal(realised_spend([0, 1, 0], frame), [0.0, 4.0, 5.0])
    with pytest.raises(ValueError, match=r"`costs`\[1, 0\]"):
        realised_spend([0, 0, 0], frame)


def test_non_numeric_warmup_and_slack_are_named_errors():
    # float(None) / float("x") leaked bare TypeError / ValueError naming neither
    for key, value in (("warmup", None), ("warmup", "x"), ("slack", None)):
        with pytest.raises(ValueError, match=f"`{key}`"):
            PacingDisplay([1.0, 2.0], 1.0, **{key: value}).plot()
