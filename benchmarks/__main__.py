"""Run a benchmark: ``python -m benchmarks {metarouter,racer,harness} [options]``.

Each benchmark measures, in one run, our implementation against its reference
(econml for the CATE learners, CVXPY for the RACER solver): median wall time of
several repeats, the speed ratio, and the accuracy gap.
"""

from __future__ import annotations

import sys
from importlib import import_module

BENCHMARKS = {
    "metarouter": ("benchmarks.metarouter_econml", "R/DR-learners against econml"),
    "racer": ("benchmarks.racer_cvxpy", "primal-dual solver against CVXPY"),
    "harness": ("benchmarks.harness_backends", "simulation backends against serial"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        lines = ["usage: python -m benchmarks {metarouter,racer,harness} [options]", ""]
        lines += [f"  {name:<11} {text}" for name, (_, text) in BENCHMARKS.items()]
        print("\n".join(lines))
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in BENCHMARKS:
        print(
            f"benchmarks: error: unknown benchmark {name!r} (choose from {', '.join(BENCHMARKS)})",
            file=sys.stderr,
        )
        return 2
    module = import_module(BENCHMARKS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
