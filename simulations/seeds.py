"""Configurations and seeds: canonical JSON, configuration hashes and per-round seeds.

Round ``k`` of a configuration gets its own :class:`numpy.random.SeedSequence`,
built only from ``(base_seed, config, k)``, so a round's result is the same whichever
backend, however many workers, and in whatever order the rounds complete. The
engine (:mod:`simulations.engine`) and the backends (:mod:`simulations.backends`)
both use these functions; they live here so neither imports the other's module for them.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Mapping

import numpy as np

__all__ = [
    "DEFAULT_BASE_SEED",
    "canonical_config",
    "canonical_json",
    "config_hash",
    "round_seed",
    "seed_label",
]

#: The base seed of every study unless the user picks another (``--seed``).
DEFAULT_BASE_SEED = 20261122


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

    Examples
    --------
    >>> import numpy as np
    >>> canonical_config({"n": np.int64(3), "w": np.float64(0.5), "on": np.bool_(True)})
    {'n': 3, 'w': 0.5, 'on': True}
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
    """Canonical JSON text of a configuration (sorted keys, no spaces).

    Examples
    --------
    >>> canonical_json({"b": 1.0, "a": None})
    '{"a":null,"b":1.0}'
    """
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
    """The ``seed`` column: ``"<base_seed>:<config_hash>:<round>"`` (enough to rebuild it).

    Examples
    --------
    >>> seed_label("0123456789abcdef", 4, 7)
    '7:0123456789abcdef:4'
    """
    return f"{base_seed}:{config_hash_}:{round_index}"
