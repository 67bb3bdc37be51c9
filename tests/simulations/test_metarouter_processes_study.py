"""The metarouter-processes study: its processes' truths, one round, the summary per process."""

import numpy as np
import pandas as pd
import pytest

from simulations.cli import STUDY_NAMES
from simulations.engine import round_seed
from simulations.errors import DataError
from simulations.studies import STUDIES, metarouter_processes_study
from simulations.studies._metarouter_fits import ROUTERS
from simulations.studies.metarouter_processes_study import PROCESSES, draw


def test_registered_and_simulated_only():
    assert "metarouter-processes" in STUDIES and "metarouter-processes" in STUDY_NAMES
    with pytest.raises(DataError, match="/nowhere"):
        metarouter_processes_study.make_configs(data_dir="/nowhere")
    quick = metarouter_processes_study.make_configs(quick=True)
    assert sorted(c["process"] for c in quick) == sorted(PROCESSES)


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_each_process_has_its_stated_centre_and_bias(name):
    """GS queries sit at the process's centre, PB queries at 0 (5 standard errors of a
    mean of 5,000 unit-variance draws); the reported shift is the bias, the PB
    outcomes' mean is m - bias (5 SEs at the process's noise sd)."""
    p = PROCESSES[name]
    data = draw(name, 5000, 5000, 10, random_state=0)
    gs, pb = data.source == 1, data.source == 0
    tol = 5 / np.sqrt(5000)
    np.testing.assert_allclose(data.X[gs].mean(0), p.gs_mean(), atol=tol)
    np.testing.assert_allclose(data.X[pb].mean(0), 0.0, atol=tol)
    np.testing.assert_allclose(data.delta, p.bias(data.X), rtol=1e-15)
    resid = data.y[pb] - (p.m(data.X[pb]) - p.bias(data.X[pb]))
    assert abs(resid.mean()) < tol * p.noise
    assert np.ptp(data.delta) > 0 or name in ("unbiased-judge", "constant-bias")


def test_one_round_scores_every_router_against_the_true_m():
    """A small round: one row per router, MSEs positive, auto's row is its choice's."""
    config = {
        "process": "linear-bias", "n_gs": 30, "n_pb": 300, "n_test": 200,
        "learner": "default", "n_folds": 2, "n_holdout": 100,
    }  # fmt: skip
    rows = metarouter_processes_study.run_round(config, round_seed(config, 0))
    assert list(rows["router"]) == list(ROUTERS)
    assert np.all(rows["m_mse"] > 0)
    auto = rows[rows["router"] == "auto"].iloc[0]
    chosen = rows[rows["router"] == auto["chosen"]].iloc[0]
    assert auto["m_mse"] == chosen["m_mse"]


def test_summary_has_one_row_per_process():
    """The shift study's summary, grouped by process: the best fixed router per process."""
    routers = ("r", "offset", "gs-only", "pooled", "auto", "stacked")
    frames = []
    for process, winner in (("linear-bias", "r"), ("unbiased-judge", "pooled")):
        for k in range(2):
            mse = {r: 0.2 for r in routers} | {winner: 0.05, "auto": 0.06}
            frames.append(
                pd.DataFrame(
                    {
                        "router": list(routers), "m_mse": [mse[r] for r in routers],
                        "chosen": [winner if r == "auto" else r for r in routers],
                        "covered_classical": True, "covered_ppi": True,
                        "width_classical": 0.2, "width_ppi": 0.1, "round": k,
                        "process": process, "n_gs": 50, "learner": "rf_small",
                    }
                )
            )  # fmt: skip
    head = metarouter_processes_study.summarise(pd.concat(frames))["headline"]
    assert dict(zip(head["process"], head["best"])) == {
        "linear-bias": "r",
        "unbiased-judge": "pooled",
    }
    assert np.allclose(head["auto/best"], 0.06 / 0.05)


@pytest.mark.parametrize("name", sorted(PROCESSES))
@pytest.mark.parametrize("method", ["classical", "ppi"])
def test_intervals_cover_on_every_process(name, method):
    """Monte Carlo coverage of the 95% interval of a fixed rule's gain over random
    routing (top 30% by an imperfect m_hat) from 300 fresh weighted GS rows, 300 draws:
    binomial sd 1.3 points, so [91%, 99%] is about +-3 sd. The truth is the gain on
    400,000 target queries (its own error is below 1e-3 of the interval widths)."""
    import warnings

    from metarouter.inference import functional_interval

    p = PROCESSES[name]

    def m_hat(X):  # a router's estimate: m with an error it cannot see
        return p.m(X) + 0.1 * np.sin(3 * X[:, 2])

    big = draw(name, 1, 0, 400_000, random_state=1)
    thr = np.quantile(m_hat(big.X_test), 0.7)
    truth = np.mean(((m_hat(big.X_test) > thr) - 0.3) * big.m_test)
    hits = []
    for k in range(300):
        hold = draw(name, 300, 0, 2000, random_state=100 + k)
        mh, mt = m_hat(hold.X), m_hat(hold.X_test)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ci = functional_interval(
                (mh > thr) - 0.3, hold.y, m_hat_gs=mh, g_target=(mt > thr) - 0.3,
                m_hat_target=mt, weights=hold.target_weight, method=method,
            )  # fmt: skip
        hits.append(ci.lower <= truth <= ci.upper)
    assert 0.91 <= np.mean(hits) <= 0.99, np.mean(hits)
