"""The SQLite store: exact round trips, atomic rounds, schema checks, and resuming with more rounds."""

import math
import sqlite3

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulations.engine import DEFAULT_BASE_SEED, config_hash, run_study
from simulations.store import ResultStore, RowsPayload, StoreSchemaError
from tests.simulations.toy_study import TOY


def _add(store, rows, k=0, h="c0"):
    return store.add_round(
        config_hash=h,
        config_json='{"x":1}',
        round_index=k,
        base_seed=7,
        seed=f"7:{h}:{k}",
        rows=rows,
        elapsed=0.5,
    )


def _rows():
    return pd.DataFrame(
        {
            "router": pd.Series(["a", "b", None], dtype="str"),
            "level": np.array([1, 2, -(2**62)], dtype="int64"),
            "te": [0.1 + 0.2, math.inf, math.nan],
            "tiny": [5e-324, -1.7976931348623157e308, 1 / 3],
            "ok": [True, False, True],
            "mixed": pd.Series(["x", 1.5, None], dtype=object),
        }
    )


def test_round_trip_is_exact_for_every_supported_kind(tmp_path):
    rows = _rows()
    with ResultStore(tmp_path / "s.sqlite") as store:
        assert _add(store, rows)
        loaded = store.load(7)
    assert loaded[["config_hash", "round", "row", "seed"]].values.tolist() == [
        ["c0", 0, i, "7:c0:0"] for i in range(3)
    ]
    pd.testing.assert_frame_equal(loaded[list(rows.columns)], rows, check_exact=True)
    # the payload is real SQL columns, one row per router
    con = sqlite3.connect(tmp_path / "s.sqlite")
    assert con.execute(
        "SELECT router, level FROM results WHERE ok ORDER BY row"
    ).fetchall() == [
        ("a", 1),
        (None, -(2**62)),
    ]
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_a_round_that_fails_to_store_leaves_nothing_behind(tmp_path):
    with ResultStore(tmp_path / "s.sqlite") as store:
        _add(store, pd.DataFrame({"router": ["a", "b"], "te": [1.0, 2.0]}), k=0)
        # a payload whose second row cannot be bound: the failure happens inside the
        # transaction, after the round's bookkeeping row and the first result row
        bad = RowsPayload(
            ("router", "te"), ("str", "float"), [("a", 1.0), ("b", [2.0])]
        )
        with pytest.raises(sqlite3.Error):
            _add(store, bad, k=1)
        assert store.completed(7) == {("c0", 0)}
        assert len(store.load(7)) == 2
        with pytest.raises(
            TypeError, match="cannot store value"
        ):  # caught before writing
            _add(
                store,
                pd.DataFrame({"router": ["a"], "te": pd.Series([[1]], dtype=object)}),
                k=1,
            )
        assert _add(
            store, pd.DataFrame({"router": ["c"], "te": [3.0]}), k=1
        )  # still usable
    con = sqlite3.connect(tmp_path / "s.sqlite")
    assert (
        con.execute("SELECT count(*) FROM results WHERE round = 1").fetchone()[0] == 1
    )
    assert con.execute("SELECT count(*) FROM rounds").fetchone()[0] == 2
    con.close()


def test_a_schema_created_by_a_failed_round_is_rolled_back(tmp_path):
    bad = RowsPayload(("x",), ("float",), [(1.0,), ([2.0],)])
    with ResultStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(sqlite3.Error):
            _add(store, bad)
        assert store.columns() == []
        assert _add(store, pd.DataFrame({"y": [1]}))  # another schema is now accepted
        assert store.columns() == [("y", "int")]


def test_a_round_is_stored_once(tmp_path):
    rows = pd.DataFrame({"router": ["a"], "te": [1.0]})
    with ResultStore(tmp_path / "s.sqlite") as store:
        assert _add(store, rows)
        assert not _add(store, pd.DataFrame({"router": ["z"], "te": [9.0]}))
        assert store.load(7)["router"].tolist() == ["a"]
    # a second connection (a later run) sees the same single round
    with ResultStore(tmp_path / "s.sqlite") as store:
        assert not _add(store, rows)
        table = store.rounds_table()
        assert table[["config_hash", "round", "n_rows", "elapsed"]].values.tolist() == [
            ["c0", 0, 1, 0.5]
        ]


class _InterruptAfterCommit:
    """A connection on which Ctrl-C lands just after COMMIT (or ROLLBACK) returns."""

    def __init__(self, conn, statement):
        self._conn, self._statement = conn, statement

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def execute(self, sql, *args):
        cursor = self._conn.execute(sql, *args)
        if sql == self._statement:
            raise KeyboardInterrupt
        return cursor


