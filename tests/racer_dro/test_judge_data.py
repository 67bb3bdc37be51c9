"""Pairwise judge data: the long format, its readers, the wide table and correctness."""

import doctest
import importlib
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from racer_dro.judge_data import (
    LONG_COLUMNS,
    read_escalation_csv,
    read_judge_jsonl,
    read_judgebench_jsonl,
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
    with pytest.warns(
        UserWarning, match=r"dropped 1 of 2 pairs without a gold label \(pair_id '2'\)"
    ):
        table = to_judge_table(long)
    assert table.frame["pair_id"].tolist() == ["1"]
    assert table.n_dropped == 1


def test_verdict_correctness_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        verdict_correctness([0.2, 0.3], [1])


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared judge data not present")
def test_shared_data_matches_its_readme():
    # data/README.md: accuracy vs human 75.0% (mistral), 75.6% (gpt-3.5), 78.4% (gpt-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every pair has its human label: none dropped
        table = to_judge_table(read_escalation_csv(SHARED))
    assert table.frame.shape[0] == 500 and table.n_dropped == 0
    for judge, acc in (
        ("mistral-7b-instruct", 0.750),
        ("gpt-3.5-turbo", 0.756),
        ("gpt-4-turbo", 0.784),
    ):
        r = verdict_correctness(table.probability(judge), table.gold)
        assert abs(r.mean() - acc) < 1e-9


# --- JudgeBench's JSONL format -------------------------------------------------------


def _judgebench_reference_reward(label, decisions):
    """JudgeBench's own scoring (utils/metrics.py), written out: the swapped decision is
    flipped, each decision votes +1 (matches the label) or -1 (the opposite), and the
    pair is right (1) or wrong (0) by the sign; a zero total is a tie (1/2 here)."""
    flip = {"A>B": "B>A", "B>A": "A>B"}
    # JudgeBench stores Arena-Hard's strong verdicts ("A>>B") as plain ones ("A>B")
    first, second = (None if d is None else d.replace(">>", ">") for d in decisions)
    second = flip.get(second, second)
    votes = 0
    for d in (first, second):
        if d == label:
            votes += 1
        elif d == flip[label]:
            votes -= 1
    return 1.0 if votes > 0 else 0.0 if votes < 0 else 0.5


def _judgebench_line(i, label, decisions, judge="o1"):
    return {
        "pair_id": f"p{i}",
        "original_id": i,
        "source": "mmlu-pro-law",
        "question": f"q{i}",
        "response_model": "gpt-4o",
        "response_A": f"a{i}",
        "response_B": f"b{i}",
        "label": label,
        "judge_name": "arena_hard",
        "judgments": [
            None
            if d is None
            else {"judgment": {"judge_model": judge, "response": "..."}, "decision": d}
            for d in decisions
        ],
    }


def test_judgebench_verdicts_score_as_judgebench_scores_them(tmp_path):
    # 300 pairs with random labels and decisions in both orders (ties, strong
    # preferences, missing judgements); exact agreement with JudgeBench's rule
    rng = np.random.default_rng(0)
    choices = ["A>B", "B>A", "A=B", "A>>B", "B>>A", None]
    lines, expected = [], []
    for i in range(300):
        label = ["A>B", "B>A"][rng.integers(2)]
        decisions = [choices[rng.integers(len(choices))] for _ in range(2)]
        lines.append(_judgebench_line(i, label, decisions))
        expected.append(_judgebench_reference_reward(label, decisions))
    path = tmp_path / "strong.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines))
    table = to_judge_table(read_judgebench_jsonl(path))
    assert table.judges == ("o1",)
    # a pair with no verdict in either order has no long row: it is absent
    silent = {f"p{i}" for i, r in enumerate(lines) if r["judgments"] == [None, None]}
    ids = table.frame["pair_id"].tolist()
    assert silent and set(ids) == {f"p{i}" for i in range(300)} - silent
    got = verdict_correctness(table.probability("o1"), table.gold)
    np.testing.assert_array_equal(got, [expected[int(i[1:])] for i in ids])
    assert set(table.frame["n_orders_o1"]) <= {0, 1, 2}


def test_judgebench_reward_model_scores_become_bradley_terry_probabilities(tmp_path):
    rng = np.random.default_rng(1)
    lines, diffs = [], []
    for i in range(50):
        s_a, s_b = rng.normal(10, 5, size=2)
        diffs.append(s_b - s_a)
        row = _judgebench_line(i, "A>B", ["A>B", "B>A"], judge="rm")
        # the second run shows B first: its scores are [score of B, score of A]
        row["judgments"][0]["judgment"]["scores"] = [s_a, s_b]
        row["judgments"][1]["judgment"]["scores"] = [s_b, s_a]
        lines.append(row)
    path = tmp_path / "rm.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines))
    long = read_judgebench_jsonl(path, judge="cheap")
    assert set(long["judge"]) == {"cheap"} and len(long) == 100
    table = to_judge_table(long)
    # logit(p_b) recovers the score difference B - A; tolerance: float rounding of
    # exp/log at |diff| up to ~30
    logit = np.log(table.probability("cheap")) - np.log1p(-table.probability("cheap"))
    np.testing.assert_allclose(logit, diffs, rtol=1e-9, atol=1e-9)


def test_judgebench_bad_lines_name_the_line_and_key(tmp_path):
    good = _judgebench_line(0, "A>B", ["A>B", "A>B"])
    cases = [
        (
            {k: v for k, v in good.items() if k != "judgments"},
            "line 2 has no key 'judgments'",
        ),
        ({**good, "judgments": [{"decision": "maybe"}]}, "line 2: `decision`"),
        ({**good, "label": "A?B"}, "line 2: `label`"),
        (
            {**good, "judgments": [{"judgment": {"scores": [1.0]}, "decision": "A>B"}]},
            "line 2: `scores`",
        ),
    ]
    for bad, message in cases:
        path = tmp_path / "bad.jsonl"
        path.write_text(json.dumps(good) + "\n" + json.dumps(bad))
        with pytest.raises(ValueError, match=re.escape(message)):
            read_judgebench_jsonl(path)


def test_escalation_csv_reads_score_differences(tmp_path):
    directory = _write_csv(tmp_path, score_b_rm=[2.0, -1.0, 0.0])
    table = to_judge_table(read_escalation_csv(directory))
    assert table.judges == ("small", "big", "rm")
    np.testing.assert_allclose(
        table.probability("rm"), 1 / (1 + np.exp(-np.array([2.0, -1.0, 0.0])))
    )
    bad = _write_csv(tmp_path, p_b_rm=[2.0, -1.0, 0.0])
    with pytest.raises(ValueError, match="score_b_rm"):
        read_escalation_csv(bad)


def test_dotted_keys_read_judgebench_verdicts_as_its_own_reader_does(tmp_path):
    rng = np.random.default_rng(2)
    choices = ["A>B", "B>A", "A=B", None]
    lines = [
        _judgebench_line(i, "A>B", [choices[rng.integers(4)] for _ in range(2)])
        for i in range(80)
    ]
    path = tmp_path / "judge.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines))
    nested = read_judge_jsonl(
        path,
        judge="o1",
        pair_id="pair_id",
        prompt="question",
        response_a="response_A",
        response_b="response_B",
        gold="label",
        verdict_ab="judgments.0.decision",
        verdict_ba="judgments.1.decision",
        swapped_in_presented_labels=True,
    )
    own = read_judgebench_jsonl(path)
    pd.testing.assert_frame_equal(nested, own)


# --- inputs the readers must not misread (exact checks: every value is 0, 1/2 or 1) ---


def test_jsonl_three_pairs_swapped_verdicts_map_back_by_hand(tmp_path):
    rows = [
        {"question_id": "p1", "gold": "A", "g1_winner": "A>B", "g2_winner": "A>B"},
        {"question_id": "p2", "gold": "B", "g1_winner": "[[B]]", "g2_winner": "[[A]]"},
        {"question_id": "p3", "gold": "tie", "g1_winner": " Tie ", "g2_winner": "B>>A"},
    ]
    path = tmp_path / "j.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    # presented labels: in the swapped run "A" is the original B, "B" the original A
    long = read_judge_jsonl(path, judge="j", swapped_in_presented_labels=True)
    assert long["order"].tolist() == ["ab", "ba"] * 3
    assert long["p_b"].tolist() == [0.0, 1.0, 1.0, 1.0, 0.5, 0.0]
    # original labels: the swapped verdict is read as it is
    long = read_judge_jsonl(path, judge="j")
    assert long["p_b"].tolist() == [0.0, 0.0, 1.0, 0.0, 0.5, 1.0]
    assert long["gold"].tolist() == [0.0, 0.0, 1.0, 1.0, 0.5, 0.5]


def test_jsonl_byte_order_mark_and_windows_line_ends_are_read(tmp_path):
    rows = [{"question_id": i, "gold": "A", "g1_winner": "B"} for i in range(2)]
    text = "\r\n".join(json.dumps(r) for r in rows)
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    long = read_judge_jsonl(path, judge="j")
    assert long["pair_id"].tolist() == ["0", "1"]
    assert long["p_b"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("line", ["5", "[1, 2]", '"question_id"', "null"])
@pytest.mark.parametrize("reader", ["judge", "judgebench"])
def test_jsonl_lines_that_are_not_objects_name_file_and_line(tmp_path, line, reader):
    path = tmp_path / "j.jsonl"
    first = _judgebench_line(0, "A>B", ["A>B", "A>B"])
    path.write_text(json.dumps(first) + "\n" + line)
    with pytest.raises(ValueError, match=r"j\.jsonl' line 2 is not a JSON object"):
        if reader == "judge":
            read_judge_jsonl(path, judge="j", pair_id="pair_id")
        else:
            read_judgebench_jsonl(path)


def test_judgebench_judgment_that_is_not_an_object_keeps_its_decision(tmp_path):
    row = _judgebench_line(0, "A>B", ["B>A", "B>A"])
    row["judgments"][0]["judgment"] = "free text"
    path = tmp_path / "o1.jsonl"
    path.write_text(json.dumps(row))
    long = read_judgebench_jsonl(path)
    # the second judgement (swapped, presented B = original A) names the judge
    assert long["p_b"].tolist() == [1.0, 0.0] and set(long["judge"]) == {"o1"}


def test_repeated_pair_judge_and_order_is_refused(tmp_path):
    # two lines with the same pair id and conflicting verdicts and gold used to be
    # averaged into a tie with n_orders 2, and the second gold dropped silently
    path = tmp_path / "j.jsonl"
    path.write_text(
        json.dumps({"question_id": 1, "gold": "A", "g1_winner": "A"})
        + "\n"
        + json.dumps({"question_id": 1, "gold": "B", "g1_winner": "B"})
    )
    with pytest.raises(ValueError, match="pair_id '1', judge 'j', order 'ab'"):
        read_judge_jsonl(path, judge="j")
    csv = _write_csv(tmp_path, pair_id=[0, 1, 0])
    with pytest.raises(ValueError, match="repeat a"):
        read_escalation_csv(csv)


def test_gold_and_texts_come_from_any_judges_rows(tmp_path):
    # a cheap judge's file without gold first, the strong judge's with gold second:
    # the pairs have gold and must be kept (they were all dropped)
    cheap = tmp_path / "cheap.jsonl"
    cheap.write_text(
        "\n".join(json.dumps({"question_id": i, "g1_winner": "A"}) for i in range(3))
    )
    strong = tmp_path / "strong.jsonl"
    strong.write_text(
        "\n".join(
            json.dumps(
                {"question_id": i, "prompt": f"q{i}", "gold": g, "g1_winner": "B"}
            )
            for i, g in enumerate(["A", "B", "tie"])
        )
    )
    long = pd.concat(
        [read_judge_jsonl(cheap, judge="c"), read_judge_jsonl(strong, judge="s")],
        ignore_index=True,
    )
    table = to_judge_table(long)
    assert table.frame["pair_id"].tolist() == ["0", "1", "2"]
    assert table.gold.tolist() == [0.0, 1.0, 0.5]
    assert table.frame["prompt"].tolist() == ["q0", "q1", "q2"]
    np.testing.assert_array_equal(
        table.rewards("c", "s"), [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]
    )
    other = long.copy()
    other.loc[other["judge"] == "c", "gold"] = 1.0  # contradicts pair 0's gold A
    with pytest.raises(ValueError, match="pair_id '0' has conflicting gold"):
        to_judge_table(other)


def test_escalation_csv_pair_ids_are_labels_and_bad_cells_are_named(tmp_path):
    directory = _write_csv(tmp_path, pair_id=["007", "8", "9"])
    long = read_escalation_csv(directory)
    assert long["pair_id"].tolist()[:3] == ["007", "8", "9"]  # not "7"
    for column, values, match in [
        ("p_b_small", [0.9, None, 0.2], r"'p_b_small'.*data row 2 \(pair_id '8'\)"),
        ("p_b_big", [0.8, 0.1, "high"], r"'p_b_big'.*'high'.*data row 3"),
        ("human_prefers_b", [1, "yes", 0], r"'human_prefers_b'.*'yes'.*data row 2"),
    ]:
        with pytest.raises(ValueError, match=match):
            read_escalation_csv(
                _write_csv(tmp_path, pair_id=["007", "8", "9"], **{column: values})
            )
    (tmp_path / "pairs.csv").write_text("")
    with pytest.raises(ValueError, match=r"pairs\.csv' is empty"):
        read_escalation_csv(tmp_path)


def test_verdict_correctness_refuses_nan():
    # NaN used to score 0 (wrong) without a word
    with pytest.raises(ValueError, match=r"`gold` holds NaN \(at index 1\)"):
        verdict_correctness([0.9, 0.9], [1.0, np.nan])
    with pytest.raises(ValueError, match=r"`p_b` holds NaN \(at index 0\)"):
        verdict_correctness([np.nan, 0.9], [1.0, 1.0])


def test_escalation_csv_malformed_files_name_the_file_and_column(tmp_path):
    # a gold of 2 was reported as "`path`: `gold` must be 0, 0.5, 1 or NaN" (no file,
    # no column), a header-only file passed, pandas' parse and decode errors passed
    # through unnamed (with a trailing newline), numbers printed as np.float64(...)
    cases = [
        (
            {"human_prefers_b": [1, 2, 0]},
            r"'human_prefers_b' has the value 2\.0 on data row 2",
        ),
        ({"human_prefers_b": [1, -1, 0]}, r"'human_prefers_b' has the value -1\.0"),
        ({"p_b_small": [0.2, 1.3, 0.5]}, r"outside \[0, 1\] \(e\.g\. 1\.3\)"),
    ]
    for override, match in cases:
        with pytest.raises(ValueError, match=match):
            read_escalation_csv(_write_csv(tmp_path, **override))
    path = _write_csv(tmp_path) / "pairs.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    with pytest.raises(
        ValueError, match=r"pairs\.csv' holds no pairs \(a header only\)"
    ):
        read_escalation_csv(path)
    for content in (b"a,b\n1,2\n3,4,5\n", b"a,b\ncaf\xe9,2\n"):
        path.write_bytes(content)
        with pytest.raises(
            ValueError, match="cannot be read as a comma-separated"
        ) as err:
            read_escalation_csv(path)
        assert "\n" not in str(err.value) and str(path) in str(err.value)
