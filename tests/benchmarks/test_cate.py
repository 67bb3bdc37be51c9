"""The ``cate`` benchmark: its quick smoke, its data and its like-for-like fits."""

import os
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from benchmarks.__main__ import main
from benchmarks.cate_fits import base_learners, cate, learner_fits
from metarouter.cate import SplitByTreatment
from metarouter.datasets import make_nie_wager_data as nie_wager


def test_quick_smoke_writes_table_and_accuracy_checks_hold(tmp_path):
    out = tmp_path / "R.md"
    args = ["cate", "--quick", "--out", str(out), "--cache", str(tmp_path / "c")]
    assert main([*args, "--no-progress"]) == 0
    text = out.read_text()
    assert "<!-- cate:begin -->" in text and "<!-- cate:end -->" in text
    assert "| learner | base | folds | n | setups | ours wall s |" in text
    for learner in ("R", "DR"):
        for base in ("rf", "xgb"):
            assert f"| {learner} | {base} | 2 | 400 | A |" in text
    assert "Accuracy checks:" in text and "**fails**" not in text
    assert "| base | router | whole fit s | align s | CATE learner s |" in text
    # auto's row: the learner it chose, its selection folds apart
    assert "| base | chosen | auto fit s | selection folds s |" in text
    # a second run resumes from the cache: same figures, no new measurement
    cached = (tmp_path / "c" / "cate-quick.jsonl").read_text()
    assert main([*args, "--no-progress"]) == 0
    assert (tmp_path / "c" / "cate-quick.jsonl").read_text() == cached


def test_nie_wager_truth():
    _, y, t, tau = nie_wager("B", 20000, random_state=0)
    # Setup B: e = 1/2 and tau = x1 + log(1 + e^x2); difference in means of
    # y between arms estimates E[tau] (SE ~ 0.03 at n = 20000).
    diff = y[t == 1].mean() - y[t == 0].mean()
    assert abs(diff - tau.mean()) < 0.12
    assert abs(t.mean() - 0.5) < 0.02


def test_nie_wager_setup_a_truth():
    X, _, t, tau = nie_wager("A", 20000, d=6, random_state=1)
    # Setup A: X uniform, tau = (x1 + x2) / 2 exactly; e = trim(sin(pi x1 x2))
    # so P(t = 1) = E[clip(sin(pi U1 U2), 0.1, 0.9)] (numerical integral on a
    # 400 x 400 grid); SE of the mean of t ~ 0.0035 at n = 20000.
    np.testing.assert_allclose(tau, (X[:, 0] + X[:, 1]) / 2)
    grid = (np.arange(400) + 0.5) / 400
    e = np.clip(np.sin(np.pi * np.outer(grid, grid)), 0.1, 0.9).mean()
    assert abs(t.mean() - e) < 0.015


@pytest.mark.parametrize("setup,d", [("E", 50), ("A", 4)])
def test_nie_wager_rejects_bad_arguments(setup, d):
    with pytest.raises(ValueError, match="`setup`|`d`"):
        nie_wager(setup, 10, d=d)


def test_split_by_treatment_equals_two_separate_fits():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    t = rng.binomial(1, 0.4, size=200).astype(float)
    y = X @ [1.0, -1.0, 0.5] + t * (2 + X[:, 0]) + rng.normal(size=200)
    XT = np.column_stack([X, t])
    # hand-written reference: one least-squares fit per treatment level
    ref = np.empty(200)
    for level in (0, 1):
        rows = t == level
        A = np.column_stack([np.ones(rows.sum()), X[rows]])
        coef = np.linalg.lstsq(A, y[rows], rcond=None)[0]
        ref[rows] = np.column_stack([np.ones(rows.sum()), X[rows]]) @ coef
    pred = SplitByTreatment(LinearRegression()).fit(XT, y).predict(XT)
    # two least-squares solvers on the same well-conditioned problem: 1e-10
    np.testing.assert_allclose(pred, ref, atol=1e-10)


@pytest.mark.parametrize("learner", ["R", "DR"])
def test_learner_fits_compute_the_same_estimator_as_econml(learner):
    """Deterministic linear learners: ours and econml agree to 1e-8."""
    rng = np.random.default_rng(3)
    n = 600
    X = rng.normal(size=(n, 4))
    t = rng.binomial(1, 1 / (1 + np.exp(-0.8 * X[:, 0])))
    y = X[:, 0] + t * (1 + X[:, 1]) + rng.normal(scale=0.5, size=n)
    folds = [
        (np.flatnonzero(np.arange(n) % 3 != k), np.arange(k, n, 3)) for k in (0, 1, 2)
    ]
    ours, econ = learner_fits(
        learner, LinearRegression(), LogisticRegression(), X, y, t, folds, n_jobs=2
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = ours(), econ()
    # propensities stay inside [0.05, 0.95] here, so our clip never binds and
    # both sides do the same arithmetic; 1e-8 covers lbfgs and rounding
    assert a.n_propensity_clipped_ == 0
    np.testing.assert_allclose(cate(a, X), cate(b, X), rtol=0, atol=1e-8)


def test_base_learners_are_single_threaded_and_seeded():
    for base in ("rf", "xgb"):
        reg, clf = base_learners(base, {"n_estimators": 3}, seed=7)
        for model in (reg, clf):
            params = model.get_params()
            assert params["n_jobs"] == 1 and params["random_state"] == 7
    # forests may leave their threads to joblib; XGBoost stays on one thread
    assert base_learners("rf", {}, seed=0, n_jobs=None)[0].n_jobs is None
    assert base_learners("xgb", {}, seed=0, n_jobs=None)[0].n_jobs == 1
    with pytest.raises(ValueError, match="`base`"):
        base_learners("svm", {}, seed=0)


def _busy(seconds):
    import time

    start = time.process_time()
    while time.process_time() - start < seconds:
        pass
    return time.process_time() - start


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="Linux /proc")
def test_children_cpu_sees_the_work_of_loky_workers():
    from joblib import Parallel, delayed

    from benchmarks._core import children_cpu

    Parallel(n_jobs=2)(delayed(_busy)(0.01) for _ in range(2))  # start workers
    before = children_cpu()
    spent = Parallel(n_jobs=2)(delayed(_busy)(0.3) for _ in range(2))
    seen = children_cpu() - before
    # each worker reports its own CPU time; /proc counts in clock ticks (10 ms)
    # and adds the workers' small dispatch overhead: within 0.05 s below, 0.3 above
    assert sum(spent) - 0.05 <= seen <= sum(spent) + 0.3


def test_router_step_times_are_the_steps_that_ran_within_the_fit():
    """The benchmark reads the router's steps from ``step_times_`` (public API)."""
    import time

    from metarouter import MetaRouter
    from metarouter.datasets import make_routing_data

    data = make_routing_data(60, 200, 10, 5, random_state=0)
    kw = {"propensity_model": LogisticRegression(), "n_folds": 2, "random_state": 0}
    start = time.perf_counter()
    r = MetaRouter("r", LinearRegression(), **kw).fit(data.X, data.y, data.source)
    wall = time.perf_counter() - start
    assert set(r.step_times_) == {"align", "shift", "correct", "gain"}
    assert min(r.step_times_.values()) >= 0 and sum(r.step_times_.values()) <= wall
    # no correction: only the alignment and step 2 ran
    g = MetaRouter("gs-only", LinearRegression()).fit(data.X, data.y, data.source)
    assert set(g.step_times_) == {"align", "gain"}
