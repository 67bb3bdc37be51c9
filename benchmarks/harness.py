"""The Monte Carlo harness on a real study: workers, overhead, projected wall time.

``python -m benchmarks harness [--quick]`` times rounds of one configuration of the
meta-router study (``simulations/studies/metarouter_study.py``), four ways, alternated
in every repeat (the order reversed from one repeat to the next):

- **bare**: the study's ``run_round(config, seed)`` called in a plain Python loop,
  with the same seeds (:func:`simulations.engine.round_seed`), under the same
  one-thread cap of the BLAS/OpenMP pools (``threadpool_limits(1)``), the rows
  concatenated with pandas: no store, no checks, no progress bar, no workers;
- **serial**: :func:`simulations.engine.run_study` with ``backend="serial"``: a fresh
  SQLite store, per-round seeding, row checks, one transaction per round, its
  progress bar (drawn into a discarded buffer), the rows read back at the end;
- **loky** and **dask**: the same call with 2 worker processes (``n_jobs=2``; a
  ``LocalCluster`` of 2 one-thread workers started, and warmed, before the timed run).

It reports rounds per second, the parallel efficiency ``serial / (2 x parallel)`` (of
the same repeat), the harness's own overhead ``serial / bare - 1``, and projects the
wall time of the study's whole grid from a couple of rounds of every configuration
run on 2 workers. :func:`run` returns the :class:`benchmarks._core.Section`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import math
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmarks import harness_report
from benchmarks._core import Cache, Section, cache_key, children_cpu, describe, spread
from simulations.backends import THREAD_ENV
from simulations.engine import (
    DEFAULT_BASE_SEED,
    Study,
    config_hash,
    output_directory,
    round_seed,
    run_study,
)
from simulations.store import ResultStore
from simulations.studies import STUDIES
from simulations.studies import metarouter_study as ms

__all__ = ["Plan", "bare_loop", "make_plan", "run", "verdicts"]

#: Worker processes of the parallel runs.
WORKERS = 2
#: Bump when what is measured changes, so cached measurements are not mixed in.
VERSION = 1
VARIANTS = ("bare", "serial", "loky", "dask")
_LABELS = {
    "bare": "bare loop of run_round",
    "serial": "run_study, serial",
    "loky": f"run_study, loky, {WORKERS} workers",
    "dask": f"run_study, dask, {WORKERS} workers",
}
#: A small round of the meta-router study (about 0.4 s): --quick's timed configuration
#: and the warm-up of fresh worker processes.
TINY = {
    "bias": "heterogeneous",
    "data": "sim",
    "data_dir": None,
    "d": 10,
    "learner": "xgb_small",
    "n_folds": 3,
    "n_gs": 100,
    "n_pb": 400,
    "n_test": 200,
}


# --------------------------------------------------------------------------- plan
@dataclass(frozen=True)
class Plan:
    """What a run measures.

    ``config`` is the timed configuration, ``rounds`` the rounds of each timed run;
    ``grid`` the configurations projected, ``grid_rounds`` the rounds measured of each
    and ``target_rounds`` the rounds the projection is for.
    """

    config: dict
    rounds: int
    grid: tuple
    grid_rounds: int
    target_rounds: int
    grid_name: str


def make_plan(quick: bool) -> Plan:
    """The full plan (a paper configuration, the paper grid) or the --quick one."""
    study = STUDIES["metarouter"]
    if quick:
        return Plan(
            config=dict(TINY),
            rounds=2,
            grid=(dict(TINY), {**TINY, "n_gs": 200}),
            grid_rounds=2,
            target_rounds=study.rounds[0],
            grid_name="a smoke grid of two small configurations",
        )
    grid = tuple(study.make_configs(False, None))
    (config,) = [
        c for c in grid if (c["learner"], c["n_gs"], c["d"]) == ("xgb", 100, 50)
    ]
    return Plan(
        config=dict(config),
        rounds=6,
        grid=grid,
        grid_rounds=2,
        target_rounds=study.rounds[1],
        grid_name="the paper grid of the meta-router study",
    )


def _study(configs) -> Study:
    configs = [dict(c) for c in configs]
    return Study(
        name="metarouter",
        description="benchmark",
        make_configs=lambda quick, data_dir: configs,
        run_round=ms.run_round,
        summarise=lambda rows: {},
        plot=lambda rows, directory: [],
    )


# --------------------------------------------------------------------------- one run
def bare_loop(
    config: dict, rounds: int, base_seed: int = DEFAULT_BASE_SEED
) -> tuple[pd.DataFrame, float]:
    """The reference: ``run_round`` for rounds ``0..rounds-1`` in a plain loop.

    Returns the concatenated rows and the summed time inside ``run_round`` (s).

    Examples
    --------
    >>> rows, busy = bare_loop(TINY, 1)
    >>> sorted(set(rows["router"])) == sorted(ms.ROUTERS)
    True
    """
    from threadpoolctl import threadpool_limits

    frames, busy = [], 0.0
    with threadpool_limits(limits=1):
        for k in range(rounds):
            seed = round_seed(config, k, base_seed)
            start = time.perf_counter()
            frames.append(ms.run_round(dict(config), seed))
            busy += time.perf_counter() - start
    return pd.concat(frames, ignore_index=True), busy


def _digest(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's column names and exact values (-0.0 as 0.0, NaN as nan)."""
    h = hashlib.sha256()
    for name in frame.columns:
        h.update(f"\0{name}\0".encode())
        for v in frame[name].tolist():
            if v is None or (isinstance(v, float) and math.isnan(v)):
                text = "nan"
            elif isinstance(v, float):
                text = repr(v + 0.0)
            else:
                text = f"{type(v).__name__}:{v}"
            h.update(text.encode() + b"\1")
    return h.hexdigest()


