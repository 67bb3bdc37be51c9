"""The Monte Carlo engine: studies and `run_study`.

A study is a grid of configurations times Monte Carlo rounds. Each round's seed
comes from :mod:`simulations.seeds` (re-exported here: ``config_hash``,
``round_seed``), so a round's result is the same whichever backend, however many
workers, and in whatever order the rounds complete.
"""

from __future__ import annotations

import functools
import numbers
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .backends import BACKENDS, RoundTask, iter_results
from .errors import DataError
from .seeds import (
    DEFAULT_BASE_SEED,
    _check_seed_int,
    canonical_config,
    canonical_json,
    config_hash,
    round_seed,
    seed_label,
)

if TYPE_CHECKING:
    from .store import RowsPayload

__all__ = [
    "DEFAULT_BASE_SEED",
    "MAX_BASE_SEED",
    "RESERVED_COLUMNS",
    "Study",
    "config_hash",
    "round_seed",
    "run_study",
    "seed_label",
]

#: The largest base seed: the store keeps it in a signed 64-bit SQLite INTEGER.
MAX_BASE_SEED = 2**63 - 1

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
        directory or None for simulated data. A study that reads ``data_dir``
        puts it into its configurations (a value equal to the directory); the
        engine refuses ``data_dir`` for a study whose configurations do not.
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


def output_directory(study: Study, out_dir: str | Path, data_dir: str | None) -> Path:
    """Where a run's store and files go: ``<out_dir>/<study>-sim``, or
    ``<out_dir>/<study>-data-<name of the data directory>`` with ``--data``.

    The suffix keeps the folder's name from being importable: a bare
    ``<out_dir>/metarouter`` would shadow the ``metarouter`` package for a run
    started with ``--out .`` (Python puts the working directory first on the path).
    The data directory's name keeps runs of one study on two data sets apart.

    Examples
    --------
    >>> from simulations.studies import STUDIES
    >>> output_directory(STUDIES["pacing"], "results", "../shared/data/routerbench").as_posix()
    'results/pacing-data-routerbench'
    >>> output_directory(STUDIES["pacing"], "results", None).as_posix()
    'results/pacing-sim'
    """
    if data_dir is None:
        return Path(out_dir) / f"{study.name}-sim"
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(data_dir).resolve().name).strip("._")
    return Path(out_dir) / f"{study.name}-data-{name or 'data'}"


def _check_positive(name: str, value: object, allow_none: bool = True) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"`{name}` must be at least 1, got {value}")
    return int(value)


def check_round_rows(
    study_name: str, config: dict, round_index: int, rows: object
) -> RowsPayload:
    """Check a round's rows (a DataFrame, no reserved or configuration column) and convert
    them for the store. Runs in the worker, so the writing process has little left to do."""
    from .store import rows_payload

    where = f"study {study_name!r}: run_round({config}, round {round_index})"
    if not isinstance(rows, pd.DataFrame):
        raise TypeError(
            f"{where} must return a pandas DataFrame, got {type(rows).__name__}"
        )
    names = [str(c) for c in rows.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"{where} returned duplicate column names: {names}")
    clash = sorted(set(names) & (RESERVED_COLUMNS | set(config)))
    if clash:
        raise ValueError(
            f"{where} returned columns {clash} that collide with the configuration keys "
            f"or the reserved names {sorted(RESERVED_COLUMNS)}"
        )
    try:
        return rows_payload(rows)
    except TypeError as err:
        raise TypeError(f"{where}: {err}") from None


def _uses_data(configs: list[dict], data_dir: str | Path) -> bool:
    """Whether some configuration names the data directory (how a study takes ``--data``).

    A study uses ``--data`` by putting the directory into its configurations (it is
    then part of their hashes and of the stored rows); a study whose configurations
    do not name it would silently run on simulated data, so the engine refuses.
    """
    target = os.path.abspath(data_dir)
    return any(
        isinstance(value, str) and os.path.abspath(value) == target
        for config in configs
        for value in config.values()
    )


