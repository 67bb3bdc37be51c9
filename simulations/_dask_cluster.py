"""A local ``dask.distributed`` cluster that listens on loopback only and serves no HTTP.

distributed's scheduler starts an HTTP server (dashboard, Prometheus metrics, health
routes) on port 8787 even when ``LocalCluster`` is given ``dashboard_address=None``,
and every worker starts one on a random port. A study needs none of them: the
scheduler, nannies and workers talk over their TCP comms, bound here to 127.0.0.1.
This module imports distributed (the optional ``dask`` extra), so only the dask
backend imports it.
"""

from __future__ import annotations

import logging

from distributed import Nanny, Scheduler, SpecCluster, Worker

__all__ = ["NoHTTPScheduler", "NoHTTPWorker", "local_cluster"]

LOOPBACK = "127.0.0.1"


def _no_http_server(self, routes, dashboard_address, default_port=0, ssl_options=None):
    # Binds nothing. distributed's close reads ``http_application`` only if it exists.
    return None


class NoHTTPScheduler(Scheduler):
    """A dask scheduler without the HTTP server (no dashboard, no metrics port)."""

    start_http_server = _no_http_server


class NoHTTPWorker(Worker):
    """A dask worker without the HTTP server."""

    start_http_server = _no_http_server


def local_cluster(n_workers: int, env: dict[str, str]) -> SpecCluster:
    """``n_workers`` single-threaded worker processes and a scheduler, all on loopback.

    Parameters
    ----------
    n_workers : int
        Number of worker processes (each under a nanny, one thread each).
    env : dict of str to str
        Environment variables of the worker processes.

    Examples
    --------
    >>> cluster = local_cluster(1, {"OMP_NUM_THREADS": "1"})  # doctest: +SKIP
    >>> cluster.scheduler_address.startswith("tcp://127.0.0.1:")  # doctest: +SKIP
    True
    """
    scheduler = {
        "cls": NoHTTPScheduler,
        "options": {"host": LOOPBACK, "dashboard": False, "dashboard_address": None},
    }
    worker = {
        "cls": Nanny,
        "options": {
            "host": LOOPBACK,
            "nthreads": 1,
            "env": dict(env),
            "worker_class": NoHTTPWorker,
            "dashboard": False,
            "dashboard_address": None,
            "silence_logs": logging.ERROR,
        },
    }
    return SpecCluster(
        scheduler=scheduler,
        workers={i: worker for i in range(n_workers)},
        worker=worker,
        silence_logs=logging.ERROR,
    )
