"""Execution backends: serial, loky (joblib processes) and dask (a ``dask.distributed`` cluster).

Every backend runs the same task, :func:`execute_round`: it rebuilds the round's
seed from ``(config, round, base_seed)`` and calls the study's ``run_round``
with inner thread pools (BLAS, OpenMP) capped at one thread, so workers do not
oversubscribe the cores and a round computes the same bits wherever it runs.
Results are yielded as they complete (in any order); the caller stores them.

Short rounds are batched by joblib's adaptive batching (``batch_size="auto"``:
it grows a batch until one takes a fraction of a second), so millisecond rounds
do not drown in scheduling overhead while long rounds are dispatched one at a time
(a killed run then loses at most the rounds in flight).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import joblib
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from .errors import UserInputError
from .seeds import round_seed

__all__ = ["BACKENDS", "RoundResult", "RoundTask", "execute_round", "iter_results"]

#: The backends ``run_study`` knows.
BACKENDS = ("serial", "loky", "dask")

#: Environment of worker processes: one thread per BLAS / OpenMP pool.
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "BLIS_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}

_capped_pid: int | None = None


@dataclass(frozen=True)
class RoundTask:
    """One Monte Carlo round to run: ``key`` identifies it for the caller.

    Examples
    --------
    >>> task = RoundTask(key=("config 0", 3), config={"n": 10}, round_index=3, base_seed=1)
    >>> task.round_index
    3
    """

    key: object
    config: dict
    round_index: int
    base_seed: int


@dataclass(frozen=True)
class RoundResult:
    """The rows one round produced (after ``transform``) and how long ``run_round`` took (s).

    Examples
    --------
    >>> import pandas as pd
    >>> def one(config, seed):
    ...     return pd.DataFrame({"x": [config["n"]]})
    >>> result = execute_round(one, RoundTask("k", {"n": 10}, 0, 1), in_worker=False)
    >>> result.key, result.rows["x"].tolist()
    ('k', [10])
    """

    key: object
    rows: object
    elapsed: float


def _cap_threads_in_this_worker() -> None:
    """Cap BLAS/OpenMP pools at one thread for the rest of this worker process's life."""
    global _capped_pid
    pid = os.getpid()
    if _capped_pid != pid:
        for name, value in THREAD_ENV.items():
            os.environ[name] = value
        threadpool_limits(limits=1)
        _capped_pid = pid


def execute_round(
    run_round: Callable[[dict, np.random.SeedSequence], pd.DataFrame],
    task: RoundTask,
    in_worker: bool = True,
    transform: Callable[[dict, int, pd.DataFrame], object] | None = None,
) -> RoundResult:
    """Run one round (inside a worker, or in-process when ``in_worker`` is False).

    ``transform(config, round_index, rows)``, if given, post-processes the rows in
    the worker (the engine checks them and converts them for the store there).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> def draw(config, seed):
    ...     return pd.DataFrame({"x": np.random.default_rng(seed).normal(size=2)})
    >>> task = RoundTask("k", {"n": 2}, round_index=0, base_seed=1)
    >>> a = execute_round(draw, task, in_worker=False)
    >>> b = execute_round(draw, task, in_worker=False)
    >>> a.rows.equals(b.rows)  # the seed comes from (config, round, base_seed) alone
    True
    """
    if in_worker:
        _cap_threads_in_this_worker()
    seed = round_seed(task.config, task.round_index, task.base_seed)
    start = time.perf_counter()
    # A worker runs one round on one core. Nested joblib calls in the round (the
    # learners' cross-fitting) must not fan out: under dask they would be sent back
    # to the cluster and the round would secede, letting its worker start another
    # round beside it (measured: two rounds at once per one-thread worker, each
    # twice as slow).
    nested = (
        joblib.parallel_config(backend="sequential")
        if in_worker
        else contextlib.nullcontext()
    )
    with nested:
        rows = run_round(dict(task.config), seed)
    elapsed = time.perf_counter() - start
    if transform is not None:
        rows = transform(task.config, task.round_index, rows)
    return RoundResult(task.key, rows, elapsed)


def _default_jobs() -> int:
    return joblib.cpu_count()


def _iter_serial(run_round, tasks, transform):
    # Same caps as in workers, but only for the duration of the run (this is the
    # user's process). threadpool_limits caps only the libraries loaded when it is
    # entered, and rounds import lazily (scikit-learn's OpenMP, SciPy's OpenBLAS):
    # whenever a round has imported modules, cap again before the next round (a new
    # layer, so leaving the run restores every library to what it had before).
    with contextlib.ExitStack() as caps:
        caps.enter_context(threadpool_limits(limits=1))
        n_modules = len(sys.modules)
        for task in tasks:
            if len(sys.modules) != n_modules:
                caps.enter_context(threadpool_limits(limits=1))
                n_modules = len(sys.modules)
            yield execute_round(run_round, task, False, transform)


