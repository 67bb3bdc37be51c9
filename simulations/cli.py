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
import sqlite3
import sys
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from .backends import BACKENDS
from .engine import (
    DEFAULT_BASE_SEED,
    MAX_BASE_SEED,
    Study,
    output_directory,
    run_study,
)
from .errors import UserInputError

__all__ = ["build_parser", "main"]

PROG = "python -m simulations"
SCRIPT = "routing-simulations"
STUDY_NAMES = (
    "metarouter",
    "metarouter-shift",
    "metarouter-processes",
    "racer",
    "racer-models",
    "uncertainty",
    "pacing",
    "multimodel",
)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _load_studies() -> Mapping[str, Study]:
    """The registry of studies (imported lazily: the studies pull in the heavy libraries)."""
    from .studies import STUDIES

    return STUDIES


def build_parser(study_names: Sequence[str] = STUDY_NAMES) -> argparse.ArgumentParser:
    """The argument parser (``study_names`` are the positional choices).

    Examples
    --------
    >>> args = build_parser().parse_args(["racer", "--quick", "--jobs", "2"])
    >>> args.study, args.quick, args.jobs, args.backend
    ('racer', True, 2, 'loky')
    """
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
    if args.seed > MAX_BASE_SEED:
        parser.error(f"--seed must be at most {MAX_BASE_SEED}, got {args.seed}")
    if args.scheduler is not None and args.backend != "dask":
        parser.error(f"--scheduler needs --backend dask (got --backend {args.backend})")
    if args.data is not None and not Path(args.data).is_dir():
        parser.error(f"--data {args.data!r} is not a directory")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out {args.out!r} exists and is not a directory")