def _result_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """The columns ``run_round`` returned (those after the engine's ``seed``)."""
    cols = list(rows.columns)
    return rows[cols[cols.index("seed") + 1 :]].reset_index(drop=True)


def _measure(variant: str, config: dict, rounds: int, scheduler=None) -> dict:
    """Time one run of ``variant``; return wall, CPU, busy time and the rows' digests."""
    cpu_children = children_cpu()
    with tempfile.TemporaryDirectory() as out:
        if variant == "bare":
            cpu0, wall0 = time.process_time(), time.perf_counter()
            rows, busy = bare_loop(config, rounds)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            result = rows
            full = None
        else:
            study = _study([config])
            kwargs = {"backend": "serial" if variant == "serial" else variant}
            if variant == "loky":
                kwargs["n_jobs"] = WORKERS
            if variant == "dask":
                kwargs["scheduler"] = scheduler
            sink = io.StringIO()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            with contextlib.redirect_stderr(sink):  # the progress bar is drawn
                rows = run_study(study, rounds=rounds, out_dir=out, **kwargs)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            path = output_directory(study, out, None) / "results.sqlite"
            with ResultStore(path) as store:
                busy = float(store.rounds_table()["elapsed"].sum())
            result = _result_columns(rows)
            full = _digest(rows)
    return {
        "wall": wall,
        "cpu": cpu,
        "cpu_workers": children_cpu() - cpu_children,
        "busy": busy,
        "n_rows": len(result),
        "digest": _digest(result),
        "full_digest": full,
    }


@contextlib.contextmanager
def _dask_cluster():
    """A LocalCluster of one-thread workers (the harness's thread caps), or None."""
    try:
        from distributed import LocalCluster
    except ImportError:  # pragma: no cover - dask.distributed is a dependency
        yield None
        return
    with LocalCluster(
        n_workers=WORKERS,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
        env=dict(THREAD_ENV),
    ) as cluster:
        yield cluster.scheduler_address


def _warm_process() -> None:
    """Imports and first fits in this process (a small round, untimed)."""
    bare_loop(TINY, 1)


def _warm(backend: str, scheduler=None) -> None:
    """Start and warm workers (imports, first fits) with a small untimed run.

    dask: every worker first runs :func:`_warm_process` (``Client.run`` reaches each
    worker; the scheduler might send a short run's rounds all to one of them).
    """
    if backend == "dask":
        from distributed import Client

        with Client(scheduler, set_as_default=False) as client:
            client.run(_warm_process)
    kwargs = {"n_jobs": WORKERS} if backend == "loky" else {"scheduler": scheduler}
    with tempfile.TemporaryDirectory() as out:
        run_study(
            _study([TINY]),
            rounds=2 * WORKERS,
            backend=backend,
            out_dir=out,
            quiet=True,
            **kwargs,
        )


