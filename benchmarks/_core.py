"""What every benchmark shares: paired timing, summaries, a resumable cache, the report.

- :func:`time_pair` times two zero-argument callables ``A`` and ``B`` alternately
  (A B, then B A, ...), so slow drift of a shared machine's load falls on both;
  every call records its wall time (``time.perf_counter``) and the CPU time of
  this process (``time.process_time``, all threads).
- :class:`Cache` keeps one JSON record per finished measurement, so a killed run
  resumes where it stopped (``--fresh`` starts over).
- :class:`Section` is one benchmark's part of ``RESULTS.md``: the machine, the
  commands, tables and notes; :func:`write_section` replaces that part of the
  file and keeps the others.
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "Cache",
    "Section",
    "children_cpu",
    "describe",
    "machine_info",
    "markdown_table",
    "median_ratios",
    "spread",
    "time_call",
    "time_pair",
    "time_rotating",
    "write_section",
]

PACKAGES = ("numpy", "scipy", "scikit-learn", "xgboost", "econml", "cvxpy", "dask")

#: Other distributions that install the same module (``xgboost-cpu``: xgboost without CUDA).
DISTRIBUTIONS = {"xgboost": ("xgboost", "xgboost-cpu")}


def package_version(name: str) -> str:
    """The installed version of package ``name`` (any distribution of it), or "absent".

    Examples
    --------
    >>> package_version("numpy") == __import__("numpy").__version__
    True
    >>> package_version("no-such-package")
    'absent'
    """
    for distribution in DISTRIBUTIONS.get(name, (name,)):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            pass
    return "absent"


# --------------------------------------------------------------------------- timing
def time_call(fn: Callable[[], object]) -> tuple[float, float, object]:
    """``(wall seconds, CPU seconds of this process, result)`` of one call.

    Examples
    --------
    >>> wall, cpu, result = time_call(lambda: sum(range(1000)))
    >>> result, wall >= 0.0, cpu >= 0.0
    (499500, True, True)
    """
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = fn()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return wall, cpu, result


def time_pair(
    a: Callable[[], object],
    b: Callable[[], object],
    repeats: int,
    *,
    warmup: bool = True,
) -> dict:
    """Time ``a`` and ``b`` ``repeats`` times each, alternating (AB, BA, AB, ...).

    :func:`time_rotating` with two callables. With ``warmup`` each is called once
    untimed first (imports, caches, pools). Returns ``{"a_wall": [...], "a_cpu":
    [...], "b_wall": [...], "b_cpu": [...], "a_result": last result of a,
    "b_result": last result of b}``.
    """
    res = time_rotating({"a": a, "b": b}, repeats, warmup=warmup)
    return {
        f"{name}_{field}": res[name][key]
        for name in ("a", "b")
        for field, key in (("wall", "wall"), ("cpu", "cpu"), ("result", "result"))
    }


def time_rotating(fns: dict, repeats: int, *, warmup: bool = True) -> dict:
    """Time several callables ``repeats`` times each, rotating their order every round.

    Round ``r`` starts with the ``r``-th callable (mod their number), so each runs
    first, second, ... equally often and slow drift of the machine's load falls on
    all of them. Returns ``{name: {"wall": [...], "cpu": [...], "result": last}}``.
    """
    if repeats < 1:
        raise ValueError(f"`repeats` must be at least 1, got {repeats!r}")
    names = list(fns)
    out = {name: {"wall": [], "cpu": [], "result": None} for name in names}
    if warmup:
        for name in names:
            out[name]["result"] = fns[name]()
    for rep in range(repeats):
        k = rep % len(names)
        for name in names[k:] + names[:k]:
            wall, cpu, result = time_call(fns[name])
            out[name]["wall"].append(wall)
            out[name]["cpu"].append(cpu)
            out[name]["result"] = result
    return out


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's live descendant processes.

    Worker processes (joblib's loky workers, a dask cluster's nanny and worker
    processes, which are grandchildren) are not in ``time.process_time``; Linux's
    ``/proc`` has them (0 where there is no ``/proc``). Counted in clock ticks.
    """
    if not os.path.isdir("/proc/self/task"):
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    total, seen, todo = 0.0, set(), [str(os.getpid())]
    while todo:
        pid = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as fh:
                    kids = [k for k in fh.read().split() if k not in seen]
            except OSError:
                continue
            seen.update(kids)
            todo.extend(kids)
    for pid in seen:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return total


def spread(values) -> str:
    """``median [min, max]`` of a list of seconds (3 significant digits).

    Examples
    --------
    >>> spread([0.2, 0.1, 0.4])
    '0.2 [0.1, 0.4]'
    """
    v = np.asarray(values, dtype=float)
    return f"{_g(np.median(v))} [{_g(v.min())}, {_g(v.max())}]"


def describe(values) -> dict:
    """Median, min and max of ``values`` as a dict.

    Examples
    --------
    >>> describe([3, 1, 2])
    {'median': 2.0, 'min': 1.0, 'max': 3.0}
    """
    v = np.asarray(values, dtype=float)
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max())}


def median_ratios(slow, fast) -> list[float]:
    """Per row: the median of the ``slow`` times over the median of the ``fast`` times.

    Examples
    --------
    >>> median_ratios([[2.0, 4.0, 6.0]], [[1.0, 2.0, 30.0]])
    [2.0]
    """
    return [float(np.median(a) / np.median(b)) for a, b in zip(slow, fast)]


