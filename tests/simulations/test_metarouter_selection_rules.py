"""The selection-rules study scores the library's own rules on the library's own fits."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from metarouter import MetaRouter, StackedMetaRouter
from metarouter.selection import CANDIDATES
from metarouter.stacking import DEFAULT_CANDIDATES
from simulations.studies import metarouter_selection_rules as study


@pytest.fixture(scope="module")
def case():
    data = study.draw("held-out noisy", 60, 400, 300, random_state=3)
    template = MetaRouter(
        outcome_model=Ridge(), propensity_model=LogisticRegression(),
        n_folds=2, scale=None,
    )  # fmt: skip
    return data, template, study.candidate_predictions(template, data, seed=7)


def test_auto_and_stacked_rules_reproduce_the_routers(case):
    """The study's ``auto`` and ``stacked`` rules are the routers' own choices on the same
    seed: the same candidate, and the same weights to solver rounding (1e-10: the weights
    solve the same linear system on the same numbers)."""
    data, template, pred = case
    auto = MetaRouter(
        "auto",
        Ridge(),
        propensity_model=LogisticRegression(),
        n_folds=2,
        scale=None,
        random_state=7,
    ).fit(data.X, data.y, data.source)
    w = study.rule_weights("auto", pred["held"], pred["y_gs"])
    assert CANDIDATES[int(np.argmax(w))] == auto.selected_learner_
    stacked = StackedMetaRouter(template, random_state=7).fit(
        data.X, data.y, data.source
    )  # the default candidates: the rule "stacked"
    w = study.rule_weights("stacked", pred["held"], pred["y_gs"])
    np.testing.assert_allclose(
        w, stacked.weights_.reindex(CANDIDATES, fill_value=0.0).to_numpy(), atol=1e-10
    )
    # and the stacked router's test predictions are the weighted candidates'
    np.testing.assert_allclose(
        w @ pred["test"], stacked.predict(data.X_test), atol=1e-10
    )
    every = StackedMetaRouter(template, candidates=CANDIDATES, random_state=7)
    every.fit(data.X, data.y, data.source)
    w = study.rule_weights("stacked, all six", pred["held"], pred["y_gs"])
    np.testing.assert_allclose(w, every.weights_.to_numpy(), atol=1e-10)


def test_rules_weights_and_scores(case):
    """Every rule's weights lie on the simplex (the default stack: none on the DR learners), and a
    draw's scores are the test MSEs of those combinations."""
    _, _, pred = case
    row = study.score_draw(pred)
    dr = [CANDIDATES.index(n) for n in CANDIDATES if n not in DEFAULT_CANDIDATES]
    for rule in study.RULES:
        w = study.rule_weights(rule, pred["held"], pred["y_gs"])
        assert np.all(w >= 0) and abs(w.sum() - 1.0) < 1e-12
        if rule == "stacked":
            assert np.all(w[dr] == 0)
        mse = np.mean((w @ pred["test"] - pred["m_test"]) ** 2)
        assert row[rule] == pytest.approx(mse, rel=1e-12)
    with pytest.raises(ValueError, match="`rule`"):
        study.rule_weights("best", pred["held"], pred["y_gs"])


def test_held_out_processes_have_their_truths():
    """The held-out processes' GS queries sit at their centres (5 SEs of 2000 draws)."""
    for name, (_, _, centre, _) in study.HELD_OUT.items():
        data = study.draw(name, 2000, 10, 10, random_state=0)
        gs = data.X[data.source == 1]
        for j, v in centre.items():
            assert abs(gs[:, j].mean() - v) < 5 / np.sqrt(2000), name