# --------------------------------------------------------------------------- blocks
def _timed_block(plan: Plan, repeats: int, cache: Cache, tick) -> dict:
    """``{variant: [measurement per repeat]}``, alternated, cached one by one."""
    chash = config_hash(plan.config)
    results = {v: [None] * repeats for v in VARIANTS}
    keys = {
        (v, r): cache_key("harness", VERSION, "run", v, r, chash, plan.rounds)
        for v in VARIANTS
        for r in range(repeats)
    }
    warm = set()
    for rep in range(repeats):
        order = VARIANTS if rep % 2 == 0 else VARIANTS[::-1]
        for variant in order:
            key = keys[(variant, rep)]
            hit = cache.get(key)
            if hit is None:
                if variant in ("bare", "serial") and "self" not in warm:
                    _warm_process()
                    warm.add("self")
                if variant == "loky" and "loky" not in warm:
                    _warm("loky")
                    warm.add("loky")
                if variant == "dask":
                    # a cluster per measurement: idle, its scheduler (a thread of this
                    # process) and workers would load the other measurements
                    start = time.perf_counter()
                    with _dask_cluster() as address:
                        if address is None:
                            hit = {"skipped": True}
                        else:
                            _warm("dask", address)
                            startup = time.perf_counter() - start
                            hit = _measure("dask", plan.config, plan.rounds, address)
                            hit["startup"] = startup
                else:
                    hit = _measure(variant, plan.config, plan.rounds)
                cache.put(key, hit)
            results[variant][rep] = hit
            tick()
    return results


def _projection(plan: Plan, cache: Cache, tick) -> pd.DataFrame:
    """Per configuration of the grid: its rounds' times on ``WORKERS`` busy workers."""
    records = []
    warmed = False
    for config in plan.grid:
        key = cache_key(
            "harness", VERSION, "grid", config_hash(config), plan.grid_rounds
        )
        hit = cache.get(key)
        if hit is None:
            if not warmed:
                _warm("loky")
                warmed = True
            study = _study([config])
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                with contextlib.redirect_stderr(io.StringIO()):
                    run_study(
                        study,
                        rounds=plan.grid_rounds,
                        backend="loky",
                        n_jobs=WORKERS,
                        out_dir=out,
                    )
                wall = time.perf_counter() - start
                path = output_directory(study, out, None) / "results.sqlite"
                with ResultStore(path) as store:
                    elapsed = store.rounds_table()["elapsed"].astype(float).tolist()
            hit = {"elapsed": elapsed, "wall": wall}
            cache.put(key, hit)
        per_round = np.asarray(hit["elapsed"], float)
        records.append(
            {
                "learner": config["learner"],
                "n_gs": config["n_gs"],
                "d": config["d"],
                "n_pb": config["n_pb"],
                "rounds measured": len(per_round),
                "s per round": spread(per_round),
                "_mean": float(per_round.mean()),
                "_max": float(per_round.max()),
                "wall s (measured)": hit["wall"],
            }
        )
        tick()
    return pd.DataFrame(records)


# --------------------------------------------------------------------------- report
def _ratios(num, den, fn) -> list[float]:
    return [fn(a, b) for a, b in zip(num, den)]


def run(*, quick: bool, repeats: int, cache: Cache, progress: bool) -> Section:
    """Measure and report the harness (see the module docstring)."""
    if repeats < 1:
        raise ValueError(f"`repeats` must be at least 1, got {repeats!r}")
    from tqdm.auto import tqdm

    plan = make_plan(quick)
    total = repeats * len(VARIANTS) + len(plan.grid)
    bar = tqdm(total=total, desc="harness", unit="run", disable=not progress)
    try:
        timed = _timed_block(plan, repeats, cache, lambda: bar.update(1))
        grid = _projection(plan, cache, lambda: bar.update(1))
    finally:
        bar.close()
    return _section(plan, repeats, timed, grid, quick)


