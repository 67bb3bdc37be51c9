"""Shared test set-up: single-threaded numerical libraries; reproducible fuzzing on CI.

Histogram gradient boosting spins OpenMP threads; on a machine shared by several
processes, oversubscribed threads make fits 50-100x slower without changing any
result. Every test runs with one thread per BLAS/OpenMP pool.

Hypothesis is derandomised by default, so the README's test command gives the same
verdict on every run and machine (a random draw once failed a certificate test's
tolerance at subnormal magnitudes). ``HYPOTHESIS_EXPLORE=1`` lets it explore new random
examples on every run (that is how it found the KL radius edge cases in
``tests/racer_dro/test_kl.py``): run it so when changing a fuzzed function.

numba invalidates a cached compiled function when its own source file changes,
not when a function it compiles from another file does: the Newton loop
(``racer_dro/_kernels_newton.py``) compiles functions of ``formulas.py`` and
``kl.py``, and after they changed it kept running their old code from the cache
(which once hid a kernel that no longer compiled). The package's numba cache is
dropped before a session whenever any of its sources changed.
"""

import hashlib
import os
from itertools import chain
from pathlib import Path

import pytest
from hypothesis import settings
from threadpoolctl import threadpool_limits

settings.register_profile("derandomized", derandomize=True)
if not os.environ.get("HYPOTHESIS_EXPLORE"):
    settings.load_profile("derandomized")


def _drop_stale_numba_cache() -> None:
    package = Path(__file__).resolve().parents[1] / "racer_dro"
    sources = b"".join(p.read_bytes() for p in sorted(package.glob("*.py")))
    digest = hashlib.sha256(sources).hexdigest()
    cache = package / "__pycache__"
    stamp = cache / "numba-sources.sha256"
    try:
        if stamp.is_file() and stamp.read_text() == digest:
            return
        for path in chain(cache.glob("*.nbi"), cache.glob("*.nbc")):
            path.unlink(missing_ok=True)
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # a read-only checkout: numba then cannot cache there either
        pass


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # once, in the controller (xdist)
        _drop_stale_numba_cache()


@pytest.fixture(autouse=True)
def _single_thread():
    with threadpool_limits(limits=1):
        yield
