"""``python -m benchmarks [cate|dro|harness|profile|all] [--quick] [options]``.

Each benchmark measures, in one run, our implementation against its reference
(econml for the CATE learners, CVXPY for the robust program, a serial loop for the
Monte Carlo harness), writes its section of ``benchmarks/RESULTS.md`` and prints it.
A ``--quick`` run is a smoke test: it writes ``results/benchmarks/RESULTS-quick.md``
and never the published ``benchmarks/RESULTS.md``. Finished measurements are cached
(``results/benchmarks/``), so a killed run resumes; ``--fresh`` measures everything again.
"""

from __future__ import annotations

import argparse
import sys
import time
from importlib import import_module
from pathlib import Path

from benchmarks._core import Cache, write_section

BENCHMARKS = {
    "cate": ("benchmarks.cate", "R/DR-learners and the meta-router against econml"),
    "dro": ("benchmarks.dro", "KL worst case and primal-dual solver against CVXPY"),
    "harness": (
        "benchmarks.harness",
        "Monte Carlo harness: workers, overhead, projection",
    ),
    "profile": ("benchmarks.profile", "cProfile of the slowest benchmarked fits"),
}
DEFAULT_OUT = Path("benchmarks") / "RESULTS.md"
DEFAULT_CACHE = Path("results") / "benchmarks"
QUICK_OUT = DEFAULT_CACHE / "RESULTS-quick.md"
#: The published report (next to this file), which quick figures must never overwrite.
PUBLISHED = Path(__file__).resolve().parent / "RESULTS.md"


def report_path(out: Path | None, quick: bool) -> Path:
    """Where the report goes: ``out``, else the published file (quick: under ``results/``).

    Raises ValueError for a quick run aimed at the published report.

    Examples
    --------
    >>> report_path(None, quick=True).as_posix()
    'results/benchmarks/RESULTS-quick.md'
    >>> report_path(None, quick=False).as_posix()
    'benchmarks/RESULTS.md'
    >>> report_path(PUBLISHED, quick=True)
    Traceback (most recent call last):
    ...
    ValueError: --quick figures do not go into the published ...RESULTS.md; drop --out ...
    """
    if out is None:
        return QUICK_OUT if quick else DEFAULT_OUT
    if quick and out.resolve() == PUBLISHED:
        raise ValueError(
            f"--quick figures do not go into the published {PUBLISHED}; drop --out "
            f"(they go to {QUICK_OUT}) or give another file"
        )
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(f"  {k:<8} {text}" for k, (_, text) in BENCHMARKS.items()),
    )
    parser.add_argument("benchmark", choices=[*BENCHMARKS, "all"])
    parser.add_argument("--quick", action="store_true", help="a smoke run (seconds)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed runs per side (default 5; 2 with --quick)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"markdown report (default {DEFAULT_OUT}; with --quick {QUICK_OUT})",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=DEFAULT_CACHE,
        help=f"folder of finished measurements, for resuming (default {DEFAULT_CACHE})",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="ignore cached measurements"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 5)
    if repeats < 1:
        parser.error(f"--repeats must be at least 1, got {repeats}")
    try:
        args.out = report_path(args.out, args.quick)
    except ValueError as err:
        parser.error(str(err))
    names = list(BENCHMARKS) if args.benchmark == "all" else [args.benchmark]
    failed = []
    for name in names:
        module = import_module(BENCHMARKS[name][0])
        suffix = "-quick" if args.quick else ""
        cache_path = args.cache / f"{name}{suffix}.jsonl"
        if args.fresh and cache_path.exists():
            cache_path.unlink()
        start = time.perf_counter()
        section = module.run(
            quick=args.quick,
            repeats=repeats,
            cache=Cache(cache_path),
            progress=not args.no_progress,
        )
        section.seconds = time.perf_counter() - start
        section.quick = args.quick
        write_section(args.out, section)
        print(section.markdown())
        failed += [f"{name}: {k}" for k, ok in section.checks.items() if not ok]
    print(f"wrote {args.out}")
    if failed:
        print("accuracy checks failed: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
