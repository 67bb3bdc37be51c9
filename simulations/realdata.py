"""RouterBench-format CSVs: loading, the text featuriser, and a PB judge with a known bias.

The format is the one of ``../shared/data/routerbench/`` (RouterBench zero-shot subsets
as redistributed by RouterDC): one row per query, ``prompt`` a Python-list literal holding
one string, one 0/1 correctness column per model, ``MODEL|model_response`` and
``MODEL|total_cost`` per model.

What the studies take from it:

* gold-standard outcomes ``r = correct(premium) - correct(alternative)`` in {-1, 0, 1};
* real per-call costs (``MODEL|total_cost``), whose premium/alternative ratio differs
  between tasks (about 17x on arc_challenge and winogrande, about 53x on mbpp);
* a semi-synthetic preference-based (PB) label from a judge whose bias is stated and
  observable: it prefers the longer response (:func:`length_biased_pb_labels`).
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer

from .errors import DataError

__all__ = [
    "ALL_MODELS",
    "MODEL_ALIASES",
    "TASK_FILES",
    "DataError",
    "RouterBenchData",
    "RouterBenchModels",
    "find_tasks",
    "length_biased_pb_labels",
    "load_routerbench",
    "load_routerbench_models",
    "make_featuriser",
    "model_columns",
    "parse_prompt",
    "resolve_model",
    "shift_tasks",
]

#: Short model names accepted for ``premium`` / ``alternative`` (full column names work too).
MODEL_ALIASES = {
    "wizardlm-13b": "WizardLM/WizardLM-13B-V1.2",
    "claude-instant-v1": "claude-instant-v1",
    "claude-v1": "claude-v1",
    "claude-v2": "claude-v2",
    "gpt-3.5-turbo-1106": "gpt-3.5-turbo-1106",
    "gpt-4-1106-preview": "gpt-4-1106-preview",
    "code-llama-34b": "meta/code-llama-instruct-34b-chat",
    "llama-2-70b": "meta/llama-2-70b-chat",
    "mistral-7b": "mistralai/mistral-7b-chat",
    "mixtral-8x7b": "mistralai/mixtral-8x7b-chat",
    "yi-34b": "zero-one-ai/Yi-34B-Chat",
}

#: Task name -> file stem where they differ (any other task's file stem is its name).
#: The shared files spell winogrande as "winograde"; both are accepted.
TASK_FILES = {"winogrande": "winograde", "winograde": "winograde"}
_SHARED_TASKS = ("arc_challenge", "winogrande", "mbpp")


@dataclass(frozen=True)
class RouterBenchData:
    """Queries of one or more RouterBench tasks for one premium/alternative pair.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per kept query with columns ``sample_id``, ``task``, ``split``, ``text``,
        ``correct_premium``, ``correct_alternative``, ``r`` (GS outcome in {-1, 0, 1}),
        ``cost_premium``, ``cost_alternative`` (dollars per call), ``len_premium``,
        ``len_alternative`` (response lengths in characters).
    premium, alternative : str
        The models' column names.
    n_dropped : int
        Rows dropped because a used correctness cell was missing.
    n_dropped_by_file : dict
        The same count per file.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"text": ["q1", "q2"], "r": [1.0, 0.0],
    ...                       "cost_premium": [0.02, 0.04], "cost_alternative": [0.001, 0.002]})
    >>> data = RouterBenchData(frame, "gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat", 0, {})
    >>> data.texts, round(data.cost_ratio(), 1)
    (['q1', 'q2'], 20.0)
    """

    frame: pd.DataFrame
    premium: str
    alternative: str
    n_dropped: int
    n_dropped_by_file: dict

    @property
    def texts(self) -> list[str]:
        return self.frame["text"].tolist()

    @property
    def r(self) -> np.ndarray:
        return self.frame["r"].to_numpy(dtype=float)

    def cost_ratio(self) -> float:
        """Mean premium cost over mean alternative cost."""
        return float(
            self.frame["cost_premium"].mean() / self.frame["cost_alternative"].mean()
        )


def model_columns(columns) -> list[str]:
    """The model columns of a RouterBench table: those with a ``MODEL|total_cost`` column.

    Examples
    --------
    >>> model_columns(["sample_id", "prompt", "a/m1", "a/m1|total_cost", "m2", "m2|total_cost"])
    ['a/m1', 'm2']
    """
    columns = [str(c) for c in columns]
    costs = {c.rpartition("|")[0] for c in columns if c.endswith("|total_cost")}
    return [c for c in columns if c in costs]


def resolve_model(name: str, columns) -> str:
    """Map a model name (alias, full column name or unique suffix) to its column name.

    ``columns`` are a table's column names; a ValueError lists the table's models
    (:func:`model_columns`) when none matches.

    Examples
    --------
    >>> columns = ["mistralai/mixtral-8x7b-chat", "mistralai/mixtral-8x7b-chat|total_cost"]
    >>> resolve_model("mixtral-8x7b", columns)
    'mistralai/mixtral-8x7b-chat'
    >>> resolve_model("gpt-4-1106-preview", columns)
    Traceback (most recent call last):
    ...
    ValueError: model 'gpt-4-1106-preview' is not in this table; its models are ['mistralai/mixtral-8x7b-chat']
    """
    models = model_columns(columns)
    candidates = [c for c in columns if "|" not in str(c)]
    if name in candidates:
        return name
    alias = MODEL_ALIASES.get(str(name).lower())
    if alias is not None and alias in candidates:
        return alias
    hits = [c for c in models if c.lower().endswith(str(name).lower())]
    if len(hits) == 1:
        return hits[0]
    raise ValueError(
        f"model {name!r} is not in this table; its models are {models}"
        + ("" if len(hits) < 2 else f" ({name!r} ends {len(hits)} of them)")
    )


def parse_prompt(value) -> str:
    """The query text of a ``prompt`` cell (a Python-list literal holding one string).

    >>> parse_prompt("['What is 2+2?']")
    'What is 2+2?'
    """
    if not isinstance(value, str):
        return ""
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    if isinstance(parsed, (list, tuple)):
        return " ".join(str(p) for p in parsed)
    return str(parsed)


def _response_length(value) -> int:
    # Responses are stored like prompts (a list literal of one string); count characters of the text.
    return len(parse_prompt(value))


def load_routerbench(
    data_dir: str | Path,
    tasks=None,
    splits=("train", "test"),
    *,
    premium: str = "gpt-4-1106-preview",
    alternative: str = "mixtral-8x7b",
) -> RouterBenchData:
    """Load RouterBench-format CSVs for one premium/alternative model pair.

    Rows whose correctness or cost is missing for either model are dropped; how
    many is returned in ``n_dropped`` (and warned about when non-zero).

    Parameters
    ----------
    data_dir : str or Path
        Directory holding ``<task>_<split>.csv`` files.
    tasks : sequence of str, optional
        Task names (files ``<task>_<split>.csv``; :data:`TASK_FILES` maps
        other spellings); default every task in ``data_dir`` (:func:`find_tasks`).
    splits : sequence of {"train", "test"}
        Which splits to load.
    premium, alternative : str
        Model names (see :data:`MODEL_ALIASES`) or full column names.

    Returns
    -------
    RouterBenchData

    Examples
    --------
    >>> data = load_routerbench("../shared/data/routerbench", ["mbpp"], ["train"])  # doctest: +SKIP
    >>> round(data.cost_ratio())  # doctest: +SKIP
    53
    """
    frame, (prem, alt), correct, cost, length, dropped = _read_models(
        data_dir, tasks, splits, [premium, alternative], "`premium` and `alternative`"
    )
    if frame.empty:
        raise DataError(
            f"{data_dir}: no query has correctness values for both {prem} and {alt}"
        )
    for name, values in (("correct", correct), ("cost", cost), ("len", length)):
        frame[f"{name}_premium"], frame[f"{name}_alternative"] = values.T
    frame["r"] = frame["correct_premium"] - frame["correct_alternative"]
    n_dropped = sum(dropped.values())
    if n_dropped:
        warnings.warn(
            f"dropped {n_dropped} rows with missing correctness or cost for {prem} or {alt}: "
            + ", ".join(f"{k}: {v}" for k, v in dropped.items() if v),
            stacklevel=2,
        )
    return RouterBenchData(frame, prem, alt, n_dropped, dropped)


def find_tasks(data_dir) -> list[str]:
    """The tasks with RouterBench files in ``data_dir`` (``<task>_train.csv``, ``<task>_test.csv``).

    Any task name is accepted; the shared files' spelling ``winograde`` is
    reported as ``winogrande``. The shared files' three tasks come first, in the
    order every published figure loaded them (arc_challenge, winogrande, mbpp),
    then any others alphabetically.

    Examples
    --------
    >>> find_tasks("../shared/data/routerbench")  # doctest: +SKIP
    ['arc_challenge', 'winogrande', 'mbpp']
    """
    stems = {
        path.name[: -len(f"_{split}.csv")]
        for split in ("train", "test")
        for path in Path(data_dir).glob(f"*_{split}.csv")
    }
    names = {"winogrande" if s == "winograde" else s for s in stems}
    first = [t for t in _SHARED_TASKS if t in names]  # the order results were made in
    return first + sorted(names - set(first))


def shift_tasks(frame: pd.DataFrame) -> tuple[list[str], str, str]:
    """The cross-task shift of a RouterBench frame: source tasks and two deployment tasks.

    ``costlier``: the task where the premium model's mean cost is the largest
    multiple of the alternative's (on the shared files mbpp: about 53x against
    17x), deployed on after training on the ``source`` tasks, all the others.
    ``cheaper``: the source task whose premium calls cost least on average (on
    the shared files winogrande), deployed on from the source's held-out rows.
    ``frame`` has columns ``task``, ``cost_premium``, ``cost_alternative``
    (:func:`load_routerbench`).

    Examples
    --------
    >>> frame = pd.DataFrame({"task": ["a", "a", "b", "c"],
    ...                       "cost_premium": [2.0, 2.0, 9.0, 1.0],
    ...                       "cost_alternative": [0.1, 0.1, 0.1, 0.1]})
    >>> shift_tasks(frame)
    (['a', 'c'], 'b', 'c')
    """
    need = ["task", "cost_premium", "cost_alternative"]
    missing = [c for c in need if c not in getattr(frame, "columns", [])]
    if missing:
        raise ValueError(
            f"`frame` must be a RouterBench frame (load_routerbench(...).frame) with "
            f"columns {need}; missing {missing}"
        )
    means = frame.groupby("task")[["cost_premium", "cost_alternative"]].mean()
    if len(means) < 2:
        raise DataError(
            f"the cross-task shift needs RouterBench files of at least two tasks, got "
            f"{list(means.index)}"
        )
    ratio = means["cost_premium"] / means["cost_alternative"]
    costlier = str(ratio.idxmax())
    source = sorted(str(t) for t in means.index if t != costlier)
    cheaper = str(means.loc[source, "cost_premium"].idxmin())
    return source, costlier, cheaper


def _task_file(data_dir: Path, task: str, split: str) -> Path:
    """The file of a task's split: its own name, else its other spelling (:data:`TASK_FILES`)."""
    own = data_dir / f"{task}_{split}.csv"
    other = TASK_FILES.get(task)
    if own.is_file() or other is None:
        return own
    return data_dir / f"{other}_{split}.csv"


