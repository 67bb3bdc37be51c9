"""Shared test set-up: single-threaded numerical libraries; reproducible fuzzing on CI.

Histogram gradient boosting spins OpenMP threads; on a machine shared by several
processes, oversubscribed threads make fits 50-100x slower without changing any
result. Every test runs with one thread per BLAS/OpenMP pool.

Hypothesis explores new random examples on every local run (that is how it found the
KL radius edge cases in ``tests/racer_dro/test_kl.py``); on CI (``CI`` set) it is
derandomised, so a submission's verdict does not depend on the draw.
"""

import os

import pytest
from hypothesis import settings
from threadpoolctl import threadpool_limits

settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _single_thread():
    with threadpool_limits(limits=1):
        yield
