"""The off-grid coverage study: a known truth, warnings where they must fire."""

import numpy as np

from simulations.studies.metarouter_coverage_synthetic import synthetic_coverage_table


def test_synthetic_coverage_table_small():
    table = synthetic_coverage_table(
        300,
        sizes=(50,),
        shares=(0.05, 1.0),
        mus=(0.5,),
        noises=("normal",),
        shifts=(1.0,),
        seed=3,
    )
    # p = 0.05 -> "uniform" and "tail"; p = 1 -> "uniform" only
    assert len(table) == 3
    dense = table[table["p_nonzero"] == 1.0].iloc[0]
    # g = +-1 on every row, weights log-normal with sd 1 (Kish n_eff ~ 50 / e = 18):
    # never warned; 300 replications, binomial sd 0.0126, so [0.91, 0.99] is
    # about +-3 sd around 0.95
    assert dense["warned_classical"] == 0.0
    assert 0.91 <= dense["coverage_classical"] <= 0.99
    assert 0.91 <= dense["coverage_ppi"] <= 0.99
    # PPI++ with an informative m_hat is narrower than the classical interval
    assert dense["width_ratio"] < 1.0
    # g != 0 only below the 5% quantile of the target queries while the GS queries
    # sit one sd higher: P(x < -1.645 - 1) = 0.4%, ~0.2 of 50 rows -> always warned
    tail = table[table["where"] == "tail"].iloc[0]
    assert tail["warned_classical"] == 1.0 and tail["warned_ppi"] == 1.0
    assert np.isnan(tail["coverage_unwarned_classical"])
    np.testing.assert_allclose(table["mc_sd"], np.sqrt(0.95 * 0.05 / 300))