@pytest.mark.parametrize("statement", ["COMMIT", "ROLLBACK"])
def test_an_interrupt_after_the_transaction_ends_stays_an_interrupt(
    tmp_path, statement
):
    # A failing ROLLBACK ("no transaction is active") used to replace the
    # KeyboardInterrupt: the command then called a good store unreadable.
    with ResultStore(tmp_path / "r.sqlite") as store:
        if statement == "ROLLBACK":
            _add(store, _rows())  # stored already: add_round rolls back
        store._conn = _InterruptAfterCommit(store._conn, statement)
        with pytest.raises(KeyboardInterrupt):
            _add(store, _rows())
        store._conn = store._conn._conn
        assert store.completed(7) == {("c0", 0)}
        assert len(store.load(7)) == 3


def test_rows_with_other_columns_are_refused(tmp_path):
    with ResultStore(tmp_path / "s.sqlite") as store:
        _add(store, pd.DataFrame({"router": ["a"], "te": [1.0]}))
        with pytest.raises(StoreSchemaError, match="the study changed"):
            _add(store, pd.DataFrame({"router": ["a"], "accuracy": [1.0]}), k=1)
        assert store.completed(7) == {("c0", 0)}  # the refused round left no trace
        with pytest.raises(StoreSchemaError, match="reserved"):
            ResultStore(tmp_path / "t.sqlite").add_round(
                config_hash="c",
                config_json="{}",
                round_index=0,
                base_seed=0,
                seed="s",
                rows=pd.DataFrame({"row": [1]}),
            )
        # same columns in another order are fine and come back in the stored order
        assert _add(store, pd.DataFrame({"te": [2.0], "router": ["b"]}), k=2)
        assert store.load(7)[["router", "te"]].values.tolist() == [
            ["a", 1.0],
            ["b", 2.0],
        ]


def test_unsupported_dtypes_are_refused(tmp_path):
    rows = pd.DataFrame({"when": pd.to_datetime(["2026-01-01"])})
    with (
        ResultStore(tmp_path / "s.sqlite") as store,
        pytest.raises(TypeError, match="`when`"),
    ):
        _add(store, rows)


def test_more_rounds_compute_only_the_new_ones(tmp_path, monkeypatch):
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("TOY_MARKER_DIR", str(markers))
    out = tmp_path / "out"
    first = run_study(TOY, rounds=2, backend="serial", out_dir=out, quiet=True)
    assert len(list(markers.iterdir())) == 4 * 2  # 4 configurations x 2 rounds
    for marker in markers.iterdir():
        marker.unlink()
    more = run_study(TOY, rounds=5, backend="serial", out_dir=out, quiet=True)
    # the second run computed rounds 2, 3, 4 of each configuration, each once
    computed = sorted(tuple(m.name.split("-")[:2]) for m in markers.iterdir())
    hashes = [config_hash(c) for c in TOY.make_configs(False, None)]
    assert computed == sorted((h, str(k)) for h in hashes for k in (2, 3, 4))
    # and the result equals a fresh run of five rounds, whose first rounds equal the first run
    fresh = run_study(
        TOY, rounds=5, backend="serial", out_dir=tmp_path / "fresh", quiet=True
    )
    pd.testing.assert_frame_equal(more, fresh, check_exact=True)
    pd.testing.assert_frame_equal(
        more[more["round"] < 2].reset_index(drop=True), first, check_exact=True
    )
    # a smaller --rounds afterwards computes nothing and returns only rounds 0, 1
    for marker in markers.iterdir():
        marker.unlink()
    again = run_study(TOY, rounds=2, backend="serial", out_dir=out, quiet=True)
    assert list(markers.iterdir()) == []
    pd.testing.assert_frame_equal(again, first, check_exact=True)
    with ResultStore(out / "toy-sim" / "results.sqlite") as store:
        assert len(store.completed(DEFAULT_BASE_SEED)) == 4 * 5


_finite_or_not = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)


@settings(max_examples=25, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            _finite_or_not,
            st.integers(-(2**63), 2**63 - 1),
            st.booleans(),
            st.text(max_size=8),
            st.one_of(st.none(), st.text(max_size=3), st.floats(allow_nan=False)),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_round_comes_back_bit_identical(tmp_path_factory, data):
    rows = pd.DataFrame(
        {
            "f": pd.Series([d[0] for d in data], dtype="float64"),
            "i": pd.Series([d[1] for d in data], dtype="int64"),
            "b": pd.Series([d[2] for d in data], dtype="bool"),
            "s": pd.Series([d[3] for d in data], dtype="str"),
            "o": pd.Series([d[4] for d in data], dtype=object),
        }
    )
    path = tmp_path_factory.mktemp("fuzz") / "s.sqlite"
    with ResultStore(path) as store:
        assert _add(store, rows)
        loaded = store.load(7)[list(rows.columns)]
    pd.testing.assert_frame_equal(loaded, rows, check_exact=True)
    # bit-identical floats, not just equal (SQLite stores NaN as NULL and -0.0 as 0)
    f = rows["f"].to_numpy()
    keep = ~np.isnan(f) & (f != 0)
    np.testing.assert_array_equal(
        loaded["f"].to_numpy()[keep].view("int64"), f[keep].view("int64")
    )
