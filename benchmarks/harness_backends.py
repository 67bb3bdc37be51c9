"""Scheduling overhead of the Monte Carlo harness per backend, as ratios to serial.

Every round does about ``--work-ms`` milliseconds of CPU work and returns two rows;
the same rounds run through :func:`simulations.engine.run_study` serially, with
``loky`` and with ``dask`` (a ``LocalCluster`` of single-threaded workers started
beforehand, so start-up is reported apart). Reported per backend: the median wall
time over ``--repeats`` runs, rounds per second, and the ratio to serial. With two
workers and rounds long enough to amortise dispatch, the ratio tends to 0.5; with
very short rounds it shows what batching and storing cost.

Run: ``python -m benchmarks harness [--rounds 50] [--configs 10] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time

import numpy as np
import pandas as pd

from simulations.engine import Study, run_study


def make_configs(quick: bool, data_dir: str | None) -> list[dict]:
    """Configurations of the timing study: ``n_configs`` of ``work_ms`` each (set by `run`)."""
    return [
        {"c": i, "work_ms": _SETTINGS["work_ms"]} for i in range(_SETTINGS["configs"])
    ]


_SETTINGS = {"configs": 10, "work_ms": 5.0}


def run_round(config: dict, seed: np.random.SeedSequence) -> pd.DataFrame:
    """Busy-wait about ``config['work_ms']`` of CPU and return two rows."""
    deadline = time.process_time() + config["work_ms"] / 1e3
    x = np.ones(64)
    while time.process_time() < deadline:
        x = np.sqrt(x + 1.0)
    value = float(np.random.default_rng(seed).random())
    return pd.DataFrame({"router": ["a", "b"], "value": [value, float(x[0])]})


def _no_tables(rows: pd.DataFrame) -> dict:
    return {}


def _no_figures(rows: pd.DataFrame, directory) -> list:
    return []


STUDY = Study(
    "harness-benchmark", "busy rounds", make_configs, run_round, _no_tables, _no_figures
)


def _time_run(rounds: int, **kwargs) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run_study(STUDY, rounds=rounds, out_dir=out, quiet=True, **kwargs)
        return time.perf_counter() - start


def run(
    rounds: int = 50,
    configs: int = 10,
    work_ms: float = 5.0,
    repeats: int = 3,
    jobs: int = 2,
) -> pd.DataFrame:
    """Median wall time per backend and its ratio to serial, measured in one run."""
    _SETTINGS.update(configs=configs, work_ms=work_ms)
    n_rounds = rounds * configs
    timings: dict[str, list[float]] = {"serial": [], "loky": [], "dask": []}
    startup: dict[str, float] = {}
    start = time.perf_counter()
    _time_run(1, backend="loky", n_jobs=jobs)  # warm the loky executor
    startup["loky"] = time.perf_counter() - start
    from distributed import LocalCluster

    start = time.perf_counter()
    with LocalCluster(
        n_workers=jobs,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        startup["dask"] = time.perf_counter() - start
        address = cluster.scheduler_address
        _time_run(1, backend="dask", scheduler=address)  # workers import the module
        for _ in range(
            repeats
        ):  # interleaved, so machine noise hits every backend alike
            timings["serial"].append(_time_run(rounds, backend="serial"))
            timings["loky"].append(_time_run(rounds, backend="loky", n_jobs=jobs))
            timings["dask"].append(_time_run(rounds, backend="dask", scheduler=address))
    serial = float(np.median(timings["serial"]))
    rows = []
    for backend, values in timings.items():
        median = float(np.median(values))
        rows.append(
            {
                "backend": backend,
                "workers": 1 if backend == "serial" else jobs,
                "rounds": n_rounds,
                "work_ms_per_round": work_ms,
                "median_wall_s": median,
                "rounds_per_s": n_rounds / median,
                "ratio_to_serial": median / serial,
                "startup_s": startup.get(backend, 0.0),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks harness", description=__doc__
    )
    parser.add_argument(
        "--rounds", type=int, default=50, help="rounds per configuration"
    )
    parser.add_argument(
        "--configs", type=int, default=10, help="number of configurations"
    )
    parser.add_argument(
        "--work-ms", type=float, default=5.0, help="CPU work per round (ms)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per backend (median)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="workers for loky and dask")
    parser.add_argument("--out", help="directory for the CSV of results")
    args = parser.parse_args(argv)
    if min(args.rounds, args.configs, args.repeats, args.jobs) < 1 or args.work_ms < 0:
        parser.error(
            "--rounds, --configs, --repeats, --jobs must be >= 1 and --work-ms >= 0"
        )
    table = run(args.rounds, args.configs, args.work_ms, args.repeats, args.jobs)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if args.out:
        from pathlib import Path

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "harness_backends.csv", index=False)
        print(f"wrote {out / 'harness_backends.csv'}")
    return 0
