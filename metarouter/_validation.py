"""Input validators shared by the meta-router estimators.

Every function raises a ``ValueError`` or ``TypeError`` whose message names the
user's argument, so that a bad call never turns into a silent wrong number.
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.utils.validation import column_or_1d, has_fit_parameter

__all__ = [
    "check_binary",
    "check_binary_scores",
    "check_cate_learner_fit",
    "check_column_order",
    "check_lengths",
    "check_level_weights",
    "check_n_folds",
    "check_open_interval",
    "check_sample_weight",
    "check_supports_sample_weight",
    "check_vector",
]


def _n_rows(obj) -> int | None:
    """Number of rows of an array-like, or None when it has no length."""
    if obj is None:
        return None
    if sparse.issparse(obj) or hasattr(obj, "shape"):
        shape = np.shape(obj) if not sparse.issparse(obj) else obj.shape
        return int(shape[0]) if len(shape) > 0 else None
    try:
        return len(obj)
    except TypeError:
        return None


def check_lengths(**arrays) -> None:
    """Raise a ValueError naming the arguments whose number of rows differ.

    The first keyword argument is the reference (normally ``X``); ``None``
    values and objects without a length are skipped.
    """
    items = [(name, _n_rows(a)) for name, a in arrays.items()]
    items = [(name, n) for name, n in items if n is not None]
    if not items:
        return
    ref_name, ref_n = items[0]
    for name, n in items[1:]:
        if n != ref_n:
            raise ValueError(
                f"`{name}` has {n} rows but `{ref_name}` has {ref_n}; "
                "they must describe the same queries."
            )


def check_vector(values, name: str, n: int | None = None) -> np.ndarray:
    """A finite 1-D float array of length ``n`` (named errors)."""
    if values is None:
        raise ValueError(f"`{name}` is required, got None.")
    if sparse.issparse(values):
        raise TypeError(f"`{name}` must be a dense 1-D array, got a sparse matrix.")
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be numeric, got {values!r:.80}.") from exc
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = column_or_1d(arr, warn=True)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D, got shape {arr.shape}.")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"`{name}` has {arr.shape[0]} rows but `X` has {n}.")
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise ValueError(f"`{name}` contains {bad} NaN or infinite value(s).")
    return arr


def check_binary(
    values,
    name: str,
    n: int | None = None,
    *,
    n_folds: int | None = None,
    require_both: bool = True,
) -> np.ndarray:
    """A 0/1 integer vector; optionally both levels with ``>= n_folds`` rows each.

    ``name`` is the user's argument (``treatment`` or ``source``); a level with
    fewer rows than cross-fitting folds cannot be split, so that is an error too.
    """
    arr = check_vector(values, name, n)
    bad = ~np.isin(arr, (0.0, 1.0))
    if np.any(bad):
        shown = np.unique(arr[bad])[:5]
        raise ValueError(f"`{name}` must contain only 0 and 1, got {shown.tolist()}.")
    arr = arr.astype(np.int64)
    if require_both:
        counts = np.bincount(arr, minlength=2)
        for level in (0, 1):
            if counts[level] == 0:
                raise ValueError(
                    f"`{name}` has a single level (no rows equal to {level}); "
                    "both 0 and 1 are needed to estimate a treatment effect."
                )
        if n_folds is not None:
            for level in (0, 1):
                if counts[level] < n_folds:
                    raise ValueError(
                        f"`{name}` has {counts[level]} rows equal to {level}, fewer "
                        f"than n_folds={n_folds}; reduce n_folds or add rows."
                    )
    return arr


def check_sample_weight(sample_weight, n: int) -> np.ndarray:
    """Non-negative finite weights of length ``n`` (ones when None)."""
    if sample_weight is None:
        return np.ones(n)
    if isinstance(sample_weight, numbers.Number):
        sw = np.full(n, float(sample_weight))
    else:
        sw = check_vector(sample_weight, "sample_weight", n)
    if np.any(~np.isfinite(sw)):
        raise ValueError("`sample_weight` contains NaN or infinite values.")
    if np.any(sw < 0):
        raise ValueError("`sample_weight` must be non-negative.")
    if not np.any(sw > 0):
        raise ValueError("`sample_weight` must not be all zero.")
    return sw


def check_level_weights(
    sample_weight, treatment, splits=None, split_levels=(0, 1)
) -> None:
    """ValueError naming ``sample_weight`` when a treatment level weighs nothing.

    A level whose rows all have weight 0 is absent from every weighted fit (the
    effect is then not identified, yet some models fit without a word), and so
    is a level whose positive-weight rows all sit in the test fold of a
    cross-fitting split (``splits``: ``(train, test)`` index pairs; only the
    levels in ``split_levels``, those the fold models are fitted on).
    """
    if sample_weight is None:
        return
    for level in (0, 1):
        if not np.any(sample_weight[treatment == level] > 0):
            raise ValueError(
                f"`sample_weight` is zero on every row with `treatment` == {level}: "
                "that level is absent from every weighted fit, so no treatment "
                "effect can be estimated."
            )
    for k, (train, _) in enumerate(splits or ()):
        for level in split_levels:
            if not np.any(sample_weight[train][treatment[train] == level] > 0):
                raise ValueError(
                    f"`sample_weight` is zero on every row with `treatment` == "
                    f"{level} in cross-fitting training split {k}: its nuisance "
                    "models would not see that level; give more rows of it "
                    "positive weight, or pass `folds` that keep one in every "
                    "training split."
                )


def check_n_folds(n_folds) -> int:
    """An integer number of folds, at least 2."""
    if (
        isinstance(n_folds, bool)
        or not isinstance(n_folds, numbers.Integral)
        or n_folds < 2
    ):
        raise ValueError(f"`n_folds` must be an integer >= 2, got {n_folds!r}.")
    return int(n_folds)


def check_open_interval(value, name: str, low: float, high: float) -> float:
    """A real number strictly inside ``(low, high)``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {value!r}.")
    if not (low < value < high) or not np.isfinite(value):
        raise ValueError(f"`{name}` must lie in ({low}, {high}), got {value!r}.")
    return float(value)


