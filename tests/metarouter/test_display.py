"""Display objects: the drawn lines hold the numbers computed by hand."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from metarouter import MetaRouter
from metarouter.display import CostQualityDisplay, EfficiencyGainDisplay
from metarouter.multimodel import MultiModelRouter
from metarouter.multimodel_data import make_multimodel_data


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_cost_quality_from_predictions_hand():
    quality = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])
    cost = np.array([[1.0, 2.0, 6.0], [1.0, 2.0, 6.0]])
    choices = {"a": [[0, 0], [1, 0], [2, 2]], "b": [[1, 1], [0, 1]]}
    fig, ax = plt.subplots()
    disp = CostQualityDisplay.from_predictions(
        choices, quality, cost, model_names=["s", "m", "l"], ax=ax
    )
    assert disp.ax_ is ax and disp.figure_ is fig
    np.testing.assert_allclose(disp.lines_["a"].get_xdata(), [1.0, 1.5, 6.0])
    np.testing.assert_allclose(disp.lines_["a"].get_ydata(), [0.5, 1.0, 1.0])
    np.testing.assert_allclose(disp.lines_["b"].get_xdata(), [1.5, 2.0])
    np.testing.assert_allclose(disp.lines_["b"].get_ydata(), [0.0, 0.5])
    # models (1, .5), (2, .5), (6, 1): hull .5 -> 1 from cost 1 to 6; (2, .5)
    # lifted to .6 on the chord
    np.testing.assert_allclose(disp.hull_line_.get_xdata(), [1.0, 2.0, 6.0])
    np.testing.assert_allclose(disp.hull_line_.get_ydata(), [0.5, 0.6, 1.0])
    np.testing.assert_allclose(disp.points_.get_offsets(), [[1, 0.5], [2, 0.5], [6, 1]])


def test_cost_quality_from_estimator_sweeps_routes():
    data = make_multimodel_data(n_gs=80, n_pb=200, n_test=60, random_state=0)
    router = MultiModelRouter(
        MetaRouter(
            "r",
            LinearRegression(),
            scale=None,
            propensity_model=LogisticRegression(),
            n_folds=3,
        ),
        random_state=0,
    ).fit(data.X, data.quality, data.comparisons, models=data.models)
    w = [0.0, 0.05, 0.1, 10.0]
    disp = CostQualityDisplay.from_estimator(
        router, data.X_test, data.quality_test, np.tile(data.cost, (60, 1)), w=w
    )
    line = disp.lines_["MultiModelRouter"]
    rows = np.arange(60)
    want = []
    for v in w:
        ch = router.route(data.X_test, w=v, cost=data.cost)
        want.append((data.cost[ch].mean(), data.quality_test[rows, ch].mean()))
    want = sorted(want, key=lambda t: t[0])
    np.testing.assert_allclose(line.get_xdata(), [t[0] for t in want])
    np.testing.assert_allclose(line.get_ydata(), [t[1] for t in want])
    assert [t.get_text() for t in disp.ax_.texts] == data.models


def test_cost_quality_from_binary_estimator():
    data = make_multimodel_data(
        n_gs=80, n_pb=200, n_test=50, n_models=2, random_state=1
    )
    gs = ~np.isnan(data.quality[:, 0])
    pb = data.comparisons["query"].to_numpy()
    X = np.r_[data.X[gs], data.X[pb]]
    y = np.r_[data.quality[gs, 1] - data.quality[gs, 0], data.comparisons["verdict"]]
    s = np.r_[np.ones(gs.sum()), np.zeros(pb.size)]
    router = MetaRouter(
        "r",
        LinearRegression(),
        scale=None,
        n_folds=3,
        propensity_model=LogisticRegression(),
        random_state=0,
    )
    router.fit(X, y, s)
    disp = CostQualityDisplay.from_estimator(
        router, data.X_test, data.quality_test, data.cost, w=[0.0, 1.0], name="meta"
    )
    premium = router.route(data.X_test, w=0.0, cost=1.0)
    q = np.where(premium, data.quality_test[:, 1], data.quality_test[:, 0]).mean()
    c = np.where(premium, 2.0, 1.0).mean()
    xs, ys = disp.lines_["meta"].get_xdata(), disp.lines_["meta"].get_ydata()
    assert np.any(np.isclose(xs, c) & np.isclose(ys, q))


def test_efficiency_gain_display_matches_hand_and_estimator():
    r = np.array([1.0, -1.0, 0.0, 2.0])
    disp = EfficiencyGainDisplay.from_predictions(
        {"perfect": r, "reversed": -r}, r, pmur=[0.0, 0.5, 1.0]
    )
    # top-2 by r: 2 + 1 = 3 against random 2 / 4 * 2 = 1 -> (3 - 1) / 4
    np.testing.assert_allclose(disp.lines_["perfect"].get_ydata(), [0, 0.5, 0])
    np.testing.assert_allclose(disp.lines_["reversed"].get_ydata(), [0, -0.5, 0])
    np.testing.assert_allclose(disp.lines_["perfect"].get_xdata(), [0, 0.5, 1])

    class Fixed:
        def predict(self, X):
            return np.asarray(X, float)[:, 0]

    est = EfficiencyGainDisplay.from_estimator(Fixed(), r[:, None], r, pmur=[0.5])
    np.testing.assert_allclose(est.lines_["Fixed"].get_ydata(), [0.5])


def test_display_bad_input():
    with pytest.raises(ValueError, match=r"`curves\['x'\]`"):
        CostQualityDisplay({"x": ([1.0, 2.0], [0.5])}).plot()
    with pytest.raises(ValueError, match="`model_names`"):
        CostQualityDisplay.from_predictions(
            [[0, 1]], [[0, 1], [1, 1]], [[1, 2], [1, 2]], model_names=["a"]
        )


def test_display_bad_numbers_are_clear_errors():
    # a NaN was drawn as a gap, lengths failed in matplotlib, a list of gains
    # gave an AttributeError, an empty curve numpy's "zero-size array" error
    with pytest.raises(ValueError, match=r"`gains\['a'\]` contains NaN"):
        EfficiencyGainDisplay([0.0, 0.5, 1.0], {"a": [0.0, np.nan, 0.0]}).plot()
    with pytest.raises(ValueError, match=r"`gains\['a'\]` has shape \(2,\)"):
        EfficiencyGainDisplay([0.0, 0.5, 1.0], {"a": [0.0, 0.1]}).plot()
    with pytest.raises(ValueError, match=r"`intervals\['a'\]`"):
        EfficiencyGainDisplay(
            [0.0, 1.0], {"a": [0.0, 0.0]}, intervals={"a": ([0.0], [1.0, 1.0])}
        ).plot()
    with pytest.raises(TypeError, match="`gains`"):
        EfficiencyGainDisplay([0.0, 1.0], [0.0, 0.0]).plot()
    with pytest.raises(ValueError, match=r"`curves\['x'\]` contains NaN"):
        CostQualityDisplay({"x": ([1.0, np.nan], [0.5, 0.6])}).plot()
    with pytest.raises(ValueError, match=r"`curves\['x'\]` must be two non-empty"):
        CostQualityDisplay({"x": ([], [])}).plot()


def test_cost_quality_from_estimator_checks_lengths():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = X[:, 0] + rng.normal(size=40)
    router = MetaRouter("gs-only", LinearRegression(), scale=None, n_folds=2)
    router.fit(X, y, np.ones(40))
    quality, cost = rng.normal(size=(30, 2)), np.tile([1.0, 2.0], (30, 1))
    # 10 queries against 30 rows of quality and cost: numpy's broadcast error
    with pytest.raises(ValueError, match="`quality` has 30 rows but `X` has 10"):
        CostQualityDisplay.from_estimator(router, X[:10], quality, cost)
