"""Small shared validators for ``racer_dro``; every error names the user's argument."""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "check_nonnegative",
    "check_positive",
    "check_rewards_costs",
    "check_sense",
    "check_side",
    "check_values",
    "check_weights",
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
    """
    if hasattr(values, "to_numpy"):  # pandas
        values = values.to_numpy()
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"`{name}` must be numeric, got {type(values).__name__}"
        ) from exc
    if arr.ndim != ndim:
        raise ValueError(f"`{name}` must be {ndim}-dimensional, got shape {arr.shape}")
    if ndim == 2 and ncols is not None and arr.shape[1] != ncols:
        raise ValueError(
            f"`{name}` must have shape (n, {ncols}) (column 0 = instruct, "
            f"column 1 = reasoning), got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(
            f"`{name}` must contain at least one row, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        bad = "NaN" if np.isnan(arr).any() else "infinite values"
        raise ValueError(f"`{name}` must be finite, got {bad}")
    return arr


def check_rewards_costs(
    rewards, costs, n_rows: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``rewards`` and ``costs`` as finite float arrays of shape (n, 2), costs >= 0.

    Column 0 is the cheap arm (instruct), column 1 the expensive one (reasoning).
    With ``n_rows``, both must have one row per row of ``X``; without, ``costs``
    must have the shape of ``rewards``.
    """
    rewards = check_values(rewards, "rewards", ndim=2, ncols=2)
    costs = check_values(costs, "costs", ndim=2, ncols=2)
    if n_rows is None:
        if costs.shape != rewards.shape:
            raise ValueError(
                f"`costs` must have the same shape as `rewards` {rewards.shape}, "
                f"got {costs.shape}"
            )
    else:
        for name, arr in (("rewards", rewards), ("costs", costs)):
            if arr.shape[0] != n_rows:
                raise ValueError(
                    f"`{name}` must have one row per row of `X` ({n_rows}), "
                    f"got shape {arr.shape}"
                )
    if np.any(costs < 0):
        raise ValueError(f"`costs` must be non-negative, got minimum {costs.min()!r}")
    return rewards, costs


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
        raise ValueError(f"`{name}` must be non-negative, got minimum {w.min()!r}")
    total = w.sum()
    if not total > 0:
        raise ValueError(f"`{name}` must have a positive sum, got {total!r}")
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