def _task_paths(data_dir, tasks, splits):
    """``(task, split, path)`` of each requested file; errors name the argument.

    ``tasks=None``: every task found (:func:`find_tasks`), each split whose
    file exists.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(
            f"`data_dir` {data_dir} is not a directory; give the directory of the "
            "RouterBench CSVs"
        )
    found = tasks is None
    if found:
        tasks = find_tasks(data_dir)
        if not tasks:
            raise DataError(
                f"{data_dir}: no RouterBench files; --data must hold CSVs named "
                "<task>_<split>.csv, split train or test"
            )
    tasks = [tasks] if isinstance(tasks, str) else list(tasks)
    splits = [splits] if isinstance(splits, str) else list(splits)
    for task in tasks:
        if not isinstance(task, str) or not task:
            raise ValueError(f"`tasks` must hold task names, got {task!r}")
        for split in splits:
            if split not in ("train", "test"):
                raise ValueError(f"`splits` must be 'train' or 'test', got {split!r}")
        paths = [(split, _task_file(data_dir, task, split)) for split in splits]
        if not found and not any(path.is_file() for _, path in paths):
            raise ValueError(
                f"`tasks`: no file of task {task!r} in {data_dir} (tasks there: "
                f"{find_tasks(data_dir)})"
            )
        for split, path in paths:
            if not found or path.is_file():
                yield task, split, path


def _read_table(path: Path, models) -> tuple[pd.DataFrame, list[str]]:
    """Read one RouterBench CSV and resolve ``models`` to its columns.

    Raises a DataError naming ``path`` for a missing, empty or malformed file,
    absent columns, non-numeric correctness and cost cells, correctness outside
    [0, 1], and negative or infinite costs.
    """
    fix = "--data must hold the RouterBench-format CSVs of simulations.realdata"
    if not path.is_file():
        present = sorted(p.name for p in path.parent.glob("*.csv"))
        raise DataError(
            f"{path.parent}: no file {path.name} (CSV files there: {present or 'none'}); "
            "--data must hold RouterBench-format CSVs named <task>_<split>.csv, "
            "split train or test"
        )
    try:
        raw = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
        reason = " ".join(str(err).split())  # pandas' parser messages end in a newline
        raise DataError(f"{path}: cannot be read as CSV ({reason}); {fix}") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty; {fix}") from None
    try:
        columns = [resolve_model(m, raw.columns) for m in models]
    except ValueError as err:
        raise DataError(f"{path}: {err}; {fix}") from None
    needed = ["sample_id", "prompt"] + [
        f"{m}|{kind}" for m in columns for kind in ("total_cost", "model_response")
    ]
    absent = [c for c in needed if c not in raw.columns]
    if absent:
        raise DataError(f"{path}: no column {', '.join(map(repr, absent))}; {fix}")
    for column in [*columns, *(f"{m}|total_cost" for m in columns)]:
        values = pd.to_numeric(raw[column], errors="coerce")
        bad = values.isna() & raw[column].notna()
        if bad.any():
            raise DataError(
                f"{path}: column {column!r} holds non-numbers "
                f"(row {int(np.flatnonzero(bad.to_numpy())[0])}: "
                f"{raw[column][bad].iloc[0]!r}); {fix}"
            )
        # a missing cell is dropped (and counted) later; a present one must make sense
        if column.endswith("|total_cost"):
            wrong, want = ~np.isfinite(values) | (values < 0), "finite costs >= 0"
        else:
            # graded scores in [0, 1] (RouterBench's MT-Bench) are kept
            wrong, want = (values < 0) | (values > 1), "correctness in [0, 1]"
        wrong &= values.notna()
        if wrong.any():
            row = int(np.flatnonzero(wrong.to_numpy())[0])
            raise DataError(
                f"{path}: column {column!r} must hold {want} (or be empty), got "
                f"{float(values.iloc[row])} on row {row}; {fix}"
            )
        raw[column] = values
    return raw, columns


def make_featuriser(
    n_components: int = 50, *, random_state: int | None = 0
) -> Pipeline:
    """TF-IDF (word 1-2 grams) followed by truncated SVD and L2 normalisation.

    Fit it on training prompts only; ``transform`` then embeds any text into
    ``n_components`` dense features (latent semantic analysis).

    Examples
    --------
    >>> f = make_featuriser(2, random_state=0)
    >>> f.fit_transform(["add two numbers", "sort a list", "add a list"]).shape
    (3, 2)
    """
    return Pipeline(
        [
            ("tfidf", TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)),
            ("svd", TruncatedSVD(n_components=n_components, random_state=random_state)),
            ("norm", Normalizer()),
        ]
    )


def length_biased_pb_labels(
    r: np.ndarray,
    len_premium: np.ndarray,
    len_alternative: np.ndarray,
    *,
    bias: float = 1.0,
    noise: float = 0.5,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """PB labels from a judge that prefers the longer response.

    ``label = clip(round(r + bias * z + noise * e), -1, 1)`` with ``z`` the standardised
    log-length difference (premium minus alternative) and ``e`` standard normal: the judge
    sees the true outcome, adds a push toward the longer answer and noise, and says
    better (1), comparable (0) or worse (-1). The bias is observable per query through ``z``.

    Returns
    -------
    labels : ndarray of {-1, 0, 1}
    z : ndarray
        The standardised length difference (the bias's driver).

    Examples
    --------
    >>> r = np.array([1.0, 0.0, -1.0, 0.0])
    >>> labels, z = length_biased_pb_labels(r, [900, 100, 100, 100], [100, 100, 100, 900],
    ...                                     bias=0.5, noise=0.0, rng=np.random.default_rng(0))
    >>> labels.tolist()  # the longer premium answer pushes the first verdict up, the last down
    [1.0, 0.0, -1.0, -1.0]
    """
    r = np.asarray(r, dtype=float)
    diff = np.log1p(np.asarray(len_premium, float)) - np.log1p(
        np.asarray(len_alternative, float)
    )
    sd = diff.std()
    z = (diff - diff.mean()) / (sd if sd > 0 else 1.0)
    latent = r + bias * z + noise * rng.standard_normal(r.shape[0])
    return np.clip(np.round(latent), -1, 1), z


#: Every model of the RouterBench files, by short name (the keys of :data:`MODEL_ALIASES`).
ALL_MODELS = tuple(MODEL_ALIASES)


@dataclass(frozen=True)
class RouterBenchModels:
    """Queries of RouterBench tasks with every chosen model's correctness and cost.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per kept query: ``sample_id``, ``task``, ``split``, ``text``.
    models : tuple of str
        The models' short names, in column order of ``correct`` and ``cost``.
    correct : ndarray of shape (n_queries, n_models)
        0/1 correctness of each model on each query.
    cost : ndarray of shape (n_queries, n_models)
        Dollar cost of each model's call on each query.
    response_length : ndarray of shape (n_queries, n_models)
        Length of each model's response in characters (a driver of judge bias).
    n_dropped : int
        Rows dropped because a chosen model's correctness or cost was missing.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> data = RouterBenchModels(pd.DataFrame({"text": ["q"]}), ("a", "b"),
    ...                          np.array([[1.0, 0.0]]), np.array([[0.1, 0.01]]),
    ...                          np.array([[10, 20]]), 0)
    >>> data.n_queries, data.n_models, data.mean_cost().round(3).tolist()
    (1, 2, [0.1, 0.01])
    """

    frame: pd.DataFrame
    models: tuple
    correct: np.ndarray
    cost: np.ndarray
    response_length: np.ndarray
    n_dropped: int

    @property
    def n_queries(self) -> int:
        return int(self.correct.shape[0])

    @property
    def n_models(self) -> int:
        return int(self.correct.shape[1])

    @property
    def texts(self) -> list[str]:
        return self.frame["text"].tolist()

    @property
    def task(self) -> np.ndarray:
        return self.frame["task"].to_numpy()

    def mean_cost(self) -> np.ndarray:
        """Each model's mean cost per query."""
        return self.cost.mean(axis=0)

    def accuracy(self) -> np.ndarray:
        """Each model's accuracy."""
        return self.correct.mean(axis=0)

    def subset(self, rows) -> RouterBenchModels:
        """The same data restricted to ``rows`` (a boolean mask or integer indices)."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return RouterBenchModels(
            self.frame.iloc[rows].reset_index(drop=True),
            self.models,
            self.correct[rows],
            self.cost[rows],
            self.response_length[rows],
            self.n_dropped,
        )


def load_routerbench_models(
    data_dir: str | Path,
    tasks=None,
    splits=("train", "test"),
    *,
    models=ALL_MODELS,
) -> RouterBenchModels:
    """Load RouterBench-format CSVs with the correctness and cost of several models.

    Rows where any chosen model's correctness or cost is missing are dropped; the
    count is returned in ``n_dropped`` and warned about when non-zero.

    Parameters
    ----------
    data_dir : str or Path
        Directory holding ``<task>_<split>.csv`` files.
    tasks : sequence of str, optional
        Task names (files ``<task>_<split>.csv``; :data:`TASK_FILES` maps
        other spellings); default every task in ``data_dir`` (:func:`find_tasks`).
    splits : sequence of {"train", "test"}
        Which splits to load.
    models : sequence of str, default=all eleven
        Model names (see :data:`MODEL_ALIASES`) or full column names; at least two.

    Returns
    -------
    RouterBenchModels

    Examples
    --------
    >>> data = load_routerbench_models("../shared/data/routerbench", ["mbpp"],
    ...                                ["train"], models=["mixtral-8x7b", "gpt-4-1106-preview"])  # doctest: +SKIP
    >>> data.correct.shape  # doctest: +SKIP
    (299, 2)
    """
    models = [models] if isinstance(models, str) else list(models)
    if len(models) < 2:
        raise ValueError(f"`models` must name at least two models, got {models!r}")
    frame, columns, correct, cost, length, dropped = _read_models(
        data_dir, tasks, splits, models, "`models`"
    )
    n_dropped = sum(dropped.values())
    if n_dropped:
        warnings.warn(
            f"dropped {n_dropped} rows with missing correctness or cost: "
            + ", ".join(f"{k}: {v}" for k, v in dropped.items() if v),
            stacklevel=2,
        )
    short = {v: k for k, v in MODEL_ALIASES.items()}
    return RouterBenchModels(
        frame, tuple(short.get(c, c) for c in columns), correct, cost, length, n_dropped
    )


def _read_models(data_dir, tasks, splits, models, argument):
    """The one reader of RouterBench files for both loaders.

    Returns ``(frame, columns, correct, cost, length, dropped)``: the queries
    (``sample_id``, ``task``, ``split``, ``text``), the resolved model columns, the
    (n, K) correctness, cost and response length of the models, and the rows
    dropped per file for missing correctness or cost. ``argument`` names the
    user's argument in the error for a model named twice; warnings are the
    callers'.
    """
    frames, correct, cost, length = [], [], [], []
    dropped, columns = {}, list(models)
    for task, split, path in _task_paths(data_dir, tasks, splits):
        raw, columns = _read_table(path, models)
        if len(set(columns)) != len(columns):
            raise ValueError(f"{argument} name one model twice: {models!r}")
        cost_cols = [f"{c}|total_cost" for c in columns]
        missing = raw[columns + cost_cols].isna().any(axis=1)
        dropped[path.name] = int(missing.sum())
        raw = raw.loc[~missing]
        frames.append(
            pd.DataFrame(
                {
                    "sample_id": raw["sample_id"].astype(str).to_numpy(),
                    "task": "winogrande" if task == "winograde" else task,
                    "split": split,
                    "text": [parse_prompt(p) for p in raw["prompt"]],
                }
            )
        )
        correct.append(raw[columns].to_numpy(dtype=float))
        cost.append(raw[cost_cols].to_numpy(dtype=float))
        length.append(
            np.array(
                [
                    [_response_length(v) for v in raw[f"{c}|model_response"]]
                    for c in columns
                ]
            ).T.reshape(len(raw), len(columns))
        )
    return (
        pd.concat(frames, ignore_index=True),
        list(columns),
        np.vstack(correct),
        np.vstack(cost),
        np.vstack(length).astype(int),
        dropped,
    )
