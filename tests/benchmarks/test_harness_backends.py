"""The harness benchmark reports a consistent table (timings themselves are not asserted)."""

import numpy as np

from benchmarks import harness_backends


def test_round_is_a_pure_function_of_its_seed():
    config = {"c": 0, "work_ms": 0.0}
    seed = np.random.SeedSequence(7)
    first = harness_backends.run_round(config, seed)
    second = harness_backends.run_round(config, np.random.SeedSequence(7))
    assert first.equals(second)


def test_table_is_consistent():
    table = harness_backends.run(rounds=2, configs=2, work_ms=0.0, repeats=1, jobs=2)
    assert list(table["backend"]) == ["serial", "loky", "dask"]
    assert (table["rounds"] == 4).all()
    # ratios are to the serial median of the same run, so serial's is exactly one
    assert table.loc[table["backend"] == "serial", "ratio_to_serial"].item() == 1.0
    np.testing.assert_allclose(
        table["rounds_per_s"] * table["median_wall_s"], 4, rtol=1e-12
    )
