"""The Monte Carlo engine: studies, configuration hashes, per-round seeds, and `run_study`.

A study is a grid of configurations times Monte Carlo rounds. Round ``k`` of a
configuration gets its own :class:`numpy.random.SeedSequence`, built only from
``(base_seed, config, k)``, so a round's result is the same whichever backend,
however many workers, and in whatever order the rounds complete.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_BASE_SEED",
    "RESERVED_COLUMNS",
    "Study",
    "config_hash",
    "round_seed",
    "run_study",
    "seed_label",
]

#: The base seed of every study unless the user picks another (``--seed``).
DEFAULT_BASE_SEED = 20261122

#: Columns the engine adds to every stored row; a study's rows must not use them.
RESERVED_COLUMNS = frozenset({"study", "config_hash", "round", "seed"})


@dataclass(frozen=True)
class Study:
    """A Monte Carlo study: configurations, one round of one configuration, summaries, figures.

    Parameters
    ----------
    name : str
        Short name, used on the command line and for the output directory.
    description : str
        One line saying what the study shows.
    make_configs : callable
        ``make_configs(quick, data_dir) -> list[dict]``: the grid. Values must be
        JSON scalars (str, int, float, bool, None). ``data_dir`` is the ``--data``
        directory or None for simulated data.
    run_round : callable
        ``run_round(config, seed) -> pandas.DataFrame``: one round of one
        configuration, a pure function of ``(config, seed)`` where ``seed`` is a
        :class:`numpy.random.SeedSequence`. It returns tidy rows (one per router
        and level). Its columns must not collide with the configuration keys or
        with ``study``, ``config_hash``, ``round``, ``seed``. It must be a
        module-level function (worker processes import it by name).
    summarise : callable
        ``summarise(rows) -> dict[str, pandas.DataFrame]``: named tables computed
        from all stored rows; the first one is the headline table.
    plot : callable
        ``plot(rows, directory) -> list[pathlib.Path]``: writes PNG figures into
        ``directory`` and returns their paths.
    rounds : tuple of int, default=(5, 100)
        Default number of rounds for ``(quick, full)`` runs.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> def one_round(config, seed):
    ...     x = np.random.default_rng(seed).normal(config["mu"], size=10)
    ...     return pd.DataFrame({"router": ["mean"], "value": [x.mean()]})
    >>> study = Study(
    ...     name="toy",
    ...     description="mean of ten normals",
    ...     make_configs=lambda quick, data_dir: [{"mu": 0.0}, {"mu": 1.0}],
    ...     run_round=one_round,
    ...     summarise=lambda rows: {"means": rows.groupby("mu")["value"].mean().to_frame()},
    ...     plot=lambda rows, directory: [],
    ... )
    >>> rows = one_round({"mu": 1.0}, round_seed({"mu": 1.0}, 0))
    >>> list(rows.columns)
    ['router', 'value']
    """

    name: str
    description: str
    make_configs: Callable[[bool, str | None], list[dict]]
    run_round: Callable[[dict, np.random.SeedSequence], pd.DataFrame]
    summarise: Callable[[pd.DataFrame], dict[str, pd.DataFrame]]
    plot: Callable[[pd.DataFrame, Path], list[Path]]
    rounds: tuple[int, int] = (5, 100)


def _canonical_value(key: str, value: object) -> object:
    """Return ``value`` as a plain JSON scalar, or raise naming ``key``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(
                f"configuration value `{key}` must be finite, got {value!r}"
            )
        return value
    raise TypeError(
        f"configuration value `{key}` must be a JSON scalar (str, int, float, bool or None), "
        f"got {type(value).__name__}: {value!r}"
    )


def canonical_config(config: Mapping[str, object]) -> dict:
    """Return a configuration as a plain dict of JSON scalars (numpy scalars converted).

    Raises a TypeError naming the offending key for anything that is not a JSON scalar.
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"`config` must be a dict, got {type(config).__name__}")
    out = {}
    for key, value in config.items():
        if not isinstance(key, str):
            raise TypeError(f"configuration keys must be strings, got {key!r}")
        out[key] = _canonical_value(key, value)
    return out


def canonical_json(config: Mapping[str, object]) -> str:
    """Canonical JSON text of a configuration (sorted keys, no spaces)."""
    return json.dumps(
        canonical_config(config), sort_keys=True, separators=(",", ":"), allow_nan=False
    )


def config_hash(config: Mapping[str, object]) -> str:
    """Stable hash of a configuration: the first 16 hex digits of SHA-256 of its canonical JSON.

    Key order does not matter; ``1`` and ``1.0`` are different values (JSON tells
    them apart), and so are ``True`` and ``1``.

    Examples
    --------
    >>> config_hash({"a": 1, "b": "x"}) == config_hash({"b": "x", "a": 1})
    True
    >>> len(config_hash({"a": 1}))
    16
    """
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()[:16]


def _check_seed_int(name: str, value: object) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be an integer, got {type(value).__name__}: {value!r}"
        )
    value = int(value)
    if value < 0:
        raise ValueError(f"`{name}` must be non-negative, got {value}")
    return value


def round_seed(
    config: Mapping[str, object], round_index: int, base_seed: int = DEFAULT_BASE_SEED
) -> np.random.SeedSequence:
    """The seed of round ``round_index`` of ``config``.

    ``SeedSequence(entropy=[base_seed, h_hi, h_lo], spawn_key=(round_index,))``
    where ``h_hi, h_lo`` are the two 32-bit halves of :func:`config_hash`. It
    depends on nothing else (no global state, no order of execution).

    Examples
    --------
    >>> s = round_seed({"n": 100}, 3)
    >>> s.spawn_key
    (3,)
    >>> s.generate_state(1)[0] == round_seed({"n": 100}, 3).generate_state(1)[0]
    np.True_
    """
    round_index = _check_seed_int("round_index", round_index)
    base_seed = _check_seed_int("base_seed", base_seed)
    h = int(config_hash(config), 16)
    return np.random.SeedSequence(
        entropy=[base_seed, h >> 32, h & 0xFFFFFFFF], spawn_key=(round_index,)
    )


def seed_label(config_hash_: str, round_index: int, base_seed: int) -> str:
    """The ``seed`` column: ``"<base_seed>:<config_hash>:<round>"`` (enough to rebuild it)."""
    return f"{base_seed}:{config_hash_}:{round_index}"


def run_study(*args, **kwargs) -> pd.DataFrame:  # replaced below once the store exists
    """Run a study (see the full definition further down)."""
    raise NotImplementedError
