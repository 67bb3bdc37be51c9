"""The harness benchmark: a --quick smoke through the CLI, resuming from its cache,
the plan, and the exact-rows digest (timings themselves are never asserted)."""

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks import harness
from benchmarks.__main__ import main
from simulations.studies import metarouter_study


def test_quick_smoke_writes_the_table_and_resumes_from_its_cache(tmp_path, monkeypatch):
    out, cache = tmp_path / "R.md", tmp_path / "c"
    args = ["harness", "--quick", "--out", str(out), "--cache", str(cache)]
    # 0 means every accuracy check held: loky and dask rows identical to serial,
    # the stored rows identical to the bare loop's, the overhead finite
    assert main([*args, "--no-progress"]) == 0
    text = out.read_text()
    assert "<!-- harness:begin -->" in text and "<!-- harness:end -->" in text
    for row in (
        "bare loop of run_round",
        "run_study, serial",
        "run_study, loky, 2 workers",
    ):
        assert f"| {row} |" in text
    assert "parallel rows identical to serial: holds" in text
    assert "Projected wall time" in text
    # every measurement was cached: a second run measures nothing and reports the same
    first = _tables(text)

    def no_measuring(*args, **kwargs):
        raise AssertionError("a cached measurement was taken again")

    monkeypatch.setattr(harness, "_measure", no_measuring)
    monkeypatch.setattr(harness, "_warm", no_measuring)
    monkeypatch.setattr(harness, "run_study", no_measuring)
    assert main([*args, "--no-progress"]) == 0
    assert _tables(out.read_text()) == first


def _tables(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def test_full_plan_times_a_paper_configuration_and_projects_the_paper_grid():
    plan = harness.make_plan(quick=False)
    grid = metarouter_study.make_configs(quick=False)
    assert plan.config in grid
    assert (plan.config["learner"], plan.config["n_gs"], plan.config["d"]) == (
        "xgb",
        100,
        50,
    )
    assert list(plan.grid) == grid and plan.target_rounds == 100
    # an even number of rounds per run, so both workers get the same count
    assert plan.rounds % harness.WORKERS == 0


def test_digest_tells_apart_exactly_what_the_store_keeps():
    base = pd.DataFrame({"r": ["a", "b"], "x": [0.0, math.nan], "n": [1, 2]})
    same = pd.DataFrame({"r": ["a", "b"], "x": [-0.0, None], "n": [1, 2]})
    # SQLite keeps -0.0 as 0.0 and NaN as NULL: those must not count as differences
    assert harness._digest(base) == harness._digest(same)
    one_ulp = base.assign(x=[np.nextafter(0.0, 1.0), math.nan])
    assert harness._digest(one_ulp) != harness._digest(base)
    as_float = base.assign(n=[1.0, 2.0])
    assert harness._digest(as_float) != harness._digest(base)
    renamed = base.rename(columns={"n": "m"})
    assert harness._digest(renamed) != harness._digest(base)


def test_run_rejects_zero_repeats():
    with pytest.raises(ValueError, match="`repeats`"):
        harness.run(quick=True, repeats=0, cache=None, progress=False)


def _fake_benchmark(monkeypatch):
    """Replace every benchmark module by one that measures nothing (the CLI's plumbing)."""
    import types

    import benchmarks.__main__ as cli
    from benchmarks._core import Section

    def run(quick, repeats, cache, progress):
        return Section(name="fake", title="Fake", command="fake")

    module = types.SimpleNamespace(run=run)
    monkeypatch.setattr(cli, "import_module", lambda name: module)
    return cli


def test_quick_run_writes_under_results_never_the_published_report(
    tmp_path, monkeypatch, capsys
):
    cli = _fake_benchmark(monkeypatch)
    published = cli.PUBLISHED.read_bytes()
    monkeypatch.chdir(tmp_path)
    assert cli.main(["dro", "--quick", "--no-progress"]) == 0
    quick = tmp_path / "results" / "benchmarks" / "RESULTS-quick.md"
    assert "## Fake (quick smoke run" in quick.read_text()
    assert not (tmp_path / "benchmarks").exists()
    assert cli.PUBLISHED.read_bytes() == published
    # aiming a quick run at the published report is refused before anything runs
    with pytest.raises(SystemExit) as exit_:
        cli.main(["dro", "--quick", "--out", str(cli.PUBLISHED), "--no-progress"])
    assert exit_.value.code == 2
    assert "published" in capsys.readouterr().err
    assert cli.PUBLISHED.read_bytes() == published
    # a full run's default is the published report's path (relative to the checkout)
    assert cli.report_path(None, quick=False) == cli.DEFAULT_OUT