def _prepare_configs(study: Study, quick: bool, data_dir: str | None) -> list[dict]:
    configs = study.make_configs(quick, data_dir)
    if not isinstance(configs, (list, tuple)) or not configs:
        raise ValueError(
            f"study {study.name!r}: make_configs must return a non-empty list of dicts, "
            f"got {configs!r}"
        )
    configs = [canonical_config(c) for c in configs]
    if data_dir is not None and not _uses_data(configs, data_dir):
        raise DataError(
            f"study {study.name!r} cannot use --data {data_dir} (it runs on simulated "
            "data only); run it without --data"
        )
    hashes = [config_hash(c) for c in configs]
    if len(set(hashes)) != len(hashes):
        raise ValueError(
            f"study {study.name!r}: make_configs returned duplicate configurations"
        )
    for config in configs:
        clash = sorted(set(config) & RESERVED_COLUMNS)
        if clash:
            raise ValueError(
                f"study {study.name!r}: configuration keys {clash} are reserved by the engine"
            )
    return configs


def assemble_rows(
    study_name: str, configs: list[dict], stored: pd.DataFrame, n_rounds: int
) -> pd.DataFrame:
    """Join stored rows with their configurations, in (config order, round, row) order."""
    hashes = [config_hash(c) for c in configs]
    order = {h: i for i, h in enumerate(hashes)}
    stored = stored[stored["config_hash"].isin(order) & (stored["round"] < n_rounds)]
    position = stored["config_hash"].map(order).astype("int64")
    stored = (
        stored.assign(_position=position)
        .sort_values(["_position", "round", "row"], kind="stable")
        .reset_index(drop=True)
    )
    config_frame = pd.DataFrame(configs)
    config_keys = list(config_frame.columns)
    config_cols = config_frame.iloc[stored["_position"].to_numpy()].reset_index(
        drop=True
    )
    result_cols = [
        c
        for c in stored.columns
        if c not in ("config_hash", "round", "row", "seed", "_position")
    ]
    out = pd.concat(
        [
            pd.DataFrame({"study": pd.Series([study_name] * len(stored), dtype="str")}),
            config_cols,
            stored[["config_hash", "round", "seed"]],
            stored[result_cols],
        ],
        axis=1,
    )
    return out[["study", *config_keys, "config_hash", "round", "seed", *result_cols]]


