"""The resumable result store: one embedded SQLite file per study run.

Layout (all in one file, WAL mode):

- ``configs(config_hash, config)``: the configuration of each hash, as canonical JSON.
- ``rounds(config_hash, base_seed, round, seed, n_rows, elapsed, completed_at)``:
  one row per *completed* round (its bookkeeping).
- ``results(config_hash, base_seed, round, row, seed, <the study's columns>...)``:
  one row per (configuration, round, router, level...), in the row order
  ``run_round`` produced. The study's columns are real SQL columns, so the store
  can be queried directly (``SELECT router, avg(te) FROM results GROUP BY router``).
- ``columns(position, name, kind)``: the study's columns and their kinds
  (``bool``, ``int``, ``float``, ``str``, ``object``) to restore dtypes on load.

Values come back exactly as stored (floats are IEEE doubles), with two SQLite
conventions: NaN is stored as NULL (read back as NaN in float columns) and -0.0
as 0.0.

A round's ``rounds`` row and its ``results`` rows are written in one
transaction, so a round is either fully stored or absent: a process killed at
any instant (even with SIGKILL) leaves only complete rounds behind. Only one
process writes (the parent of the workers); SQLite's locking makes concurrent
writers safe anyway (a round stored twice is ignored the second time).
"""

from __future__ import annotations

import math
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import StoreError

__all__ = [
    "ResultStore",
    "RowsPayload",
    "StoreError",
    "StoreSchemaError",
    "rows_payload",
]

FORMAT_VERSION = "1"

_KEY_COLUMNS = ("config_hash", "base_seed", "round", "row", "seed")
_SQL_TYPES = {
    "bool": "BOOLEAN",
    "int": "INTEGER",
    "float": "REAL",
    "str": "TEXT",
    "object": "",
}


class StoreSchemaError(StoreError):
    """A round's rows do not fit the columns already in the store.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> with tempfile.TemporaryDirectory() as d, ResultStore(f"{d}/r.sqlite") as store:
    ...     _ = store.add_round(config_hash="c", config_json="{}", round_index=0, base_seed=0,
    ...                         seed="0:c:0", rows=pd.DataFrame({"te": [1.0]}))
    ...     try:
    ...         store.add_round(config_hash="c", config_json="{}", round_index=1, base_seed=0,
    ...                         seed="0:c:1", rows=pd.DataFrame({"eg": [1.0]}))
    ...     except StoreSchemaError as err:
    ...         print("refused")
    refused
    """


def _not_a_store(path: Path, err: sqlite3.DatabaseError) -> StoreError:
    if getattr(err, "sqlite_errorname", "").startswith("SQLITE_READONLY"):
        # a good store that cannot be written (read-only file): do not say "delete it"
        return StoreError(
            f"cannot write to the results store {path} ({err}); make it writable "
            "or choose another --out"
        )
    return StoreError(
        f"{path} is not a readable results store ({err}); delete it to start afresh "
        "or choose another --out"
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column_kind(name: str, series: pd.Series) -> str:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return "str"
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype):
        return "object"
    raise TypeError(
        f"column `{name}` has dtype {dtype}; the store holds bool, integer, float, string "
        "and object (str/number/None) columns only"
    )