def _check_writable(directory: Path) -> None:
    """Create ``directory`` and write a probe file there, or raise UserInputError."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as err:
        reason = err.strerror or str(err)
        raise UserInputError(
            f"cannot write to {directory} ({reason}); choose a writable --out"
        ) from None


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


#: Width of printed tables (wider tables are split into blocks that repeat the keys).
WIDTH = 100

#: What the columns of the studies' headline tables hold. A study adds or overrides
#: entries with ``table.attrs["legend"] = {column: text}`` in its ``summarise``.
COLUMN_LEGEND = {
    "data": "simulated (or sim) = simulated data; otherwise the --data set's name",
    "router": "the router compared",
    "n_gs": "gold-standard (GS) rows in the training data",
    "d": "number of query features",
    "learner": "base learner of every regression (rf, xgb, xgb_small: smaller XGBoost)",
    "budget": "cost budget B, in units of the all-instruct cost",
    "scenario": "test distribution (in distribution, or shifted to costlier/cheaper domains)",
    "accuracy": "judge accuracy (%), mean over rounds",
    "accuracy_ci_low": "95% bootstrap interval of the mean accuracy over rounds, low end",
    "accuracy_ci_high": "95% bootstrap interval of the mean accuracy over rounds, high end",
    "cost_ratio": "realised cost / all-instruct cost, mean over rounds",
    "cost_ci_low": "95% bootstrap interval of the mean cost ratio over rounds, low end",
    "cost_ci_high": "95% bootstrap interval of the mean cost ratio over rounds, high end",
    "reasoning_rate": "share of queries sent to the reasoning mode, mean over rounds",
    "share_rounds_over": "share of rounds whose realised cost exceeded the budget",
    "violates_budget": "True when the whole 95% interval of the mean cost is above budget",
    "rounds": "Monte Carlo rounds behind the row",
    "mean_eg": "efficiency gain over random routing, mean over PMUR levels and rounds",
    "ci_low": "95% bootstrap interval across rounds (of the row's mean), low end",
    "ci_high": "95% bootstrap interval across rounds (of the row's mean), high end",
    "paper_eg": "the paper's (median-based) efficiency gain, averaged over the PMUR grid",
    "paper_eg_at_0.3": "the paper's (median-based) efficiency gain at PMUR 0.3",
    "median_m_mse": "median over rounds of the MSE of the estimated quality gain m(q)",
    "p_adj_vs_random": "p-value of the paired test against random routing (Holm-adjusted)",
    "vs_random": "verdict against random routing at the 5% level (after Holm)",
    "best_other": "the best other router in the same setting",
    "diff_vs_best": "mean difference to best_other, paired by round",
    "p_adj_vs_best": "p-value of the paired test against best_other (Holm-adjusted)",
    "vs_best": "verdict against best_other at the 5% level (after Holm)",
    "mean": "mean over rounds",
    "median": "median over rounds",
    "std": "standard deviation over rounds",
    "n_rounds": "Monte Carlo rounds behind the row",
    "call_fraction": "share of pairs the router may send to the strong judge",
    "calls": "calls to the strong judge",
    "acc_uncertainty": "accuracy of uncertainty routing",
    "acc_random": "accuracy of random routing with the same number of calls",
    "gain_vs_random": "accuracy gain of uncertainty over random routing, paired by round",
    "gain_ci_low": "95% bootstrap interval of the gain, low end",
    "gain_ci_high": "95% bootstrap interval of the gain, high end",
}


def _key_columns(table: pd.DataFrame) -> list[str]:
    """The columns that identify a row: ``attrs["keys"]``, else those up to ``router``,
    else the leading columns that are not floating-point numbers."""
    if "keys" in table.attrs:
        return [c for c in table.attrs["keys"] if c in table.columns]
    columns = list(table.columns)
    if "router" in columns:
        return columns[: columns.index("router") + 1]
    keys = []
    for column in columns:
        if pd.api.types.is_float_dtype(table[column]):
            break
        keys.append(column)
    return keys[: max(len(columns) - 1, 0)]


def _format_table(table: pd.DataFrame, width: int = WIDTH) -> str:
    """The table as text no wider than ``width``, then a legend of its columns.

    Wide tables are split into blocks of columns, each repeating the key columns
    (as the index); the legend says what every column holds.
    """
    shown = table
    if isinstance(table.index, pd.RangeIndex):
        keys = _key_columns(table)
        shown = table.set_index(keys) if keys else table
    text = shown.to_string(
        index=not isinstance(shown.index, pd.RangeIndex),
        float_format=_format_number,
        max_colwidth=36,
        line_width=width,
        sparsify=False,
    )
    legend = {**COLUMN_LEGEND, **table.attrs.get("legend", {})}
    lines = [*text.splitlines(), "", "columns:"]
    for column in map(str, table.columns):
        entry = f"  {column}: {legend.get(column, 'see the study documentation')}"
        lines += textwrap.wrap(entry, width, subsequent_indent="      ")
    return "\n".join(lines)


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

    Examples
    --------
    >>> import contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     code = main(["racer", "--rounds", "0"])
    >>> code, err.getvalue().strip()
    (2, 'python -m simulations: error: --rounds must be at least 1, got 0 (see --help)')
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
        return _run(parser, args, study, directory)
    except UserInputError as err:
        return _fail(parser, err)
    except sqlite3.DatabaseError as err:
        store = directory / "results.sqlite"
        return _fail(
            parser,
            f"{store} is not a readable results store ({err}); delete it to start "
            "afresh or choose another --out",
        )
    except KeyboardInterrupt:
        print(
            f"{parser.prog}: interrupted; completed rounds are stored in {directory}, "
            "rerun the same command to resume",
            file=sys.stderr,
        )
        return 130


def _fail(parser: argparse.ArgumentParser, message: object) -> int:
    """Print a one-line error (the user can fix it) and return exit code 2."""
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    return 2


def _run(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    study: Study,
    directory: Path,
) -> int:
    """Run the study, write its files, print the headline table; return the exit code."""
    _check_writable(directory)
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
