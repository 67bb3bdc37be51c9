"""Pairwise judge data: the long format, its readers, the wide table and correctness."""

import doctest
import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from racer_dro.judge_data import (
    LONG_COLUMNS,
    read_escalation_csv,
    read_judge_jsonl,
    to_judge_table,
    verdict_correctness,
)

SHARED = Path("/work/shared/data/judge-escalation")


@pytest.mark.parametrize("name", ["racer_dro.judge_data", "racer_dro.judge_evaluation"])
def test_docstring_examples(name):
    result = doctest.testmod(
        importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0 and result.failed == 0


def _write_csv(tmp_path, **override):
    frame = pd.DataFrame(
        {
            "pair_id": [0, 1, 2],
            "instruction": ["q0", "q1", "q2"],
            "output_a": ["a0", "a1", "a2"],
            "output_b": ["b0", "b1", "b2"],
            "human_prefers_b": [1, 0, 1],
            "p_b_small": [0.9, 0.6, 0.2],
            "p_b_big": [0.8, 0.1, 0.7],
        }
    )
    for k, v in override.items():
        frame[k] = v
    path = tmp_path / "pairs.csv"
    frame.to_csv(path, index=False)
    return tmp_path


def test_escalation_csv_roundtrip(tmp_path):
    long = read_escalation_csv(_write_csv(tmp_path))
    assert tuple(long.columns) == LONG_COLUMNS
    assert len(long) == 6 and set(long["order"]) == {"ab"}
    table = to_judge_table(long)
    assert table.judges == ("small", "big")
    # small: right, wrong (0.6 says B, gold A), wrong; big: right, right, right
    np.testing.assert_array_equal(
        table.rewards("small", "big"), [[1, 1], [0, 1], [0, 1]]
    )
    np.testing.assert_array_equal(table.costs(2.0), [[0, 2]] * 3)


def test_escalation_csv_rejects_probabilities_outside_unit_interval(tmp_path):
    with pytest.raises(ValueError, match=r"p_b.*\[0, 1\]"):
        read_escalation_csv(_write_csv(tmp_path, p_b_small=[0.2, 1.3, 0.5]))


def test_escalation_csv_rejects_other_files(tmp_path):
    pd.DataFrame({"x": [1]}).to_csv(tmp_path / "pairs.csv", index=False)
    with pytest.raises(ValueError, match="not a judge-escalation CSV"):
        read_escalation_csv(tmp_path)
    with pytest.raises(ValueError, match="not a file"):
        read_escalation_csv(tmp_path / "nothing")


def test_jsonl_both_orders_average_and_map_back(tmp_path):
    rows = [
        # consistent judge: says A in both orders (swapped verdict names original labels)
        {
            "question_id": 1,
            "gold": "model_a",
            "g1_winner": "model_a",
            "g2_winner": "model_a",
        },
        # position-biased judge: always says "first shown" -> A then B; averaged to a tie
        {
            "question_id": 2,
            "gold": "model_b",
            "g1_winner": "model_a",
            "g2_winner": "model_b",
        },
        # only one order judged
        {"question_id": 3, "gold": "tie", "g1_winner": "[[B]]", "g2_winner": None},
    ]
    path = tmp_path / "j.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    long = read_judge_jsonl(path, judge="j")
    assert len(long) == 5
    table = to_judge_table(long)
    np.testing.assert_allclose(table.probability("j"), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(table.frame["n_orders_j"], [2, 2, 1])
    # correctness: right; tie -> 1/2; gold tie -> 1/2
    np.testing.assert_allclose(
        verdict_correctness(table.probability("j"), table.gold), [1.0, 0.5, 0.5]
    )


def test_jsonl_presented_labels_are_flipped(tmp_path):
    # "A" in the swapped order means the response shown first: the original B.
    path = tmp_path / "j.jsonl"
    path.write_text(json.dumps({"question_id": 1, "g1_winner": "B", "g2_winner": "A"}))
    long = read_judge_jsonl(path, judge="j", swapped_in_presented_labels=True)
    np.testing.assert_array_equal(long["p_b"], [1.0, 1.0])
    assert long["gold"].isna().all()


def test_jsonl_bad_verdict_names_line_and_key(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text(
        json.dumps({"question_id": 1, "g1_winner": "A"})
        + "\n"
        + json.dumps({"question_id": 2, "g1_winner": "maybe"})
    )
    with pytest.raises(ValueError, match="line 2.*g1_winner"):
        read_judge_jsonl(path, judge="j")


def test_missing_gold_pairs_are_dropped():
    long = pd.DataFrame(
        {
            "pair_id": ["1", "2"],
            "prompt": "q",
            "response_a": "a",
            "response_b": "b",
            "gold": [1.0, np.nan],
            "judge": "j",
            "order": "ab",
            "p_b": [0.7, 0.2],
        }
    )
    assert to_judge_table(long).frame["pair_id"].tolist() == ["1"]


def test_verdict_correctness_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        verdict_correctness([0.2, 0.3], [1])


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared judge data not present")
def test_shared_data_matches_its_readme():
    # data/README.md: accuracy vs human 75.0% (mistral), 75.6% (gpt-3.5), 78.4% (gpt-4)
    table = to_judge_table(read_escalation_csv(SHARED))
    assert table.frame.shape[0] == 500
    for judge, acc in (
        ("mistral-7b-instruct", 0.750),
        ("gpt-3.5-turbo", 0.756),
        ("gpt-4-turbo", 0.784),
    ):
        r = verdict_correctness(table.probability(judge), table.gold)
        assert abs(r.mean() - acc) < 1e-9
