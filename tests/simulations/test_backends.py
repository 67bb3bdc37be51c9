"""Backends: identical results serially, on loky workers and on dask clusters; thread caps in workers."""

import logging
import os

import pandas as pd
import pytest
from threadpoolctl import threadpool_info

from simulations.backends import RoundTask, execute_round, iter_results
from simulations.engine import run_study
from tests.simulations import toy_study
from tests.simulations.toy_study import TOY


def _pid_round(config, seed):
    return pd.DataFrame(
        {"pid": [os.getpid()], "omp": [os.environ.get("OMP_NUM_THREADS")]}
    )


def test_results_are_bit_identical_across_backends_and_workers(tmp_path):
    distributed = pytest.importorskip("distributed")
    kwargs = {"rounds": 5, "quiet": True}
    serial = run_study(TOY, backend="serial", out_dir=tmp_path / "serial", **kwargs)
    loky = run_study(TOY, backend="loky", n_jobs=2, out_dir=tmp_path / "loky", **kwargs)
    # fixed batches of 3 rounds, completing in another order
    batched = run_study(
        TOY,
        backend="loky",
        n_jobs=2,
        batch_size=3,
        out_dir=tmp_path / "batched",
        **kwargs,
    )
    dask_local = run_study(
        TOY, backend="dask", n_jobs=2, out_dir=tmp_path / "dask", **kwargs
    )
    # a running cluster reached through its scheduler address
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=True,
        dashboard_address="127.0.0.1:0",  # no fixed port: xdist workers run this at once
        silence_logs=logging.ERROR,
    ) as cluster:
        dask_remote = run_study(
            TOY,
            backend="dask",
            scheduler=cluster.scheduler_address,
            out_dir=tmp_path / "remote",
            **kwargs,
        )
    assert len(serial) == 4 * 5 * 3
    for other in (loky, batched, dask_local, dask_remote):
        pd.testing.assert_frame_equal(other, serial, check_exact=True)
    # every round ran with its BLAS/OpenMP pools capped at one thread
    assert (serial["threads"] == 1).all()


def test_loky_rounds_run_in_worker_processes_with_thread_env(tmp_path):
    tasks = [RoundTask(k, {"k": k}, 0, 0) for k in range(6)]
    results = list(iter_results(_pid_round, tasks, backend="loky", n_jobs=2))
    assert sorted(r.key for r in results) == list(range(6))
    frames = pd.concat([r.rows for r in results])
    assert os.getpid() not in set(frames["pid"])
    assert set(frames["omp"]) == {"1"}


def test_execute_round_rebuilds_the_seed_from_the_task():
    task = RoundTask("key", {"n": 20, "effect": 0.0, "sleep": 0.0}, 3, 11)
    result = execute_round(toy_study.run_round, task, in_worker=False)
    again = execute_round(
        toy_study.run_round, RoundTask("other", task.config, 3, 11), False
    )
    other_round = execute_round(
        toy_study.run_round, RoundTask("x", task.config, 4, 11), False
    )
    assert result.key == "key" and result.elapsed >= 0
    pd.testing.assert_frame_equal(result.rows, again.rows, check_exact=True)
    assert not result.rows["score"].equals(other_round.rows["score"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backend": "ray"}, "`backend`"),
        ({"backend": "loky", "scheduler": "x"}, "`scheduler`"),
    ],
)
def test_iter_results_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        iter_results(_pid_round, [RoundTask(0, {}, 0, 0)], **kwargs)
    assert list(iter_results(_pid_round, [], backend="serial")) == []


def _max_threads():
    return max(pool["num_threads"] for pool in threadpool_info())


def test_one_loky_job_runs_serially_without_capping_this_process_for_good(tmp_path):
    before = _max_threads()
    rows = run_study(
        TOY, rounds=2, backend="loky", n_jobs=1, out_dir=tmp_path, quiet=True
    )
    assert (rows["threads"] == 1).all()  # capped during the rounds
    assert _max_threads() == before  # and restored afterwards
    tasks = [RoundTask(k, {"k": k}, 0, 0) for k in range(2)]
    pids = {r.rows["pid"].iloc[0] for r in iter_results(_pid_round, tasks, n_jobs=1)}
    assert pids == {os.getpid()}