def _derived(timed: dict) -> tuple[list, dict, list, dict]:
    """``(variants run, wall times, overhead, efficiency)`` per repeat."""
    has_dask = not any(m.get("skipped") for m in timed["dask"])
    variants = [v for v in VARIANTS if v != "dask" or has_dask]
    wall = {v: [m["wall"] for m in timed[v]] for v in variants}
    overhead = _ratios(wall["serial"], wall["bare"], lambda s, b: s / b - 1.0)
    efficiency = {
        v: _ratios(wall["serial"], wall[v], lambda s, p: s / (WORKERS * p))
        for v in variants
        if v in ("loky", "dask")
    }
    return variants, wall, overhead, efficiency


def verdicts(plan: Plan, timed: dict, grid: pd.DataFrame) -> pd.DataFrame:
    """Every target and check with what was measured and whether it held.

    Columns ``kind`` (``"target"`` or ``"check"``), ``what``, ``measured``, ``met``.
    """
    variants, _, overhead, efficiency = _derived(timed)
    rows = []
    for v in [v for v in ("loky", "dask") if v in efficiency]:
        rows.append(
            (
                "target",
                f"parallel efficiency, {v} {WORKERS} workers, at least 0.85",
                spread(efficiency[v]),
                describe(efficiency[v])["median"] >= 0.85,
            )
        )
    rows.append(
        (
            "target",
            "harness overhead against the bare loop, at most 5%",
            _pct_spread(overhead),
            describe(overhead)["median"] <= 0.05,
        )
    )
    digests = {v: {m["digest"] for m in timed[v]} for v in variants}
    full = {v: {m["full_digest"] for m in timed[v]} for v in variants if v != "bare"}
    checks = {
        "parallel rows identical to serial": all(
            full[v] == full["serial"] and len(full[v]) == 1 for v in full
        ),
        "stored rows equal the bare loop's": len(digests["bare"]) == 1
        and all(digests[v] == digests["bare"] for v in variants),
        "overhead finite": all(math.isfinite(x) for x in overhead),
        "every configuration projected": bool(
            len(grid) == len(plan.grid)
            and (grid["rounds measured"] == plan.grid_rounds).all()
        ),
    }
    rows += [("check", k, "", bool(ok)) for k, ok in checks.items()]
    return pd.DataFrame(rows, columns=["kind", "what", "measured", "met"])


def _section(
    plan: Plan, repeats: int, timed: dict, grid: pd.DataFrame, quick
) -> Section:
    variants, wall, overhead, efficiency = _derived(timed)
    busy = {v: [m["busy"] for m in timed[v]] for v in variants}
    R = plan.rounds
    rows = []
    for v in variants:
        ms_ = timed[v]
        if v == "bare":
            derived = "reference"
        elif v == "serial":
            derived = f"overhead {_pct_spread(overhead)}"
        else:
            derived = f"efficiency {spread(efficiency[v])}"
        rows.append(
            {
                "run": _LABELS[v],
                "workers": 1 if v in ("bare", "serial") else WORKERS,
                "wall s": spread(wall[v]),
                "rounds per s": R / describe(wall[v])["median"],
                "s per round (in run_round)": float(np.median(busy[v])) / R,
                "CPU s, this process": float(np.median([m["cpu"] for m in ms_])),
                "CPU s, workers": float(np.median([m["cpu_workers"] for m in ms_])),
                "against the bare loop / serial": derived,
            }
        )
    timed_table = pd.DataFrame(rows)

    # projection: N rounds of every configuration, W workers, per-round times measured
    # with W workers busy
    n_target = plan.target_rounds
    proj_s = n_target * grid["_mean"] / WORKERS
    grid_table = grid.drop(columns=["_mean", "_max"]).assign(
        **{f"projected s ({n_target} rounds, {WORKERS} workers)": proj_s}
    )
    total_s = float(proj_s.sum())
    tail = float(grid["_max"].max())
    ovh = describe(overhead)["median"]
    found = verdicts(plan, timed, grid)
    targets = [
        (r.what, r.measured, r.met)
        for r in found[found["kind"] == "target"].itertuples()
    ]
    checks = {r.what: r.met for r in found[found["kind"] == "check"].itertuples()}

    intro = harness_report.intro(plan, repeats, quick)
    notes = [
        (
            f"**Projected wall time of {plan.grid_name}** ({len(plan.grid)} configurations "
            f"x {n_target} rounds, {WORKERS} workers, this machine): {total_s:.0f} s "
            f"({total_s / 3600:.2f} h). The model leaves out the dispatch and storing "
            f"(the serial overhead above, median {_pct(ovh)}) and the last round's "
            f"imbalance (at most one round, the longest measured {tail:.1f} s)."
        )
    ]
    notes += _explain(plan, timed, efficiency, overhead, variants)
    return Section(
        name="harness",
        title="Monte Carlo harness: workers, overhead, projected wall time",
        command="python -m benchmarks harness" + (" --quick" if quick else ""),
        intro=intro,
        tables=[
            (
                f"Timed runs ({R} rounds each; median [min, max] of {repeats}):",
                timed_table,
            ),
            (f"Projection ({plan.grid_name}):", grid_table),
        ],
        notes=notes,
        targets=targets,
        checks=checks,
    )


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%" if math.isfinite(x) else "–"


