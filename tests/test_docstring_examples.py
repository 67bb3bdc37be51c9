"""Every docstring example of every package module runs and prints what it shows.

The modules are found by walking the four packages (a new module is picked up
without editing this file). Each module is one test, so pytest-xdist spreads them
over its workers; every example runs in a fresh copy of its module's globals.
"""

import doctest
import importlib
import pkgutil
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("metarouter", "racer_dro", "simulations", "benchmarks")
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
# benchmarks._frozen_binary is a verbatim copy of the binary solver before the K-arm
# rewrite, kept only as the timing baseline; its examples name the modules it was copied from
FROZEN = "benchmarks._frozen_binary"


def package_modules(packages=PACKAGES) -> list[str]:
    """Dotted names of every module of ``packages`` (packages themselves included)."""
    names = []
    for package in packages:
        names.append(package)
        path = [str(ROOT / package)]
        for info in pkgutil.walk_packages(path, prefix=f"{package}."):
            if not info.name.endswith("__main__") and not info.name.startswith(FROZEN):
                names.append(info.name)
    return sorted(names)


MODULES = package_modules()


def test_the_walk_finds_the_modules_that_hold_examples():
    # a walk that found nothing would make every test below vacuous
    assert {"metarouter.routers", "racer_dro.kl", "simulations.engine"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")  # examples that draw must not need a display
    monkeypatch.chdir(ROOT)  # examples may name paths relative to the project root
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    failures = []
    for test in finder.find(module, name):
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an example shows values, not warnings
            result = runner.run(test, out=out.append, clear_globs=True)
        if result.failed:
            failures.append("".join(out))
    assert not failures, "\n".join(failures)