_LAZY_ROUND = """
import json, sys
import pandas as pd
from threadpoolctl import threadpool_info
from simulations.backends import RoundTask, iter_results

def one(config, seed):
    # the first call loads SciPy's OpenBLAS and scikit-learn's OpenMP runtime
    import scipy.linalg  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    return pd.DataFrame({"threads": [max(p["num_threads"] for p in threadpool_info())]})

preloaded = "scipy" in sys.modules or "sklearn" in sys.modules
tasks = [RoundTask(k, {}, k, 0) for k in range(3)]
threads = {r.key: int(r.rows["threads"].iloc[0]) for r in iter_results(one, tasks, backend="serial")}
after = max(p["num_threads"] for p in threadpool_info())
print(json.dumps({"preloaded": preloaded, "threads": [threads[k] for k in range(3)], "after": after}))
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs pools of 2+ threads")
def test_serial_caps_libraries_a_round_loads_lazily_and_restores_them():
    """Libraries first loaded inside round 0 run with one thread from round 1 on, and
    get their own default back when the run ends (a fresh process, no thread env)."""
    import json
    import subprocess
    import sys

    from simulations.backends import THREAD_ENV

    env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV}
    out = subprocess.run(
        [sys.executable, "-c", _LAZY_ROUND],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert not result["preloaded"]
    assert result["threads"][0] > 1  # loaded during round 0: not capped yet
    assert result["threads"][1:] == [1, 1]
    assert result["after"] == result["threads"][0]  # the default, restored


def _nested_round(config, seed):
    """A round that itself calls joblib (as the learners' cross-fitting does)."""
    import threading
    import time

    from joblib import Parallel, delayed

    start = time.time()
    inner = Parallel(n_jobs=2)(delayed(os.getpid)() for _ in range(4))
    # long enough that two rounds in one worker would overlap if the worker let them
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    return pd.DataFrame(
        {
            "pid": [os.getpid()],
            "thread": [threading.get_ident()],
            "inner_pids": [len(set(inner))],
            "inner_here": [set(inner) == {os.getpid()}],
            "start": [start],
            "end": [time.time()],
        }
    )


@pytest.mark.parametrize("backend", ["loky", "dask"])
def test_worker_runs_one_round_at_a_time_and_nested_joblib_stays_in_it(backend):
    # Regression: under dask a nested joblib call was sent back to the cluster and the
    # round seceded, so a one-thread worker ran a second round beside it (twice as slow).
    tasks = [RoundTask(i, {"c": 0}, i, 1) for i in range(4)]
    rows = pd.concat(
        [r.rows for r in iter_results(_nested_round, tasks, backend=backend, n_jobs=2)]
    )
    assert rows["inner_here"].all()  # nested work ran inside the round's own process
    for _, own in rows.groupby("pid"):
        own = own.sort_values("start")
        # rounds of one worker process never overlap in time
        assert (own["start"].to_numpy()[1:] >= own["end"].to_numpy()[:-1]).all()


def _listening(pids):
    """(pid, ip, port) of every listening TCP socket of the processes ``pids``."""
    import psutil  # a dependency of distributed

    return [
        (c.pid, c.laddr.ip, c.laddr.port)
        for c in psutil.net_connections("inet")
        if c.status == psutil.CONN_LISTEN and c.pid in pids
    ]


def test_dask_backend_listens_on_loopback_only_and_serves_no_http():
    pytest.importorskip("distributed")
    import psutil

    me = psutil.Process()
    before = {(ip, port) for _, ip, port in _listening({me.pid})}
    tasks = [RoundTask(i, {"c": 0}, i, 1) for i in range(4)]
    results = iter_results(_pid_round, tasks, backend="dask", n_jobs=2)
    first = next(results)  # the cluster is up while the generator is open
    try:
        workers = {p.pid for p in me.children(recursive=True)}
        sockets = _listening({me.pid} | workers)
    finally:
        rest = list(results)  # the generator closes the cluster when exhausted
    assert len(rest) == 3 and first.rows["pid"].iloc[0] in workers
    opened = [(pid, ip, port) for pid, ip, port in sockets if (ip, port) not in before]
    assert opened, "the cluster should listen somewhere (scheduler and worker comms)"
    # loopback only, and not distributed's dashboard / HTTP port
    assert {ip for _, ip, _ in opened} == {"127.0.0.1"}, opened
    assert 8787 not in {port for _, _, port in opened}, opened
    # a worker process listens on its comm only: distributed's default adds an HTTP
    # server per worker (two sockets each), the dashboard-less cluster has none
    per_worker = pd.Series(
        [pid for pid, _, _ in opened if pid in workers]
    ).value_counts()
    assert len(per_worker) == 2 and (per_worker == 1).all(), opened
    # the scheduler and the two nannies live in this process: one comm each
    assert sum(pid == me.pid for pid, _, _ in opened) == 3, opened
    # and everything is closed again afterwards
    assert not [s for s in _listening({me.pid}) if s[1:] not in before]


@pytest.mark.parametrize(
    ("address", "fragment"),
    [("nonsense", "missing port"), ("tcp://127.0.0.1:1", "Timed out")],
)
def test_a_bad_scheduler_address_is_one_line(tmp_path, capsys, address, fragment):
    # A malformed or unreachable --scheduler was a traceback (and a malformed one then
    # hung the interpreter's exit for a minute in the half-built Client's __del__).
    pytest.importorskip("distributed")
    import dask

    from simulations.cli import main
    from tests.simulations.toy_study import STUDIES

    argv = ["toy", "--quick", "--rounds", "1", "--quiet", "--backend", "dask"]
    argv += ["--scheduler", address, "--out", str(tmp_path)]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(argv, studies=STUDIES)
    lines = capsys.readouterr().err.splitlines()
    assert code == 2
    assert len(lines) == 1, lines
    assert "cannot connect to the dask scheduler" in lines[0] and address in lines[0]
    assert fragment in lines[0] and "--scheduler tcp://HOST:PORT" in lines[0]