def _iter_joblib(run_round, tasks, n_jobs, batch_size, transform):
    parallel = joblib.Parallel(
        n_jobs=n_jobs,
        return_as="generator_unordered",
        batch_size="auto" if batch_size is None else batch_size,
        pre_dispatch="2*n_jobs",
    )
    yield from parallel(
        joblib.delayed(execute_round)(run_round, task, True, transform)
        for task in tasks
    )


def _iter_loky(run_round, tasks, n_jobs, batch_size, transform):
    n_jobs = n_jobs or _default_jobs()
    if n_jobs == 1:
        # joblib would run a single "worker" in this process: run serially instead
        # (same results; the caps then last only for the run)
        yield from _iter_serial(run_round, tasks, transform)
        return
    with joblib.parallel_config(backend="loky", inner_max_num_threads=1):
        yield from _iter_joblib(run_round, tasks, n_jobs, batch_size, transform)


def _iter_dask(run_round, tasks, n_jobs, scheduler, batch_size, transform):
    from distributed import Client

    from ._dask_cluster import local_cluster

    cluster = None
    if scheduler is None:
        cluster = local_cluster(n_jobs or _default_jobs(), THREAD_ENV)
        client = Client(cluster, set_as_default=False)
    else:
        client = _connect(scheduler)
    try:
        with joblib.parallel_config(backend="dask", client=client):
            yield from _iter_joblib(run_round, tasks, -1, batch_size, transform)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _connect(scheduler: str):
    """A client of the running scheduler at ``scheduler``, or a UserInputError."""
    from distributed import Client
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        # Check the address first: a Client whose constructor fails on a malformed
        # address hangs the interpreter's exit for a minute (its __del__ times out).
        scheme, location = parse_address(scheduler)
        if scheme in ("tcp", "tls"):
            parse_host_port(location)
        return Client(scheduler, set_as_default=False)
    except (OSError, ValueError) as err:  # malformed or unreachable address
        raise UserInputError(
            f"cannot connect to the dask scheduler {scheduler!r} ({err}); start it "
            "or give its address as --scheduler tcp://HOST:PORT"
        ) from None


def iter_results(
    run_round: Callable[[dict, np.random.SeedSequence], pd.DataFrame],
    tasks: Sequence[RoundTask],
    *,
    backend: str = "loky",
    n_jobs: int | None = None,
    scheduler: str | None = None,
    batch_size: int | None = None,
    transform: Callable[[dict, int, pd.DataFrame], object] | None = None,
) -> Iterator[RoundResult]:
    """Run ``tasks`` on ``backend`` and yield each :class:`RoundResult` as it completes.

    Parameters
    ----------
    run_round : callable
        The study's round function (module-level, so workers can import it).
    tasks : sequence of RoundTask
        The rounds to run.
    backend : {"serial", "loky", "dask"}, default="loky"
        Where to run: in this process, in joblib's loky worker processes, or on a
        ``dask.distributed`` cluster.
    n_jobs : int, optional
        Number of workers (default: all cores). For dask without ``scheduler``,
        the number of single-threaded worker processes of the ``LocalCluster``;
        with ``scheduler``, ignored (the cluster's workers decide).
    scheduler : str, optional
        Address of a running dask scheduler (``tcp://host:8786``); dask only. Its
        workers must be able to import the study's module (install the toolkit there).
    batch_size : int, optional
        Rounds per batch; default adaptive (joblib's ``"auto"``).
    transform : callable, optional
        ``transform(config, round_index, rows)`` applied in the worker to each
        round's rows (module-level or a ``functools.partial`` of one).

    Examples
    --------
    >>> import pandas as pd
    >>> from simulations.engine import Study
    >>> def one(config, seed):
    ...     return pd.DataFrame({"x": [config["a"]]})
    >>> tasks = [RoundTask(k, {"a": k}, 0, 1) for k in range(3)]
    >>> sorted(r.key for r in iter_results(one, tasks, backend="serial"))
    [0, 1, 2]
    """
    if backend not in BACKENDS:
        raise ValueError(f"`backend` must be one of {BACKENDS}, got {backend!r}")
    if scheduler is not None and backend != "dask":
        raise ValueError(f"`scheduler` needs backend='dask', got backend={backend!r}")
    if not tasks:
        return iter(())
    if backend == "serial":
        return _iter_serial(run_round, tasks, transform)
    if backend == "loky":
        return _iter_loky(run_round, tasks, n_jobs, batch_size, transform)
    return _iter_dask(run_round, tasks, n_jobs, scheduler, batch_size, transform)
