"""The uncertainty study on the shared judge-escalation pairs (``--data``)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulations.engine import round_seed
from simulations.studies import escalation_realdata, uncertainty_study

JUDGE = Path("/work/shared/data/judge-escalation")
pytestmark = pytest.mark.skipif(not JUDGE.is_dir(), reason="shared data not present")


def test_data_flag_is_used_not_ignored(tmp_path):
    config = uncertainty_study.make_configs(True, str(JUDGE))[0]
    assert config["dataset"] == "judge-escalation"
    with pytest.raises(ValueError, match="pairs.csv"):
        uncertainty_study.make_configs(True, str(tmp_path))


@pytest.fixture(scope="module")
def rows():
    config = uncertainty_study.make_configs(True, str(JUDGE))[0]
    out = uncertainty_study.run_round(config, round_seed(config, 0))
    return out.assign(round=0, **config)


def test_one_split_is_consistent(rows):
    wide = rows.pivot_table(index="call_fraction", columns="router", values="accuracy")
    assert rows["n_train"].iloc[0] == 300 and rows["n_test"].iloc[0] == 200
    # the oracle bounds every router at equal calls; nothing is below all-cheap
    # minus the strong judge's losses (the oracle never routes a loss)
    for name in escalation_realdata.ROUTERS:
        assert (wide[name] <= wide["oracle"] + 1e-9).all()
    cheap = rows["acc_cheap"].iloc[0]
    assert (wide["oracle"] > cheap).all()
    # random in expectation: linear in the calls between all-cheap and all-strong
    strong = rows["acc_strong"].iloc[0]
    np.testing.assert_allclose(
        wide["random"], cheap + wide.index * (strong - cheap), atol=0.3
    )


def test_summary_reports_paired_differences_with_two_standard_errors(rows):
    two = rows.assign(round=1)
    both = pd.concat([rows, two], ignore_index=True)
    tables = uncertainty_study.summarise(both)
    assert list(tables) == ["headline", "vs_random", "vs_margin", "detection_auc"]
    auc = tables["detection_auc"].set_index("router")["auc_cheap_wrong"]
    assert set(auc.index) == {"escalation", "p_wrong", "margin", "variance_only"}
    assert ((auc > 0) & (auc < 1)).all()
    vm = tables["vs_margin"]
    # identical rounds: every difference has sd 0
    assert (vm["se_naive"] == 0).all() and (vm["se_corrected"] == 0).all()


def _as_judgebench(directory, table, cheap, strong):
    """The shared pairs rewritten as JudgeBench outputs: the cheap judge as a reward
    model (scores 0 and logit p, i.e. its probability as a Bradley-Terry score
    difference), the strong judge's verdict in both orders (the swapped run names the
    presented positions)."""
    import json

    frame = table.frame
    p_cheap = np.clip(table.probability(cheap), 1e-6, 1 - 1e-6)
    s = np.log(p_cheap) - np.log1p(-p_cheap)
    v = np.where(table.probability(strong) > 0.5, "B>A", "A>B")
    swapped = {"A>B": "B>A", "B>A": "A>B"}
    cheap_lines, strong_lines = [], []
    for i, row in frame.iterrows():
        base = {
            "pair_id": row["pair_id"],
            "question": row["prompt"],
            "response_A": row["response_a"],
            "response_B": row["response_b"],
            "label": "B>A" if row["gold"] == 1 else "A>B",
        }
        rm = [
            {"judgment": {"judge_model": "rm", "scores": sc}, "decision": None}
            for sc in ([0.0, s[i]], [s[i], 0.0])
        ]
        llm = [
            {"judgment": {"judge_model": "llm"}, "decision": d}
            for d in (v[i], swapped[v[i]])
        ]
        cheap_lines.append(json.dumps({**base, "judgments": rm}))
        strong_lines.append(json.dumps({**base, "judgments": llm}))
    # file names that do not say which judge is which: the scores tell
    (directory / "judge_one.jsonl").write_text("\n".join(strong_lines))
    (directory / "judge_two.jsonl").write_text("\n".join(cheap_lines))


def test_judgebench_directory_runs_the_same_study(tmp_path, rows):
    # the shared pairs in JudgeBench's format give the same rewards and, split for
    # split, the same routers' accuracies (the cheap logit is the same number)
    shared = escalation_realdata.load_table(str(JUDGE))
    _as_judgebench(
        tmp_path, shared, escalation_realdata.CHEAP, escalation_realdata.STRONG
    )
    # JudgeBench's pairs file beside the judges' outputs is not a judge
    pairs = [{"pair_id": "p", "question": "q", "label": "A>B"}]
    (tmp_path / "dataset=judgebench.jsonl").write_text(json.dumps(pairs[0]))
    config = uncertainty_study.make_configs(True, str(tmp_path))[0]
    assert (config["cheap_judge"], config["strong_judge"]) == ("rm", "llm")
    table = escalation_realdata.load_table(config["data_dir"])
    np.testing.assert_array_equal(
        table.rewards("rm", "llm"),
        shared.rewards(escalation_realdata.CHEAP, escalation_realdata.STRONG),
    )
    shared_config = uncertainty_study.make_configs(True, str(JUDGE))[0]
    out = uncertainty_study.run_round(config, round_seed(shared_config, 0))
    # tolerance: the logit goes through a sigmoid and back (1e-15 relative), which
    # can at most swap exact ties in a ranking: 0.5 points is one test pair in 200
    np.testing.assert_allclose(out["accuracy"], rows["accuracy"], atol=0.51)
    assert (
        np.mean(np.abs(out["accuracy"].to_numpy() - rows["accuracy"].to_numpy()) < 1e-9)
        > 0.9
    )


def test_judge_directory_that_cannot_name_its_judges_fails_clearly(tmp_path):
    shared = escalation_realdata.load_table(str(JUDGE))
    _as_judgebench(
        tmp_path, shared, escalation_realdata.CHEAP, escalation_realdata.STRONG
    )
    (tmp_path / "judge_three.jsonl").write_text(
        (tmp_path / "judge_one.jsonl").read_text().replace('"llm"', '"llm2"')
    )
    with pytest.raises(ValueError, match="cheap\\*.jsonl and strong\\*.jsonl"):
        uncertainty_study.make_configs(True, str(tmp_path))


def test_judges_that_share_no_pairs_are_refused(tmp_path):
    # a strong judge run on other pairs (another response model's file): no pair
    # carries both verdicts, so no reward of both arms exists
    shared = escalation_realdata.load_table(str(JUDGE))
    _as_judgebench(
        tmp_path, shared, escalation_realdata.CHEAP, escalation_realdata.STRONG
    )
    strong = tmp_path / "judge_one.jsonl"
    strong.write_text(strong.read_text().replace('"pair_id": "', '"pair_id": "other-'))
    with pytest.raises(
        ValueError, match="only 0 pairs .* carry a verdict of every judge"
    ):
        uncertainty_study.make_configs(True, str(tmp_path))


def test_long_format_directory_is_read_as_documented(tmp_path):
    # racer_dro.judge_data's documented long format, written by its own reader of the
    # shared CSV: same judges, rewards and configuration as the shared directory
    from racer_dro.judge_data import read_escalation_csv

    read_escalation_csv(JUDGE).to_csv(tmp_path / "judges.csv", index=False)
    config = uncertainty_study.make_configs(True, str(tmp_path))[0]
    shared = uncertainty_study.make_configs(True, str(JUDGE))[0]
    assert {k: v for k, v in config.items() if k != "data_dir"} == {
        k: v for k, v in shared.items() if k != "data_dir"
    }
    table = escalation_realdata.load_table(config["data_dir"])
    np.testing.assert_array_equal(
        table.rewards(config["cheap_judge"], config["strong_judge"]),
        escalation_realdata.load_table(str(JUDGE)).rewards(
            shared["cheap_judge"], shared["strong_judge"]
        ),
    )
    # a malformed long file is one clear error, not a traceback
    bad = read_escalation_csv(JUDGE).assign(p_b=2.0)
    bad.to_csv(tmp_path / "judges.csv", index=False)
    escalation_realdata.load_table.cache_clear()
    with pytest.raises(ValueError, match="`p_b` must be probabilities"):
        uncertainty_study.make_configs(True, str(tmp_path))