def _g(x: float) -> str:
    if not np.isfinite(x):
        return "–"
    if x == 0:
        return "0"
    if abs(x) >= 1e4 or abs(x) < 1e-3:
        return f"{x:.2e}"
    return f"{x:.3g}"


# --------------------------------------------------------------------------- cache
class Cache:
    """Finished measurements, one JSON line each, keyed by a string.

    ``Cache(None)`` keeps nothing on disk (a lookup finds only this run's values).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     Cache(f"{d}/c.jsonl").put("fit", {"seconds": 1.5})
    ...     Cache(f"{d}/c.jsonl").get("fit")  # a new run reads it back
    {'seconds': 1.5}
    """

    def __init__(self, path: str | os.PathLike | None):
        self.path = None if path is None else Path(path)
        self._records: dict[str, dict] = {}
        if self.path is not None and self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a kill
                    continue
                self._records[record["key"]] = record["value"]

    def get(self, key: str):
        return self._records.get(key)

    def put(self, key: str, value: dict) -> None:
        self._records[key] = value
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as fh:
                fh.write(json.dumps({"key": key, "value": value}) + "\n")
                fh.flush()
                os.fsync(fh.fileno())

    def __len__(self) -> int:
        return len(self._records)


def cache_key(*parts) -> str:
    """A stable key from JSON-serialisable parts."""
    return json.dumps(parts, sort_keys=True, default=str)


# --------------------------------------------------------------------------- machine
def machine_info() -> dict:
    """CPU model, cores, memory, load, Python and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) / 2**20
                break
    except OSError:
        pass
    versions = {name: package_version(name) for name in PACKAGES}
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": None if mem is None else round(mem, 1),
        "load_1min": round(load[0], 2),
        "python": platform.python_version(),
        "versions": versions,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _machine_line(info: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    mem = "?" if info["memory_gib"] is None else f"{info['memory_gib']} GiB"
    return (
        f"Machine: {info['cpu']}, {info['cores']} cores, {mem}; load average "
        f"{info['load_1min']} at the start; Python {info['python']}; {versions}. "
        f"Run {info['date']}."
    )


# --------------------------------------------------------------------------- report
def markdown_table(frame: pd.DataFrame, floatfmt: Callable[[float], str] = _g) -> str:
    """A GitHub markdown table of ``frame`` (no index).

    Examples
    --------
    >>> print(markdown_table(pd.DataFrame({"side": ["ours"], "seconds": [0.25], "exact": [True]})))
    | side | seconds | exact |
    |---|---|---|
    | ours | 0.25 | yes |
    """
    cols = [str(c) for c in frame.columns]

    def cell(x) -> str:
        if isinstance(x, (bool, np.bool_)):
            return "yes" if x else "no"
        if isinstance(x, (float, np.floating)):
            return floatfmt(float(x))
        return str(x)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(x) for x in row) + " |")
    return "\n".join(lines)


@dataclass
class Section:
    """One benchmark's part of RESULTS.md."""

    name: str
    title: str
    command: str
    intro: str = ""
    tables: list = field(default_factory=list)  # (caption, DataFrame)
    notes: list = field(default_factory=list)  # markdown paragraphs
    targets: list = field(default_factory=list)  # (target, measured, met: bool)
    checks: dict = field(default_factory=dict)  # accuracy checks: name -> held
    machine: dict = field(default_factory=machine_info)
    seconds: float = float("nan")
    quick: bool = False

    def markdown(self) -> str:
        quick = " (quick smoke run: not the published figures)" if self.quick else ""
        parts = [f"## {self.title}{quick}", ""]
        parts += [f"Command: `{self.command}` ({self.seconds:.0f} s in all).", ""]
        parts += [_machine_line(self.machine), ""]
        if self.intro:
            parts += [self.intro, ""]
        if self.targets:
            frame = pd.DataFrame(
                [(t, m, "met" if ok else "**missed**") for t, m, ok in self.targets],
                columns=["target", "measured", "status"],
            )
            parts += ["Targets:", "", markdown_table(frame), ""]
        for caption, table in self.tables:
            parts += [caption, "", markdown_table(table), ""]
        if self.checks:
            held = ", ".join(
                f"{k}: {'holds' if ok else '**fails**'}"
                for k, ok in self.checks.items()
            )
            parts += [f"Accuracy checks: {held}.", ""]
        for note in self.notes:
            parts += [note, ""]
        return "\n".join(parts).rstrip() + "\n"


HEADER = """# Benchmarks

Speed and accuracy of this toolkit against the implementations a user would otherwise
reach for (econml, CVXPY, a serial loop), measured side by side in one run. Every
figure below is written by the command printed above its table; nothing is typed by
hand. Times are the median of the stated number of runs with [min, max]; the two
sides of a ratio are run alternately (A B, B A, ...) in the same process, so load
on this shared machine falls on both.
"""


def write_section(path: str | os.PathLike, section: Section) -> Path:
    """Replace ``section``'s part of the markdown file at ``path`` (create it if needed)."""
    path = Path(path)
    begin, end = f"<!-- {section.name}:begin -->", f"<!-- {section.name}:end -->"
    block = f"{begin}\n{section.markdown()}{end}\n"
    text = path.read_text() if path.exists() else HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
