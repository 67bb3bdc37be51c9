"""Every CLI failure a user can cause is one line naming the path and what to do, exit 2.

The data errors run the real studies (their first round reads ``--data``) on the
serial backend with one round, so a failure is reached in about a second.
"""

import os
import sqlite3
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from simulations.cli import main
from simulations.errors import DataError
from simulations.realdata import load_routerbench
from tests.simulations.toy_study import STUDIES, TOY

FAST = ["--quick", "--rounds", "1", "--backend", "serial", "--quiet"]

#: The columns of a RouterBench CSV that the loader reads, for two models.
MODELS = ("gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat")


def routerbench_table(n=4, drop=(), models=MODELS) -> pd.DataFrame:
    table = {"sample_id": [f"q{i}" for i in range(n)], "prompt": ["['q']"] * n}
    for model in models:
        table[model] = [1.0, 0.0] * (n // 2)
        table[f"{model}|model_response"] = ["['answer']"] * n
        table[f"{model}|total_cost"] = [0.01] * n
    return pd.DataFrame(table).drop(columns=list(drop))


def one_line_error(capsys, code) -> str:
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("python -m simulations: error: ")
    return lines[0]


@pytest.mark.parametrize("study", ["metarouter", "racer"])
def test_empty_data_directory_says_what_files_it_needs(tmp_path, capsys, study):
    data = tmp_path / "data"
    data.mkdir()
    code = main([study, "--data", str(data), "--out", str(tmp_path / "o"), *FAST])
    line = one_line_error(capsys, code)
    assert f"{data}: no RouterBench files" in line and "<task>_<split>.csv" in line


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "is empty"),
        (bytes(range(128, 256)) * 8, "cannot be read as CSV"),
        (b'a,b\n1,2\n"3,4\n', "cannot be read as CSV"),  # an unclosed quote
    ],
)
def test_malformed_csv_names_the_file(tmp_path, capsys, content, fragment):
    data = tmp_path / "data"
    data.mkdir()
    (data / "arc_challenge_train.csv").write_bytes(content)
    code = main(["metarouter", "--data", str(data), "--out", str(tmp_path), *FAST])
    line = one_line_error(capsys, code)
    assert f"{data / 'arc_challenge_train.csv'}" in line and fragment in line


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        (routerbench_table(drop=["prompt"]), "no column 'prompt'"),
        (
            routerbench_table(drop=["gpt-4-1106-preview|total_cost"]),
            "no column 'gpt-4-1106-preview|total_cost'",
        ),
        (
            # the premium model is absent: the message lists the models that are there
            routerbench_table(models=["claude-v2", "mistralai/mixtral-8x7b-chat"]),
            (
                "model 'gpt-4-1106-preview' is not in this table; its models are "
                "['claude-v2', 'mistralai/mixtral-8x7b-chat']"
            ),
        ),
        (
            routerbench_table().assign(**{"gpt-4-1106-preview": ["yes", 0, 1, 0]}),
            "column 'gpt-4-1106-preview' holds non-numbers (row 0: 'yes')",
        ),
    ],
)
def test_wrong_columns_name_the_file_and_the_column(tmp_path, capsys, table, fragment):
    data = tmp_path / "data"
    data.mkdir()
    table.to_csv(data / "arc_challenge_train.csv", index=False)
    code = main(["racer", "--data", str(data), "--out", str(tmp_path), *FAST])
    line = one_line_error(capsys, code)
    assert str(data / "arc_challenge_train.csv") in line and fragment in line


def test_the_loader_reads_a_well_formed_minimal_table(tmp_path):
    # the tables above differ from this one only by the fault they plant
    routerbench_table().to_csv(tmp_path / "mbpp_test.csv", index=False)
    data = load_routerbench(tmp_path, ["mbpp"], ["test"])
    assert data.r.tolist() == [0.0, 0.0, 0.0, 0.0]  # both models equally right
    assert (data.premium, data.alternative) == MODELS


@pytest.mark.parametrize("study", ["uncertainty", "pacing"])
def test_a_data_directory_of_the_wrong_kind_is_one_line(study, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    code = main([study, "--data", str(data), "--out", str(tmp_path), *FAST])
    line = one_line_error(capsys, code)
    assert str(data) in line and "pairs.csv" in line


def test_the_engine_tells_data_use_from_the_configurations(tmp_path, capsys):
    # the toy study puts the directory into its configurations: accepted (test_cli);
    # the same study ignoring it is refused before any round runs
    ignoring = replace(
        TOY, make_configs=lambda quick, data_dir: TOY.make_configs(quick, None)
    )
    data = tmp_path / "data"
    data.mkdir()
    argv = ["toy", "--data", str(data), "--out", str(tmp_path), *FAST]
    line = one_line_error(capsys, main(argv, studies={"toy": ignoring}))
    assert f"cannot use --data {data}" in line
    assert not (tmp_path / "toy-data-data" / "results.sqlite").exists()
    assert main(argv, studies=STUDIES) == 0


def test_unwritable_out_names_the_directory(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    out = blocker / "results"
    code = main(["toy", "--out", str(out), *FAST], studies=STUDIES)
    line = one_line_error(capsys, code)
    assert f"cannot write to {out / 'toy-sim'}" in line and "writable --out" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_out_names_the_directory(tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir(mode=0o500)
    code = main(["toy", "--out", str(out), *FAST], studies=STUDIES)
    assert "cannot write to" in one_line_error(capsys, code)


def test_read_only_store_is_not_called_corrupted(tmp_path, capsys, monkeypatch):
    # A read-only results.sqlite (any user; root too with chattr +i) was reported as
    # "not a readable results store ...; delete it": a good store, wrong advice.
    assert main(["toy", "--out", str(tmp_path), *FAST], studies=STUDIES) == 0
    store = tmp_path / "toy-sim" / "results.sqlite"
    connect = sqlite3.connect

    def read_only(path, **kwargs):
        return connect(f"file:{Path(path).as_posix()}?mode=ro", uri=True, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", read_only)
    code = main(["toy", "--out", str(tmp_path), *FAST], studies=STUDIES)
    line = one_line_error(capsys, code)
    assert str(store) in line and "make it writable" in line
    assert "delete it" not in line


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda path: path.write_bytes(b"this is not an SQLite database" * 100),
        lambda path: sqlite3.connect(path).executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "INSERT INTO meta VALUES ('format_version', '99');"
        ),
    ],
    ids=["garbage", "other-format"],
)
def test_corrupted_store_names_the_store_and_says_what_to_do(tmp_path, capsys, corrupt):
    store = tmp_path / "toy-sim" / "results.sqlite"
    store.parent.mkdir()
    corrupt(store)
    code = main(["toy", "--out", str(tmp_path), *FAST], studies=STUDIES)
    line = one_line_error(capsys, code)
    assert str(store) in line and "delete it" in line


def test_data_errors_are_value_errors_for_library_callers(tmp_path):
    with pytest.raises(ValueError, match="`tasks`: no file of task 'mbpp'"):
        load_routerbench(tmp_path, ["mbpp"], ["test"])
    assert issubclass(DataError, ValueError)