def run_study(
    study: Study,
    *,
    quick: bool = False,
    rounds: int | None = None,
    data_dir: str | None = None,
    backend: str = "loky",
    n_jobs: int | None = None,
    scheduler: str | None = None,
    out_dir: str | Path = "results",
    quiet: bool = False,
    batch_size: int | None = None,
    base_seed: int = DEFAULT_BASE_SEED,
) -> pd.DataFrame:
    """Run every (configuration, round) not yet in the store, storing rounds as they complete.

    Parameters
    ----------
    study : Study
        The study to run.
    quick : bool, default=False
        Use the study's quick grid and quick number of rounds.
    rounds : int, optional
        Number of Monte Carlo rounds per configuration (default ``study.rounds``).
        Raising it on a second run computes only the new rounds.
    data_dir : str, optional
        Directory of real data passed to ``make_configs`` (``--data``).
    backend : {"serial", "loky", "dask"}, default="loky"
        Execution backend, see :func:`simulations.backends.iter_results`.
    n_jobs : int, optional
        Number of workers (default: all cores).
    scheduler : str, optional
        Address of a running dask scheduler (dask only; default: a ``LocalCluster``).
    out_dir : str or pathlib.Path, default="results"
        The store lives in ``<out_dir>/<study>/results.sqlite``
        (``<study>-data`` with ``data_dir``, ``<study>-sim`` without).
    quiet : bool, default=False
        No progress bar.
    batch_size : int, optional
        Rounds per batch sent to a worker (default adaptive).
    base_seed : int, default=20261122
        Root of every round's seed (see :func:`round_seed`), from 0 to
        :data:`MAX_BASE_SEED`.

    Returns
    -------
    pandas.DataFrame
        All stored rows of these configurations and rounds ``0..rounds-1``: the
        columns ``study``, the configuration keys, ``config_hash``, ``round``,
        ``seed``, then the columns ``run_round`` returned; sorted by configuration
        order, round, then the row order of ``run_round``.

    Examples
    --------
    >>> import tempfile, numpy as np, pandas as pd
    >>> from simulations.engine import Study, run_study
    >>> study = Study("doc", "sample means", lambda quick, data: [{"mu": 0.0}, {"mu": 1.0}],
    ...               run_round=_doc_round, summarise=lambda rows: {}, plot=lambda rows, d: [])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     rows = run_study(study, rounds=3, backend="serial", out_dir=d, quiet=True)
    >>> rows[["mu", "round", "router"]].head(3).values.tolist()
    [[0.0, 0, 'mean'], [0.0, 1, 'mean'], [0.0, 2, 'mean']]
    """
    from .store import ResultStore

    if not isinstance(study, Study):
        raise TypeError(f"`study` must be a Study, got {type(study).__name__}")
    if backend not in BACKENDS:
        raise ValueError(f"`backend` must be one of {BACKENDS}, got {backend!r}")
    if scheduler is not None and backend != "dask":
        raise ValueError(f"`scheduler` needs backend='dask', got backend={backend!r}")
    rounds = _check_positive("rounds", rounds)
    n_jobs = _check_positive("n_jobs", n_jobs)
    batch_size = _check_positive("batch_size", batch_size)
    base_seed = _check_seed_int("base_seed", base_seed)
    if base_seed > MAX_BASE_SEED:
        raise ValueError(
            f"`base_seed` must be at most {MAX_BASE_SEED}, got {base_seed}"
        )
    n_rounds = rounds if rounds is not None else study.rounds[0 if quick else 1]
    n_rounds = _check_positive("study.rounds", n_rounds, allow_none=False)

    if data_dir is not None:
        # absolute, so that a configuration (and its hash) names one directory: a
        # relative --data typed alike from two working directories would reuse
        # rounds computed on the other data set in the same store
        data_dir = str(Path(data_dir).resolve())
    configs = _prepare_configs(study, quick, data_dir)
    hashes = [config_hash(c) for c in configs]
    directory = output_directory(study, out_dir, data_dir)
    with ResultStore(directory / "results.sqlite") as store:
        done = store.completed(base_seed)
        # Round-major order: an interrupted run has rounds of every configuration.
        tasks = [
            RoundTask((i, k), configs[i], k, base_seed)
            for k in range(n_rounds)
            for i in range(len(configs))
            if (hashes[i], k) not in done
        ]
        total = len(configs) * n_rounds
        progress = _progress(study.name, total, total - len(tasks), quiet)
        try:
            results = iter_results(
                study.run_round,
                tasks,
                backend=backend,
                n_jobs=n_jobs,
                scheduler=scheduler,
                batch_size=batch_size,
                transform=functools.partial(check_round_rows, study.name),
            )
            config_json = [canonical_json(c) for c in configs]
            for result in results:
                i, k = result.key
                store.add_round(
                    config_hash=hashes[i],
                    config_json=config_json[i],
                    round_index=k,
                    base_seed=base_seed,
                    seed=seed_label(hashes[i], k, base_seed),
                    rows=result.rows,
                    elapsed=result.elapsed,
                )
                progress.update(1)
        finally:
            progress.close()
        stored = store.load(base_seed, max_round=n_rounds)
    return assemble_rows(study.name, configs, stored, n_rounds)


def _progress(name: str, total: int, initial: int, quiet: bool):
    import sys

    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc=name,
        unit="round",
        file=sys.stderr,
        disable=quiet,
        dynamic_ncols=True,
        smoothing=0.1,
    )


def _doc_round(config: dict, seed: np.random.SeedSequence) -> pd.DataFrame:
    """A round used in the docstring example: the mean of ten normals."""
    x = np.random.default_rng(seed).normal(config["mu"], size=10)
    return pd.DataFrame({"router": ["mean"], "value": [x.mean()]})
