"""Malformed ``--data`` a user may point a study at: one line naming the path, exit 2.

Each case was a traceback, a misleading message or a silently wrong number before
(round 15's probe of the studies with malformed copies of the shared data).
"""

import numpy as np
import pandas as pd
import pytest

from simulations.cli import main
from simulations.realdata import ALL_MODELS, MODEL_ALIASES
from simulations.studies import escalation_realdata
from tests.simulations.test_cli_errors import FAST, one_line_error, routerbench_table

GPT4, MIXTRAL = "gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat"


@pytest.fixture
def data(tmp_path):
    """An empty ``--data`` directory."""
    directory = tmp_path / "data"
    directory.mkdir()
    return directory


def run(capsys, study, data, tmp_path) -> str:
    code = main([study, "--data", str(data), "--out", str(tmp_path / "out"), *FAST])
    return one_line_error(capsys, code)


def pairs_csv(directory, n=30, **override):
    """A judge-escalation ``pairs.csv`` of ``n`` pairs and two judges."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "pair_id": range(n),
            "instruction": [f"question {i}" for i in range(n)],
            "output_a": [f"answer a {i}" for i in range(n)],
            "output_b": [f"answer b {i}" * (1 + i % 3) for i in range(n)],
            "human_prefers_b": [i % 2 for i in range(n)],
            "p_b_cheap": rng.uniform(size=n).round(3),
            "p_b_strong": rng.uniform(size=n).round(3),
        }
    )
    for column, values in override.items():
        frame[column] = values
    directory.mkdir(exist_ok=True)
    frame.to_csv(directory / "pairs.csv", index=False)
    return directory


@pytest.mark.parametrize(
    ("column", "value", "fragment"),
    [
        (GPT4, 2.0, "must hold correctness in [0, 1] (or be empty), got 2.0 on row 1"),
        (
            MIXTRAL,
            -1.0,
            "must hold correctness in [0, 1] (or be empty), got -1.0 on row 1",
        ),
        (
            f"{GPT4}|total_cost",
            -0.5,
            "must hold finite costs >= 0 (or be empty), got -0.5",
        ),
        (
            f"{MIXTRAL}|total_cost",
            np.inf,
            "must hold finite costs >= 0 (or be empty), got inf",
        ),
    ],
)
def test_impossible_correctness_or_cost_is_refused(
    tmp_path, capsys, column, value, fragment, data
):
    # these were read as they stood: r = 2 or -0.5 outcomes, negative or infinite costs
    table = routerbench_table()
    table.loc[1, column] = value
    table.to_csv(data / "arc_challenge_train.csv", index=False)
    line = run(capsys, "racer", data, tmp_path)
    assert f"{data / 'arc_challenge_train.csv'}: column {column!r} {fragment}" in line


def test_an_unparsable_routerbench_csv_is_one_line(tmp_path, capsys, data):
    # pandas' parser message ends in a newline: the error printed on two lines
    (data / "arc_challenge_train.csv").write_text("a;b\n1;2\n3,4;5,6\n")
    line = run(capsys, "metarouter", data, tmp_path)
    assert "cannot be read as CSV (Error tokenizing data" in line


def test_metarouter_shift_refuses_a_routerbench_directory_in_one_line(
    tmp_path, capsys, data
):
    # a ValueError (not a DataError): a traceback
    routerbench_table().to_csv(data / "arc_challenge_train.csv", index=False)
    line = run(capsys, "metarouter-shift", data, tmp_path)
    assert f"--data {str(data)!r}: the metarouter-shift study runs on simulated" in line


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "pairs.csv' is empty"),
        (b"a,b\n1,2\n3,4,5\n", "CSV (Error tokenizing data. C error: Expected 2"),
        (b"a,b\ncaf\xe9,2\n", "cannot be read as a comma-separated UTF-8 CSV"),
        (None, "column 'human_prefers_b' has the value 2.0 on data row 1"),
    ],
)
@pytest.mark.parametrize("study", ["metarouter-shift", "uncertainty"])
def test_a_malformed_pairs_csv_is_one_line_in_every_judge_study(
    tmp_path, capsys, study, content, fragment
):
    # metarouter-shift read the table before the check that names --data: tracebacks
    data = tmp_path / "data"
    if content is None:
        pairs_csv(data, human_prefers_b=[2] + [0, 1] * 14 + [0])
    else:
        data.mkdir()
        (data / "pairs.csv").write_bytes(content)
    line = run(capsys, study, data, tmp_path)
    assert f"--data {str(data)!r}" in line and fragment in line


def test_a_header_only_pairs_csv_says_so(tmp_path, capsys):
    # was "only 1 pairs (by pair_id) carry a verdict of every judge ([])"
    data = tmp_path / "data"
    pairs_csv(data, n=0)
    line = run(capsys, "uncertainty", data, tmp_path)
    assert "pairs.csv' holds no pairs (a header only)" in line


def test_a_header_only_long_format_csv_counts_no_pairs(tmp_path):
    from racer_dro.judge_data import LONG_COLUMNS

    pd.DataFrame(columns=list(LONG_COLUMNS)).to_csv(tmp_path / "long.csv", index=False)
    with pytest.raises(ValueError, match=r"only 0 pairs \(by pair_id\)"):
        escalation_realdata.load_table(str(tmp_path))


def test_a_csv_in_another_encoding_beside_the_judges_is_not_a_traceback(
    tmp_path, capsys, data
):
    # the long-format sniffing read every CSV's header as UTF-8: UnicodeDecodeError
    (data / "notes.csv").write_bytes(b"caf\xe9,x\n1,2\n")
    line = run(capsys, "uncertainty", data, tmp_path)
    assert "needs a judge directory" in line
    pairs_csv(data)
    assert escalation_realdata.find_judges(data) == ("cheap", "strong")


def test_human_labels_of_one_class_are_refused_in_one_line(tmp_path, capsys):
    # the variance-only router's fit raised "`y` holds only one class" in the round
    data = pairs_csv(tmp_path / "data", human_prefers_b=1)
    line = run(capsys, "uncertainty", data, tmp_path)
    assert "prefers the same response (A or B) on every pair" in line


def test_too_few_queries_for_the_metarouter_study_is_one_line(tmp_path, capsys, data):
    # a ValueError naming the study's n_gs and n_test, raised in the round: a traceback
    routerbench_table(n=40).to_csv(data / "arc_challenge_train.csv", index=False)
    line = run(capsys, "metarouter", data, tmp_path)
    assert f"--data {str(data)!r}: 40 queries of the GPT-4/Mixtral pair" in line


def test_too_few_queries_for_the_multimodel_study_is_one_line(tmp_path, capsys, data):
    # the featuriser was fitted on no training text: "empty vocabulary", a traceback
    columns = [MODEL_ALIASES[m] for m in ALL_MODELS]
    routerbench_table(n=40, models=columns).to_csv(data / "mbpp_test.csv", index=False)
    line = run(capsys, "multimodel", data, tmp_path)
    assert f"--data {str(data)!r}: 0 training queries of model set 'five'" in line


def test_one_task_for_a_shift_names_the_data_directory(tmp_path, capsys, data):
    routerbench_table().to_csv(data / "mbpp_test.csv", index=False)
    line = run(capsys, "racer", data, tmp_path)
    assert f"--data {str(data)!r}: the cross-task shift needs" in line


def test_pacing_refuses_models_that_never_differ(tmp_path, capsys, data):
    # no query where routing changes anything: a ZeroDivisionError in the round
    for task in ("arc_challenge", "mbpp"):
        table = routerbench_table(n=40)
        table[[GPT4, MIXTRAL]] = 1.0
        table["prompt"] = [
            f"['{task} question {i} on topic {i % 7}']" for i in range(40)
        ]
        table.to_csv(data / f"{task}_train.csv", index=False)
    line = run(capsys, "pacing", data, tmp_path)
    assert "equally right on every query" in line
