"""The command: outputs, quiet mode, one-line errors with exit code 2."""

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from simulations.cli import _format_number, main
from tests.simulations.toy_study import STUDIES, TOY

ROOT = Path(__file__).resolve().parents[2]


def test_run_writes_results_tables_figures_and_prints_the_headline(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        ["toy", "--quick", "--backend", "serial", "--out", str(out)], studies=STUDIES
    )
    captured = capsys.readouterr()
    assert code == 0
    directory = out / "toy-sim"
    rows = pd.read_csv(directory / "results.csv")
    assert len(rows) == 2 * TOY.rounds[0] * 3  # quick grid x quick rounds x routers
    # each summary table's CSV is the study's summary of the stored rows
    tables = TOY.summarise(rows)
    for name in ("headline", "comparisons"):
        written = pd.read_csv(directory / f"{name}.csv")
        pd.testing.assert_frame_equal(written, tables[name].reset_index(drop=True),
                                      check_dtype=False, rtol=1e-12)  # fmt: skip
    assert (directory / "toy_scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the headline table is printed (its columns and every router), then the paths
    assert "headline:" in captured.out and "ci_low" in captured.out
    assert all(router in captured.out for router in ("random", "ols", "shrunk"))
    for name in ("results.sqlite", "results.csv", "headline.csv", "toy_scores.png"):
        assert str(directory / name) in captured.out
    assert "round" in captured.err  # the progress bar went to stderr


def test_quiet_prints_nothing_and_a_rerun_resumes(tmp_path, capsys):
    args = [
        "toy",
        "--rounds",
        "2",
        "--backend",
        "serial",
        "--out",
        str(tmp_path),
        "--quiet",
    ]
    assert main(args, studies=STUDIES) == 0
    first = pd.read_csv(tmp_path / "toy-sim" / "results.csv")
    assert capsys.readouterr() == ("", "")
    assert main([*args[:2], "3", *args[3:]], studies=STUDIES) == 0
    more = pd.read_csv(tmp_path / "toy-sim" / "results.csv")
    pd.testing.assert_frame_equal(more[more["round"] < 2].reset_index(drop=True), first)
    assert sorted(more["round"].unique()) == [0, 1, 2]


def test_data_and_seed_options_reach_the_study(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    args = [
        "toy",
        "--rounds",
        "1",
        "--backend",
        "serial",
        "--quiet",
        "--out",
        str(tmp_path),
    ]
    assert main([*args, "--data", str(data), "--seed", "5"], studies=STUDIES) == 0
    rows = pd.read_csv(tmp_path / "toy-data-data" / "results.csv")
    assert (rows["data"] == str(data)).all()
    assert rows["seed"].str.startswith("5:").all()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["toy", "--rounds", "0"], "--rounds must be at least 1"),
        (["toy", "--jobs", "0"], "--jobs must be at least 1"),
        (["toy", "--rounds", "many"], "invalid int value"),
        (
            ["toy", "--scheduler", "tcp://127.0.0.1:8786"],
            "--scheduler needs --backend dask",
        ),
        (["toy", "--data", "/nonexistent/dir"], "is not a directory"),
        (["toy", "--backend", "spark"], "invalid choice"),
        (["nostudy"], "invalid choice"),
        ([], "required"),
        (["toy", "--seed", "-1"], "--seed must be non-negative"),
        (["toy", "--unknown"], "unrecognized arguments"),
    ],
)
def test_invalid_arguments_give_one_line_and_exit_code_2(
    tmp_path, capsys, argv, fragment
):
    code = main([*argv, "--out", str(tmp_path / "out")], studies=STUDIES)
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m simulations: error:")
    assert fragment in lines[0]
    assert not (tmp_path / "out").exists()  # nothing was run


def test_a_seed_too_large_for_the_store_is_one_line(tmp_path, capsys):
    # the store keeps the seed in a signed 64-bit integer: 2**63 was a traceback
    out = tmp_path / "out"
    code = main(["toy", "--seed", str(2**63), "--out", str(out)], studies=STUDIES)
    lines = capsys.readouterr().err.splitlines()
    assert code == 2
    assert len(lines) == 1 and "--seed must be at most 9223372036854775807" in lines[0]
    assert not out.exists()
    largest = ["toy", "--quick", "--backend", "serial", "--quiet", "--out", str(out)]
    assert main([*largest, "--seed", str(2**63 - 1)], studies=STUDIES) == 0


