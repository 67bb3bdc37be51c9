"""The router-grid coverage study counts the replications that warned."""

import numpy as np
import pytest

from simulations.studies.metarouter_shift_study import coverage_table


@pytest.mark.slow
def test_coverage_table_counts_warnings():
    """Shift 1.5, 50 GS rows, 100 replications (about 10 s)."""
    table = coverage_table(100, shifts=(1.5,), sizes=(50,))
    small = table[table["intervals"] == "small-sample"].set_index("quantity")
    # A and B disagree on ~17% of the 50 rows, whose log-normal (sd 1.5) weights
    # leave a Kish n_eff of ~2-3 among them: most draws warn (measured 0.76 over
    # 1000 replications); the efficiency rule is active on ~65% of the rows
    # (~8 effective rows): almost never (0.006)
    assert small.loc["a_minus_b", "warned_classical"] > 0.5
    assert small.loc["efficiency", "warned_classical"] < 0.1
    # the warning depends on g and the weights only, not on the method
    np.testing.assert_array_equal(small["warned_classical"], small["warned_ppi"])
    # coverage among the unwarned draws is a share of those draws
    for method in ("classical", "ppi"):
        cov = small[f"coverage_unwarned_{method}"].to_numpy()
        assert np.all((cov >= 0) & (cov <= 1))
