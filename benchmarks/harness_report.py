"""The ``harness`` benchmark's report text: what each timed run and the projection are.

The measurements, targets and checks are in :mod:`benchmarks.harness`; this module
only words them.
"""

from __future__ import annotations

from simulations.engine import DEFAULT_BASE_SEED

__all__ = ["intro"]

WORKERS = 2  # benchmarks.harness.WORKERS


def intro(plan, repeats: int, quick: bool) -> str:
    """The section's introduction: the timed configuration, the four runs, the projection.

    Examples
    --------
    >>> from benchmarks.harness import make_plan
    >>> intro(make_plan(quick=True), 2, True).splitlines()[0][:40]
    'Timed: a small configuration of the meta'
    """
    cfg, R, n_target = plan.config, plan.rounds, plan.target_rounds
    label = (
        f"learner `{cfg['learner']}`, n_gs = {cfg['n_gs']}, d = {cfg['d']}, "
        f"n_pb = {cfg['n_pb']}, n_test = {cfg['n_test']}, {cfg['n_folds']} folds"
    )
    which = "a small configuration of" if quick else "one paper configuration of"
    return "\n".join(
        [
            (
                f"Timed: {which} the meta-router study (`simulations/studies/"
                f"metarouter_study.py`, simulated data): {label}; {R} rounds per run "
                f"(rounds 0..{R - 1}, base seed {DEFAULT_BASE_SEED}), {repeats} runs of each "
                "kind, alternated (bare, serial, loky, dask, then the reverse order)."
            ),
            "",
            (
                "- *bare loop*: the study's `run_round(config, seed)` called in a plain "
                "Python loop with the harness's seeds (`round_seed`) under the same "
                "one-thread cap of the BLAS/OpenMP pools (`threadpool_limits(1)`), the "
                "rows concatenated: the study's own work (data, model fits, scoring) and "
                "nothing else."
            ),
            (
                "- *run_study, serial*: `simulations.engine.run_study(backend='serial')` "
                "into a fresh SQLite store (per-round seeds, row checks, one transaction "
                "per round, the progress bar drawn into a discarded buffer, the rows read "
                "back and joined with their configuration at the end)."
            ),
            (
                f"- *loky* / *dask*: the same call on {WORKERS} worker processes, each "
                "capped at one BLAS/OpenMP thread (XGBoost and the forests are built with "
                "`n_jobs=1`); the workers are started and warmed (imports, first fits) by "
                "an untimed run first (dask: a fresh `LocalCluster` per measurement, so an "
                "idle cluster never loads the other runs)."
            ),
            "",
            (
                f"Parallel efficiency = serial wall / ({WORKERS} x parallel wall); overhead "
                "= serial wall / bare wall - 1; both per repeat (the pair ran back to "
                "back), median [min, max]. *s per round* is the time inside `run_round` "
                "(stored per round by the harness; timed around the call in the bare "
                "loop). CPU *workers* is the CPU time of the worker processes (from /proc)."
            ),
            "",
            (
                f"Projection: {plan.grid_rounds} rounds of every configuration of "
                f"{plan.grid_name} ({len(plan.grid)} configurations), each run through "
                f"`run_study` on {WORKERS} loky workers, so every round is timed while the "
                f"other worker is busy too. Projected wall = {n_target} x sum over "
                f"configurations of the mean time per round / {WORKERS}."
            ),
        ]
    )