def test_data_must_be_a_directory_not_a_file(tmp_path, capsys):
    path = tmp_path / "file.csv"
    path.write_text("a\n")
    assert main(["toy", "--data", str(path)], studies=STUDIES) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_help_exits_0(capsys):
    assert main(["--help"], studies=STUDIES) == 0
    assert "--backend" in capsys.readouterr().out


def test_python_m_simulations_rejects_bad_arguments_in_one_line():
    # the real entry point, with the real registry's names (the studies are not imported
    # before the arguments are valid)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "simulations",
            "metarouter",
            "--backend",
            "dask",
            "--jobs",
            "-3",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "python -m simulations: error: --jobs must be at least 1, got -3 (see --help)"
    ]


def test_console_script_rejects_bad_arguments_in_one_line():
    script = Path(sys.executable).with_name("routing-simulations")
    if not script.exists():
        pytest.skip("the console script is not installed (pip install -e .)")
    result = subprocess.run(
        [str(script), "racer", "--rounds", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "routing-simulations: error: --rounds must be at least 1, got 0 (see --help)"
    ]


def _summarise_with_awkward_names(rows):
    by_router = rows.groupby("router", sort=True)["score"].mean().reset_index()
    return {
        "EG by PMUR (%)": by_router.assign(p=3.1e-5, big=12345.678),
        "results": by_router,
    }


def test_table_names_are_safe_and_never_overwrite_the_tidy_rows(tmp_path, capsys):
    study = replace(TOY, summarise=_summarise_with_awkward_names)
    args = ["toy", "--rounds", "1", "--backend", "serial", "--out", str(tmp_path)]
    assert main(args, studies={"toy": study}) == 0
    out = capsys.readouterr().out
    directory = tmp_path / "toy-sim"
    assert len(pd.read_csv(directory / "results.csv")) == 4 * 3  # the tidy rows survive
    assert list(pd.read_csv(directory / "table_results.csv").columns) == [
        "router",
        "score",
    ]
    assert (directory / "EG_by_PMUR.csv").is_file()
    # printed: 4 significant digits, whole numbers from 1000, scientific below 0.001
    assert "EG by PMUR (%):" in out and "3.10e-05" in out and "12346" in out


@pytest.mark.parametrize(
    ("value", "text"),
    [(12345.678, "12346"), (123.456, "123.5"), (0.012345, "0.01235"), (3.1e-5, "3.10e-05"),
     (0.0, "0"), (-2.5, "-2.5"), (float("nan"), "nan")],
)  # fmt: skip
def test_numbers_are_printed_sensibly(value, text):
    assert _format_number(value) == text


def _wide_summary(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    head = TOY.summarise(rows)["headline"].reset_index(drop=True)
    for i in range(12):
        head[f"a_long_column_name_{i}"] = head["median"] * i
    head.attrs["legend"] = {"a_long_column_name_3": "three times the median"}
    return {"headline": head}


def test_printed_table_fits_100_columns_repeats_its_keys_and_has_a_legend(
    tmp_path, capsys
):
    wide = replace(TOY, summarise=_wide_summary)
    argv = ["toy", "--rounds", "2", "--backend", "serial", "--out", str(tmp_path)]
    assert main(argv, studies={"toy": wide}) == 0
    printed = capsys.readouterr().out
    head = _wide_summary(pd.read_csv(tmp_path / "toy-sim" / "results.csv"))["headline"]
    assert (
        len(head.to_string()) > 0 and max(map(len, head.to_string().splitlines())) > 100
    )
    # the table and its legend fit; lines naming file paths (tmp_path's length varies
    # with the test runner, e.g. pytest-xdist's popen-gwN folders) are not the table's
    shown = printed.split("headline:")[1]
    legend_lines = shown.split("columns:")[1].split("\n\n")[0].splitlines()
    table_lines = shown.split("columns:")[0].splitlines()
    assert max(len(line) for line in table_lines + legend_lines) <= 100
    table = printed.split("headline:")[1].split("columns:")[0]
    blocks = [b for b in table.split("\n\n") if b.strip()]
    assert len(blocks) >= 3  # the columns did not fit side by side
    for block in blocks:  # every block names its rows (the keys are the index)
        assert all(router in block for router in ("random", "ols", "shrunk"))
    legend = printed.split("columns:")[1]
    for column in head.columns:
        assert f"\n  {column}: " in legend
    assert "a_long_column_name_3: three times the median" in legend
    assert "median: median over rounds" in legend