def check_supports_sample_weight(estimator, name: str, why: str) -> None:
    """TypeError naming ``name`` when ``estimator.fit`` takes no ``sample_weight``."""
    if not has_fit_parameter(estimator, "sample_weight"):
        raise TypeError(
            f"`{name}` ({type(estimator).__name__}) must accept `sample_weight` in "
            f"fit: {why}."
        )


def check_cate_learner_fit(learner) -> None:
    """TypeError when ``learner.fit`` cannot take ``(X, y, treatment)`` positionally.

    A regressor passed as ``cate_learner`` (``MetaRouter(Ridge())``, where
    ``PooledRouter(Ridge())`` takes the outcome model first) would be fitted
    as ``fit(X, y, source)``: the source became its ``sample_weight`` and the
    "shift" a regression of the GS rows' outcomes, without a word. A ``fit``
    whose signature cannot be read, or that takes ``*args``, is let through.
    """
    try:
        params = inspect.signature(learner.fit).parameters.values()
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return
    positional = [
        p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) >= 3 and positional[2] != "sample_weight":
        return
    raise TypeError(
        f"`cate_learner` ({type(learner).__name__}) must be fitted as fit(X, y, "
        f"treatment), but its fit takes ({', '.join(positional)}): it looks like "
        "a regressor, which is the `outcome_model` argument "
        "(MetaRouter(cate_learner='r', outcome_model=...))."
    )


def check_binary_scores(scores, name: str, hint: str) -> np.ndarray:
    """``scores`` (a router's ``predict``) as one float per query, else a ValueError.

    A K-model router's ``predict`` is (n, K): the binary tools (intervals, the
    efficiency gain) then failed with an IndexError or a message about rounds;
    the error names ``name`` (the argument whose ``predict`` it was) and
    ``hint``, where to turn instead.
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 1:
        raise ValueError(
            f"`{name}.predict` gave shape {scores.shape}, not one score per query: "
            f"{hint}"
        )
    return scores


def check_column_order(table, names, arg: str, names_arg: str) -> None:
    """ValueError when ``names`` gives a column's label to another column.

    Models are matched by position: ``names`` may name unlabelled columns (or
    rename them), but a name that labels another column of ``table`` (a
    DataFrame's column, a Series' entry) would silently swap two models' data.
    """
    if isinstance(table, pd.DataFrame):
        labels = list(table.columns)
    elif isinstance(table, pd.Series):  # one cost per model
        labels = list(table.index)
    else:
        return
    for k, name in enumerate(list(names)[: len(labels)]):
        if name in labels and labels.index(name) != k:
            raise ValueError(
                f"`{names_arg}` names column {k} of `{arg}` {name!r}, but that is "
                f"the label of its column {labels.index(name)}: models are matched "
                f"by position; pass `{arg}` with its columns in the order of "
                f"`{names_arg}` ({arg}[{names_arg}])."
            )