def _sql_value(value: object) -> object:
    """A Python value sqlite3 can bind (numpy scalars and missing values converted)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (bool, int, float, str, bytes)):
        return value
    raise TypeError(
        f"cannot store value {value!r} of type {type(value).__name__} "
        "(use str, int, float, bool or None)"
    )


@dataclass(frozen=True)
class RowsPayload:
    """A round's rows ready for the store: column names, kinds, and row tuples of SQL values.

    Built in the worker by :func:`rows_payload` (cheap to send back, no pandas work
    left for the process that writes).

    Examples
    --------
    >>> payload = rows_payload(pd.DataFrame({"router": ["a", "b"], "te": [1.0, float("nan")]}))
    >>> payload.kinds, payload.records
    (('str', 'float'), [('a', 1.0), ('b', None)])
    >>> payload.to_frame()["te"].isna().tolist()
    [False, True]
    """

    columns: tuple[str, ...]
    kinds: tuple[str, ...]
    records: list[tuple]

    def to_frame(self) -> pd.DataFrame:
        """The rows as a DataFrame (dtypes restored as on :meth:`ResultStore.load`)."""
        values = list(zip(*self.records)) if self.records else [()] * len(self.columns)
        return pd.DataFrame(
            {
                name: _restore(col, kind)
                for name, kind, col in zip(self.columns, self.kinds, values)
            }
        )


def rows_payload(rows: pd.DataFrame) -> RowsPayload:
    """Convert a round's DataFrame to a :class:`RowsPayload` (TypeError for unsupported values).

    Examples
    --------
    >>> import pandas as pd
    >>> payload = rows_payload(pd.DataFrame({"router": ["a"], "te": [float("nan")]}))
    >>> payload.columns, payload.kinds, payload.records
    (('router', 'te'), ('str', 'float'), [('a', None)])
    """
    if not isinstance(rows, pd.DataFrame):
        raise TypeError(f"`rows` must be a pandas DataFrame, got {type(rows).__name__}")
    names, kinds, columns = [], [], []
    for name, series in rows.items():
        name = str(name)
        kind = _column_kind(name, series)
        if kind in ("float", "int", "bool") and isinstance(series.dtype, np.dtype):
            array = series.to_numpy()
            values = array.tolist()  # Python scalars
            if kind == "float" and np.isnan(array).any():
                values = [None if math.isnan(v) else v for v in values]
        else:
            values = [_sql_value(v) for v in series.tolist()]
        names.append(name)
        kinds.append(kind)
        columns.append(values)
    records = list(zip(*columns)) if columns else [() for _ in range(len(rows))]
    return RowsPayload(tuple(names), tuple(kinds), records)


class ResultStore:
    """An embedded SQLite store of completed Monte Carlo rounds.

    Parameters
    ----------
    path : str or pathlib.Path
        The SQLite file (created with its parent directory if missing).

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with ResultStore(f"{d}/results.sqlite") as store:
    ...         rows = pd.DataFrame({"router": ["a", "b"], "te": [1.5, 2.0]})
    ...         stored = store.add_round(config_hash="c0", config_json='{"n":1}', round_index=0,
    ...                         base_seed=7, seed="7:c0:0", rows=rows)
    ...         stored, sorted(store.completed(7)), store.load(7)["te"].tolist()
    (True, [('c0', 0)], [1.5, 2.0])
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves.
        self._conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        self._schema: list[tuple[str, str]] | None = None
        self._known_configs: set[str] = set()
        try:
            self._open()
        except sqlite3.DatabaseError as err:
            self._conn.close()
            raise _not_a_store(self.path, err) from None
        except BaseException:
            self._conn.close()
            raise

    def _open(self) -> None:
        """Create the tables of a new store, or check an existing store's format."""
        self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives the process being killed (the OS
        # holds the written pages); only a power cut can lose the last commits.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            self._conn.execute(
                "INSERT OR IGNORE INTO meta VALUES ('format_version', ?)",
                (FORMAT_VERSION,),
            )
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS configs "
                "(config_hash TEXT PRIMARY KEY, config TEXT NOT NULL)"
            )
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS rounds (config_hash TEXT NOT NULL, "
                "base_seed INTEGER NOT NULL, round INTEGER NOT NULL, seed TEXT NOT NULL, "
                "n_rows INTEGER NOT NULL, elapsed REAL, completed_at REAL NOT NULL, "
                "PRIMARY KEY (config_hash, base_seed, round))"
            )
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS columns (position INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL)"
            )
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        version = self._conn.execute(
            "SELECT value FROM meta WHERE key = 'format_version'"
        ).fetchone()[0]
        if version != FORMAT_VERSION:
            raise StoreSchemaError(
                f"the store {self.path} has format version {version}, expected "
                f"{FORMAT_VERSION}; delete it to start afresh or choose another --out"
            )

    # -- context manager -------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    # -- schema ------------------------------------------------------------------------------
    def columns(self) -> list[tuple[str, str]]:
        """The study's columns as ``(name, kind)`` pairs, in order (empty before any round)."""
        return [
            (name, kind)
            for name, kind in self._conn.execute(
                "SELECT name, kind FROM columns ORDER BY position"
            )
        ]

    def _ensure_schema(self, payload: RowsPayload, where: str) -> list[tuple[str, str]]:
        """Create the results table from the first round's rows, or check later rounds fit it."""
        if self._schema is None:
            self._schema = self.columns()
        kinds = list(zip(payload.columns, payload.kinds))
        if not self._schema:
            clash = sorted(set(payload.columns) & set(_KEY_COLUMNS))
            if clash:
                raise StoreSchemaError(
                    f"{where}: columns {clash} are reserved by the store"
                )
            for position, (name, kind) in enumerate(kinds):
                self._conn.execute(
                    "INSERT INTO columns VALUES (?, ?, ?)", (position, name, kind)
                )
            user = ", ".join(
                f"{_quote(name)} {_SQL_TYPES[kind]}".rstrip() for name, kind in kinds
            )
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS results (config_hash TEXT NOT NULL, "
                "base_seed INTEGER NOT NULL, round INTEGER NOT NULL, row INTEGER NOT NULL, "
                f"seed TEXT NOT NULL{', ' + user if user else ''}, "
                "PRIMARY KEY (config_hash, base_seed, round, row))"
            )
            self._schema = kinds
            return kinds
        stored = [name for name, _ in self._schema]
        if sorted(stored) != sorted(payload.columns):
            raise StoreSchemaError(
                f"{where}: the rows have columns {sorted(payload.columns)} but the store "
                f"{self.path} holds {sorted(stored)}; the study changed since the "
                "store was written: use another output directory or delete the store"
            )
        return self._schema

    # -- writing ---------------------------------------------------------------------------
    def add_round(
        self,
        *,
        config_hash: str,
        config_json: str,
        round_index: int,
        base_seed: int,
        seed: str,
        rows: pd.DataFrame | RowsPayload,
        elapsed: float | None = None,
    ) -> bool:
        """Store one completed round atomically; return False if it was already stored.

        ``rows`` is the round's DataFrame, or its :func:`rows_payload` (what workers send).
        """
        if isinstance(rows, pd.DataFrame):
            rows = rows_payload(rows)
        elif not isinstance(rows, RowsPayload):
            raise TypeError(
                f"`rows` must be a pandas DataFrame, got {type(rows).__name__}"
            )
        where = f"round {round_index} of configuration {config_hash}"
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO rounds VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    config_hash,
                    base_seed,
                    round_index,
                    seed,
                    len(rows.records),
                    elapsed,
                    time.time(),
                ),
            )
            if cursor.rowcount == 0:  # stored already (by an earlier run)
                conn.execute("ROLLBACK")
                return False
            if config_hash not in self._known_configs:
                conn.execute(
                    "INSERT OR IGNORE INTO configs VALUES (?, ?)",
                    (config_hash, config_json),
                )
            schema = self._ensure_schema(rows, where)
            names = [name for name, _ in schema]
            if rows.records:
                order = [rows.columns.index(name) for name in names]
                head = (config_hash, base_seed, round_index)
                records = [
                    (*head, i, seed, *(record[j] for j in order))
                    for i, record in enumerate(rows.records)
                ]
                placeholders = ", ".join("?" * (len(_KEY_COLUMNS) + len(names)))
                cols = ", ".join(_quote(c) for c in (*_KEY_COLUMNS, *names))
                conn.executemany(
                    f"INSERT INTO results ({cols}) VALUES ({placeholders})", records
                )
            conn.execute("COMMIT")
        except BaseException:
            # Ctrl-C can land just after COMMIT (or the ROLLBACK above): no transaction
            # is left, and a failing ROLLBACK would hide the interrupt.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if self._schema is not None and not self.columns():
                self._schema = None  # the schema creation was rolled back too
            raise
        self._known_configs.add(config_hash)
        return True

    # -- reading ---------------------------------------------------------------------------
    def completed(self, base_seed: int) -> set[tuple[str, int]]:
        """The ``(config_hash, round)`` pairs already stored for ``base_seed``."""
        return {
            (h, int(k))
            for h, k in self._conn.execute(
                "SELECT config_hash, round FROM rounds WHERE base_seed = ?",
                (base_seed,),
            )
        }

    def rounds_table(self) -> pd.DataFrame:
        """The bookkeeping of completed rounds (seed, row count, compute time, completion time)."""
        return pd.read_sql_query(
            "SELECT * FROM rounds ORDER BY completed_at, config_hash, round", self._conn
        )

    def configs(self) -> dict[str, str]:
        """Map of configuration hash to canonical configuration JSON."""
        return dict(self._conn.execute("SELECT config_hash, config FROM configs"))

    def load(self, base_seed: int, max_round: int | None = None) -> pd.DataFrame:
        """All stored rows for ``base_seed`` (rounds ``< max_round`` if given).

        Columns: ``config_hash``, ``round``, ``row``, ``seed`` and the study's
        columns with their dtypes restored. Rows are in no particular order.
        """
        kinds = self.columns()
        names = [name for name, _ in kinds]
        key = ["config_hash", "round", "row", "seed"]
        if not kinds:
            has_results = self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'results'"
            ).fetchone()
            if not has_results:
                return pd.DataFrame({c: pd.Series(dtype=object) for c in key})
        cols = ", ".join(_quote(c) for c in (*key, *names))
        query = f"SELECT {cols} FROM results WHERE base_seed = ?"
        params: list[object] = [base_seed]
        if max_round is not None:
            query += " AND round < ?"
            params.append(int(max_round))
        records = self._conn.execute(query, params).fetchall()
        columns = list(zip(*records)) if records else [()] * (len(key) + len(names))
        data = {}
        for name, values in zip(key, columns[: len(key)]):
            data[name] = pd.Series(
                values, dtype="int64" if name in ("round", "row") else None
            )
        for (name, kind), values in zip(kinds, columns[len(key) :]):
            data[name] = _restore(values, kind)
        return pd.DataFrame(data)


def _restore(values: tuple, kind: str) -> pd.Series:
    """Rebuild a column of ``kind`` from SQLite values (NULL -> missing)."""
    has_null = any(v is None for v in values)
    if kind == "float":
        return pd.Series(
            [math.nan if v is None else v for v in values], dtype="float64"
        )
    if kind == "int":
        if not has_null and all(isinstance(v, int) for v in values):
            return pd.Series(values, dtype="int64")
        return pd.Series(
            [math.nan if v is None else v for v in values], dtype="float64"
        )
    if kind == "bool":
        if not has_null:
            return pd.Series([bool(v) for v in values], dtype="bool")
        return pd.Series([None if v is None else bool(v) for v in values], dtype=object)
    if kind == "str":
        return pd.Series(values, dtype="str")
    return pd.Series(values, dtype=object)
