"""``python -m simulations.studies.metarouter_coverage [--reps N]``: coverage of router intervals.

Prints :func:`simulations.studies.metarouter_shift_study.coverage_table`: the Monte Carlo
coverage and widths of the classical and PPI++ 95% intervals of a router's per-query
efficiency, gain over random routing and paired difference to another router, on the
covariate-shift process with known ``m`` (about 3 minutes for 500 replications on 2
shared cores).
"""

from __future__ import annotations

import argparse

from simulations.studies.metarouter_shift_study import coverage_table


def main(argv=None) -> None:
    """Parse ``--reps`` and print the coverage table."""
    parser = argparse.ArgumentParser(description="coverage of the router intervals")
    parser.add_argument("--reps", type=int, default=500)
    args = parser.parse_args(argv)
    table = coverage_table(args.reps)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))


if __name__ == "__main__":
    main()
