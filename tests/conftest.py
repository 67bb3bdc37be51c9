"""Shared test set-up: single-threaded numerical libraries.

Histogram gradient boosting spins OpenMP threads; on a machine shared by several
processes, oversubscribed threads make fits 50-100x slower without changing any
result. Every test runs with one thread per BLAS/OpenMP pool.
"""

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _single_thread():
    with threadpool_limits(limits=1):
        yield
