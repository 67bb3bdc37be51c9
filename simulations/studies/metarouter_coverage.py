"""``python -m simulations.studies.metarouter_coverage [--reps N]``: coverage of router intervals.

Prints :func:`simulations.studies.metarouter_shift_study.coverage_table`: the Monte Carlo
coverage and widths of the classical and PPI++ 95% intervals of a router's per-query
efficiency, gain over random routing and paired difference to another router, on the
covariate-shift process with known ``m``, for the small-sample intervals (the library's
default) and the asymptotic ones (``small_sample=False``). ``mc_sd`` is the binomial sd
of a coverage estimate at the nominal 95%; ``warned_*`` the share of replications whose
interval raised :class:`~metarouter.inference.SmallSampleWarning` and
``coverage_unwarned_*`` the coverage among the others. Default grid: shift in {0, 0.5,
1, 1.5}, n_gs in {50, 100, 300}, 1000 replications (about 5-9 minutes on 2 shared
cores). Off-grid processes: :mod:`simulations.studies.metarouter_coverage_synthetic`.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from simulations.studies.metarouter_shift_study import coverage_table


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


def main(argv=None) -> None:
    """Parse the options and print the coverage table."""
    parser = argparse.ArgumentParser(description="coverage of the router intervals")
    parser.add_argument("--reps", type=int, default=1000, help="multiple of 100")
    parser.add_argument("--shifts", type=_floats, default=(0.0, 0.5, 1.0, 1.5))
    parser.add_argument(
        "--sizes",
        type=lambda s: tuple(int(v) for v in s.split(",")),
        default=(50, 100, 300),
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    done = {}

    def progress(shift, n_gs):
        done[shift, n_gs] = done.get((shift, n_gs), 0) + 100
        print(f"shift {shift} n_gs {n_gs}: {done[shift, n_gs]} reps", file=sys.stderr)

    table = coverage_table(
        args.reps,
        shifts=args.shifts,
        sizes=args.sizes,
        seed=args.seed,
        progress=progress,
    )
    lo, hi = 0.93, 0.97
    for kind, sub in table.groupby("intervals", sort=False):
        cov = sub[["coverage_classical", "coverage_ppi"]].to_numpy()
        inside = (cov >= lo) & (cov <= hi)
        print(
            f"\n{kind} intervals: {inside.sum()} of {inside.size} coverages in [{lo}, {hi}]"
        )
        cov = sub[["coverage_unwarned_classical", "coverage_unwarned_ppi"]].to_numpy()
        inside = (cov >= lo) & (cov <= hi)
        print(
            f"  among the replications without a SmallSampleWarning: {inside.sum()} of "
            f"{np.isfinite(cov).sum()} in [{lo}, {hi}]"
        )
        print(
            sub.drop(columns="intervals").to_string(
                index=False, float_format=lambda x: f"{x:.3f}"
            )
        )


if __name__ == "__main__":
    main()
