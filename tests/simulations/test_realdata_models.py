"""The K-model RouterBench loader against the raw CSV cells, read here with pandas alone."""

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulations import realdata

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "routerbench"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason="shared RouterBench data absent"
)

GPT4, MIXTRAL, MISTRAL = (
    "gpt-4-1106-preview",
    "mistralai/mixtral-8x7b-chat",
    "mistralai/mistral-7b-chat",
)


@needs_data
def test_cells_match_the_raw_file():
    raw = pd.read_csv(DATA / "mbpp_test.csv")
    cols = [MISTRAL, MIXTRAL, GPT4]
    data = realdata.load_routerbench_models(
        DATA, ["mbpp"], ["test"], models=["mistral-7b", "mixtral-8x7b", GPT4]
    )
    keep = raw[cols + [f"{c}|total_cost" for c in cols]].notna().all(axis=1)
    assert data.n_queries == int(keep.sum())
    assert data.models == ("mistral-7b", "mixtral-8x7b", "gpt-4-1106-preview")
    np.testing.assert_array_equal(data.correct, raw.loc[keep, cols].to_numpy(float))
    np.testing.assert_array_equal(
        data.cost, raw.loc[keep, [f"{c}|total_cost" for c in cols]].to_numpy(float)
    )
    first = ast.literal_eval(raw.loc[keep, f"{GPT4}|model_response"].iloc[0])[0]
    assert data.response_length[0, 2] == len(first)
    # the documented cost shift: gpt-4 costs about 53x mixtral on mbpp (README of the data)
    ratio = data.mean_cost()[2] / data.mean_cost()[1]
    assert 40 < ratio < 70


@needs_data
def test_rows_missing_any_chosen_model_are_dropped_and_counted():
    raw = pd.read_csv(DATA / "arc_challenge_test.csv")
    every = [realdata.resolve_model(m, raw.columns) for m in realdata.ALL_MODELS]
    cells = raw[every + [f"{c}|total_cost" for c in every]]
    expected = int(cells.isna().any(axis=1).sum())
    assert expected > 0  # the file has missing cells (data README)
    with pytest.warns(UserWarning, match="dropped"):
        data = realdata.load_routerbench_models(DATA, ["arc_challenge"], ["test"])
    assert data.n_dropped == expected
    assert data.n_queries == len(raw) - expected
    assert data.n_models == 11
    sub = data.subset(data.correct[:, 5] == 1)
    assert sub.n_queries == int(data.correct[:, 5].sum())
    assert (sub.correct[:, 5] == 1).all()


def test_bad_arguments_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="`data_dir`"):
        realdata.load_routerbench_models(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="`models`"):
        realdata.load_routerbench_models(tmp_path, models=["gpt-4-1106-preview"])


@needs_data
def test_repeated_model_is_refused():
    with pytest.raises(ValueError, match="`models`"):
        realdata.load_routerbench_models(
            DATA, ["mbpp"], ["test"], models=["mixtral-8x7b", MIXTRAL]
        )
