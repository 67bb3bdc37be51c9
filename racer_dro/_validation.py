"""Small shared validators for ``racer_dro``; every error names the user's argument."""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "as_float_array",
    "check_arm_names",
    "check_nonnegative",
    "check_positive",
    "check_rewards_costs",
    "check_sense",
    "check_side",
    "check_values",
    "check_weights",
    "resolve_arm_names",
    "table_arm_names",
]


def check_values(
    values, name: str, *, ndim: int = 1, ncols: int | None = None
) -> np.ndarray:
    """Return ``values`` as a finite float array of the given shape.

    Parameters
    ----------
    values : array-like
        A list, numpy array, pandas Series or DataFrame.
    name : str
        The user's name for the argument, used in error messages.
    ndim : {1, 2}
        Required number of dimensions.
    ncols : int, optional
        Required number of columns when ``ndim == 2``.

    Examples
    --------
    >>> check_values([1, 2], "values").tolist()
    [1.0, 2.0]
    """
    arr = as_float_array(values, name)
    if arr.ndim != ndim:
        raise ValueError(f"`{name}` must be {ndim}-dimensional, got shape {arr.shape}")
    if ndim == 2 and ncols is not None and arr.shape[1] != ncols:
        raise ValueError(
            f"`{name}` must have shape (n, {ncols}), got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(
            f"`{name}` must contain at least one row, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        bad = "NaN" if np.isnan(arr).any() else "infinite values"
        raise ValueError(f"`{name}` must be finite, got {bad}")
    return arr


def as_float_array(values, name: str) -> np.ndarray:
    """Return ``values`` as a float array, pandas' missing values (``pd.NA``) as NaN.

    A nullable pandas column (``Float64``, ``boolean``) holding ``pd.NA`` made
    ``np.asarray(values, dtype=float)`` raise numpy's bare ``TypeError``; its
    missing entries are NaN here, for the caller's finiteness check (or, where
    unchosen arms may be missing, its own).

    Examples
    --------
    >>> import pandas as pd
    >>> as_float_array(pd.array([1.0, None], dtype="Float64"), "costs").tolist()
    [1.0, nan]
    """
    kind = type(values).__name__
    if hasattr(values, "to_numpy"):  # pandas
        try:
            return np.asarray(values.to_numpy(dtype=float, na_value=np.nan))
        except (TypeError, ValueError):
            values = values.to_numpy()
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be numeric, got {kind}") from exc


def check_rewards_costs(
    rewards, costs, n_rows: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``rewards`` and ``costs`` as finite float arrays of shape (n, K), costs >= 0.

    Column ``a`` is arm ``a`` (a model or a judge); ``K >= 2`` arms, arm 0
    conventionally the cheapest (default) one. Both must have the same shape;
    with ``n_rows``, one row per row of ``X`` as well.
    """
    table_arm_names(rewards, costs)  # tables with named columns must agree
    rewards = check_values(rewards, "rewards", ndim=2)
    costs = check_values(costs, "costs", ndim=2)
    if costs.shape != rewards.shape:
        raise ValueError(
            f"`costs` must have the same shape as `rewards` {rewards.shape}, "
            f"got {costs.shape}"
        )
    if rewards.shape[1] < 2:
        raise ValueError(
            f"`rewards` and `costs` need K >= 2 arms (columns), got shape {rewards.shape}"
        )
    if n_rows is not None and rewards.shape[0] != n_rows:
        raise ValueError(
            f"`rewards` and `costs` must have one row per row of `X` ({n_rows}), "
            f"got shape {rewards.shape}"
        )
    if np.any(costs < 0):
        raise ValueError(
            f"`costs` must be non-negative, got minimum {float(costs.min())!r}"
        )
    return rewards, costs


def table_arm_names(rewards, costs):
    """The arms' names from the column labels of ``rewards`` / ``costs`` tables, or ``None``.

    A pandas DataFrame's columns name its arms (e.g. model names). When both
    tables have them, they must be the same labels in the same order: the arms
    are matched by position, so costs in another column order would silently
    price each arm at another arm's cost.

    Examples
    --------
    >>> import pandas as pd
    >>> rewards = pd.DataFrame({"small": [0.0, 1.0], "large": [1.0, 1.0]})
    >>> table_arm_names(rewards, [[0.1, 2.0], [0.1, 2.0]]).tolist()
    ['small', 'large']
    """
    labels = {}
    for name, table in (("rewards", rewards), ("costs", costs)):
        columns = getattr(table, "columns", None)
        if columns is not None and getattr(table, "ndim", 2) == 2:
            labels[name] = list(columns)
    if len(labels) == 2 and labels["rewards"] != labels["costs"]:
        hint = (
            "reorder them, e.g. `costs[rewards.columns]`"
            if sorted(map(str, labels["rewards"])) == sorted(map(str, labels["costs"]))
            else "they must name the same arms"
        )
        raise ValueError(
            f"the columns of `costs` {labels['costs']!r} differ from those of "
            f"`rewards` {labels['rewards']!r}: arms are matched by position, so {hint}"
        )
    found = labels.get("rewards", labels.get("costs"))
    return None if found is None else np.asarray(found, dtype=object)


def resolve_arm_names(arm_names, rewards, costs, n_arms: int):
    """``arm_names`` checked (:func:`check_arm_names`), else the tables' column labels.

    Explicit names win over the labels (a renaming); the labels of two tables
    must agree either way (:func:`table_arm_names`).
    """
    from_tables = table_arm_names(rewards, costs)
    if arm_names is None:
        arm_names = from_tables
    return check_arm_names(arm_names, n_arms)


def check_arm_names(arm_names, n_arms: int, name: str = "arm_names"):
    """Return ``arm_names`` as an object array of ``n_arms`` distinct names (``None`` kept).

    Examples
    --------
    >>> check_arm_names(["small", "large"], 2).tolist()
    ['small', 'large']
    """
    if arm_names is None:
        return None
    if isinstance(arm_names, str):
        raise TypeError(f"`{name}` must be a sequence of names, got a string")
    names = np.asarray(list(arm_names), dtype=object)
    if names.ndim != 1 or names.shape[0] != n_arms:
        raise ValueError(
            f"`{name}` must name each of the {n_arms} arms (columns of `rewards`), "
            f"got {names.shape[0] if names.ndim == 1 else names.shape} names"
        )
    if len(set(names.tolist())) != n_arms:
        seen, repeated = set(), []
        for item in names.tolist():
            if item in seen:
                repeated.append(item)
            seen.add(item)
        raise ValueError(f"`{name}` must be distinct, got repeated {repeated!r}")
    return names


def check_weights(weights, n: int, name: str = "weights") -> np.ndarray:
    """Return normalised probability weights of length ``n`` (uniform when ``None``).

    Entries must be finite and non-negative with a positive sum.
    """
    if weights is None:
        return np.full(n, 1.0 / n)
    w = check_values(weights, name, ndim=1)
    if w.shape[0] != n:
        raise ValueError(f"`{name}` must have length {n}, got length {w.shape[0]}")
    if np.any(w < 0):
        raise ValueError(
            f"`{name}` must be non-negative, got minimum {float(w.min())!r}"
        )
    total = w.sum()
    if total == np.inf:  # weights near the largest float: scale by the largest
        w = w / w.max()  # first (two weights of 1e308 summed to inf: all 0)
        total = w.sum()
    if not total > 0:
        raise ValueError(f"`{name}` must have a positive sum, got {float(total)!r}")
    return w / total


def _real_scalar(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if (
            isinstance(value, np.ndarray)
            and value.ndim == 0
            and value.dtype.kind in "fiu"
        ):
            value = value.item()
        else:
            raise TypeError(
                f"`{name}` must be a real number, got {type(value).__name__}"
            )
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"`{name}` must not be NaN")
    return value


def check_positive(value, name: str, *, allow_inf: bool = False) -> float:
    """Return ``value`` as a float, requiring ``value > 0`` (and finite unless ``allow_inf``)."""
    value = _real_scalar(value, name)
    if not value > 0:
        raise ValueError(f"`{name}` must be positive, got {value!r}")
    if math.isinf(value) and not allow_inf:
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    return value


def check_nonnegative(value, name: str, *, allow_inf: bool = False) -> float:
    """Return ``value`` as a float, requiring ``value >= 0`` (and finite unless ``allow_inf``)."""
    value = _real_scalar(value, name)
    if value < 0:
        raise ValueError(f"`{name}` must be non-negative, got {value!r}")
    if math.isinf(value) and not allow_inf:
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    return value


def check_finite(value, name: str) -> float:
    """Return ``value`` as a finite float."""
    value = _real_scalar(value, name)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    return value


def check_side(radius, temperature, radius_name: str, temperature_name: str):
    """Validate one robust side: a radius, or a temperature, or neither (not both).

    Returns ``(radius, temperature)`` as floats or ``None``.
    """
    if radius is not None and temperature is not None:
        raise ValueError(
            f"give at most one of `{radius_name}` and `{temperature_name}` "
            f"(a KL ball or a KL penalty), got both"
        )
    if radius is not None:
        radius = check_nonnegative(radius, radius_name, allow_inf=True)
    if temperature is not None:
        temperature = check_positive(temperature, temperature_name, allow_inf=True)
    return radius, temperature


def check_sense(sense) -> str:
    """Return ``sense`` if it is ``"min"`` or ``"max"``."""
    if sense not in ("min", "max"):
        raise ValueError(f'`sense` must be "min" or "max", got {sense!r}')
    return sense
