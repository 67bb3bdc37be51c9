"""The ``cate`` benchmark's Markdown section, rendered from measured tables and verdicts.

:func:`section` computes nothing: the tables, and every target and check with
whether it held, come from :func:`benchmarks.cate.verdicts` and the table
builders of :mod:`benchmarks.cate` and :mod:`benchmarks.cate_router`.
"""

from __future__ import annotations

import pandas as pd

from benchmarks._core import Section

__all__ = ["section"]

_N_JOBS = 2  # the benchmark's n_jobs on our side (benchmarks.cate_fits.N_JOBS)
_CLIP = 0.01  # the propensity clip (benchmarks.cate_fits.CLIP)


def _intro(plan, repeats: int) -> str:
    setups = ", ".join(plan.setups)
    cycle = (
        f"repeat r uses setup {' '.join(plan.setups)}[r mod {len(plan.setups)}]; "
        "both sides fit the same data in each repeat, so times spread over the "
        "setups too"
        if len(plan.setups) > 1
        else f"every repeat uses setup {plan.setups[0]}"
    )
    forests = (
        ": one thread, or as many as an enclosing joblib configuration gives"
        if plan.forest_jobs is None
        else ""
    )
    return (
        f"Nie & Wager (2021) setups {setups}, d = {plan.d}, held-out test set of "
        f"{plan.n_test} rows with the known tau; {repeats} fits of each side per "
        f"cell ({cycle}). Same explicit stratified folds, same base "
        "learners with the same seeds on both sides: random "
        f"forest `{plan.rf}` (n_jobs={plan.forest_jobs}{forests}), XGBoost "
        f"`{plan.xgb}` (hist, n_jobs=1: its OpenMP threads are out of joblib's "
        "reach); the final (CATE) model is the same regressor. Ours: `RLearner` / "
        f"`DRLearner` with n_jobs={_N_JOBS} (fold-level parallelism on joblib's "
        "default loky worker processes, the library's default, then the final "
        f"fit on {_N_JOBS} threads (`metarouter._crossfit.final_stage`: forests "
        f"through `joblib.parallel_config(backend='threading', n_jobs={_N_JOBS})`, "
        f"XGBoost with its n_jobs raised from 1 to {_N_JOBS} for that fit); our CPU time "
        "adds the workers' CPU, read from /proc, to this process's; threads "
        "are compared in the last table); econml: "
        "`NonParamDML` / `DRLearner` (its folds run in sequence; "
        f"*econml 2 threads*: the same fit under `parallel_config(backend='threading', n_jobs={_N_JOBS})`, "
        "so each of its forests uses both cores), the latter with "
        f"`min_propensity={_CLIP}` (our clip) and `SplitByTreatment` (separate "
        "mu_0, mu_1, as ours) so both compute the same estimator. Wall ratio: "
        "median of the per-repeat ratios ours / econml. MSE: mean over the "
        "setups of each side's test MSE of tau; MSE ratio: ours / econml on the "
        "setup where it is largest."
    )


def _miss_note(miss: pd.DataFrame) -> str:
    """Why a wall-time target is missed, from the medians per learner and folds."""
    lines = [
        f"{r.learner}, {r.folds} folds: wall ratio {r.wall:.2f} against a "
        f"2-core bound of {r.bound:.2f}, CPU ratio {r.cpu:.2f}"
        for r in miss.itertuples()
    ]
    return (
        "Where the wall-time target is missed: our nuisance fits run two at a "
        "time, then the final (CATE) regression on all n rows runs alone, on "
        "two threads (the library's final stage; econml's runs on one). The "
        "'2-core bound' column is the best ratio with perfectly halved nuisance "
        "work and the final fit as our final stage runs it (*final fit s*: alone "
        "on one thread, and on two as the final stage runs it); forests can go "
        "below it. "
        "Medians over cells: "
        + "; ".join(lines)
        + ". A CPU ratio above 1 is work our parallel fits add (dispatch and "
        "moving data and fitted models between processes; it weighs most at "
        "small n, where each fit is short). Against econml given the same two "
        "cores for its forests (*econml 2 threads*), both sides parallelise "
        "the same fits, so the ratio tends to 1 rather than 0.5: a 0.6 target "
        "there would need less work, not more parallelism."
    )