def _pct_spread(values) -> str:
    d = describe(values)
    return f"{_pct(d['median'])} [{_pct(d['min'])}, {_pct(d['max'])}]"


def _explain(plan, timed, efficiency, overhead, variants) -> list[str]:
    """Why the efficiency is what it is: worker occupancy, round slowdown, serial share.

    ``E = serial wall / (W x parallel wall) = occupancy / (slowdown x share)`` with
    occupancy = time inside rounds / (W x parallel wall), slowdown = a round's time
    side by side / alone, share = the serial run's time inside rounds / its wall.
    """
    import os

    notes = []
    W, R = WORKERS, plan.rounds
    med = {
        (v, k): float(np.median([m[k] for m in timed[v]]))
        for v in variants
        for k in ("busy", "wall", "cpu", "cpu_workers")
    }
    share = med[("serial", "busy")] / med[("serial", "wall")]
    for v in [v for v in variants if v in ("loky", "dask")]:
        slowdown = med[(v, "busy")] / med[("serial", "busy")]
        occupancy = med[(v, "busy")] / (W * med[(v, "wall")])
        cpu_ratio = med[(v, "cpu_workers")] / med[("serial", "cpu")]
        text = (
            f"Efficiency of {v}, decomposed (medians): the workers spend "
            f"{occupancy:.3f} of the wall time inside rounds (occupancy); a round takes "
            f"{slowdown:.3f} x as long with {W} running side by side as alone "
            f"(slowdown), and the workers used {cpu_ratio:.3f} x the serial run's CPU "
            f"time; the serial run spends {share:.3f} of its wall time inside rounds; "
            f"occupancy / (slowdown x {share:.3f}) = "
            f"{occupancy / (slowdown * share):.3f}."
        )
        if describe(efficiency[v])["median"] < 0.85:
            idle = 1.0 - occupancy
            if slowdown - 1.0 <= idle:
                cause = (
                    f"idle workers ({100 * idle:.1f}% of their time: start-up, and "
                    f"{R} rounds over {W} workers leave one waiting for the last "
                    "round); it closes with more rounds per run, as in a real study"
                )
            elif cpu_ratio - 1.0 < (slowdown - 1.0) / 2:
                cause = (
                    "rounds waiting for a core: the rounds needed about the same CPU "
                    "time side by side, but with as many workers as cores any other "
                    "process takes a core from a worker (load average "
                    f"{os.getloadavg()[0]:.2f} at the end of this run); it closes on an "
                    "idle machine"
                )
            else:
                cause = (
                    "rounds needing more CPU time side by side (shared caches, memory "
                    "bandwidth and clock of the host's cores: not a harness cost); it "
                    "closes only on a machine with more, or more independent, cores"
                )
            text += f" Target missed mainly by {cause}."
        notes.append(text)
    over = describe(overhead)["median"]
    if over > 0.05:
        extra = med[("serial", "wall")] - med[("bare", "wall")]
        notes.append(
            f"Overhead target missed: the harness added {extra * 1e3:.0f} ms to a run "
            f"of {R} rounds ({_pct(over)} of the bare loop). Its store is created "
            "and read back once per run, so this shrinks with the rounds per run (a "
            "study runs 100 per configuration)."
        )
    if "dask" in variants:
        startup = [m["startup"] for m in timed["dask"]]
        notes.append(
            f"dask: starting a `LocalCluster` of {W} workers and warming it took "
            f"{spread(startup)} s (not in the timed runs)."
        )
    return notes
