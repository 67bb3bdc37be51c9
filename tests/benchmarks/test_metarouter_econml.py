"""The metarouter-vs-econml benchmark runs and reports checkable numbers."""

import numpy as np

from benchmarks.metarouter_econml import main, nie_wager, run


def test_tiny_run_accuracy_columns(tmp_path):
    table = run(n=300, n_test=300, repeats=1, setups=("A", "D"), seeds=(0,), n_folds=3)
    assert set(table["learner"]) == {"R", "DR"} and len(table) == 4
    for col in ("time_ours", "time_econml", "mse_ours", "mse_econml"):
        assert np.all(np.isfinite(table[col])) and np.all(table[col] > 0), col
    r = table[table["learner"] == "R"]
    # Same folds, same deterministic learners, same formula as NonParamDML; our
    # propensity clip at 0.01 is the only difference (setup A trims e to
    # [0.1, 0.9]; D can reach the clip): within 5%.
    assert np.all(np.abs(r["mse_ratio"] - 1) < 0.05)
    dr = table[table["learner"] == "DR"]
    # Separate mu_0/mu_1 vs econml's joint regression on [X, T]: different but
    # comparable estimators; at n = 300 a factor 2 bounds the sampling noise.
    assert np.all(dr["mse_ratio"] < 2.0)


def test_nie_wager_truth():
    _, y, t, tau = nie_wager("B", 20000, random_state=0)
    # Setup B: e = 1/2 and tau = x1 + log(1 + e^x2); difference in means of
    # y between arms estimates E[tau] (SE ~ 0.03 at n = 20000).
    diff = y[t == 1].mean() - y[t == 0].mean()
    assert abs(diff - tau.mean()) < 0.12
    assert abs(t.mean() - 0.5) < 0.02


def test_main_writes_csv(tmp_path, monkeypatch, capsys):
    import benchmarks.metarouter_econml as bench

    monkeypatch.setattr(bench, "SETUPS", ("B",))
    original = bench.run

    def small_run(**kwargs):
        kwargs.update(setups=("B",), n=200, n_test=200)
        return original(**kwargs)

    monkeypatch.setattr(bench, "run", small_run)
    assert main(["--quick", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "metarouter_econml.csv").exists()
    assert "mse_ratio" in capsys.readouterr().out