def _backend_note(backend: pd.DataFrame, threads_slower: bool) -> str:
    measured = ", ".join(
        f"{r['base learners']} at n={r['n']} {r['threads / loky']:.2f}"
        for _, r in backend.iterrows()
    )
    verdict = (
        "so the cross-fitting keeps joblib's default processes (the Python "
        "parts of forests and histogram boosting hold the GIL, which threads "
        "share)"
        if threads_slower
        else "threads were no slower in this run, but slower with forests "
        "and the default boosting when the change was tried"
    )
    return (
        "What was changed for speed in `metarouter/_crossfit.py`: the "
        "cross-fitting was tried on joblib threads (work visible to "
        "`time.process_time`, no worker processes). Threads against processes "
        f"(wall ratio, last table): {measured}; {verdict}. What stays is a "
        "per-thread OpenMP cap for users who choose threads "
        "(`joblib.parallel_config(backend='threading')`): OpenMP limits are "
        "per thread, so without it two worker threads of histogram boosting "
        "each started a pool as large as the machine."
    )


def section(plan, *, quick: bool, repeats: int, verdicts, tables: dict) -> Section:
    """The ``cate`` section: ``tables`` and ``verdicts`` rendered, nothing computed.

    ``tables`` maps ``"cells"``, ``"joint"``, ``"router"``, ``"auto"``, ``"shared"``,
    ``"backend"`` and ``"miss"`` to frames (empty frames are left out).

    Examples
    --------
    >>> from benchmarks.cate_fits import QUICK
    >>> v = pd.DataFrame([("target", "R: fast", "0.5", True),
    ...                   ("check", "R agrees", "0.01", True)],
    ...                  columns=["kind", "what", "measured", "met"])
    >>> s = section(QUICK, quick=True, repeats=2, verdicts=v, tables={})
    >>> s.targets, s.checks
    ([('R: fast', '0.5', True)], {'R agrees': True})
    """
    sec = Section(
        name="cate",
        title="CATE learners and the meta-router against econml",
        command="python -m benchmarks cate" + (" --quick" if quick else ""),
        intro=_intro(plan, repeats),
    )
    kinds = {k: verdicts[verdicts["kind"] == k] for k in ("target", "check", "finding")}
    sec.targets = [(r.what, r.measured, r.met) for r in kinds["target"].itertuples()]
    sec.checks = {r.what: r.met for r in kinds["check"].itertuples()}
    findings = {r.what: r.met for r in kinds["finding"].itertuples()}

    def table(key: str, caption: str) -> None:
        frame = tables.get(key)
        if frame is not None and len(frame):
            sec.tables.append((caption, frame))

    table("cells", "CATE learners, ours against econml:")
    if not kinds["target"]["met"].all() and "miss" in tables:
        sec.notes.append(_miss_note(tables["miss"]))
    table(
        "joint",
        "econml's own DR design (one `model_regression` on [X, T], default for "
        "econml users) against the split design used above; one fit each (not "
        "repeated):",
    )
    n_gs, n_pb = plan.router_sizes
    table(
        "router",
        f"Meta-router: the whole fit and its steps, read from the fitted router's "
        f"`step_times_` (medians of {repeats}; *validation etc.* is the whole fit "
        f"less its steps); `make_routing_data(n_gs={n_gs}, n_pb={n_pb}, "
        f"d={plan.d})`, `MetaRouter('r', ...)` with the base learners above, "
        f"{plan.router_folds} folds, n_jobs={_N_JOBS} (CPU includes workers); "
        "*econml learner* is econml's fit of the same step-1 learner on the "
        "router's aligned outcomes and folds, *CATE learner / econml* the median "
        "per-round ratio of our step 1 to it:",
    )
    table(
        "auto",
        "`MetaRouter('auto')` (same data and settings; at most 3 fits, rotated "
        "with the fits above): its selection folds (step `select`: every "
        "candidate on every selection fold) apart from the learner it chose; "
        "*chosen alone* is `MetaRouter(<chosen>)` in the same rounds; *CATE "
        "learner / econml* is auto's step 1 against econml's fit of the chosen "
        "learner:",
    )
    table(
        "shared",
        "Shared nuisance fits: an R and a DR meta-router on the same data, "
        "fitted separately, or with the DR router reusing the R router's "
        "folds and propensities (no second propensity fit):",
    )
    table(
        "backend",
        f"Our parallel backend: `RLearner(n_jobs={_N_JOBS})`, "
        f"{max(plan.fold_counts)} folds, setup A, on joblib threads "
        "(`parallel_config(backend='threading')`; each thread's OpenMP "
        "pool gets cpu_count / n_jobs threads; CPU time as seen by "
        "`time.process_time`) against worker processes (loky, the "
        "default used in the tables above):",
    )
    backend = tables.get("backend")
    if backend is not None and len(backend):
        slower = findings.get("threads slower than processes (some base learner)")
        sec.notes.append(_backend_note(backend, bool(slower)))
    return sec
