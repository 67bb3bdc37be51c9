"""The command ``python -m simulations <study> [options]`` (console script ``routing-simulations``).

Runs a study through :func:`simulations.engine.run_study` (resuming from its
store), then writes ``results.csv``, one CSV per summary table and the figures
into ``<out>/<study>-sim/`` (``<study>-data`` with ``--data``), prints the headline
table and where the files went. Invalid arguments give a one-line error and
exit code 2.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from .backends import BACKENDS
from .engine import DEFAULT_BASE_SEED, Study, output_directory, run_study
from .store import StoreSchemaError

__all__ = ["build_parser", "main"]

PROG = "python -m simulations"
SCRIPT = "routing-simulations"
STUDY_NAMES = ("metarouter", "racer", "racer-models", "uncertainty")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _load_studies() -> Mapping[str, Study]:
    """The registry of studies (imported lazily: the studies pull in the heavy libraries)."""
    from .studies import STUDIES

    return STUDIES


def build_parser(study_names: Sequence[str] = STUDY_NAMES) -> argparse.ArgumentParser:
    """The argument parser (``study_names`` are the positional choices)."""
    parser = _Parser(
        prog=SCRIPT if Path(sys.argv[0]).name == SCRIPT else PROG,
        description="Monte Carlo studies of LLM routers: run (or resume) a study, "
        "write its tidy results, summary tables and figures.",
    )
    parser.add_argument("study", choices=list(study_names), help="the study to run")
    parser.add_argument(
        "--quick", action="store_true", help="the reduced grid and few rounds (minutes)"
    )
    parser.add_argument(
        "--rounds", type=int, metavar="N", help="Monte Carlo rounds per configuration"
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="loky",
        help="where rounds run (default: loky)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="address of a running dask scheduler (with --backend dask; default: a local cluster)",
    )
    parser.add_argument(
        "--jobs", type=int, metavar="N", help="workers (default: all cores)"
    )
    parser.add_argument(
        "--out",
        default="results",
        metavar="DIR",
        help="output directory (default: ./results); the store there makes reruns resume",
    )
    parser.add_argument(
        "--data", metavar="DIR", help="directory of RouterBench-format CSVs (real data)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_BASE_SEED,
        metavar="N",
        help=f"base seed of every round (default: {DEFAULT_BASE_SEED})",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="rounds per batch (default: adaptive)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar, no table: for scripts"
    )
    return parser


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for name in ("rounds", "jobs", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.seed < 0:
        parser.error(f"--seed must be non-negative, got {args.seed}")
    if args.scheduler is not None and args.backend != "dask":
        parser.error(f"--scheduler needs --backend dask (got --backend {args.backend})")
    if args.data is not None and not Path(args.data).is_dir():
        parser.error(f"--data {args.data!r} is not a directory")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out {args.out!r} exists and is not a directory")


def _file_name(name: str) -> str:
    """A summary table's file stem: safe characters only, never the tidy rows' ``results``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._") or "table"
    return f"table_{safe}" if safe.lower() in ("results", "results.sqlite") else safe


def _format_number(value: float) -> str:
    """Four significant digits; whole numbers from 1000 up; scientific below 0.001."""
    if not math.isfinite(value):
        return str(value)
    size = abs(value)
    if size == 0:
        return "0"
    if size >= 1000:
        return f"{value:.0f}"
    if size >= 1e-3:
        return f"{value:.4g}"
    return f"{value:.2e}"


def _format_table(table: pd.DataFrame) -> str:
    return table.to_string(
        index=not isinstance(table.index, pd.RangeIndex),
        float_format=_format_number,
        max_colwidth=40,
    )


def main(
    argv: Sequence[str] | None = None, *, studies: Mapping[str, Study] | None = None
) -> int:
    """Run the command; return the exit code (0 success, 2 invalid arguments, 1 failure).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default ``sys.argv[1:]``).
    studies : mapping of str to Study, optional
        The registry to choose from (default :data:`simulations.studies.STUDIES`).
    """
    # Parse before importing the registry: argument errors are instant.
    parser = build_parser(STUDY_NAMES if studies is None else list(studies))
    try:
        args = parser.parse_args(argv)
        _check_args(parser, args)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if studies is None:
        studies = _load_studies()
    study = studies[args.study]
    directory = output_directory(study, args.out, args.data)
    try:
        rows = run_study(
            study,
            quick=args.quick,
            rounds=args.rounds,
            data_dir=args.data,
            backend=args.backend,
            n_jobs=args.jobs,
            scheduler=args.scheduler,
            out_dir=args.out,
            quiet=args.quiet,
            batch_size=args.batch_size,
            base_seed=args.seed,
        )
    except StoreSchemaError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"{parser.prog}: interrupted; completed rounds are stored in {directory}, "
            "rerun the same command to resume",
            file=sys.stderr,
        )
        return 130

    written = []
    results_csv = directory / "results.csv"
    rows.to_csv(results_csv, index=False)
    written.append(results_csv)
    tables = study.summarise(rows)
    if not isinstance(tables, Mapping) or not all(
        isinstance(t, pd.DataFrame) for t in tables.values()
    ):
        raise TypeError(
            f"study {study.name!r}: summarise must return a dict of DataFrames"
        )
    for name, table in tables.items():
        path = directory / f"{_file_name(name)}.csv"
        table.to_csv(path, index=not isinstance(table.index, pd.RangeIndex))
        written.append(path)
    written.extend(Path(p) for p in study.plot(rows, directory))

    if not args.quiet:
        n_configs = rows["config_hash"].nunique()
        n_rounds = rows["round"].nunique()
        print(f"{study.name}: {study.description}")
        print(f"{n_configs} configurations x {n_rounds} rounds, {len(rows)} rows")
        if tables:
            name, table = next(iter(tables.items()))
            print(f"\n{name}:")
            print(_format_table(table))
        print(f"\nstore: {directory / 'results.sqlite'}")
        for path in written:
            print(f"wrote: {path}")
    return 0
