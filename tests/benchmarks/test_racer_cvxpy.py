"""The RACER benchmark runs end to end (tiny) and its accuracy columns meet the stated
tolerances: objective to 1e-6, policy to 1e-3 (CVXPY's own accuracy; see
tests/racer_dro/test_reference.py)."""

import numpy as np
import pandas as pd

from benchmarks import racer_cvxpy


def test_run_tiny_accuracy_within_tolerances():
    table = racer_cvxpy.run([40, 120], repeats=1, progress=False)
    assert list(table["n"]) == [40, 120]
    assert table["converged"].all()
    assert (table["objective_diff"] <= 1e-6).all()
    assert (table["policy_max_diff"] <= 1e-3).all()
    assert (table["speed_ratio"] > 0).all() and np.isfinite(table["speed_ratio"]).all()


def test_main_writes_csv_and_skips_cvxpy_above_limit(tmp_path, capsys):
    code = racer_cvxpy.main(
        [
            "--sizes",
            "30",
            "400",
            "--repeats",
            "1",
            "--cvxpy-max",
            "100",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    table = pd.read_csv(tmp_path / "racer_cvxpy.csv")
    assert table["objective_diff"].iloc[0] <= 1e-6
    assert np.isnan(
        table["cvxpy_seconds"].iloc[1]
    )  # primal-dual only above --cvxpy-max
    assert table["converged"].all()
    assert "speed_ratio" in capsys.readouterr().out
