"""Benchmark ``profile``: where the time goes in the slowest benchmarked calls (cProfile).

Profiled, each once under :mod:`cProfile` (deterministic function-level timing;
the profiler's own overhead inflates many-small-call code, so read shares, not
absolute seconds):

1. the slowest cell of the ``cate`` benchmark: our DR-learner with random
   forests, 5 folds, ``n = 20000`` (``n_jobs=1``: the profiler sees only the
   thread that starts it, and the fold fits are what is measured);
2. the slowest ``dro`` call: ``solve_primal_dual`` at ``n = 1e6``, with the default
   joint Newton and with the nested method it replaced (the change this profile
   motivated; the ``dro`` section times both side by side).

Each table lists the functions with the most own time (``tottime``), their call
counts and cumulative time, and their share of the profiled total.
"""

from __future__ import annotations

import cProfile
import pstats
import time
import warnings
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

from benchmarks._core import Cache, Section, cache_key

__all__ = ["profile_call", "run"]

VERSION = 1
TOP = 12


def _where(key) -> str:
    filename, line, name = key
    if filename == "~":  # built-in
        return name
    path = Path(filename)
    parts = path.parts
    for anchor in ("site-packages", "main", "lib"):
        if anchor in parts:
            i = len(parts) - 1 - parts[::-1].index(anchor)
            rel = "/".join(parts[i + 1 :])
            break
    else:
        rel = path.name
    return f"{rel}:{line} {name}"


def profile_call(fn, top: int = TOP) -> tuple[pd.DataFrame, float]:
    """Profile one call of ``fn``; the ``top`` functions by own time and the total."""
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    fn()
    profiler.disable()
    wall = time.perf_counter() - start
    stats = pstats.Stats(profiler)
    total = sum(v[2] for v in stats.stats.values())  # own times add up to the total
    rows = [
        {
            "function": _where(key),
            "calls": int(nc),
            "own s": tt,
            "cumulative s": ct,
            "own share": tt / total if total > 0 else float("nan"),
        }
        for key, (cc, nc, tt, ct, _) in stats.stats.items()
    ]
    frame = pd.DataFrame(rows).sort_values("own s", ascending=False).head(top)
    return frame.reset_index(drop=True), wall


def _cate_case(quick: bool):
    from benchmarks import cate
    from metarouter import DRLearner

    n, k = (2_000, 2) if quick else (20_000, 5)
    plan = cate.QUICK if quick else cate.FULL
    X, y, t, _ = cate.nie_wager("A", n, d=plan.d, random_state=0)
    folds = cate._folds(t, k, 0)
    reg, clf = cate.base_learners("rf", plan.rf, 0)

    def fit():
        est = DRLearner(
            reg, clf, reg, propensity_clip=cate.CLIP, n_jobs=1, random_state=0
        )
        est.fit(X, y, t, folds=folds)

    return f"`DRLearner`, random forests, {k} folds, n = {n}, d = {plan.d}", fit


def _dro_cases(quick: bool):
    from benchmarks.dro import make_problem
    from racer_dro import solve_primal_dual

    n = 20_000 if quick else 1_000_000
    problem = make_problem(n)
    return [
        (
            f"`solve_primal_dual` (joint Newton, the default), n = {n}",
            lambda: solve_primal_dual(problem),
        ),
        (
            f'`solve_primal_dual(method="nested")` (the former default), n = {n}',
            lambda: solve_primal_dual(problem, method="nested"),
        ),
    ]


def run(*, quick: bool, repeats: int, cache: Cache, progress: bool = True) -> Section:
    """Profile the cases and return the ``profile`` section (``repeats`` is unused)."""
    cases = [_cate_case(quick), *_dro_cases(quick)]
    tables = []
    for label, fn in cases:
        key = cache_key("profile", VERSION, label)
        record = cache.get(key)
        if record is None:
            with threadpool_limits(limits=1), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                frame, wall = profile_call(fn)
            record = {"wall": wall, "rows": frame.to_dict("records")}
            cache.put(key, record)
        frame = pd.DataFrame(record["rows"])
        tables.append(
            (
                f"{label}: {record['wall']:.2f} s under the profiler; top {len(frame)} by own time:",
                frame,
            )
        )
    return Section(
        name="profile",
        title="profile: where the time goes",
        command="python -m benchmarks profile" + (" --quick" if quick else ""),
        intro=" ".join(__doc__.split("\n\n", 1)[1].split()),
        tables=tables,
        notes=[CHANGES],
    )


CHANGES = (
    "What was changed because of these profiles. **RACER solver:** the nested "
    "solver's profile showed its time in the inner fixed-multiplier solves and their "
    "line searches (every outer multiplier step re-solved the policy problem, each "
    "evaluation re-finding the radius temperatures), and at n = 1e6 in the "
    "iterate-distance bookkeeping of the history. The default is now one Newton "
    "loop on the penalised objective with the multiplier eliminated, whose step "
    "crosses the kink at the budget exactly (`racer_dro/primal_dual.py`); the "
    "sigmoid and entropy share one exponential, the history's KL distances reuse "
    "it, and the large-n start is solved only to 1e-4. The `dro` section times the "
    "old and new methods side by side (`nested / primal-dual`). **CATE "
    "learners:** see the `cate` section's notes."
)
